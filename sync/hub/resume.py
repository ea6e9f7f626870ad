"""The hub's answer to a restored or new ledger (sync/PROTOCOL.md, "A restored or new ledger"): its cursor for the
device, and a page of the device's events the ledger lacks, signed by the keeper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from sync.hub.db import HubDatabase
from sync.hub.ingest import insert_ignoring_conflicts
from sync.hub.models import DeviceCursor, DeviceIncarnation, Event
from sync.protocol import VERSION, Json, dumps, utc_iso
from sync.resume import RESUME_PAGE_BYTES, RESUME_PAGE_EVENTS
from sync.signing import sign


def wire_event(row: Event) -> Json:
    """An event in the events topic's form, as the device sent it."""
    return {
        "v": VERSION,
        "id": row.id,
        "site": row.site_id,
        "device": row.device_id,
        "seq": row.seq,
        "kind": row.kind,
        "at": utc_iso(row.at),
        "mono_ns": row.mono_ns,
        "boot": row.boot,
        "clock_ok": row.clock_ok,
        "data": row.data,
    }


def make_resumed(request: Json, cursor: int, events: Sequence[Json], more: bool, key: Ed25519PrivateKey) -> bytes:
    """The hub's signed answer to `request` (validated): its cursor and a page of the device's events."""
    body = {
        "v": VERSION,
        "site": request["site"],
        "device": request["device"],
        "incarnation": request["incarnation"],
        "base": request["base"],
        "cursor": cursor,
        "events": list(events),
        "more": more,
    }
    return dumps(sign(body, key))


def answer(db: HubDatabase, request: Json, key: Ed25519PrivateKey) -> bytes:
    """The signed answer to a validated resume request, recorded in `device_incarnations`."""
    site, device, first = request["site"], request["device"], request["from"]
    with db.write() as session:
        cursor = (
            session.execute(
                select(DeviceCursor.seq).where(DeviceCursor.site_id == site, DeviceCursor.device_id == device)
            ).scalar()
            or 0
        )
        rows = (
            session.execute(
                select(Event)
                .where(Event.site_id == site, Event.device_id == device, Event.seq >= first, Event.seq <= cursor)
                .order_by(Event.seq)
                .limit(RESUME_PAGE_EVENTS)
            )
            .scalars()
            .all()
        )
        events: list[Json] = []
        size = 0
        for row in rows:
            if row.seq != first + len(events):
                break  # never past a hole (there is none below the cursor; a page stays contiguous whatever)
            event = wire_event(row)
            size += len(dumps(event))
            if events and size > RESUME_PAGE_BYTES:
                break
            events.append(event)
        last = events[-1]["seq"] if events else first - 1
        values: dict[str, Any] = {
            "site_id": site,
            "device_id": device,
            "incarnation": request["incarnation"],
            "base_seq": request["base"],
            "cursor": cursor,
            "sent_to": 0,
        }
        session.execute(insert_ignoring_conflicts(session, DeviceIncarnation).values(**values))
        if events:
            session.execute(
                update(DeviceIncarnation)
                .where(
                    DeviceIncarnation.site_id == site,
                    DeviceIncarnation.device_id == device,
                    DeviceIncarnation.incarnation == request["incarnation"],
                    DeviceIncarnation.sent_to < last,
                )
                .values(sent_to=last)
            )
    return make_resumed(request, cursor, events, bool(events) and last < cursor, key)
