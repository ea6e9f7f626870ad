"""The sync protocol without I/O: topics, canonical JSON and the checks every payload passes at the boundary.

sync/PROTOCOL.md is the contract; this module is its executable form. Every check raises `ProtocolError` with a
message that names the field and the problem, in French since it is read in the logs, and nothing else: a payload
from the network can be anything, and the hub and the agent log and drop what fails instead of crashing on it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from common.badges import ANY_READER

VERSION = 1
PREFIX = "halfday/v1"
SHARE_GROUP = "hub"
MAX_MESSAGE_BYTES = 1 << 20
# Rosters (PROTOCOL.md, "Rosters"): a snapshot larger than SNAPSHOT_INLINE_BYTES travels compressed, in parts of at
# most SNAPSHOT_PART_BYTES compressed bytes (base64 makes that 800,000 characters: under MAX_MESSAGE_BYTES with room
# for the part's other fields); a device puts together at most MAX_SNAPSHOT_PARTS parts and MAX_ROSTER_BYTES of JSON.
SNAPSHOT_INLINE_BYTES = 512 * 1024
SNAPSHOT_PART_BYTES = 600_000
MAX_SNAPSHOT_PARTS = 64
MAX_ROSTER_BYTES = 64 << 20
# A delta larger than this is not made: the site gets a snapshot instead.
DELTA_MAX_BYTES = 32 * 1024
MAX_BATCH_EVENTS = 1000
MAX_SEQ = (1 << 63) - 1
MAX_COMMAND_TTL_S = 300
COMMAND_NAMES = ("unlock", "send_status", "enrol", "book")
REQUEST_KINDS = ("enrol_badge", "add_member", "top_up")
# The codes a hub refuses a change request with (sync/PROTOCOL.md); a device words each one for the manager.
REQUEST_ERRORS = (
    "uid_in_use",
    "unknown_member",
    "member_exists",
    "bad_uid",
    "forbidden_site",
    "unknown_subscription",
    "not_a_carnet",
    "bad_top_up",
)
# How long the hub may hold a door in enrolment mode: time to walk to the door, and no longer than a command lives.
ENROL_TIMEOUT_S = (10, MAX_COMMAND_TTL_S)
# A carnet topped up at the desk: at least one half-day, and a bound no real carnet comes near.
TOP_UP_HALF_DAYS = (1, 1000)
MAX_AMOUNT_CENTS = 10_000_000
# The door's health in a status (all optional fields).
DOOR_POSITIONS = ("open", "closed")
READER_STATES = ("ok", "absent")
# "roster": the roster a door decides on is older than the site's limit while the hub is reachable; "backlog":
# events have waited for the hub longer than the site's limit; "disk": the ledger's disk is nearly full; "backup":
# the last backup failed or is too old (common/words.py, `Alarm`).
STATUS_ALARMS = ("forced", "held_open", "reader", "database", "clock", "roster", "backlog", "disk", "backup")
# Why the last roster failed to apply, as the status tells it: one short sentence for a manager.
ROSTER_FAILURE_LEN = 200

ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
HEX_ID_RE = re.compile(r"[0-9a-f]{32}")
KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
# A badge identifier as stored and sent: the one rule of common/badges.py, for any reader the network may use.
UID_RE = ANY_READER.pattern
TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
HHMM_RE = re.compile(r"\d{2}:\d{2}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
# Escapes that decode into strings a database refuses: NUL and (possibly lone) surrogates.
_RISKY_ESCAPE_RE = re.compile(rb"\\u(?:0000|[dD][89abAB]|[dD][c-fC-F])")

Json = dict[str, Any]


class ProtocolError(ValueError):
    """A payload or topic that breaks the protocol; the message says which field and why."""


# ---------------------------------------------------------------------------------------------- topics


def events_topic(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/events"


def ack_topic(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/ack"


def roster_topic(site: str) -> str:
    return f"{PREFIX}/{site}/roster"


def roster_part_topic(site: str, part: int) -> str:
    """Where part `part` of a large snapshot is retained: part 0 on the roster topic itself."""
    return roster_topic(site) if part == 0 else f"{PREFIX}/{site}/roster/{part}"


def delta_topic(site: str) -> str:
    return f"{PREFIX}/{site}/delta"


def status_topic(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/status"


def command_topic(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/cmd"


def requests_topic(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/requests"


def replies_topic(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/replies"


def resume_topic(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/resume"


def resumed_topic(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/{device}/resumed"


def shared(filter_: str, group: str = SHARE_GROUP) -> str:
    """The MQTT 5 shared-subscription form of a topic filter: the broker gives each message to one member."""
    return f"$share/{group}/{filter_}"


HUB_EVENTS_FILTER = shared(f"{PREFIX}/+/+/events")
HUB_REQUESTS_FILTER = shared(f"{PREFIX}/+/+/requests")
HUB_STATUS_FILTER = f"{PREFIX}/+/+/status"
# Not shared: the keeper alone holds the key that signs the answers.
HUB_RESUME_FILTER = f"{PREFIX}/+/+/resume"

DEVICE_TOPIC_KINDS = ("events", "ack", "status", "cmd", "requests", "replies", "resume", "resumed")


@dataclass(frozen=True)
class Topic:
    """A parsed halfday topic: `device` is None for the site-wide roster topics ("roster", "roster_part", "delta")."""

    site: str
    device: str | None
    kind: str


def parse_topic(topic: str) -> Topic:
    """Split a halfday topic into site, device and kind; raise ProtocolError for anything else."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[:2] == ["halfday", "v1"] and parts[3] in ("roster", "delta"):
        return Topic(_ident(parts[2], "topic site"), None, parts[3])
    if len(parts) == 5 and parts[:2] == ["halfday", "v1"] and parts[3] == "roster" and _part_number(parts[4]):
        return Topic(_ident(parts[2], "topic site"), None, "roster_part")
    if len(parts) == 5 and parts[:2] == ["halfday", "v1"] and parts[4] in DEVICE_TOPIC_KINDS:
        return Topic(_ident(parts[2], "topic site"), _ident(parts[3], "topic device"), parts[4])
    raise ProtocolError(f"le topic {topic[:200]!r} n'est pas un topic halfday v1")


