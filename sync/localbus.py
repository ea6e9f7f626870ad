"""The local bus contract: every topic and every message between the door, the kiosk and the sync agent on the
appliance's own Mosquitto (127.0.0.1), each message a typed value with one `encode` and one `decode`.

The bus carries live news and requests only. Facts live in the database: the door decides and records without the
bus, and a process that missed a message catches up from the database (see `access.store.STATE_VERSION`).

Topics (payloads are JSON objects with "v": 1; systemd/halfday-bus.acl says who may read and write each):
- `halfday/local/door/tap`       door -> all, QoS 1: one decision at the door, as facts (`Tap`).
- `halfday/local/door/state`     door -> all, retained: lock, door, alarms, reader; last will offline (`DoorState`);
                                 sync reports it to the hub in its status.
- `halfday/local/door/enrolled`  door -> kiosk, sync: the UID tapped while in enrol mode (`Enrolled`).
- `halfday/local/door/cmd`       kiosk/sync -> door, QoS 1: `Unlock`, `Admit`, `Enrol`, `Reload`.
- `halfday/local/door/reply`     door -> requester: the outcome of a command (`Reply`).
- `halfday/local/sync/status`    sync -> all, retained: the link to the hub (`SyncStatus`).
- `halfday/local/sync/request`   kiosk -> sync: a change for the hub, already kept in the ledger (`ChangeRequest`).
- `halfday/local/sync/reply`     sync -> kiosk: the hub's answer to it (`ChangeReply`).

A payload that does not decode raises `BusError` naming the field; receivers log it and drop the message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, TypeVar

from access.policy import Reason
from common.words import Alarm, PlanKind, Slot
from sync.protocol import ROSTER_FAILURE_LEN, Fields, ProtocolError

VERSION = 1
PREFIX = "halfday/local"
TAP = f"{PREFIX}/door/tap"
DOOR_STATE = f"{PREFIX}/door/state"
ENROLLED = f"{PREFIX}/door/enrolled"
DOOR_CMD = f"{PREFIX}/door/cmd"
DOOR_REPLY = f"{PREFIX}/door/reply"
SYNC_STATUS = f"{PREFIX}/sync/status"
SYNC_REQUEST = f"{PREFIX}/sync/request"
SYNC_REPLY = f"{PREFIX}/sync/reply"
TOPICS = (TAP, DOOR_STATE, ENROLLED, DOOR_CMD, DOOR_REPLY, SYNC_STATUS, SYNC_REQUEST, SYNC_REPLY)
# Far more than any message here needs; the broker is told the same (systemd/halfday-bus.conf), and each client
# announces MAX_PACKET_BYTES at connect, so a bigger message is dropped by the broker, never read whole.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 1024


class BusError(ValueError):
    """A payload that is not the message its topic carries; the text names the field and the problem."""


M = TypeVar("M", bound="Message")


@dataclass(frozen=True, slots=True)
class Message(ABC):
    """A message of the local bus: `topic` is where it travels, `encode()` its bytes, `decode()` the way back."""

    topic: ClassVar[str]

    def encode(self) -> bytes:
        return json.dumps({"v": VERSION, **self._body()}, separators=(",", ":"), ensure_ascii=False).encode()

    def _body(self) -> dict[str, Any]:
        return {f.name: _wire(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def decode(cls: type[M], raw: bytes) -> M:
        return _decode(raw, cls.__name__, cls._read)

    @classmethod
    @abstractmethod
    def _read(cls: type[M], f: Fields) -> M:
        """The message from its checked JSON object; ProtocolError naming the first bad field."""


def _wire(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, tuple):
        return [_wire(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _decode(raw: bytes, name: str, read: Callable[[Fields], M]) -> M:
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise BusError(f"{name} : {len(raw)} octets, au-delà des {MAX_PAYLOAD_BYTES} permis")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BusError(f"{name} : ce n'est pas du JSON en UTF-8") from None
    if not isinstance(data, dict) or data.get("v") != VERSION or isinstance(data.get("v"), bool):
        raise BusError(f"{name} : ce n'est pas un objet JSON de version {VERSION}")
    try:
        return read(Fields(data, name))
    except ProtocolError as exc:
        raise BusError(str(exc)) from None


def _time(f: Fields, key: str) -> dt.datetime | None:
    text = f.obj.get(key)
    if text is None:
        return None
    if not isinstance(text, str):
        raise ProtocolError(f"{f.where}.{key} doit être une heure UTC")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError(f"{f.where}.{key} doit être une heure UTC") from None
    if moment.tzinfo is None:
        raise ProtocolError(f"{f.where}.{key} doit indiquer son fuseau horaire")
    return moment


def _optional(f: Fields, key: str, read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A field that older senders may leave out: absent reads as None."""
    return read(key, *args, nullable=True, **kwargs) if key in f.obj else None


# ---------------------------------------------------------------------------------------------- door -> all


