"""The funders' report at the hub: a month or a year, for the network (a site manager: their sites) or one site,
as a page with charts, a PDF to send and a CSV file of the same figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.i18n import _
from common.report import Figures, Period, PeriodError, Report, definitions
from common.report_view import report_csv, report_pdf, report_title, sections, sites_section
from common.web.app import csv_download, pdf_download
from sync.hub import funders
from sync.hub.models import Site
from sync.hub.web.context import current_actor, current_hub

bp = Blueprint("funders", __name__)


@dataclass(frozen=True)
class Chosen:
    report: Report
    figures: Figures
    scope: str  # whose figures: the network, the manager's sites, or a site's name
    site: str  # "" for the sites together
    per_site: bool


def chosen_period() -> Period:
    """The period of `?period=` (this month by default); 400 with the reason when it is neither a month nor a year."""
    try:
        return Period.asked(request.args.get("period"), dt.date.today())
    except PeriodError as exc:
        abort(400, str(exc))


def chosen() -> Chosen:
    """The report asked for, of the sites the account may read: another site is "not found", as if it did not exist."""
    period = chosen_period()
    site = request.args.get("site", "")
    actor = current_actor()
    with funders.one_state(current_hub().db) as s:
        if site:
            if not actor.may_manage(site) or s.get(Site, site) is None:
                abort(404)
            report = funders.report(s, period, {site})
            return Chosen(report, report.network, report.sites[0].name, site, False)
        report = funders.report(s, period, actor.sites)
    scope = _("Réseau") if actor.sites is None else _("Vos sites")
    return Chosen(report, report.network, scope, "", True)


def file_name(c: Chosen, extension: str) -> str:
    return f"rapport-{c.report.period.key}-{c.site or 'reseau'}.{extension}"


@bp.get("/reports")
def report_page() -> str:
    c = chosen()
    with current_hub().db.read() as s:
        choices = site_choices(s)
    return render_template(
        "hub/funders.html",
        title=report_title(c.report, c.scope),
        chosen=c,
        period=c.report.period.key,
        sites=choices,
        sections=sections(c.report, c.figures),
        per_site=sites_section(c.report) if c.per_site else None,
        definitions=definitions(),
    )


@bp.get("/reports/report.pdf")
def report_pdf_file() -> Response:
    c = chosen()
    body = report_pdf(c.report, c.scope, c.figures, c.per_site, current_hub().association, dt.datetime.now(dt.UTC))
    return pdf_download(file_name(c, "pdf"), body)


@bp.get("/reports/report.csv")
def report_csv_file() -> Response:
    c = chosen()
    return csv_download(file_name(c, "csv"), report_csv(c.report, c.scope, c.figures, c.per_site))


def site_choices(session: Session) -> list[tuple[str, str]]:
    """The sites the account may choose from, by name."""
    sites = current_actor().sites
    query = select(Site.id, Site.name).order_by(Site.name, Site.id)
    if sites is not None:
        query = query.where(Site.id.in_(sorted(sites)))
    return [(site, name or site) for site, name in session.execute(query)]
