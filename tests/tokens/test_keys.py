"""Key files, key ring states, rotation, JWKS contents and the operator functions."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.store.memory import MemoryStore
from gateway.tokens import TokenRejected, admin
from gateway.tokens.keyfiles import KeyRingError, load_key_files, write_key_file
from gateway.tokens.keys import KeyRing, derive_states
from gateway.tokens.metrics import TokenMetrics
from tests.tokens.conftest import OpenService, make_config

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rfc7638(jwk: dict[str, str]) -> str:
    """RFC 7638 §3 by hand: required members, lexicographic order, no whitespace."""
    names = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({k: jwk[k] for k in names}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_dev_generates_a_private_key_file_and_logs_it(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path)
    with caplog.at_level(logging.DEBUG):
        ring = admin.open_ring(config, clock)
    assert ring.active is not None
    pem = ring.active.path
    assert pem.parent == config.keys_dir
    assert os.stat(pem).st_mode & 0o777 == 0o600
    assert os.stat(config.keys_dir).st_mode & 0o777 == 0o700
    assert "generated RS256 signing key" in caplog.text
    assert "PRIVATE KEY" not in caplog.text and pem.read_text()[40:80] not in caplog.text
    # kid is the RFC 7638 thumbprint computed independently
    assert ring.active.kid == rfc7638(ring.active.jwk)
    # the next start reuses the key
    assert admin.open_ring(config, clock).active.kid == ring.active.kid  # type: ignore[union-attr]


def test_production_refuses_missing_and_loose_keys(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path, dev=False)
    with pytest.raises(KeyRingError, match="keys generate"):
        admin.open_ring(config, clock)
    row = admin.keys_generate(config, clock=clock)
    assert row.state == "active" and row.alg == "RS256"
    pem = config.keys_dir / f"{row.kid}.pem"
    os.chmod(pem, 0o640)
    with pytest.raises(KeyRingError, match="too open"):
        admin.open_ring(config, clock)
    os.chmod(pem, 0o600)
    assert admin.open_ring(config, clock).active is not None


def test_weak_or_wrong_keys_are_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyRingError, match="1024 bits"):
        write_key_file(tmp_path, weak, "RS256", created=0, activates_at=0)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(KeyRingError, match="P-256"):
        write_key_file(tmp_path, p384, "ES256", created=0, activates_at=0)
    good = ec.generate_private_key(ec.SECP256R1())
    write_key_file(tmp_path, good, "ES256", created=0, activates_at=0)
    with pytest.raises(KeyRingError, match="RS256"):
        load_key_files(tmp_path, "RS256", strict_permissions=True)
    (tmp_path / "garbage.pem").write_text("not a key")
    os.chmod(tmp_path / "garbage.pem", 0o600)
    with pytest.raises(KeyRingError, match=r"garbage\.pem"):
        load_key_files(tmp_path, "ES256", strict_permissions=True)


def test_jwks_has_only_public_members(tmp_path: Path, clock: ManualClock) -> None:
    for alg, kty in (("RS256", "RSA"), ("ES256", "EC")):
        config = make_config(tmp_path / alg, algorithm=alg)
        ring = admin.open_ring(config, clock)
        body, etag = ring.jwks()
        keys = json.loads(body)["keys"]
        assert len(keys) == 1 and etag.startswith('"') and etag.endswith('"')
        jwk = keys[0]
        assert not PRIVATE_MEMBERS & set(jwk)
        assert jwk["kty"] == kty and jwk["use"] == "sig" and jwk["alg"] == alg
        assert jwk["kid"] == rfc7638(jwk)
        private = ring.active.private_key  # type: ignore[union-attr]
        numbers = private.public_key().public_numbers()
        if kty == "RSA":
            assert set(jwk) == {"kty", "n", "e", "kid", "use", "alg"}
            assert jwk["n"] == b64(numbers.n) and jwk["e"] == "AQAB"  # type: ignore[union-attr]
        else:
            assert set(jwk) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
            assert jwk["crv"] == "P-256" and len(jwk["x"]) == 43
        pyjwt.PyJWK(jwk)  # an independent library accepts it


def test_derive_states_timeline(tmp_path: Path) -> None:
    a = write_key_file(tmp_path, rsa.generate_private_key(65537, 2048), "RS256",
                       created=0, activates_at=100)  # fmt: skip
    b = write_key_file(tmp_path, rsa.generate_private_key(65537, 2048), "RS256",
                       created=500, activates_at=1000)  # fmt: skip

    def states(now: float) -> dict[str, str]:
        ring, _ = derive_states([a, b], now, access_ttl=900, leeway=30)
        return {k.kid: k.state for k in ring}

    assert states(50) == {a.kid: "next", b.kid: "next"}
    assert states(600) == {a.kid: "active", b.kid: "next"}
    assert states(1000) == {a.kid: "retired", b.kid: "active"}
    assert states(1929) == {a.kid: "retired", b.kid: "active"}
    assert states(1930) == {a.kid: "dropped", b.kid: "active"}
    _, next_change = derive_states([a, b], 600, access_ttl=900, leeway=30)
    assert next_change == 1000


async def test_rotation_end_to_end(
    tmp_path: Path, clock: ManualClock, open_service: OpenService
) -> None:
    """rotate -> published at once, signs after publish_delay; the old key verifies its
    tokens until they expire, then leaves the JWKS (and the verification cache)."""
    config = make_config(tmp_path, publish_delay=60, access_ttl=300, leeway=10)
    service = await open_service(config, MemoryStore(clock), key_reload_interval=3600)
    old_kid = service.ring.active.kid  # type: ignore[union-attr]
    old = await service.issue_session("u1", ["wechat_qr"])
    service.verify(old.access_token)  # now cached

    row = admin.keys_rotate(config, clock=clock)
    assert row.state == "next"
    with pytest.raises(KeyRingError, match="already staged"):
        admin.keys_rotate(config, clock=clock)
    await service.ring.reload()  # what the periodic reload does in production
    assert {k["kid"] for k in json.loads(service.jwks_document()[0])["keys"]} == {old_kid, row.kid}
    assert pyjwt.get_unverified_header((await service.issue_session("u", [])).access_token)[
        "kid"] == old_kid  # fmt: skip

    clock.advance(60)
    new = await service.issue_session("u2", ["wechat_qr"])
    assert pyjwt.get_unverified_header(new.access_token)["kid"] == row.kid
    assert service.verify(old.access_token).sub == "u1"
    assert {k["kid"] for k in json.loads(service.jwks_document()[0])["keys"]} == {old_kid, row.kid}
    states = {r.kid: r.state for r in admin.keys_list(config, clock=clock)}
    assert states == {old_kid: "retired", row.kid: "active"}

    clock.advance(300 + 10)  # old tokens expired (exp + leeway): the old key is dropped
    assert [k["kid"] for k in json.loads(service.jwks_document()[0])["keys"]] == [row.kid]
    with pytest.raises(TokenRejected) as rejected:
        service.verify(old.access_token)
    assert rejected.value.reason == "unknown_kid"
    fresh = await service.issue_session("u3", ["wechat_qr"])
    assert service.verify(fresh.access_token).sub == "u3"
    # the next rotation prunes the dropped key's files
    clock.advance(1)
    admin.keys_rotate(config, clock=clock)
    assert not (config.keys_dir / f"{old_kid}.pem").exists()


async def test_reload_picks_up_keys_written_by_another_process(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config(tmp_path)
    metrics = Metrics()
    ring = KeyRing(config.keys_dir, algorithm="RS256", access_ttl=900, leeway=30, clock=clock,
                   metrics=metrics, reload_interval=0.05)  # fmt: skip
    ring.load()
    assert ring.active is None
    ring.start()
    try:
        row = admin.keys_generate(config, clock=clock)
        for _ in range(100):
            if ring.active is not None:
                break
            await asyncio.sleep(0.02)
        assert ring.active is not None and ring.active.kid == row.kid
        assert metrics.of(TokenMetrics).signing_keys.labels(state="active")._value.get() == 1
    finally:
        await ring.close()


def test_admin_refusals_and_token_issue(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path, dev=False)
    with pytest.raises(KeyRingError, match="no active signing key"):
        admin.token_issue(config, "svc-smoke")
    with pytest.raises(KeyRingError, match="keys generate"):
        admin.keys_rotate(config, clock=clock)
    first = admin.keys_generate(config, clock=clock)
    with pytest.raises(KeyRingError, match="already has an active key"):
        admin.keys_generate(config, clock=clock)
    forced = admin.keys_generate(config, force=True, clock=clock)  # same instant: still newer
    clock.advance(0.01)
    forced = next(r for r in admin.keys_list(config, clock=clock) if r.kid == forced.kid)
    assert forced.kid != first.kid and forced.state == "active"
    states = {r.kid: r.state for r in admin.keys_list(config, clock=clock)}
    assert states == {forced.kid: "active", first.kid: "retired"}
    token = admin.token_issue(config, "svc-smoke", 120, clock=clock)
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "svc-smoke" and claims["exp"] - claims["iat"] == 120
    assert claims["amr"] == ["cli"] and claims["sid"]
    with pytest.raises(ValueError, match="max_lifetime"):
        admin.token_issue(config, "svc-smoke", config.tokens.max_lifetime + 1, clock=clock)
    rows = admin.keys_list(config, clock=clock)
    assert [r.state for r in rows][:1] == ["active"] and rows[0].created_iso.endswith("+00:00")


def test_dev_keys_default_to_the_data_dir(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path, keys_dir="")
    ring = admin.open_ring(config, clock)
    assert ring.active is not None
    assert ring.active.path.parent == tmp_path / "var" / "keys"
