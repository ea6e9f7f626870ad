"""The door's last good access state, kept in a file beside the ledger: what it decides on when the ledger itself
cannot be read (a damaged SD card, a file cut short by a power failure).

Written after every reload that read something new, whole or not at all, with its own checksum. JSON, never
pickle: the file sits in a folder the kiosk and sync can also write, and reading it must never run code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from access.ledger import Bookings, Entitlement, SlotRules, Uses
from access.policy import AccessState, CredentialInfo, Holder
from common.files import write_atomically
from common.words import ClockPolicy, PlanKind, Slot

FORMAT = 1


class SnapshotError(ValueError):
    """The snapshot cannot be used (message in French)."""


@dataclass(frozen=True)
class Snapshot:
    state: AccessState
    version: int
    saved_at: dt.datetime


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: dt.time | None) -> str | None:
    return value.isoformat() if value is not None else None


def state_data(state: AccessState) -> dict[str, Any]:
    """The state as JSON data (the rules and the clock policy come from the config, not from the file)."""
    return {
        "holders": [
            {
                "id": h.id,
                "first_name": h.first_name,
                "active": h.active,
                "day": _day(h.day),
                "staff": h.staff,
                "entitlements": [
                    {
                        "id": e.id,
                        "kind": e.kind.value,
                        "valid_from": _day(e.valid_from),
                        "valid_until": _day(e.valid_until),
                        "hours_start": _time(e.hours_start),
                        "hours_end": _time(e.hours_end),
                        "weekdays": e.weekdays,
                        "allow_overdraft": e.allow_overdraft,
                        "balance": e.balance,
                        "slots": sorted(s.value for s in e.slots),
                        "until_slots": sorted(s.value for s in e.until_slots),
                    }
                    for e in h.entitlements
                ],
            }
            for h in state.holders.values()
        ],
        "credentials": [[c.value, c.holder_id, c.active, c.member] for c in state.credentials.values()],
        "uses": sorted([holder, day.isoformat(), slot.value] for holder, day, slot in state.uses.seen),
        "closures": sorted(day.isoformat() for day in state.closures),
        "bookings": [[h, r, day.isoformat(), slot.value] for h, r, day, slot in state.bookings.items()],
        "room": state.room,
    }


def _opt_day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value is not None else None


def _opt_time(value: str | None) -> dt.time | None:
    return dt.time.fromisoformat(value) if value is not None else None


def state_from_data(data: dict[str, Any], rules: SlotRules, clock_policy: ClockPolicy) -> AccessState:
    state = AccessState(rules=rules, clock_policy=clock_policy)
    for h in data["holders"]:
        entitlements = [
            Entitlement(
                id=e["id"],
                kind=PlanKind(e["kind"]),
                valid_from=_opt_day(e["valid_from"]),
                valid_until=_opt_day(e["valid_until"]),
                hours_start=_opt_time(e["hours_start"]),
                hours_end=_opt_time(e["hours_end"]),
                # A snapshot written before plans had weekdays holds none: every day, as its plans were then.
                weekdays=e.get("weekdays"),
                allow_overdraft=bool(e["allow_overdraft"]),
                balance=e["balance"],
                slots=frozenset(Slot(s) for s in e["slots"]),
                # A snapshot written before passes spanned days: a pass's last day is its first.
                until_slots=frozenset(Slot(s) for s in e.get("until_slots", e["slots"])),
            )
            for e in h["entitlements"]
        ]
        # A guest opens on their day only (a snapshot written before guests holds none); a snapshot written before
        # closures holds no staff and no closed day.
        day = _opt_day(h.get("day"))
        staff = bool(h.get("staff", False))
        state.holders[h["id"]] = Holder(h["id"], h["first_name"], bool(h["active"]), entitlements, day=day, staff=staff)
    for value, holder, active, member in data["credentials"]:
        state.credentials[value] = CredentialInfo(value, holder, bool(active), member=bool(member))
    uses = Uses()
    for holder, day, slot in data["uses"]:
        uses.add(holder, dt.date.fromisoformat(day), Slot(slot))
    state.uses = uses
    # Rights in the snapshot were already extended past these closures when it was written.
    state.closures = frozenset(dt.date.fromisoformat(day) for day in data.get("closures", []))
    # A snapshot written before bookings holds none, and was an entrance's.
    bookings = Bookings()
    for holder, resource, day, slot in data.get("bookings", []):
        bookings.add(holder, resource, dt.date.fromisoformat(day), Slot(slot))
    state.bookings = bookings
    room = data.get("room")
    state.room = str(room) if room is not None else None
    return state


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def save_snapshot(path: Path, data: dict[str, Any], version: int, site: str, device: str) -> None:
    """Write a state's data (`state_data`) to `path` (mode 0600), replacing the previous snapshot only once the new
    one is whole."""
    body = {
        "format": FORMAT,
        "site": site,
        "device": device,
        "version": version,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(),
        "state": data,
    }
    document = {"sha256": _digest(body), "body": body}
    write_atomically(path, json.dumps(document, separators=(",", ":")).encode(), mode=0o600)


def load_snapshot(path: Path, rules: SlotRules, clock_policy: ClockPolicy, site: str, device: str) -> Snapshot:
    """The snapshot at `path`; SnapshotError if it is missing, damaged or another door's."""
    try:
        document = json.loads(path.read_bytes())
        body = document["body"]
        if document["sha256"] != _digest(body):
            raise SnapshotError(f"{path} est endommagé (somme de contrôle fausse)")
        if body["format"] != FORMAT or (body["site"], body["device"]) != (site, device):
            raise SnapshotError(f"{path} n'est pas celui de cette porte ({body['site']}/{body['device']})")
        state = state_from_data(body["state"], rules, clock_policy)
        return Snapshot(state, int(body["version"]), dt.datetime.fromisoformat(body["saved_at"]))
    except FileNotFoundError:
        raise SnapshotError(f"{path} n'existe pas : la porte n'a encore jamais lu la base") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"{path} est illisible : {exc}") from None
