"""The funders' report of this site (/admin/report): a month or a year, as a page with charts, a PDF under the
association's letterhead and a CSV of the same figures. A standalone site's report; on a networked site, its own
local figures (the network's report is at the hub), said so on the page and in the files."""

from __future__ import annotations

from flask import Response, abort, render_template, request

from access import funders
from common.i18n import _
from common.report import Period, PeriodError, Report, definitions
from common.report_view import report_csv, report_pdf, report_title, sections
from common.web.app import csv_download, pdf_download
from kiosk.admin import bp
from kiosk.context import current_kiosk


def chosen_period() -> Period:
    """`?period=` (this month at the site by default); 400 with the reason when it is neither a month nor a year."""
    kiosk = current_kiosk()
    try:
        return Period.asked(request.args.get("period"), kiosk.now().astimezone(kiosk.config.site.tz).date())
    except PeriodError as exc:
        abort(400, str(exc))


def this_site() -> tuple[Report, str]:
    kiosk = current_kiosk()
    site = kiosk.config.site
    period = chosen_period()
    with kiosk.db.read() as s:
        report = funders.report(s, period, site.id, site.name, site.monthly_target)
    scope = _("%(site)s (chiffres de ce site)", site=site.name) if kiosk.config.networked else site.name
    return report, scope


@bp.get("/report")
def report_page() -> str:
    report, scope = this_site()
    return render_template(
        "admin/report.html",
        title=report_title(report, scope),
        period=report.period.key,
        networked=current_kiosk().config.networked,
        sections=sections(report, report.network),
        definitions=definitions(),
    )


@bp.get("/report/report.pdf")
def report_pdf_file() -> Response:
    report, scope = this_site()
    kiosk = current_kiosk()
    body = report_pdf(report, scope, report.network, False, kiosk.config.association, kiosk.now())
    name = f"rapport-{report.period.key}-{kiosk.config.site.id}.pdf"
    return pdf_download(name, body)


@bp.get("/report/report.csv")
def report_csv_file() -> Response:
    report, scope = this_site()
    name = f"rapport-{report.period.key}-{current_kiosk().config.site.id}.csv"
    return csv_download(name, report_csv(report, scope, report.network, False))
