"""Large snapshots in parts (sync/PROTOCOL.md, "Large snapshots: compressed parts").

The hub compresses a signed snapshot's JSON and cuts it into parts that each fit in one message; a device gathers
the parts of one version, checks the digest, decompresses within a limit, and only then verifies the signature of
the whole. A part is not trusted for anything but being put together: the signature decides.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib

from sync.protocol import (
    MAX_ROSTER_BYTES,
    SNAPSHOT_INLINE_BYTES,
    SNAPSHOT_PART_BYTES,
    VERSION,
    Json,
    ProtocolError,
    dumps,
)

# zlib's level 3: within a few percent of the default's size on a roster (ids are random hex: they do not compress
# much at any level) and about twice as fast, for a keeper that may make a thousand snapshots on its first start.
LEVEL = 3


def split_snapshot(payload: bytes, site: str, version: int) -> list[bytes]:
    """The messages of a signed snapshot: itself when small enough, else its compressed parts (part 0 first)."""
    if len(payload) <= SNAPSHOT_INLINE_BYTES:
        return [payload]
    packed = zlib.compress(payload, LEVEL)
    digest = hashlib.sha256(packed).hexdigest()
    chunks = [packed[i : i + SNAPSHOT_PART_BYTES] for i in range(0, len(packed), SNAPSHOT_PART_BYTES)]
    return [
        dumps(
            {
                "v": VERSION,
                "site": site,
                "version": version,
                "part": index,
                "parts": len(chunks),
                "encoding": "zlib",
                "digest": digest,
                "data": base64.b64encode(chunk).decode("ascii"),
            }
        )
        for index, chunk in enumerate(chunks)
    ]


class SnapshotParts:
    """The parts of the newest snapshot heard of, until all are here. Parts of an older version are dropped; a
    part of another digest for the same version starts the gathering again (the newest word wins)."""

    def __init__(self) -> None:
        self.version = 0
        self._digest = ""
        self._parts: dict[int, bytes] = {}
        self._count = 0

    def add(self, part: Json) -> bytes | None:
        """Keep a validated part; return the snapshot's JSON once every part of its version is here."""
        version, digest = int(part["version"]), str(part["digest"])
        if version < self.version:
            return None
        if version > self.version or digest != self._digest or part["parts"] != self._count:
            self.version, self._digest, self._count, self._parts = version, digest, int(part["parts"]), {}
        try:
            self._parts[int(part["part"])] = base64.b64decode(part["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("partie de liste : data n'est pas du base64") from None
        if len(self._parts) < self._count:
            return None
        packed = b"".join(self._parts[i] for i in range(self._count))
        self._parts = {}
        if hashlib.sha256(packed).hexdigest() != self._digest:
            raise ProtocolError("liste en parties : l'empreinte ne correspond pas")
        return _inflate(packed)

    def forget(self, upto: int) -> None:
        """Drop what was gathered for versions up to `upto` (one applied by other means)."""
        if self.version <= upto:
            self._parts = {}


def _inflate(packed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        whole = inflater.decompress(packed, MAX_ROSTER_BYTES)
    except zlib.error as exc:
        raise ProtocolError(f"liste en parties : décompression impossible ({exc})") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise ProtocolError(f"liste en parties : plus de {MAX_ROSTER_BYTES} octets une fois décompressée, ou tronquée")
    return whole
