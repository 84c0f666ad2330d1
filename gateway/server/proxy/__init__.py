"""The reverse proxy, its WebSocket relay and header rules, forward auth, the echo upstream.

Both the proxy and forward auth apply the one decision (``server.access``) over one route
table and one set of header rules, compiled once by the composition root.
"""

from gateway.server.proxy import echo
from gateway.server.proxy.forward_auth import VERIFY_PATH, ForwardAuth
from gateway.server.proxy.forward_auth import setup_routes as setup_forward_auth
from gateway.server.proxy.handler import Proxy
from gateway.server.proxy.handler import setup_routes as setup_proxy
from gateway.server.proxy.headers import HeaderRules
from gateway.server.proxy.websocket import WebSocketRelay

__all__ = [
    # services (built by server.app)
    "ForwardAuth",
    "HeaderRules",
    "Proxy",
    "WebSocketRelay",
    # routes
    "VERIFY_PATH",
    "echo",
    "setup_forward_auth",
    "setup_proxy",
]
