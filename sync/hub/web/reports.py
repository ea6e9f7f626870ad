"""What the network reads: the month's usage per site and per member, sales, carnets overdrawn, CSV exports."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, render_template, request

from common.i18n import _
from common.tables import csv_file, parse_month
from common.web.app import csv_download
from sync.hub import reports
from sync.hub.web.context import current_hub

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


@bp.get("/usage")
def usage() -> str:
    year, month = chosen_month()
    with current_hub().db.read() as s:
        per_member = reports.monthly_usage_by_member(s, year, month)
        per_site = reports.monthly_usage_by_site(s, year, month)
    return render_template("hub/usage.html", month=f"{year:04d}-{month:02d}", per_member=per_member, per_site=per_site)


@bp.get("/sales")
def sales() -> str:
    year, month = chosen_month()
    with current_hub().db.read() as s:
        rows = reports.sales_in_month(s, year, month)
    return render_template("hub/sales.html", month=f"{year:04d}-{month:02d}", sales=rows)


@bp.get("/overdrafts")
def overdrafts() -> str:
    with current_hub().db.read() as s:
        return render_template("hub/overdrafts.html", overdrafts=reports.overdrafts(s))


@bp.get("/export/usage.csv")
def export_usage() -> Response:
    year, month = chosen_month()
    with current_hub().db.read() as s:
        rows = [
            [u.member_id, u.member, site, count]
            for u in reports.monthly_usage_by_member(s, year, month)
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
            for x in reports.sales_in_month(s, year, month)
        ]
    header = ["vente_id", "site", "date", "formule", "montant_eur", "paiement", "paye", "nom", "courriel"]
    return csv_download(f"ventes-{year:04d}-{month:02d}.csv", csv_file(header, rows))
