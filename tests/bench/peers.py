"""The peers ``bench_proxy`` measures beside wxgate: nginx (the upstream, the one-hop
``proxy_pass`` ceiling, ``auth_request`` to the naive verifier and to wxgate with and without
``proxy_cache``) and Apache httpd with ``mod_oauth2`` (a C module validating the same JWT, with
and without its result cache).

``front_lean`` is the shipped site asking wxgate's lean listener (``forward_auth.listen_port``).
``make bench`` installs Debian's ``apache2`` and ``libapache2-mod-oauth2`` (``make bench-deps``);
``make test`` never needs them. Every process here is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.bench.common import ROOT, Proc

__all__ = ["APACHE", "OAUTH2_MODULE", "apache_conf", "nginx_conf", "start_apache"]

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES_DIR = Path("/usr/lib/apache2/modules")
OAUTH2_MODULE = MODULES_DIR / "mod_oauth2.so"
BODY = '{"ok": true, "items": [1, 2, 3], "name": "upstream"}'
# what nginx may cache of wxgate's answers, and for how long (the revocation delay it implies)
AUTH_CACHE_SECONDS = 5


def _lean_site(shipped: str, listen: int, lean_port: int) -> str:
    """The shipped ``server {}`` block again on ``listen``, asking the lean listener."""
    server = shipped[shipped.index("\nserver {") :]
    upstream = f"upstream wxgate_lean {{ server 127.0.0.1:{lean_port}; keepalive 64; }}\n"
    return upstream + server.replace("listen 8000;", f"listen 127.0.0.1:{listen};").replace(
        "proxy_pass http://wxgate/auth/verify;", "proxy_pass http://wxgate_lean/auth/verify;"
    )


def _cached_site(shipped: str, listen: int) -> str:
    """The shipped ``server {}`` block again on ``listen``, its ``auth_request`` answers (200
    only) cached by nginx for ``AUTH_CACHE_SECONDS``, keyed by the credential and the URI."""
    server = shipped[shipped.index("\nserver {") :]
    cache = (
        "proxy_pass http://wxgate/auth/verify;\n"
        "        proxy_cache wxgate_auth;\n"
        '        proxy_cache_key "$http_authorization|$http_cookie|$request_uri";\n'
        f"        proxy_cache_valid 200 {AUTH_CACHE_SECONDS}s;\n"
        "        proxy_cache_valid any 0;\n"
    )
    return server.replace("listen 8000;", f"listen 127.0.0.1:{listen};").replace(
        "proxy_pass http://wxgate/auth/verify;\n", cache
    )


def nginx_conf(prefix: Path, ports: dict[str, int]) -> str:
    """One nginx for every nginx role of the run (one worker, pinned with the servers)."""
    shipped = (ROOT / "deploy" / "nginx" / "wxgate.conf").read_text()
    site = (
        shipped.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{ports['wxgate']};")
        .replace("server 127.0.0.1:9000;", f"server 127.0.0.1:{ports['app']};")
        .replace("listen 8000;", f"listen 127.0.0.1:{ports['front']};")
    )
    (prefix / "wxgate.conf").write_text(site)
    (prefix / "wxgate-cached.conf").write_text(_cached_site(shipped, ports["front_cached"]))
    lean = _lean_site(shipped, ports["front_lean"], ports["wxgate_lean"])
    (prefix / "wxgate-lean.conf").write_text(lean)
    temp = " ".join(f"{k}_temp_path {prefix / k};" for k in ("client_body", "proxy"))
    return f"""
user root;
worker_processes 1;
events {{ worker_connections 4096; }}
http {{
  access_log off; {temp}
  keepalive_requests 1000000;
  proxy_cache_path {prefix / "auth_cache"} levels=1 keys_zone=wxgate_auth:1m max_size=10m;
  upstream naive {{ server 127.0.0.1:{ports["naive"]}; keepalive 64; }}
  upstream bench_app {{ server 127.0.0.1:{ports["app"]}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{ports["app"]};
    location / {{ default_type application/json; return 200 '{BODY}'; }}
  }}
  server {{
    listen 127.0.0.1:{ports["ceiling"]};
    location / {{
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://bench_app;
    }}
  }}
  server {{
    listen 127.0.0.1:{ports["front_naive"]};
    location = /_verify {{
      internal;
      proxy_pass http://naive/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
    location / {{
      auth_request /_verify;
      auth_request_set $subject $upstream_http_x_auth_subject;
      proxy_set_header X-Auth-Subject $subject;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://wxgate_app;
    }}
  }}
  include {prefix / "wxgate.conf"};
  include {prefix / "wxgate-cached.conf"};
  include {prefix / "wxgate-lean.conf"};
}}
"""


def apache_conf(root: Path, port: int, app_port: int, jwk: str, *, cache: bool) -> str:
    """httpd.conf: ``mod_oauth2`` verifies the bearer JWT with wxgate's public key ``jwk`` (a
    JSON string; signature, ``exp``, ``aud``) and ``mod_proxy`` forwards to the upstream.
    ``cache``: its default shm result cache (300 s); without it, ``expiry=0`` (every request
    verifies the signature)."""
    quoted = jwk.replace("\\", "\\\\").replace('"', '\\"')
    modules = (
        ("mpm_event_module", "mod_mpm_event.so"),
        ("authn_core_module", "mod_authn_core.so"),
        ("authz_core_module", "mod_authz_core.so"),
        ("authz_user_module", "mod_authz_user.so"),
        ("proxy_module", "mod_proxy.so"),
        ("proxy_http_module", "mod_proxy_http.so"),
        ("oauth2_module", OAUTH2_MODULE.name),
    )
    loads = "\n".join(f"LoadModule {name} {MODULES_DIR / file}" for name, file in modules)
    user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
    expiry = "" if cache else "&expiry=0"
    return f"""# wxgate benchmark peer: Apache httpd + mod_oauth2 (tests/bench/peers.py)
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root / "httpd.pid"}"
DefaultRuntimeDir "{root}"
ErrorLog "{root / "error.log"}"
LogLevel warn
{loads}
{user}ServerLimit 1
StartServers 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
KeepAlive On
MaxKeepAliveRequests 0
OAuth2Cache shm name=verify&max_entries=1000
<Location /api/>
    AuthType oauth2
    OAuth2TokenVerify jwk "{quoted}" verify.cache=verify{expiry}
    Require oauth2_claim aud:wxgate
    ProxyPass http://127.0.0.1:{app_port}/api/ keepalive=On
</Location>
"""


def start_apache(tmp: Path, name: str, port: int, conf_args: dict[str, object]) -> Proc:
    """Apache in the foreground from its own ServerRoot (world-readable: workers run as
    www-data), config-tested first; stopped by the PID we started."""
    if not OAUTH2_MODULE.exists():
        raise RuntimeError(f"{OAUTH2_MODULE} missing: run `make bench-deps`")
    root = tmp / name
    root.mkdir()
    root.chmod(0o755)
    conf = root / "httpd.conf"
    conf.write_text(apache_conf(root, port, **conf_args))  # type: ignore[arg-type]
    checked = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"apache2 -t: {checked.stderr or checked.stdout}")
    return Proc([APACHE, "-f", str(conf), "-DFOREGROUND"], core=0)
