"""The funders' report at the hub: the network's counts (sync/hub/report_counts.py), and its sites.

Every count comes from the `uses` table and the rows it names by id (the subscription it was charged to, the room
booking it was), never from names or the events' payloads."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from common.report import Period, Report
from common.report_query import compute
from sync.hub import report_counts
from sync.hub.db import HubDatabase
from sync.hub.models import Site

REPORT_WORK_MEM = "64MB"


@contextmanager
def one_state(db: HubDatabase) -> Iterator[Session]:
    """A read whose statements all see one state of the counts, so that the report's passes agree while doors keep
    sending: PostgreSQL's repeatable read (its default gives each statement its own); on SQLite a read transaction
    is one already (and `snapshot()` there would take the write lock, holding the doors' batches back)."""
    with db.snapshot() if db.dialect == "postgresql" else db.read() as session:
        yield session


def report(session: Session, period: Period, sites: Collection[str] | None = None) -> Report:
    """The report of `period` for the network's sites (those of `sites` only, for a site manager)."""
    query = select(Site.id, Site.name, Site.monthly_target)
    if sites is not None:
        query = query.where(Site.id.in_(sorted(sites)))
    chosen = {site: (name or site, int(target or 0)) for site, name, target in session.execute(query)}
    if session.get_bind().dialect.name == "postgresql":
        # A network's year holds some 100,000 distinct people and member-months: counted in memory, not in files
        # (PostgreSQL's default of 4 MB made the yearly report sort on disk, bench.report). This transaction only.
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
    return compute(session, report_counts.counts(), period, chosen)
