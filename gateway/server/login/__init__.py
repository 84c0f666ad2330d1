"""HTTP adapter of login flows A, B and C (``/auth/wechat/...``)."""
