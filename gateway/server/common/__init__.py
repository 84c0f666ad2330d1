"""Request helpers every room shares: body parsing, the client address."""
