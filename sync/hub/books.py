"""The network's books at the hub: the journal of a site, or of every site a manager sees, for a range of dates, from
the sales the sites reported (sync/hub/ingest.py). The same journal writer as a standalone site's (common/books.py),
so the hub's file and a site's import into Paheko alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from common.books import BookLine, Books, Entry, journal
from common.words import PaymentMethod
from sync.hub.models import Sale, Site

# A sale is made and paid within a few weeks: the window around a range that finds its sales and payments, whatever
# the sites' time zones (exact dates are then taken in each site's zone).
MARGIN = dt.timedelta(days=2)


def book_line(sale: Sale, tz: ZoneInfo, refunds_kind: str | None = None) -> BookLine:
    paid_day = sale.paid_at.astimezone(tz).date() if sale.paid_at is not None and sale.tender else None
    return BookLine(
        receipt_no=sale.receipt_no,
        day=sale.at.astimezone(tz).date(),
        kind=sale.book_kind,
        label=sale.label or sale.kind,
        amount_cents=sale.amount_cents,
        by_voucher=sale.provider == PaymentMethod.VOUCHER,
        tender=sale.tender if sale.paid else None,
        paid_day=paid_day,
        refunds_kind=refunds_kind,
    )


def site_journal(
    session: Session, books: Books, first: dt.date, last: dt.date, sites: Collection[str] | None = None
) -> list[Entry]:
    """The entries of the numbered sales of `sites` (every site when None) dated [first, last] in each site's zone;
    each entry notes its site."""
    start = dt.datetime.combine(first, dt.time(0), dt.UTC) - MARGIN
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), dt.UTC) + MARGIN
    query = select(Sale).where(
        Sale.number.is_not(None),
        or_(and_(Sale.at >= start, Sale.at < end), and_(Sale.paid_at >= start, Sale.paid_at < end)),
    )
    if sites is not None:
        query = query.where(Sale.site_id.in_(sorted(sites)))
    sales = session.scalars(query).all()
    zones = {site.id: ZoneInfo(site.timezone) for site in session.scalars(select(Site))}
    originals = {s.refund_of for s in sales if s.refund_of}
    kinds = dict(session.execute(select(Sale.id, Sale.book_kind).where(Sale.id.in_(originals))).all())
    entries: list[Entry] = []
    for site_id in sorted({s.site_id for s in sales}):
        tz = zones.get(site_id, ZoneInfo("UTC"))
        lines = [
            book_line(s, tz, kinds.get(s.refund_of) if s.refund_of else None) for s in sales if s.site_id == site_id
        ]
        entries.extend(journal(lines, books, first, last, notes=site_id))
    return sorted(entries, key=lambda e: (e.day, e.notes, e.reference, e.label))
