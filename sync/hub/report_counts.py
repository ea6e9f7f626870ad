"""The funders' report's counts at the hub (ReportTally, ReportPresence), kept with the uses they count.

Every transaction that stores uses folds them in (`fold_in`: a batch's entries, a booking's half-days); one that
removes uses recounts their months (`take_out`: a cancelled booking). The rows are made by common/report_query.py's
`facts`, `tally` and `presence`, the definitions the appliance counts with, over the uses at hand only: so at every
commit the counts are those of the uses, and the report reads them instead of joining every use to its
subscription and booking (bench.report). `rebuild` makes them anew from every use.

Uses never change once stored (retention coarsens their minute, an erasure keeps their ids), and a subscription
never changes hands: nothing else moves the counts.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Connection,
    Dialect,
    Insert,
    any_,
    bindparam,
    delete,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from common.report_query import (
    PRESENCE_COLUMNS,
    TALLY_COLUMNS,
    Counts,
    UseColumns,
    facts,
    month_index,
    presence,
    tally,
)
from common.tables import month_bounds
from sync.hub.models import Booking, ReportPresence, ReportTally, Subscription, Use

Where = Sequence[ColumnElement[bool]]
TALLY_KEYS = (*TALLY_COLUMNS[:-1], "device_id")
PRESENCE_KEYS = (*PRESENCE_COLUMNS, "device_id")


def hub_facts(where: Where = ()) -> CompoundSelect[Any]:
    """The facts of the uses `where` keeps (common.report.FACT_COLUMNS and the door's `device_id`); the uses carry
    their resource's kind at the hub."""
    return facts(
        UseColumns(
            Use.site_id,
            Use.local_date,
            Use.slot,
            Use.holder_id,
            Use.pass_id,
            Use.resource_id,
            Use.resource_kind,
            Subscription.member_id,
            Booking.holder_id,
            Booking.group_id,
            join_booking=lambda q: q.outerjoin(Booking, Booking.id == Use.holder_id),
            join_subscription=lambda q: q.outerjoin(Subscription, Subscription.id == Use.subscription_id),
            device_id=Use.device_id,
        ),
        where,
    )


def counts() -> Counts:
    """What the report reads at the hub: the kept tables."""
    return Counts(ReportTally.__table__, ReportPresence.__table__)


def stored_uses(event_ids: list[str], device: str, after_seq: int) -> list[ColumnElement[bool]]:
    """The uses a batch of `device` stored (its events past `after_seq`), among those named `event_ids`: an event
    id reused under an older seq, or a use skipped as another door's, is not among them."""
    return [Use.event_id.in_(event_ids), Use.device_id == device, Use.seq > after_seq]


def fold_in(session: Session, where: Where) -> None:
    """Count the uses `where` keeps, just stored in this transaction."""
    for statement in _folding(session.get_bind().dialect.name, where):
        session.execute(statement)


def fold_in_batch(connection: Connection, cursor: Any, event_ids: list[str], device: str, after_seq: int) -> None:
    """`fold_in` of `stored_uses` on PostgreSQL, through the ingestion's own psycopg `cursor` of `connection`: the
    statement is built and compiled once, since it runs for every batch a door sends (bench.sync)."""
    sql, params = _batch_folding(connection.dialect)
    cursor.execute(sql, {**params, "ids": event_ids, "device": device, "after_seq": after_seq})


@functools.cache
def _batch_folding(dialect: Dialect) -> tuple[str, dict[str, Any]]:
    # One array parameter: the statement is the same whatever the batch's size, so PostgreSQL plans it once.
    batch = [
        Use.event_id == any_(bindparam("ids", type_=ARRAY(String))),
        Use.device_id == bindparam("device", type_=String),
        Use.seq > bindparam("after_seq", type_=BigInteger),
    ]
    (statement,) = _folding("postgresql", batch)
    compiled = statement.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)


def _folding(dialect: str, where: Where) -> list[Insert]:
    """The statements that count the uses `where` keeps: one on PostgreSQL, the uses read once."""
    made = hub_facts(where).cte("made")
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # In key order, as every transaction takes them: two that meet on a row wait, they never deadlock.
    tallied = insert(ReportTally).from_select((*TALLY_KEYS, "uses"), tally(made, "device_id").order_by(*TALLY_KEYS))
    tallied = tallied.on_conflict_do_update(
        index_elements=list(TALLY_KEYS), set_={"uses": ReportTally.uses + tallied.excluded.uses}
    )
    present = (
        insert(ReportPresence)
        .from_select(PRESENCE_KEYS, presence(made, "device_id").order_by(*PRESENCE_KEYS))
        .on_conflict_do_nothing()
    )
    if dialect == "postgresql":
        return [present.add_cte(tallied.cte("tallied"))]
    return [tallied, present]


def take_out(session: Session, where: Where) -> int:
    """Delete the uses `where` keeps and count their months again; returns how many were deleted."""
    months = {
        (site, device, (day.year, day.month))
        for site, device, day in session.execute(
            select(Use.site_id, Use.device_id, Use.local_date).where(*where).distinct()
        )
    }
    done = session.execute(delete(Use).where(*where))
    for site, device, month in sorted(months):
        recount(session, site, device, month)
    return int(done.rowcount)  # type: ignore[attr-defined]


def recount(session: Session, site: str, device: str, month: tuple[int, int]) -> None:
    """Count one door's month again from its uses."""
    start, end = month_bounds(*month)
    index = month_index(month)
    for table in (ReportTally, ReportPresence):
        session.execute(delete(table).where(table.site_id == site, table.device_id == device, table.month == index))
    fold_in(session, [Use.site_id == site, Use.device_id == device, Use.local_date >= start, Use.local_date < end])


def rebuild(session: Session) -> None:
    """Count every use anew (after uses were written around the ingestion: a restore, a benchmark's bulk load)."""
    session.execute(delete(ReportTally))
    session.execute(delete(ReportPresence))
    fold_in(session, [])
