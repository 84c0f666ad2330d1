"""Who is calling: the one authentication decision, bearer and cookie parsing, route policies."""
