"""The ledger's lives (sync/PROTOCOL.md, "A restored or new ledger"): a new one begins when the ledger is restored,
and resuming it puts the device's stream back above what the hub holds, with the hub's events the ledger lacks.

The sync agent is the one writer here: it asks the hub, then calls `settle` and `fill` with the checked answers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from access.models import Balance, Event, Incarnation, Outbox, Use
from access.store import bump_state_version
from common.db import new_id
from common.words import EventKind

# The reasons a life begins: the migration that brought incarnations begins one, resumed, on every ledger
# ("created" or "upgraded"); a restore, or a reinstalled appliance's `halfday resume`, one that asks the hub first.
RESTORED, REINSTALLED = "restored", "reinstalled"


class ResumeRefused(ValueError):
    """The hub's answer does not fit this ledger (message in French); nothing was written."""


@dataclass(frozen=True)
class Pending:
    """The current life, not yet resumed: what to ask the hub next."""

    incarnation: str
    base: int
    hub_seq: int | None
    first: int  # the first seq still wanted from the hub


def begin(session: Session, reason: str) -> Incarnation:
    """Begin a new life of the ledger, in the caller's transaction: the agent will resume it before sending."""
    base = session.execute(select(func.max(Event.seq))).scalar() or 0
    life = Incarnation(id=new_id(), reason=reason, base_seq=base)
    session.add(life)
    session.flush()
    return life


def current(session: Session) -> Incarnation | None:
    return session.execute(select(Incarnation).order_by(Incarnation.number.desc()).limit(1)).scalar()


def pending(session: Session) -> Pending | None:
    """The current life if it is not resumed yet; None when the agent may send."""
    life = current(session)
    if life is None or life.resumed_at is not None:
        return None
    return Pending(life.id, life.base_seq, life.hub_seq, (life.filled_seq or life.base_seq) + 1)


def _shift(session: Session, device: str, base: int, by: int) -> None:
    """Move the events recorded in this life (seq > base) up by `by`, with all that names their seq."""
    # Through negative numbers: (device_id, seq) is unique, and an UPDATE checks it row by row.
    moved = Event.device_id == device
    session.execute(update(Event).where(moved, Event.seq > base).values(seq=-(Event.seq + by)))
    session.execute(update(Event).where(moved, Event.seq < 0).values(seq=-Event.seq))
    session.execute(update(Outbox).where(Outbox.device_id == device, Outbox.seq > base).values(seq=Outbox.seq + by))
    mine = select(Event.id).where(Event.device_id == device)
    session.execute(update(Use).where(Use.event_id.in_(mine), Use.seq > base).values(seq=Use.seq + by))
    session.execute(update(Balance).where(Balance.as_of_seq > base).values(as_of_seq=Balance.as_of_seq + by))


def settle(session: Session, device: str, incarnation: str, cursor: int, now: dt.datetime) -> int:
    """Take the hub's cursor from its first answer: the life's own events move above it. Returns how far they
    moved. An answer with another cursor than the first one's is refused."""
    life = current(session)
    if life is None or life.id != incarnation or life.resumed_at is not None:
        raise ResumeRefused("réponse du hub pour une vie de la base qui n'est plus en cours")
    if life.hub_seq is not None:
        if life.hub_seq != cursor:
            raise ResumeRefused(f"le hub annonce {cursor} événements, puis {life.hub_seq} : réponse ignorée")
        return 0
    by = max(0, cursor - life.base_seq)
    if by:
        _shift(session, device, life.base_seq, by)
    life.hub_seq = cursor
    life.filled_seq = min(life.base_seq, cursor)
    if cursor <= life.base_seq:
        _resumed(session, life, device, now)
    return by


def _resumed(session: Session, life: Incarnation, device: str, now: dt.datetime) -> None:
    assert life.hub_seq is not None
    life.resumed_at = now
    # What the hub holds needs no sending: the events the backup had in its outbox, up to the hub's cursor.
    session.execute(delete(Outbox).where(Outbox.device_id == device, Outbox.seq <= life.hub_seq))


_EVENT_SQL = (
    "INSERT OR IGNORE INTO events (id, device_id, seq, kind, at, mono_ns, boot_id, clock_ok, data)"
    " VALUES (?,?,?,?,?,?,?,?,?)"
)
# The hub's use is the one that counts: it replaces one the ledger recorded for the same holder and half-day.
_USE_SQL = (
    "INSERT INTO uses (holder_id, site_id, local_date, slot, spent, subscription_id, pass_id, event_id, seq)"
    " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (holder_id, site_id, local_date, slot) DO UPDATE SET"
    " spent = excluded.spent, subscription_id = excluded.subscription_id, pass_id = excluded.pass_id,"
    " event_id = excluded.event_id, seq = excluded.seq"
)


def _stored_at(text: str) -> str:
    # The protocol's 2026-11-23T08:01:02.123456Z as the ledger stores it (access/store.py): UTC, six decimals.
    at = dt.datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=dt.UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def fill(
    session: Session,
    site: str,
    device: str,
    incarnation: str,
    events: Sequence[dict[str, Any]],
    more: bool,
    now: dt.datetime,
    usable: Any,
) -> bool:
    """Write a page of the hub's events (checked, contiguous from the life's next wanted seq) as acknowledged: no
    outbox row, an entry with its use. `usable(kind, data)` says whether an event's data may be used. Returns
    whether the life is now resumed."""
    life = current(session)
    if life is None or life.id != incarnation or life.hub_seq is None or life.resumed_at is not None:
        raise ResumeRefused("réponse du hub pour une vie de la base qui n'est plus en cours")
    first = (life.filled_seq or 0) + 1
    if events and events[0]["seq"] != first:
        raise ResumeRefused(f"le hub renvoie à partir de {events[0]['seq']}, la base attend {first}")
    conn = session.connection()
    if events:
        conn.exec_driver_sql(
            _EVENT_SQL,
            [
                (
                    e["id"],
                    device,
                    e["seq"],
                    e["kind"],
                    _stored_at(e["at"]),
                    e["mono_ns"],
                    e["boot"],
                    int(e["clock_ok"]),
                    json.dumps(e["data"], separators=(",", ":")),
                )
                for e in events
            ],
        )
    uses = []
    for e in events:
        data = e["data"]
        use = data.get("use") if e["kind"] == EventKind.ENTRY and usable(e["kind"], data) else None
        holder = (data.get("holder") or use["subscription"] or use["pass"]) if use else None
        if use and holder:
            uses.append(
                (
                    holder,
                    site,
                    use["date"],
                    use["slot"],
                    use["spent"],
                    use["subscription"],
                    use["pass"],
                    e["id"],
                    e["seq"],
                )
            )
    if uses:
        conn.exec_driver_sql(_USE_SQL, uses)
    if events:
        life.filled_seq = events[-1]["seq"]
    done = not more or (life.filled_seq or 0) >= life.hub_seq
    if done:
        _resumed(session, life, device, now)
    bump_state_version(session)  # the door reloads the uses and balances it decides on
    return done