def _part_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and not text.startswith("0") and int(text) < MAX_SNAPSHOT_PARTS


# ---------------------------------------------------------------------------------------------- JSON


def canonical_json(obj: Any) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8 (not ASCII escapes).

    These are the bytes of `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` in UTF-8
    (tests/sync/test_signing.py checks it on any JSON), made by orjson: ten times faster, which a door verifying a
    snapshot of 20,000 members and a hub signing a delta for a thousand sites both feel."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON for the wire."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_json(payload: bytes | str, *, limit: int = MAX_MESSAGE_BYTES) -> Json:
    """Decode a payload into a JSON object with `"v": 1`; size (at most `limit` bytes: one message, unless a snapshot
    put together from its parts), encoding and nesting are checked."""
    raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else bytes(payload)
    if len(raw) > limit:
        raise ProtocolError(f"le message fait {len(raw)} octets, au-delà des {limit} permis")
    try:
        # orjson: a third of the hub's time per event went to decoding with the json module (bench.sync). It
        # refuses invalid UTF-8, lone surrogates, NaN and Infinity, and nesting past 1024 levels.
        obj = orjson.loads(raw)
    except ValueError as exc:
        raise ProtocolError(f"le message n'est pas du JSON en UTF-8 : {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("le message n'est pas un objet JSON")
    if _RISKY_ESCAPE_RE.search(raw):
        _check_strings(obj, "payload")
    if obj.get("v") != VERSION or isinstance(obj.get("v"), bool):
        raise ProtocolError(f"v doit valoir {VERSION}")
    return obj


def _check_strings(value: Any, where: str) -> None:
    """Refuse NUL characters and lone surrogates, which neither SQLite nor PostgreSQL can store."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings: Iterable[str] = (item,)
        elif isinstance(item, dict):
            strings = item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in strings:
            if "\x00" in text:
                raise ProtocolError(f"{where} : caractère NUL dans une chaîne")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ProtocolError(f"{where} : demi-caractère UTF-16 (surrogate) isolé dans une chaîne") from None


# ---------------------------------------------------------------------------------------------- time


def utc_iso(moment: dt.datetime) -> str:
    """`2026-11-23T08:01:02.123456Z` for an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("datetime naïf refusé : passez des datetimes UTC avec fuseau horaire")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> dt.datetime:
    """Parse a protocol timestamp into an aware UTC datetime; ProtocolError if it is not one."""
    if not isinstance(text, str) or not TIMESTAMP_RE.fullmatch(text):
        raise ProtocolError(f"{str(text)[:40]!r} n'est pas un horodatage UTC comme 2026-11-23T08:01:02Z")
    try:
        return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)
    except ValueError:
        raise ProtocolError(f"{text!r} n'est pas une date et une heure qui existent") from None