@dataclass(frozen=True, slots=True)
class Tap(Message):
    """One decision at the door, as facts; each screen words it in its reader's language.

    No badge UID: what the screens show needs none, and a UID is all it takes to clone a badge.
    """

    topic: ClassVar[str] = TAP

    event: str
    seq: int
    at: dt.datetime
    granted: bool
    reason: Reason
    holder: str | None = None
    first_name: str | None = None
    plan: PlanKind | None = None
    slot: Slot | None = None
    charged: bool = False  # a half-day was counted (first entry of the holder in this slot)
    spent: int = 0  # half-days taken from a carnet: 0 or 1
    balance: int | None = None  # a carnet's half-days left after this entry
    clock_ok: bool = True
    connected_ns: int | None = None  # when the reader saw the badge (monotonic): for the latency benchmark

    @classmethod
    def _read(cls, f: Fields) -> Tap:
        at = _time(f, "at")
        if at is None:
            raise ProtocolError("Tap.at est absent")
        return cls(
            event=f.text("event", max_len=32),
            seq=f.integer("seq"),
            at=at,
            granted=f.boolean("granted"),
            reason=Reason(f.choice("reason", tuple(Reason))),
            holder=_optional(f, "holder", f.text, max_len=32),
            first_name=_optional(f, "first_name", f.text, max_len=80),
            plan=_enum(PlanKind, _optional(f, "plan", f.choice, tuple(PlanKind))),
            slot=_enum(Slot, _optional(f, "slot", f.choice, tuple(Slot))),
            charged=f.boolean("charged"),
            spent=f.integer("spent", high=1),
            balance=_optional(f, "balance", f.integer, low=-1_000_000, high=1_000_000),
            clock_ok=f.boolean("clock_ok"),
            connected_ns=_optional(f, "connected_ns", f.integer),
        )


E = TypeVar("E", bound=Enum)


def _enum(kind: type[E], value: Any) -> E | None:
    return None if value is None else kind(value)


@dataclass(frozen=True, slots=True)
class ReaderHealth:
    state: str  # ok | reopening | error | stopped (hardware.protocols.ReaderState)
    detail: str = ""  # French, for the manager; empty when ok
    reopens: int = 0


@dataclass(frozen=True, slots=True)
class DoorState(Message):
    """The door's retained state. Offline (the door's last will, or nothing heard) carries nothing else."""

    topic: ClassVar[str] = DOOR_STATE

    online: bool
    locked: bool | None = None
    open: bool | None = None
    alarms: tuple[Alarm, ...] = ()
    staffed: bool = False
    reader: ReaderHealth | None = None
    pending_writes: int = 0  # records waiting in memory for the disk

    def _body(self) -> dict[str, Any]:
        if not self.online:
            return {"online": False}
        return Message._body(self)

    @classmethod
    def _read(cls, f: Fields) -> DoorState:
        if not f.boolean("online"):
            return cls(online=False)
        reader = _optional(f, "reader", f.obj_)
        health = None
        if reader is not None:
            r = Fields(reader, "DoorState.reader")
            health = ReaderHealth(r.text("state", max_len=16), r.text("detail", max_len=300), r.integer("reopens"))
        alarms = f.array("alarms", max_len=len(Alarm))
        if any(a not in tuple(Alarm) for a in alarms):
            raise ProtocolError("DoorState.alarms doit lister des alarmes connues")
        return cls(
            online=True,
            locked=f.boolean("locked"),
            open=f.boolean("open"),
            alarms=tuple(Alarm(a) for a in alarms),
            staffed=f.boolean("staffed"),
            reader=health,
            pending_writes=f.integer("pending_writes"),
        )


OFFLINE = DoorState(online=False)


@dataclass(frozen=True, slots=True)
class Enrolled(Message):
    """The badge tapped while the door was in enrol mode for `request`; the door did not decide on it."""

    topic: ClassVar[str] = ENROLLED

    request: str
    uid: str

    @classmethod
    def _read(cls, f: Fields) -> Enrolled:
        return cls(f.text("request", max_len=64), f.text("uid", max_len=64))


@dataclass(frozen=True, slots=True)
class Reply(Message):
    """The door's answer to a command: `reason` is a code the requester words (a `Reason` for an admit)."""

    topic: ClassVar[str] = DOOR_REPLY

    request: str
    ok: bool
    reason: str

    UNLOCKED: ClassVar[str] = "unlocked"
    ENROL: ClassVar[str] = "enrol"
    RELOADED: ClassVar[str] = "reloaded"
    DATABASE: ClassVar[str] = "database"  # the ledger cannot be read: the door decides read-only on its snapshot

    @classmethod
    def _read(cls, f: Fields) -> Reply:
        return cls(f.text("request", max_len=64), f.boolean("ok"), f.text("reason", max_len=64))


# ---------------------------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Command(Message):
    """A request to the door; the door answers `request` with a `Reply`."""

    topic: ClassVar[str] = DOOR_CMD
    name: ClassVar[str]

    request: str

    def _body(self) -> dict[str, Any]:
        return {"name": self.name, **Message._body(self)}

    @classmethod
    def decode(cls: type[M], raw: bytes) -> M:
        command = _decode(raw, "Command", _read_command)
        if not isinstance(command, cls):
            raise BusError(f"Command : {type(command).__name__} au lieu de {cls.__name__}")
        return command


