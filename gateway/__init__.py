"""wxgate: an identity gateway for WeChat logins, JWT issuance and proxy authentication."""

__all__ = ["__version__"]

__version__ = "0.1.0"