def new_hex_id() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------------------------------------- fields


def _ident(value: Any, where: str) -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise ProtocolError(f"{where} doit correspondre à {ID_RE.pattern}")
    return value


class Fields:
    """Typed access to the fields of one JSON object, each failure a ProtocolError naming `where.key`."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where} doit être un objet")
        self.obj: Json = value
        self.where = where

    def _get(self, key: str, nullable: bool) -> Any:
        if key not in self.obj:
            raise ProtocolError(f"{self.where}.{key} est absent")
        value = self.obj[key]
        if value is None and not nullable:
            raise ProtocolError(f"{self.where}.{key} ne doit pas être null")
        return value

    def text(
        self, key: str, *, max_len: int = 200, pattern: re.Pattern[str] | None = None, nullable: bool = False
    ) -> Any:
        value = self._get(key, nullable)
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > max_len:
            raise ProtocolError(f"{self.where}.{key} doit être une chaîne d'au plus {max_len} caractères")
        if pattern is not None and not pattern.fullmatch(value):
            raise ProtocolError(f"{self.where}.{key} doit correspondre à {pattern.pattern}")
        return value

    def ident(self, key: str) -> str:
        return _ident(self._get(key, False), f"{self.where}.{key}")

    def hex_id(self, key: str, *, nullable: bool = False) -> Any:
        return self.text(key, max_len=32, pattern=HEX_ID_RE, nullable=nullable)

    def integer(self, key: str, *, low: int = 0, high: int = MAX_SEQ, nullable: bool = False) -> Any:
        value = self._get(key, nullable)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ProtocolError(f"{self.where}.{key} doit être un entier de {low} à {high}")
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key, False)
        if not isinstance(value, bool):
            raise ProtocolError(f"{self.where}.{key} doit être true ou false")
        return value

    def choice(self, key: str, choices: tuple[Any, ...], *, nullable: bool = False) -> Any:
        value = self._get(key, nullable)
        if value is None:
            return None
        if isinstance(value, bool) or value not in choices:
            raise ProtocolError(f"{self.where}.{key} doit être l'une des valeurs : {', '.join(map(str, choices))}")
        return value

    def timestamp(self, key: str, *, nullable: bool = False) -> Any:
        value = self._get(key, nullable)
        if value is None:
            return None
        try:
            parse_utc(value)
        except ProtocolError as exc:
            raise ProtocolError(f"{self.where}.{key} : {exc}") from None
        return value

    def date(self, key: str, *, nullable: bool = False) -> Any:
        value = self._get(key, nullable)
        if value is None:
            return None
        if not isinstance(value, str) or not DATE_RE.fullmatch(value):
            raise ProtocolError(f"{self.where}.{key} doit être une date AAAA-MM-JJ")
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ProtocolError(f"{self.where}.{key} n'est pas une date qui existe") from None
        return value

    def hhmm(self, key: str) -> Any:
        value = self._get(key, True)
        if value is None:
            return None
        if not isinstance(value, str) or not HHMM_RE.fullmatch(value):
            raise ProtocolError(f"{self.where}.{key} doit être une heure HH:MM ou null")
        hours, minutes = int(value[:2]), int(value[3:])
        if hours > 23 or minutes > 59:
            raise ProtocolError(f"{self.where}.{key} n'est pas une heure qui existe")
        return value

    def obj_(self, key: str, *, nullable: bool = False) -> Any:
        value = self._get(key, nullable)
        if value is not None and not isinstance(value, dict):
            raise ProtocolError(f"{self.where}.{key} doit être un objet")
        return value

    def array(self, key: str, *, max_len: int = 100_000) -> list[Any]:
        value = self._get(key, False)
        if not isinstance(value, list) or len(value) > max_len:
            raise ProtocolError(f"{self.where}.{key} doit être une liste d'au plus {max_len} éléments")
        return value


def device_client_id(site: str, device: str) -> str:
    """The MQTT client id a device's sync agent connects with, and its broker account is pinned to. Site and device
    ids hold no dot, so "site a-b, door c" and "site a, door b-c" can never share one."""
    return f"halfday.{site}.{device}"
