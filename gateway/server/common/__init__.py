"""Request and response helpers every room shares: body parsing, the client address,
``NO_STORE`` and redirects."""

from gateway.server.common.body import read_json, read_params
from gateway.server.common.clientip import client_ip, trusted_networks
from gateway.server.common.responses import NO_STORE, redirect

__all__ = ["NO_STORE", "client_ip", "read_json", "read_params", "redirect", "trusted_networks"]
