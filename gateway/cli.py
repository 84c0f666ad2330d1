"""The ``wxgate`` command.

Verbs: ``serve``, ``check-config``, ``keys generate|rotate|list``, ``token issue``,
``clients new``, ``users list|show|grant|ungrant|disable|enable|sessions|logout``,
``simulate``; ``--version``. Every verb that needs the configuration takes
``--config PATH`` and ``--dev`` (dev mode: ``config/dev.toml`` unless ``--config`` names another
file); ``clients new`` needs none.
``serve`` and ``token issue`` take ``--host``/``--port``: in dev mode the issuer follows that
address, so a token issued with the gateway's ``--port`` verifies there.
Exit codes: 0 success, 2 bad configuration or usage, 1 other failures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import Any

from gateway import __version__
from gateway.admin import users_command
from gateway.config import (
    DEV_CONFIG_PATH,
    Config,
    ConfigError,
    OidcClientConfig,
    load_config,
    load_process_config,
    validate_oidc_client,
    with_workers,
)
from gateway.errors import GatewayError
from gateway.logs import configure_logging
from gateway.tokens import KeyRingError, keys_generate, keys_list, keys_rotate, token_issue

__all__ = ["main"]

log = logging.getLogger("gateway.cli")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help="TOML configuration file")
    p.add_argument("--dev", action="store_true", help="dev mode (embedded defaults)")


def _bind_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--host", help=f"{what} address (default from config)")
    p.add_argument("--port", type=int, help=f"{what} port (default from config)")


def _bound(config: Config, args: argparse.Namespace) -> Config:
    """``config`` bound to ``--host``/``--port`` (each defaulting to the configured one); in
    dev mode the public URL, hence the issuer, follows that address."""
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    return config.with_bind(host, port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wxgate", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"wxgate {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    serve = verbs.add_parser("serve", help="run the gateway")
    _config_args(serve)
    _bind_args(serve, "bind")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port")
    serve.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="in dev mode, allow binding an address other machines can reach",
    )

    check = verbs.add_parser("check-config", help="validate a configuration file")
    check.add_argument("path", metavar="PATH")
    check.add_argument("--dev", action="store_true", help="validate with dev-mode rules")

    keys = verbs.add_parser("keys", help="manage signing keys")
    key_verbs = keys.add_subparsers(dest="keys_verb", metavar="ACTION", required=True)
    for name, text in (
        ("generate", "create a signing key (active at once if it is the first)"),
        ("rotate", "stage a new key; it signs after tokens.publish_delay"),
        ("list", "show kid, alg, state, created"),
    ):
        _config_args(key_verbs.add_parser(name, help=text))

    token = verbs.add_parser("token", help="operator tokens")
    token_verbs = token.add_subparsers(dest="token_verb", metavar="ACTION", required=True)
    issue = token_verbs.add_parser("issue", help="print an access token for smoke tests")
    _config_args(issue)
    _bind_args(issue, "the gateway's bind")
    issue.add_argument("--sub", required=True, help="subject (user id)")
    issue.add_argument(
        "--role", action="append", default=[], help="a role the token carries (repeatable)"
    )
    issue.add_argument(
        "--ttl",
        type=int,
        help="lifetime in seconds (default tokens.access_ttl; at most tokens.max_lifetime)",
    )

    clients = verbs.add_parser("clients", help="the OpenID Provider's clients")
    client_verbs = clients.add_subparsers(dest="clients_verb", metavar="ACTION", required=True)
    new = client_verbs.add_parser(
        "new", help="print a new client's [[oidc.clients]] snippet and secret (needs no config)"
    )
    new.add_argument("client_id", metavar="CLIENT_ID")
    new.add_argument("--public", action="store_true", help="a public client: no secret, PKCE")
    new.add_argument(
        "--redirect-uri",
        dest="redirect_uris",
        action="append",
        default=[],
        metavar="URI",
        help="a redirect URI (repeat for more); none: a client_credentials-only client",
    )
    new.add_argument("--name", default="", help="shown on the consent page (default CLIENT_ID)")

    _users_parser(verbs)

    sim = verbs.add_parser("simulate", help="run the WeChat simulator alone")
    _config_args(sim)
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8081)
    return parser


def _users_parser(verbs: Any) -> None:
    users = verbs.add_parser("users", help="people: roles, disabling, sessions (audited)")
    user_verbs = users.add_subparsers(dest="users_verb", metavar="ACTION", required=True)
    listing = user_verbs.add_parser("list", help="users matching --query (sub, openid, ...)")
    _config_args(listing)
    listing.add_argument("--query", default="", help="sub, openid, unionid or nickname part")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (<= 200)")
    for name, text in (
        ("show", "a user with identities, roles and live sessions (JSON)"),
        ("sessions", "a user's live sessions"),
        ("disable", "refuse the user's logins and end every session on every replica"),
        ("enable", "allow the user's logins again (ended sessions stay ended)"),
        ("logout", "end every session of the user on every replica"),
        ("grant", "give the user a role"),
        ("ungrant", "take a role from the user"),
    ):
        verb = user_verbs.add_parser(name, help=text)
        _config_args(verb)
        verb.add_argument("sub", metavar="SUB")
        if name in ("grant", "ungrant"):
            verb.add_argument("role", metavar="ROLE")


def _users(args: argparse.Namespace) -> int:
    config = load(args)
    configure_logging(config.logging.level, sys.stderr)
    if not 1 <= getattr(args, "limit", 1) <= 200:
        print("wxgate: --limit must be between 1 and 200", file=sys.stderr)
        return 2
    try:
        lines = asyncio.run(
            users_command(config, args.users_verb, sub=getattr(args, "sub", ""),
                          role=getattr(args, "role", ""), query=getattr(args, "query", ""),
                          limit=getattr(args, "limit", 50))
        )  # fmt: skip
    except GatewayError as exc:
        print(f"wxgate: {exc.description}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


def load(args: argparse.Namespace) -> Config:
    """The configuration named by ``--config``/``--dev`` (or ``WXGATE_CONFIG``)."""
    path: str | None = getattr(args, "config", None) or None
    return load_process_config(path, dev=bool(getattr(args, "dev", False)))


def _check_config(args: argparse.Namespace) -> int:
    try:
        load_process_config(args.path, dev=args.dev)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return 2
    print("OK")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from gateway.server.workers import run_server

    config = _bound(load(args), args)
    host = config.server.host
    if args.workers is not None:
        config = with_workers(config, args.workers)
    if config.dev and not args.allow_non_loopback:
        from gateway.server.run import is_loopback

        if not is_loopback(host):
            print(
                f"wxgate: refusing to bind {host} in dev mode (the WeChat simulator and dev "
                "keys would be reachable from other machines); use --allow-non-loopback",
                file=sys.stderr,
            )
            return 2
    configure_logging(config.logging.level)
    return run_server(config)


def _keys(args: argparse.Namespace) -> int:
    config = load(args)
    configure_logging(config.logging.level, sys.stderr)
    if args.keys_verb == "generate":
        row = keys_generate(config)
        print(f"generated {row.alg} key {row.kid} ({row.state}) in {config.keys_dir}")
    elif args.keys_verb == "rotate":
        row = keys_rotate(config)
        print(f"staged {row.alg} key {row.kid}: published now, signs from {row.activates_iso}")
    else:
        rows = keys_list(config)
        print(f"{'KID':<45} {'ALG':<6} {'STATE':<8} CREATED")
        for row in rows:
            print(f"{row.kid:<45} {row.alg:<6} {row.state:<8} {row.created_iso}")
    return 0


def _token(args: argparse.Namespace) -> int:
    config = _bound(load(args), args)  # the issuer of a gateway serving that address
    longest = config.tokens.max_lifetime
    if args.ttl is not None and not 0 < args.ttl <= longest:
        print(
            f"wxgate: --ttl must be between 1 and tokens.max_lifetime ({longest} seconds); "
            "the gateway refuses tokens that live longer",
            file=sys.stderr,
        )
        return 2
    configure_logging(config.logging.level, sys.stderr)
    print(token_issue(config, args.sub, args.ttl, roles=args.role))
    return 0


def _clients(args: argparse.Namespace) -> int:
    """``clients new``: a snippet that loads as it is, and the secret once, on the last line."""
    uris = tuple(args.redirect_uris)
    if args.public and not uris:
        print("wxgate: a public client needs a --redirect-uri (code grant only)", file=sys.stderr)
        return 2
    secret = "" if args.public else secrets.token_urlsafe(32)
    client = OidcClientConfig(
        client_id=args.client_id,
        client_secret=secret,
        name=args.name or args.client_id,
        redirect_uris=uris,
        token_endpoint_auth_method="none" if args.public else "client_secret_basic",
        grant_types=("authorization_code", "refresh_token") if uris else ("client_credentials",),
        scopes=OidcClientConfig().scopes if uris else (),
        require_pkce=True if uris else None,
    )
    problems = validate_oidc_client(client, "", dev=False)
    if problems:
        for problem in problems:
            print(f"wxgate: {problem}", file=sys.stderr)
        return 2
    secret_file = f"/run/secrets/oidc-{re.sub(r'[^A-Za-z0-9._-]', '-', client.client_id)}"
    print(_client_snippet(client, secret_file if secret else ""))
    if secret:
        print(f"\n# The client secret, shown only this once: write it to {secret_file} and give")
        print("# it to the client; the configuration holds only the file's path.")
        print(secret)
    return 0


def _client_snippet(c: OidcClientConfig, secret_file: str) -> str:
    """The ``[[oidc.clients]]`` table for ``c``, as config/gateway.example.toml lays it out."""

    def line(key: str, value: object, comment: str = "") -> str:
        # A JSON string is a TOML basic string once DEL, which TOML wants escaped, is escaped.
        text = f"{key} = {json.dumps(value, ensure_ascii=False)}".replace("\x7f", "\\u007f")
        if not comment:
            return text
        return f"{text:<32} # {comment}" if len(text) < 32 else f"{text}  # {comment}"

    lines = ["[[oidc.clients]]", line("client_id", c.client_id)]
    if secret_file:
        lines.append(line("client_secret_file", secret_file, "holds the secret printed below"))
    lines += [
        line("name", c.name, "shown on the consent page"),
        line("redirect_uris", list(c.redirect_uris), "exact match only"),
        line("post_logout_redirect_uris", [], "where it may send users after logout"),
        line("backchannel_logout_uri", "", "POSTed a logout_token when a session ends"),
    ]
    confidential = bool(c.client_secret)
    method = "or client_secret_post" if confidential else "a public client: no secret"
    lines += [
        line("token_endpoint_auth_method", c.token_endpoint_auth_method, method),
        line("grant_types", list(c.grant_types)),
        line("scopes", list(c.scopes), "what it may ask for"),
    ]
    if c.require_pkce:  # RFC 9700 §2.1.1: required of public clients, recommended for the others
        pkce = "false if the client lacks PKCE" if confidential else "required of a public client"
        lines.append(line("require_pkce", True, pkce))
    lines.append(line("first_party", False, "true: no consent page"))
    return "\n".join(lines)


def _simulate(args: argparse.Namespace) -> int:
    from gateway.simulator import run_simulator

    config = load(args) if (args.config or args.dev) else load_config(DEV_CONFIG_PATH, dev=True)
    configure_logging(config.logging.level)
    asyncio.run(run_simulator(config, args.host, args.port))
    return 0


_VERBS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _serve,
    "check-config": _check_config,
    "keys": _keys,
    "token": _token,
    "clients": _clients,
    "users": _users,
    "simulate": _simulate,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    try:
        return _VERBS[args.verb](args)
    except ConfigError as exc:
        print("configuration problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except KeyRingError as exc:
        print(f"wxgate: {exc}", file=sys.stderr)
        return 1
    except GatewayError as exc:  # a resource could not be opened at start (database, ...)
        print(f"wxgate: cannot start: {exc.description}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
