"""One typed, frozen configuration tree.

``load_config(path, environ, dev=...)`` reads TOML (stdlib ``tomllib``), applies environment
overrides ``WXGATE_SECTION__KEY=value`` (``__`` separates levels, keys are case-insensitive), reads
``*_file`` secrets, coerces types from the dataclass annotations and validates. Every problem is
collected and reported at once as ``key.path: message``; unknown keys and sections are errors.

The package: ``tree`` (the dataclasses; imports nothing else from the package), ``rules``
(cross-field validation; reads the tree; the OpenID Provider's rules are in ``oidc_rules``),
``store_url`` (what ``store.url`` names: memory, one Redis node, a Cluster or Sentinel; the
rules validate it, the store connects with it) and ``loader`` (loading and overrides,
validated by the rules; the only module that reads ``os.environ``: ``load_config`` is given
the environment explicitly, ``load_process_config`` reads the process's, ``WXGATE_CONFIG``
included).
"""

from gateway.config import tree
from gateway.config.authz_rules import route_has_policy
from gateway.config.loader import (
    CONFIG_PATH_VARIABLE,
    load_config,
    load_process_config,
    os_environ,
    with_workers,
)
from gateway.config.oidc_rules import validate_oidc_client
from gateway.config.rules import validate
from gateway.config.store_url import StoreURL, parse_store_url
from gateway.config.tree import *  # noqa: F403 (the tree's public names, listed in tree.__all__)

__all__ = [
    *tree.__all__,
    "CONFIG_PATH_VARIABLE",
    "load_config",
    "load_process_config",
    "os_environ",
    "parse_store_url",
    "route_has_policy",
    "StoreURL",
    "validate",
    "validate_oidc_client",
    "with_workers",
]
