"""The demo OpenID Connect relying party of dev mode, mounted by the server at ``/_sim/rp``.

``app`` (the routes), ``state`` (in memory), ``page`` (the one HTML page), ``provider`` (the
OP over HTTP, as any client sees it) and ``jws`` (the RP's own checks of the OP's JWTs).
"""

from gateway.simulator.rp.app import create_rp
from gateway.simulator.rp.state import RP, RP_COOKIE, DemoRelyingParty

__all__ = ["RP", "RP_COOKIE", "DemoRelyingParty", "create_rp"]
