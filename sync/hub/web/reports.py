"""What the network reads: the month's usage per site and per member, sales, carnets overdrawn, CSV exports."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy.orm import Session

from common.i18n import _
from common.tables import csv_file, parse_month
from common.web.app import csv_download
from sync.hub import reports
from sync.hub.models import Sale
from sync.hub.web.context import current_actor, current_hub

bp = Blueprint("reports", __name__)


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


def _mine(by_site: dict[str, int]) -> dict[str, int]:
    """A member's uses at the manager's sites only (a roaming member's other sites are not theirs to read)."""
    sites = current_actor().sites
    return by_site if sites is None else {k: v for k, v in by_site.items() if k in sites}


def _mine_sites(per_site: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    sites = current_actor().sites
    return per_site if sites is None else {k: v for k, v in per_site.items() if k in sites}


def usage_rows(s: Session, year: int, month: int) -> list[reports.MemberUsage]:
    rows = [
        reports.MemberUsage(u.member_id, u.member, _mine(u.by_site))
        for u in reports.monthly_usage_by_member(s, year, month)
    ]
    return [u for u in rows if u.by_site]


def sales_rows(s: Session, year: int, month: int) -> list[Sale]:
    sites = current_actor().sites
    return [x for x in reports.sales_in_month(s, year, month) if sites is None or x.site_id in sites]


@bp.get("/usage")
def usage() -> str:
    year, month = chosen_month()
    with current_hub().db.read() as s:
        per_member = usage_rows(s, year, month)
        per_site = _mine_sites(reports.monthly_usage_by_site(s, year, month))
    return render_template("hub/usage.html", month=f"{year:04d}-{month:02d}", per_member=per_member, per_site=per_site)


@bp.get("/sales")
def sales() -> str:
    year, month = chosen_month()
    with current_hub().db.read() as s:
        rows = sales_rows(s, year, month)
    return render_template("hub/sales.html", month=f"{year:04d}-{month:02d}", sales=rows)


@bp.get("/overdrafts")
def overdrafts() -> str:
    with current_hub().db.read() as s:
        sites = current_actor().sites
        rows = [o for o in reports.overdrafts(s) if sites is None or set(o.spent_by_site) & sites]
        return render_template("hub/overdrafts.html", overdrafts=rows)


@bp.get("/export/usage.csv")
def export_usage() -> Response:
    year, month = chosen_month()
    with current_hub().db.read() as s:
        rows = [
            [u.member_id, u.member, site, count]
            for u in usage_rows(s, year, month)
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
            ]
            for x in sales_rows(s, year, month)
        ]
    header = ["vente_id", "site", "date", "formule", "montant_eur", "paiement", "paye", "nom", "courriel"]
    return csv_download(f"ventes-{year:04d}-{month:02d}.csv", csv_file(header, rows))
