"""Request and response helpers every room shares: body parsing, the client address,
``NO_STORE``, redirects, and who gets the login page instead of a 401."""

from gateway.server.common.body import body_error, read_json, read_params
from gateway.server.common.clientip import client_ip, trusted_networks
from gateway.server.common.navigation import LOGIN_PATH, is_browser, login_redirect
from gateway.server.common.responses import NO_STORE, drop_server_header, redirect

__all__ = [
    "LOGIN_PATH",
    "NO_STORE",
    "body_error",
    "client_ip",
    "drop_server_header",
    "is_browser",
    "login_redirect",
    "read_json",
    "read_params",
    "redirect",
    "trusted_networks",
]
