"""Ed25519 signatures the hub makes for rosters and commands, and its key files.

The hub holds the private key (`cryptography`); the appliance checks signatures with sync/verifying.py, whose names
are also reachable from here for the hub's own checks and the tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.payloads import validate_command_body, validate_roster_body
from sync.protocol import VERSION, Json, canonical_json, new_hex_id, utc_iso
from sync.verifying import (
    MAX_NONCES,
    SIGNATURE_BYTES,
    MemoryNonceStore,
    NonceStore,
    PublicKey,
    StaleRoster,
    check_command,
    decode_key,
    load_public_key,
    verify,
    verify_delta,
    verify_roster,
)

__all__ = [
    "MAX_NONCES",
    "SIGNATURE_BYTES",
    "MemoryNonceStore",
    "NonceStore",
    "StaleRoster",
    "check_command",
    "generate_private_key",
    "load_private_key",
    "load_public_key",
    "make_command",
    "public_key_b64",
    "save_private_key",
    "save_public_key",
    "sign",
    "sign_roster",
    "signature",
    "verify",
    "verify_delta",
    "verify_roster",
]

# ---------------------------------------------------------------------------------------------- keys


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey | PublicKey) -> str:
    """The raw 32-byte public key in base64, the form an appliance's config holds (`hub.public_key`)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes_raw()).decode("ascii")


def save_private_key(key: Ed25519PrivateKey, path: str | Path, *, raw: bool = False) -> None:
    """Write the key as PKCS#8 PEM (or raw base64 with `raw=True`), readable by its owner only (mode 0600)."""
    if raw:
        seed = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        data = base64.b64encode(seed) + b"\n"
    else:
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # O_CREAT's mode does not apply to a file that already existed.
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Read a private key written by `save_private_key` (PEM or raw base64); ValueError if it is not one."""
    data = Path(path).read_bytes().strip()
    if data.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} : ce n'est pas une clé privée Ed25519")
        return key
    return Ed25519PrivateKey.from_private_bytes(decode_key(data, str(path)))


def save_public_key(key: Ed25519PrivateKey | Ed25519PublicKey | PublicKey, path: str | Path) -> None:
    Path(path).write_text(public_key_b64(key) + "\n")


# ---------------------------------------------------------------------------------------------- signatures


def sign(body: Mapping[str, Any], key: Ed25519PrivateKey) -> Json:
    """A copy of `body` with `sig`: base64 Ed25519 over the canonical JSON of everything else."""
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    signed = dict(unsigned)
    signed["sig"] = signature(canonical_json(unsigned), key)
    return signed


def sign_roster(body: Mapping[str, Any], key: Ed25519PrivateKey) -> Json:
    """Validate then sign a roster body built by the hub."""
    validate_roster_body(dict(body))
    return sign(body, key)


def signature(canonical: bytes, key: Ed25519PrivateKey) -> str:
    """The `sig` of a body whose canonical JSON the caller made itself (the hub's keeper, from encoded rows)."""
    return base64.b64encode(key.sign(canonical)).decode("ascii")


# ---------------------------------------------------------------------------------------------- commands


def make_command(
    key: Ed25519PrivateKey,
    site: str,
    device: str,
    name: str,
    now: dt.datetime,
    *,
    ttl_s: float = 60.0,
    args: Json | None = None,
    nonce: str | None = None,
) -> Json:
    """A signed command for one device, valid for `ttl_s` seconds from `now`."""
    body = {
        "v": VERSION,
        "site": site,
        "device": device,
        "name": name,
        "nonce": nonce or new_hex_id(),
        "expires": utc_iso(now + dt.timedelta(seconds=ttl_s)),
        "args": args or {},
    }
    validate_command_body(body)
    return sign(body, key)