@dataclass(frozen=True, slots=True)
class Unlock(Command):
    """One unlock pulse, recorded by the door as an "unlock" event."""

    name: ClassVar[str] = "unlock"

    by: str = "manager"  # manager | pass
    ref: str | None = None  # what asked: "admin", "hub:<nonce>"

    @classmethod
    def _read(cls, f: Fields) -> Unlock:
        return cls(f.text("request", max_len=64), f.choice("by", ("manager", "pass")), _optional(f, "ref", f.text))


@dataclass(frozen=True, slots=True)
class Admit(Command):
    """Decide on `credential` as on a tap: a walk-in's pass bought at the kiosk ("pass:<id>")."""

    name: ClassVar[str] = "admit"

    credential: str = ""

    @classmethod
    def _read(cls, f: Fields) -> Admit:
        return cls(f.text("request", max_len=64), f.text("credential", max_len=80))


@dataclass(frozen=True, slots=True)
class Enrol(Command):
    """The next badge tapped within `timeout_s` is reported on `Enrolled`, not decided."""

    name: ClassVar[str] = "enrol"
    MAX_TIMEOUT_S: ClassVar[float] = 300.0

    timeout_s: float = 30.0

    @classmethod
    def _read(cls, f: Fields) -> Enrol:
        timeout = f.obj.get("timeout_s")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= cls.MAX_TIMEOUT_S:
            raise ProtocolError(f"Enrol.timeout_s doit être un nombre de secondes de 0 à {cls.MAX_TIMEOUT_S:g}")
        return cls(f.text("request", max_len=64), float(timeout))


@dataclass(frozen=True, slots=True)
class Reload(Command):
    """Read members, badges and passes again from the database."""

    name: ClassVar[str] = "reload"

    @classmethod
    def _read(cls, f: Fields) -> Reload:
        return cls(f.text("request", max_len=64))


COMMANDS: dict[str, type[Command]] = {c.name: c for c in (Unlock, Admit, Enrol, Reload)}


def _read_command(f: Fields) -> Command:
    kind = COMMANDS[f.choice("name", tuple(COMMANDS))]
    return kind._read(Fields(f.obj, kind.__name__))


def decode_command(raw: bytes) -> Command:
    """Whichever command `raw` carries."""
    return _decode(raw, "Command", _read_command)


# ---------------------------------------------------------------------------------------------- sync


@dataclass(frozen=True, slots=True)
class SyncStatus(Message):
    """The sync agent's retained status: the link to the hub, its last contact, events waiting to be sent, and the
    members list the door decides on (sync/PROTOCOL.md, status). The roster fields are absent from an older agent."""

    topic: ClassVar[str] = SYNC_STATUS

    online: bool
    last_contact: dt.datetime | None = None
    backlog: int | None = None
    roster: int | None = None  # version of the hub's roster applied here
    roster_issued_at: dt.datetime | None = None  # when the hub issued that roster
    roster_failed_at: dt.datetime | None = None  # the last roster that failed to apply, since one last applied
    roster_failure: str | None = None  # why, in French
    roster_stale: bool | None = None  # older than the site's limit while the hub is reachable

    @classmethod
    def _read(cls, f: Fields) -> SyncStatus:
        stale = f.obj.get("roster_stale")
        return cls(
            online=f.boolean("online"),
            last_contact=_time(f, "last_contact"),
            backlog=_optional(f, "backlog", f.integer),
            roster=_optional(f, "roster", f.integer),
            roster_issued_at=_time(f, "roster_issued_at"),
            roster_failed_at=_time(f, "roster_failed_at"),
            roster_failure=_optional(f, "roster_failure", f.text, max_len=ROSTER_FAILURE_LEN),
            roster_stale=None if stale is None else f.boolean("roster_stale"),
        )


@dataclass(frozen=True, slots=True)
class ChangeRequest(Message):
    """A change the desk asks of the hub (sync/PROTOCOL.md, requests). The desk keeps it in the ledger first
    (`hub_requests`), where the agent finds it even when this message is lost: this only says "send it now". The
    agent checks `data` against the kind, and keeps a request it does not find in the ledger."""

    topic: ClassVar[str] = SYNC_REQUEST

    id: str
    kind: str
    data: dict[str, Any]

    @classmethod
    def _read(cls, f: Fields) -> ChangeRequest:
        return cls(f.hex_id("id"), f.text("kind", max_len=32), f.obj_("data"))


@dataclass(frozen=True, slots=True)
class ChangeReply(Message):
    """The hub's answer to a change request, passed on by the agent (also written into the ledger's request)."""

    topic: ClassVar[str] = SYNC_REPLY
    # Not the hub's: the agent's own refusal of a kept request that breaks the protocol, so it is never sent.
    INVALID: ClassVar[str] = "invalid_request"

    request: str
    ok: bool
    error: str | None = None
    roster_version: int | None = None

    @classmethod
    def _read(cls, f: Fields) -> ChangeReply:
        return cls(
            f.hex_id("request"),
            f.boolean("ok"),
            _optional(f, "error", f.text),
            _optional(f, "roster_version", f.integer),
        )
