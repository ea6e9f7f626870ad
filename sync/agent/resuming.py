"""The agent's side of resuming a restored or new ledger (sync/PROTOCOL.md, "A restored or new ledger"): ask the
hub until it answers, write each checked answer into the ledger, and say when the stream may go on."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from access import incarnation
from access.db import Database
from sync.payloads import event_data_problem
from sync.protocol import ProtocolError
from sync.resume import check_resumed, make_resume_request
from sync.verifying import KeyLike

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What an answer did: `resumed` with the hub's cursor, or the next page to ask for."""

    resumed: bool
    cursor: int
    moved: int  # how far the life's own events moved up


def pending(db: Database) -> incarnation.Pending | None:
    with db.read() as session:
        return incarnation.pending(session)


def request(site: str, device: str, life: incarnation.Pending) -> bytes:
    return make_resume_request(site, device, life.incarnation, life.base, life.first)


def _usable(kind: str, data: dict[str, object]) -> bool:
    return event_data_problem(kind, data) is None


def apply(
    db: Database, public_key: KeyLike, site: str, device: str, life: incarnation.Pending, payload: bytes
) -> tuple[Step, incarnation.Pending | None]:
    """Check the hub's answer for the page `life` asked, and write it in one transaction. ProtocolError if it does
    not fit (nothing written)."""
    answer = check_resumed(payload, public_key, site, device, life.incarnation, life.first)
    now = dt.datetime.now(dt.UTC)
    try:
        with db.write() as session:
            moved = incarnation.settle(session, device, life.incarnation, answer["cursor"], now)
            if incarnation.pending(session) is not None:
                incarnation.fill(
                    session, site, device, life.incarnation, answer["events"], answer["more"], now, _usable
                )
            after = incarnation.pending(session)
    except incarnation.ResumeRefused as exc:
        raise ProtocolError(str(exc)) from None
    if moved:
        log.warning(
            "base restaurée : %d événements enregistrés depuis renumérotés après le %de connu du hub",
            moved,
            answer["cursor"],
        )
    return Step(after is None, answer["cursor"], moved), after
