"""The reverse proxy, its WebSocket relay and header rules, forward auth, the echo upstream."""
