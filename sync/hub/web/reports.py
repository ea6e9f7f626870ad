"""What the network reads: the month's usage per site and per member, sales, carnets overdrawn, CSV exports."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select

from common.books import paheko_csv
from common.i18n import _
from common.tables import csv_file, parse_month
from common.web.app import csv_download
from common.words import PlanKind
from sync.hub import books, reports
from sync.hub.models import Site
from sync.hub.web.context import current_actor, current_hub
from sync.hub.web.plans import plan_kind

bp = Blueprint("reports", __name__)
# Rows per page of the month's members and sales, as on /members: a network's month holds thousands of each, and
# rendering them all cost /usage its 200 ms (bench.hub). The CSV exports keep every row.
PAGE = 50
MAX_PAGE = 1_000_000
# A journal covers at most a year: an accounting year, whatever its first month.
MAX_JOURNAL_DAYS = 366


def chosen_month() -> tuple[int, int]:
    """The month in `?month=YYYY-MM`, this month by default; 400 with the reason when it is not a month."""
    text = request.args.get("month")
    if not text:
        today = dt.date.today()
        return today.year, today.month
    try:
        return parse_month(text)
    except ValueError:
        abort(400, _("Mois invalide (AAAA-MM)."))


def chosen_page() -> int:
    """The page in `?page=N` (1 by default; anything else that is not a page number reads as the first). Capped so
    that a hand-typed huge number still makes an offset the database takes (a page past the end is only empty)."""
    return min(MAX_PAGE, max(1, request.args.get("page", 1, type=int) or 1))


def page_count(total: int) -> int:
    return max(1, -(-total // PAGE))


@bp.get("/usage")
def usage() -> str:
    year, month = chosen_month()
    page = chosen_page()
    sites = current_actor().sites
    with current_hub().db.read() as s:
        per_member = reports.monthly_usage_page(s, year, month, sites, offset=(page - 1) * PAGE, limit=PAGE)
        per_site = reports.monthly_usage_by_site(s, year, month, sites)
        per_place = reports.monthly_usage_by_place(s, year, month, sites)
    return render_template(
        "hub/usage.html",
        month=f"{year:04d}-{month:02d}",
        per_member=per_member.rows,
        members=per_member.members,
        page=page,
        pages=page_count(per_member.members),
        per_site=per_site,
        per_place=per_place,
    )


@bp.get("/sales")
def sales() -> str:
    year, month = chosen_month()
    page = chosen_page()
    sites = current_actor().sites
    with current_hub().db.read() as s:
        total = reports.count_sales_in_month(s, year, month, sites)
        rows = reports.sales_in_month(s, year, month, sites, offset=(page - 1) * PAGE, limit=PAGE)
        visible = s.scalars(select(Site).order_by(Site.name)).all()
    sites_seen = [site for site in visible if sites is None or site.id in sites]
    first = dt.date(year, month, 1)
    return render_template(
        "hub/sales.html",
        first=first,
        last=(first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1),
        month=f"{year:04d}-{month:02d}",
        sales=rows,
        sites=sites_seen,
        total=total,
        page=page,
        pages=page_count(total),
        # Once per page, not once per row: a row used to translate seven words (bench.hub).
        kinds={kind: plan_kind(kind) for kind in PlanKind},
    )


def chosen_range() -> tuple[dt.date, dt.date]:
    """The dates `?from=AAAA-MM-JJ&to=AAAA-MM-JJ`, else the whole `?month=`; 400 with the reason when wrong."""
    first, last = request.args.get("from"), request.args.get("to")
    if not first and not last:
        year, month = chosen_month()
        start = dt.date(year, month, 1)
        return start, (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    try:
        start, end = dt.date.fromisoformat(first or ""), dt.date.fromisoformat(last or "")
    except ValueError:
        abort(400, _("Dates invalides (AAAA-MM-JJ, du … au …)."))
    if end < start or (end - start).days > MAX_JOURNAL_DAYS:
        abort(400, _("La période va du premier jour au dernier, un an au plus."))
    return start, end


@bp.get("/export/journal.csv")
def export_journal() -> Response:
    """The journal (Paheko's grouped CSV, docs/books.md) of one site or of every site the manager sees."""
    first, last = chosen_range()
    sites = current_actor().sites
    site = request.args.get("site") or None
    if site is not None:
        if sites is not None and site not in sites:
            abort(404)
        sites = frozenset({site})
    with current_hub().db.read() as s:
        entries = books.site_journal(s, current_hub().books, first, last, sites)
    name = f"journal-{site or 'reseau'}-{first.isoformat()}-{last.isoformat()}.csv"
    return csv_download(name, paheko_csv(entries))


@bp.get("/overdrafts")
def overdrafts() -> str:
    with current_hub().db.read() as s:
        rows = reports.overdrafts(s, current_actor().sites)
    return render_template("hub/overdrafts.html", overdrafts=rows)


@bp.get("/export/usage.csv")
def export_usage() -> Response:
    year, month = chosen_month()
    with current_hub().db.read() as s:
        rows = [
            [u.member_id, u.member, site, count]
            for u in reports.monthly_usage_by_member(s, year, month, current_actor().sites)
            for site, count in sorted(u.by_site.items())
        ]
    header = ["membre_id", "membre", "site", "demi_journees"]
    return csv_download(f"usage-{year:04d}-{month:02d}.csv", csv_file(header, rows))


@bp.get("/export/sales.csv")
def export_sales() -> Response:
    year, month = chosen_month()
    with current_hub().db.read() as s:
        rows = [
            [
                x.id,
                x.site_id,
                x.local_date.isoformat(),
                x.kind,
                f"{x.amount_cents / 100:.2f}",
                x.provider,
                "oui" if x.paid else "non",
                x.name,
                x.email,
                (x.valid_until or x.local_date).isoformat(),
            ]
            for x in reports.sales_in_month(s, year, month, current_actor().sites)
        ]
    header = ["vente_id", "site", "date", "formule", "montant_eur", "paiement", "paye", "nom", "courriel", "jusqu_au"]
    return csv_download(f"ventes-{year:04d}-{month:02d}.csv", csv_file(header, rows))
