"""Signing keys on disk: one PEM file per private key plus a small JSON sidecar.

Layout of the keys directory (mode 0700)::

    <kid>.pem    PKCS#8 private key, mode 0600 (RSA >= 2048 bits for RS256, P-256 for ES256)
    <kid>.json   {"alg": "RS256", "created": <epoch>, "activates_at": <epoch>}

``kid`` is the RFC 7638 thumbprint of the public key. The sidecar holds the only state of a key:
its activation time; every other state (next/active/retired/dropped) is derived from the
timestamps of all keys (``keys.derive_states``), so every replica reading the same directory
agrees without coordination. The sidecar is written before the PEM file and both are renamed
into place atomically, so a reader never sees a key without its activation time. A PEM file
without a sidecar (an operator dropping a key in by hand) counts as active since the epoch.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwk

from gateway.tokens.jws import Algorithm, PrivateKey, PublicKey, header_segment

__all__ = [
    "KeyFile",
    "KeyRingError",
    "generate_private_key",
    "key_id",
    "load_key_files",
    "public_jwk",
    "remove_key_file",
    "write_key_file",
]

_PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y")}
_MIN_RSA_BITS = 2048


class KeyRingError(Exception):
    """A signing key is missing, unreadable, insecure or of the wrong type (operator error)."""


@dataclass(frozen=True, slots=True)
class KeyFile:
    """One private key with its metadata. ``private_key`` never leaves the process."""

    kid: str
    alg: Algorithm
    created: float
    activates_at: float
    path: Path
    private_key: PrivateKey = field(repr=False)
    public_key: PublicKey = field(repr=False)
    jwk: dict[str, str] = field(repr=False)
    header: str = field(repr=False)


def generate_private_key(alg: Algorithm) -> PrivateKey:
    """A fresh key: RSA-2048 (e = 65537) for RS256, P-256 for ES256."""
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _joserfc_key(key: PrivateKey | PublicKey) -> jwk.RSAKey | jwk.ECKey:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return jwk.RSAKey.import_key(key)
    return jwk.ECKey.import_key(key)


def key_id(key: PrivateKey | PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key."""
    return _joserfc_key(_public(key)).thumbprint()


def public_jwk(key: PrivateKey | PublicKey, alg: Algorithm, kid: str) -> dict[str, str]:
    """The public JWK (RFC 7517 §4, RFC 7518 §6): only an explicit whitelist of public members."""
    full = _joserfc_key(_public(key)).as_dict(private=False)
    kty = str(full["kty"])
    out = {name: str(full[name]) for name in _PUBLIC_MEMBERS[kty]}
    out.update(kid=kid, use="sig", alg=alg)
    return out


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key.public_key()
    return key


def _check_type(key: object, alg: Algorithm, path: Path) -> PrivateKey:
    if alg == "RS256" and isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            raise KeyRingError(f"{path}: RSA key of {key.key_size} bits; RS256 needs >= 2048")
        return key
    if alg == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyRingError(f"{path}: EC key on {key.curve.name}; ES256 needs P-256")
        return key
    raise KeyRingError(f"{path}: not a private key for {alg} (tokens.algorithm)")


def _make(path: Path, key: PrivateKey, alg: Algorithm, meta: dict[str, Any]) -> KeyFile:
    kid = key_id(key)
    return KeyFile(
        kid=kid,
        alg=alg,
        created=float(meta["created"]),
        activates_at=float(meta["activates_at"]),
        path=path,
        private_key=key,
        public_key=key.public_key(),
        jwk=public_jwk(key, alg, kid),
        header=header_segment(alg, kid),
    )


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_key_file(
    keys_dir: Path, key: PrivateKey, alg: Algorithm, *, created: float, activates_at: float
) -> KeyFile:
    """Write ``key`` (0600) and its sidecar into ``keys_dir`` (created 0700 if missing)."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = _check_type(key, alg, keys_dir)
    kid = key_id(key)
    meta = {"alg": alg, "created": created, "activates_at": activates_at}
    _atomic_write(keys_dir / f"{kid}.json", json.dumps(meta).encode(), 0o600)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _atomic_write(keys_dir / f"{kid}.pem", pem, 0o600)
    return _make(keys_dir / f"{kid}.pem", key, alg, meta)


def remove_key_file(key: KeyFile) -> None:
    """Delete a key's PEM file and sidecar (missing files are fine: another process won)."""
    key.path.unlink(missing_ok=True)
    key.path.with_suffix(".json").unlink(missing_ok=True)


_Cache = dict[Path, tuple[tuple[int, int, int], KeyFile]]


def load_key_files(
    keys_dir: Path, alg: Algorithm, *, strict_permissions: bool, cache: _Cache | None = None
) -> list[KeyFile]:
    """Every ``*.pem`` key in ``keys_dir``; raise KeyRingError on the first bad one.

    With ``strict_permissions`` (production) a key readable by group or others is refused.
    ``cache`` (path -> (stat signature, KeyFile)) avoids re-parsing unchanged files on reloads.
    A missing directory holds no keys.
    """
    if not keys_dir.is_dir():
        return []
    keys = []
    for path in sorted(keys_dir.glob("*.pem")):
        try:
            st = path.stat()
        except FileNotFoundError:  # removed while we were listing
            continue
        if strict_permissions and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyRingError(
                f"{path}: permissions {stat.filemode(st.st_mode)} are too open; "
                f"a private key must be readable by its owner only (chmod 600)"
            )
        meta_path = path.with_suffix(".json")
        meta_sig = meta_path.stat().st_mtime_ns if meta_path.exists() else 0
        sig = (st.st_mtime_ns, st.st_size, meta_sig)
        cached = cache.get(path) if cache is not None else None
        if cached is not None and cached[0] == sig:
            keys.append(cached[1])
            continue
        key = _load_one(path, alg, st.st_mtime)
        if cache is not None:
            cache[path] = (sig, key)
        keys.append(key)
    return keys


def _load_one(path: Path, alg: Algorithm, mtime: float) -> KeyFile:
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyRingError(f"{path}: not a readable unencrypted PEM private key") from exc
    key = _check_type(loaded, alg, path)
    meta = _read_meta(path.with_suffix(".json"), default_created=mtime)
    if meta.get("alg", alg) != alg:
        raise KeyRingError(f"{path}: sidecar says {meta['alg']}, tokens.algorithm is {alg}")
    return _make(path, key, alg, meta)


def _read_meta(path: Path, *, default_created: float) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"created": default_created, "activates_at": 0.0}
    except (OSError, ValueError) as exc:
        raise KeyRingError(f"{path}: unreadable key metadata") from exc
    ok = isinstance(meta, dict) and all(
        isinstance(meta.get(k), int | float) and not isinstance(meta.get(k), bool)
        for k in ("created", "activates_at")
    )
    if not ok:
        raise KeyRingError(f"{path}: key metadata needs numeric created and activates_at")
    return dict(meta)
