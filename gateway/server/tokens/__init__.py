"""Token endpoints (refresh, logout, revocation, introspection, userinfo) and ``/.well-known``."""
