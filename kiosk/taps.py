"""News from the local bus, checked at the boundary: a payload that does not have the expected shape is dropped
(and logged) rather than shown half-understood."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _opt_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class TapNews:
    """One decision at the door, as `sync.localbus.tap_payload` describes it."""

    event: str
    seq: int
    granted: bool
    reason: str
    uid: str
    holder: str | None
    first_name: str | None
    plan: str | None
    slot: str | None
    charged: bool
    spent: int
    balance: int | None
    message_fr: str
    message_en: str

    def message(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_fr


def parse_tap(data: dict[str, Any]) -> TapNews | None:
    """A tap payload (already JSON-decoded, version checked) or None if a required field is missing or wrong."""
    required_str = ("event", "reason", "uid", "message_fr", "message_en")
    if not all(isinstance(data.get(key), str) for key in required_str):
        return None
    if not isinstance(data.get("granted"), bool) or not isinstance(data.get("charged"), bool):
        return None
    return TapNews(
        event=data["event"],
        seq=_opt_int(data, "seq") or 0,
        granted=data["granted"],
        reason=data["reason"],
        uid=data["uid"],
        holder=_opt_str(data, "holder"),
        first_name=_opt_str(data, "first_name"),
        plan=_opt_str(data, "plan"),
        slot=_opt_str(data, "slot"),
        charged=data["charged"],
        spent=_opt_int(data, "spent") or 0,
        balance=_opt_int(data, "balance"),
        message_fr=data["message_fr"],
        message_en=data["message_en"],
    )


@dataclass(frozen=True)
class DoorState:
    """The retained door state: online, lock, door, alarms, reader."""

    online: bool
    locked: bool | None = None
    open: bool | None = None
    alarms: tuple[str, ...] = ()
    staffed: bool = False
    reader_state: str | None = None
    reader_detail: str | None = None
    pending_writes: int = 0


def parse_door_state(data: dict[str, Any] | None) -> DoorState:
    """The door's retained state; anything unreadable (or the last will) reads as offline."""
    if data is None or data.get("online") is not True:
        return DoorState(online=False)
    raw_reader = data.get("reader")
    reader: dict[str, Any] = raw_reader if isinstance(raw_reader, dict) else {}
    raw_alarms = data.get("alarms")
    alarms: list[Any] = raw_alarms if isinstance(raw_alarms, list) else []
    return DoorState(
        online=True,
        locked=data.get("locked") if isinstance(data.get("locked"), bool) else None,
        open=data.get("open") if isinstance(data.get("open"), bool) else None,
        alarms=tuple(str(a) for a in alarms),
        staffed=data.get("staffed") is True,
        reader_state=_opt_str(reader, "state"),
        reader_detail=_opt_str(reader, "detail"),
        pending_writes=_opt_int(data, "pending_writes") or 0,
    )


@dataclass(frozen=True)
class SyncStatus:
    """The sync agent's retained status: link to the hub, last contact, events waiting to be sent."""

    online: bool
    last_contact: dt.datetime | None = None
    backlog: int | None = None
    oldest: dt.datetime | None = None


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def parse_sync_status(data: dict[str, Any] | None) -> SyncStatus | None:
    """The sync status, or None when the sync agent never said anything (or said nonsense)."""
    if data is None or not isinstance(data.get("online"), bool):
        return None
    return SyncStatus(
        online=data["online"],
        last_contact=_timestamp(data.get("last_contact")),
        backlog=_opt_int(data, "backlog"),
        oldest=_timestamp(data.get("oldest")),
    )
