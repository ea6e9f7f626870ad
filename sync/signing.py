"""Ed25519 signatures for rosters and commands, key files, and the nonce rule that refuses replayed commands.

The hub holds the private key; every appliance holds the public key in its config. A roster or a command is
accepted only if its signature verifies over the canonical JSON of everything but `sig`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.payloads import validate_command_body, validate_delta_body, validate_roster_body
from sync.protocol import (
    MAX_COMMAND_TTL_S,
    MAX_MESSAGE_BYTES,
    VERSION,
    Json,
    ProtocolError,
    canonical_json,
    new_hex_id,
    parse_json,
    parse_utc,
    utc_iso,
)

SIGNATURE_BYTES = 64
# Enough for a command every second over the longest allowed lifetime, with room to spare.
MAX_NONCES = 4096


class StaleRoster(ProtocolError):
    """A roster signed by the hub but not newer than the one applied: the retained copy again, after a reconnect."""


# ---------------------------------------------------------------------------------------------- keys


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64, the form an appliance's config holds (`hub.public_key`)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


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
    return Ed25519PrivateKey.from_private_bytes(_b64_32(data, str(path)))


def save_public_key(key: Ed25519PrivateKey | Ed25519PublicKey, path: str | Path) -> None:
    Path(path).write_text(public_key_b64(key) + "\n")


def load_public_key(value: str | bytes | Path | Ed25519PublicKey) -> Ed25519PublicKey:
    """A public key from raw base64 text, PEM text, or a file holding either."""
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, Path):
        value = value.read_bytes()
    data = value.encode() if isinstance(value, str) else value
    data = data.strip()
    if data.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("ce n'est pas une clé publique Ed25519")
        return key
    return Ed25519PublicKey.from_public_bytes(_b64_32(data, "clé publique"))


def _b64_32(data: bytes, where: str) -> bytes:
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError(f"{where} : ce n'est pas du base64") from None
    if len(raw) != 32:
        raise ValueError(f"{where} : une clé Ed25519 fait 32 octets, celle-ci en fait {len(raw)}")
    return raw


# ---------------------------------------------------------------------------------------------- signatures


def sign(body: Mapping[str, Any], key: Ed25519PrivateKey) -> Json:
    """A copy of `body` with `sig`: base64 Ed25519 over the canonical JSON of everything else."""
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    signed = dict(unsigned)
    signed["sig"] = base64.b64encode(key.sign(canonical_json(unsigned))).decode("ascii")
    return signed


def verify(obj: Json, public_key: Ed25519PublicKey) -> Json:
    """Check `obj["sig"]`; return the object without it. ProtocolError if unsigned or forged."""
    sig = obj.get("sig")
    if not isinstance(sig, str) or not sig:
        raise ProtocolError("non signé : sig est absent")
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("sig n'est pas du base64") from None
    if len(raw) != SIGNATURE_BYTES:
        raise ProtocolError("sig n'est pas une signature Ed25519")
    unsigned = {k: v for k, v in obj.items() if k != "sig"}
    try:
        public_key.verify(raw, canonical_json(unsigned))
    except InvalidSignature:
        raise ProtocolError("la signature ne se vérifie pas : contrefaite ou altérée") from None
    return unsigned


def sign_roster(body: Mapping[str, Any], key: Ed25519PrivateKey) -> Json:
    """Validate then sign a roster body built by the hub."""
    validate_roster_body(dict(body))
    return sign(body, key)


def signature(canonical: bytes, key: Ed25519PrivateKey) -> str:
    """The `sig` of a body whose canonical JSON the caller made itself (the hub's keeper, from encoded rows)."""
    return base64.b64encode(key.sign(canonical)).decode("ascii")


def _verified(
    payload: bytes | str | Json,
    public_key: Ed25519PublicKey | str,
    site: str | None,
    validate: Any,
    what: str,
    limit: int,
) -> Json:
    obj = payload if isinstance(payload, dict) else parse_json(payload, limit=limit)
    if obj.get("v") != VERSION:
        raise ProtocolError(f"{what}.v doit valoir {VERSION}")
    verify(obj, load_public_key(public_key) if isinstance(public_key, str) else public_key)
    validate(obj)
    if site is not None and obj["site"] != site:
        raise ProtocolError(f"le registre est pour le site {obj['site']}, pas pour {site}")
    return obj


def verify_roster(
    payload: bytes | str | Json,
    public_key: Ed25519PublicKey | str,
    current_version: int | None,
    site: str | None = None,
    *,
    limit: int = MAX_MESSAGE_BYTES,
) -> Json:
    """Accept a snapshot only if signed by the hub, well formed, for `site`, and newer than `current_version`.

    ProtocolError otherwise; StaleRoster (a ProtocolError) when all is well but the version is not newer. `limit`:
    the largest payload accepted (a snapshot put together from its parts may pass one message's size).
    """
    obj = _verified(payload, public_key, site, validate_roster_body, "roster", limit)
    if current_version is not None and obj["version"] <= current_version:
        raise StaleRoster(
            f"la version {obj['version']} du registre n'est pas plus récente que la version {current_version}"
        )
    return obj


def verify_delta(payload: bytes | str | Json, public_key: Ed25519PublicKey | str, site: str | None = None) -> Json:
    """Accept a delta only if signed by the hub, well formed and for `site`; whether it applies to the version held
    is the caller's question (PROTOCOL.md, "Delta"). ProtocolError otherwise."""
    return _verified(payload, public_key, site, validate_delta_body, "delta", MAX_MESSAGE_BYTES)


# ---------------------------------------------------------------------------------------------- commands


class NonceStore(Protocol):
    """Remembers command nonces until their command expires; persisted on a device so a restart forgets none."""

    def claim(self, nonce: str, expires: dt.datetime, now: dt.datetime) -> None:
        """Record `nonce`; raise ProtocolError if it was seen before (a replay) or the store is full."""


class MemoryNonceStore:
    """A bounded in-memory NonceStore (for the hub's own checks and for tests)."""

    def __init__(self, capacity: int = MAX_NONCES) -> None:
        self.capacity = capacity
        self._expires: dict[str, dt.datetime] = {}

    def claim(self, nonce: str, expires: dt.datetime, now: dt.datetime) -> None:
        if nonce in self._expires:
            raise ProtocolError("commande rejouée : nonce déjà vu")
        for old in [n for n, when in self._expires.items() if when < now]:
            del self._expires[old]
        if len(self._expires) >= self.capacity:
            # Forgetting an unexpired nonce would let its command be replayed: refuse instead.
            raise ProtocolError("trop de commandes non expirées : commande refusée")
        self._expires[nonce] = expires


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


def check_command(
    payload: bytes | str | Json,
    public_key: Ed25519PublicKey | str,
    site: str,
    device: str,
    now: dt.datetime,
    nonces: NonceStore,
) -> Json:
    """Accept a command only if signed, addressed to this device, unexpired, not too far ahead, and new."""
    obj = payload if isinstance(payload, dict) else parse_json(payload)
    if obj.get("v") != VERSION:
        raise ProtocolError(f"command.v doit valoir {VERSION}")
    verify(obj, load_public_key(public_key) if isinstance(public_key, str) else public_key)
    validate_command_body(obj)
    if obj["site"] != site or obj["device"] != device:
        raise ProtocolError(f"la commande est pour {obj['site']}/{obj['device']}, pas pour {site}/{device}")
    expires = parse_utc(obj["expires"])
    if expires <= now:
        raise ProtocolError("commande expirée")
    if expires > now + dt.timedelta(seconds=MAX_COMMAND_TTL_S):
        raise ProtocolError(f"la commande expire dans plus de {MAX_COMMAND_TTL_S} s")
    nonces.claim(obj["nonce"], expires, now)
    return obj
