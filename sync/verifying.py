"""Checking what the hub signed, on the appliance: rosters, deltas and commands, and the nonce rule that refuses
replayed commands.

The hub holds the private key and signs (sync/signing.py); every appliance holds the public key in its config. A
roster or a command is accepted only if its Ed25519 signature verifies over the canonical JSON of everything but
`sig`. The check is libsodium's (PyNaCl): the sync agent runs all day and has no other use for `cryptography`,
which would hold about four times the memory (bench.startup).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from pathlib import Path
from typing import Any, Protocol

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from sync.payloads import validate_command_body, validate_delta_body, validate_roster_body
from sync.protocol import (
    MAX_COMMAND_TTL_S,
    MAX_MESSAGE_BYTES,
    VERSION,
    Json,
    ProtocolError,
    canonical_json,
    parse_json,
    parse_utc,
)

SIGNATURE_BYTES = 64
KEY_BYTES = 32
# Enough for a command every second over the longest allowed lifetime, with room to spare.
MAX_NONCES = 4096
# An Ed25519 SubjectPublicKeyInfo (RFC 8410) is this DER prefix then the raw key: the whole of a public key's PEM.
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


class StaleRoster(ProtocolError):
    """A roster signed by the hub but not newer than the one applied: the retained copy again, after a reconnect."""


class RawPublicKey(Protocol):
    """A public key object that gives its raw bytes (cryptography's Ed25519PublicKey, which the hub holds)."""

    def public_bytes_raw(self) -> bytes: ...


class PublicKey:
    """The hub's Ed25519 public key, as an appliance holds it."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise ValueError(f"une clé Ed25519 fait {KEY_BYTES} octets, celle-ci en fait {len(raw)}")
        self.raw = raw
        self._key = VerifyKey(raw)

    def public_bytes_raw(self) -> bytes:
        return self.raw

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._key.verify(message, signature)
        except BadSignatureError:
            return False
        return True


KeyLike = str | bytes | Path | PublicKey | RawPublicKey


def decode_key(data: bytes, where: str) -> bytes:
    """32 raw key bytes from their base64; ValueError naming `where` otherwise."""
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError(f"{where} : ce n'est pas du base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{where} : une clé Ed25519 fait {KEY_BYTES} octets, celle-ci en fait {len(raw)}")
    return raw


def load_public_key(value: KeyLike) -> PublicKey:
    """A public key from raw base64 text, PEM text, a file holding either, or a key object; ValueError if it is
    not an Ed25519 public key."""
    if isinstance(value, PublicKey):
        return value
    if not isinstance(value, str | bytes | Path):
        return PublicKey(value.public_bytes_raw())
    if isinstance(value, Path):
        value = value.read_bytes()
    data = (value.encode() if isinstance(value, str) else value).strip()
    if not data.startswith(b"-----BEGIN"):
        return PublicKey(decode_key(data, "clé publique"))
    lines = data.splitlines()
    if lines[0] != b"-----BEGIN PUBLIC KEY-----" or lines[-1] != b"-----END PUBLIC KEY-----":
        raise ValueError("ce n'est pas une clé publique Ed25519")
    try:
        der = base64.b64decode(b"".join(line.strip() for line in lines[1:-1]), validate=True)
    except binascii.Error:
        raise ValueError("clé publique : le PEM n'est pas du base64") from None
    if len(der) != len(_SPKI_PREFIX) + KEY_BYTES or not der.startswith(_SPKI_PREFIX):
        raise ValueError("ce n'est pas une clé publique Ed25519")
    return PublicKey(der[len(_SPKI_PREFIX) :])


def verify(obj: Json, public_key: KeyLike) -> Json:
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
    if not load_public_key(public_key).verify(raw, canonical_json(unsigned)):
        raise ProtocolError("la signature ne se vérifie pas : contrefaite ou altérée")
    return unsigned


def _verified(
    payload: bytes | str | Json, public_key: KeyLike, site: str | None, validate: Any, what: str, limit: int
) -> Json:
    obj = payload if isinstance(payload, dict) else parse_json(payload, limit=limit)
    if obj.get("v") != VERSION:
        raise ProtocolError(f"{what}.v doit valoir {VERSION}")
    verify(obj, public_key)
    validate(obj)
    if site is not None and obj["site"] != site:
        raise ProtocolError(f"le registre est pour le site {obj['site']}, pas pour {site}")
    return obj


def verify_roster(
    payload: bytes | str | Json,
    public_key: KeyLike,
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


def verify_delta(payload: bytes | str | Json, public_key: KeyLike, site: str | None = None) -> Json:
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


def check_command(
    payload: bytes | str | Json,
    public_key: KeyLike,
    site: str,
    device: str,
    now: dt.datetime,
    nonces: NonceStore,
) -> Json:
    """Accept a command only if signed, addressed to this device, unexpired, not too far ahead, and new."""
    obj = payload if isinstance(payload, dict) else parse_json(payload)
    if obj.get("v") != VERSION:
        raise ProtocolError(f"command.v doit valoir {VERSION}")
    verify(obj, public_key)
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
