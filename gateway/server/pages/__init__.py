"""HTML pages: templates, i18n and the page engine every page is rendered by (``engine``).

Other rooms use this face only: the pages of flows A/B (``login``), of scan-login (``scan``)
and of the OpenID Provider (``oidc``), and the static assets the scan room serves at
``ASSET_PATH``.
"""

from gateway.server.pages.account import account_page, admin_page, disabled_page
from gateway.server.pages.engine import ASSET_PATH, Asset, asset
from gateway.server.pages.login import (
    denied_page,
    embed_page,
    embed_script,
    no_access_page,
    snapshot_page,
)
from gateway.server.pages.oidc import consent_page, logout_page, oidc_error_page, page_lang
from gateway.server.pages.scan import confirm_page, login_page, message_page

__all__ = [
    "ASSET_PATH",
    "Asset",
    "asset",
    "confirm_page",
    "denied_page",
    "embed_page",
    "embed_script",
    "login_page",
    "message_page",
    "no_access_page",
    "snapshot_page",
    # the account, admin and account-disabled pages
    "account_page",
    "admin_page",
    "disabled_page",
    # the OpenID Provider's pages
    "consent_page",
    "logout_page",
    "oidc_error_page",
    "page_lang",
]
