"""The change requests to the hub as the agent finds them in the ledger (table `hub_requests`): an outbox.

The desk writes a request there before anything is sent, so a request made while the agent, the local bus, the
network or the hub is down waits there, and leaves when they are back. The agent sends the unanswered ones, again
until the hub replies, and writes the reply into the same row for the admin to show. Each write is one short
transaction, so the door never waits long for the lock.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update

from access.db import Database
from access.models import HubRequest, Subscription
from sync.payloads import make_request
from sync.protocol import Json, ProtocolError

log = logging.getLogger(__name__)

# Requests sent per pass of the sender: a site asks a handful a day; a long outage's backlog leaves in a few passes.
SEND_CHUNK = 50


@dataclass(frozen=True)
class Due:
    """An unanswered request to send, as the wire carries it (or why it cannot be)."""

    id: str
    payload: bytes | None
    problem: str | None = None


def due(db: Database, site: str, device: str, sent_before: dt.datetime) -> list[Due]:
    """The unanswered requests never sent, or last sent before `sent_before`, oldest first."""
    with db.read() as session:
        rows = session.scalars(
            select(HubRequest)
            .where(
                HubRequest.answered_at.is_(None),
                or_(HubRequest.sent_at.is_(None), HubRequest.sent_at < sent_before),
            )
            .order_by(HubRequest.created_at)
            .limit(SEND_CHUNK)
        ).all()
        found = []
        for row in rows:
            try:
                found.append(Due(row.id, make_request(site, device, row.id, row.created_at, row.kind, row.data)))
            except ProtocolError as exc:
                found.append(Due(row.id, None, str(exc)))
        return found


def mark_sent(db: Database, ids: list[str], now: dt.datetime) -> None:
    if not ids:
        return
    with db.write() as session:
        session.execute(update(HubRequest).where(HubRequest.id.in_(ids)).values(sent_at=now))


def answer(
    db: Database, request_id: str, ok: bool, error: str | None, roster_version: int | None, now: dt.datetime
) -> bool:
    """Write the hub's reply into its request; False when no unanswered request has that id (a repeat, a stray)."""
    with db.write() as session:
        done = session.execute(
            update(HubRequest)
            .where(HubRequest.id == request_id, HubRequest.answered_at.is_(None))
            .values(answered_at=now, ok=ok, error=error, roster_version=roster_version)
        )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def add(
    db: Database,
    site: str,
    device: str,
    request_id: str,
    kind: str,
    data: Json,
    origin: str,
    now: dt.datetime,
) -> bool:
    """Keep a request the desk did not write itself (the hub's enrol, a request only the bus carried); checked as
    the hub checks it first (ProtocolError). False when a request with this id is already kept."""
    make_request(site, device, request_id, now, kind, data)
    with db.write() as session:
        if session.get(HubRequest, request_id) is not None:
            return False
        member_id: Any = data.get("member_id")
        if kind == "top_up":
            member_id = session.scalar(select(Subscription.member_id).where(Subscription.id == data["subscription_id"]))
        session.add(HubRequest(id=request_id, kind=kind, member_id=member_id, data=data, origin=origin, created_at=now))
    return True


def known(db: Database, request_id: str) -> bool:
    with db.read() as session:
        return session.get(HubRequest, request_id) is not None
