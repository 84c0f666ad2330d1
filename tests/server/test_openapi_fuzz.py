"""A bounded schemathesis run against a live ``wxgate serve --dev`` (a real process, real
HTTP): for every operation of ``/openapi.json``, valid and invalid requests generated from the
description get no 5xx, and every answer is as described (a declared status, a declared
content type, a body matching its schema).

Bounded to stay fast and repeatable: a few examples per operation, a fixed seed
(``derandomize``), no example database, a request timeout. A failure names the operation,
the check and a ``curl`` line that reproduces it.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.serialization import serialize_xml_with_schema

from gateway.server.openapi.spec import ANY_METHODS
from gateway.wechat import MessageCipher, envelope_xml, signature
from tests.conftest import dev_config
from tests.e2e.conftest import Server, start, stop

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 6  # per operation and generation mode (positive, negative)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The admin API is fuzzed as an administrator (the admin token of ``[admin] token_file``), so
# the generated requests reach its handlers instead of stopping at the 401 of an anonymous call.
ADMIN_TOKEN = secrets.token_urlsafe(32)
ADMIN_PATHS = "/admin/api/"


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "admin-token").write_text(ADMIN_TOKEN)
    server = start(
        tmp,
        WXGATE_LOGGING__ACCESS_LOG="false",
        WXGATE_ADMIN__TOKEN_FILE=str(tmp / "admin-token"),
    )
    try:
        yield server
    finally:
        stop(server.proc)  # the gateway this module started, by its PID


@pytest.fixture(scope="module")
def api(live_gateway: Server) -> Any:
    return schemathesis.openapi.from_url(f"{live_gateway.base}/openapi.json")


# The official account's server URL refuses an unsigned push (403) before it reads the body:
# each generated push is signed and encrypted as WeChat would, with the dev `mp` app's Token
# and EncodingAESKey, so its parameters and body reach the checks and the XML parsing behind.
EVENTS = ("POST", "/auth/wechat/{app}/events")
Prepare = Callable[[Any, GenerationMode], None]


@pytest.fixture(scope="module")
def as_wechat(tmp_path_factory: pytest.TempPathFactory) -> Prepare:
    app = dev_config(tmp_path_factory.mktemp("dev")).wechat.apps["mp"]
    cipher = MessageCipher(app.encoding_aes_key, app.appid)

    def sign(case: Any, mode: GenerationMode) -> None:
        # the generated <xml> message (as described) is what the envelope's Encrypt carries
        described = case.operation.get_body_for_media_type(case.media_type)
        inner = serialize_xml_with_schema(
            case.body, described.optimized_schema, resource_name=None
        )["data"]
        query = case.query if isinstance(case.query, dict) else {}
        nonce = f"{query.get('nonce', '')}{secrets.token_hex(4)}"  # unique: not a replay
        encrypt, ts = cipher.encrypt(inner), str(int(time.time()))
        case.path_parameters = {"app": "mp"}
        case.query = {**query, "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
                      "signature": signature(app.server_token, ts, nonce),
                      "msg_signature": signature(app.server_token, ts, nonce, encrypt)}  # fmt: skip
        case.body = envelope_xml("gh_fuzz", encrypt)  # bytes: sent as they are

    return sign


def _fuzz(operation: Any, mode: GenerationMode, prepare: Prepare | None = None) -> str | None:
    """The first failure of ``operation`` in ``mode`` (with a curl line), or None;
    ``prepare`` changes each generated case before it is sent."""
    failed: list[str] = []
    admin = operation.path.startswith(ADMIN_PATHS)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if admin else None

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if prepare is not None:
            prepare(case, mode)
        try:
            case.call_and_validate(checks=CHECKS, timeout=10, headers=headers)
        except (AssertionError, FailureGroup) as exc:
            failed.append(f"{operation.label} ({mode.value}): {exc}")
            raise

    try:
        run()
    except Unsatisfiable:  # negative mode: the operation has nothing that can be made invalid
        return None
    except (AssertionError, FailureGroup):
        return failed[-1] if failed else "failed"
    return None


def _preparer(operation: Any, as_wechat: Prepare) -> Prepare | None:
    return as_wechat if (operation.method.upper(), operation.path) == EVENTS else None


def _worth_fuzzing(operations: list[Any]) -> list[Any]:
    """Every operation but two kinds of repeats, to stay fast: a route that answers every
    method (forward auth, the proxy) runs one handler whatever the method, so GET and POST
    stand for the rest; the dev echo upstream is a test double, not the gateway."""
    every = set(ANY_METHODS)
    by_path: dict[str, set[str]] = {}
    for operation in operations:
        by_path.setdefault(operation.path, set()).add(operation.method.lower())
    return [
        o
        for o in operations
        if not o.path.startswith("/_sim/echo")
        and (by_path[o.path] != every or o.method.lower() in ("get", "post"))
    ]


def test_no_5xx_and_every_answer_as_described(api: Any, as_wechat: Prepare) -> None:
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 40, "the description lost its operations"
    failures = [
        found
        for operation in _worth_fuzzing(operations)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (found := _fuzz(operation, mode, _preparer(operation, as_wechat))) is not None
    ]
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)


def test_a_wrong_description_fails_with_a_reproduction(live_gateway: Server) -> None:
    """The run cannot pass vacuously: the live gateway against a description that says
    ``/healthz`` answers text/plain fails, naming the check and how to reproduce it."""
    with urllib.request.urlopen(f"{live_gateway.base}/openapi.json", timeout=10) as r:
        document = json.load(r)
    ok = document["paths"]["/healthz"]["get"]["responses"]["200"]
    ok["content"] = {"text/plain": {"schema": {"type": "string"}}}
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=live_gateway.base)
    operation = schema["/healthz"]["GET"]
    found = _fuzz(operation, GenerationMode.POSITIVE)
    assert found is not None and "GET /healthz (positive)" in found
    assert "Undocumented Content-Type" in found and "curl" in found


def test_the_admin_api_is_fuzzed_as_an_administrator(live_gateway: Server) -> None:
    """The token the run sends is the live gateway's admin token: the admin API's operations
    are fuzzed past its guard (anonymous, the same call is 401)."""
    url = f"{live_gateway.base}/admin/api/users?limit=1"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200 and "users" in json.load(r)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    refused.value.close()
    assert refused.value.code == 401


def test_pushes_are_fuzzed_signed_and_encrypted(api: Any, as_wechat: Prepare) -> None:
    """A push the run prepares is accepted by the live gateway as WeChat's (the welcome
    reply to a SCAN): the generated pushes reach past the signature and decryption."""
    operation = api[EVENTS[1]][EVENTS[0]]
    scan = {"FromUserName": "o_fuzz", "CreateTime": 1, "MsgType": "event", "Event": "SCAN",
            "EventKey": "no-such-scene"}  # fmt: skip
    case = operation.Case(body=scan, media_type="application/xml", path_parameters={"app": "x"})
    as_wechat(case, GenerationMode.POSITIVE)
    response = case.call(timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"][0].startswith("application/xml")
    assert b"<Encrypt>" in response.content  # the reply is encrypted as the push was
