"""The funders' report as a reader gets it: sections of figures (a title, a table, a chart) that the page, the PDF
and the CSV file all print, so the three always carry the same figures."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from markupsafe import Markup

from common.config import Association
from common.i18n import _
from common.report import (
    KINDS,
    SLOTS,
    WHO,
    Figures,
    Report,
    definitions,
    kind_names,
    month_label,
    slot_names,
    weekday_names,
    who_names,
)
from common.report_charts import bars, grouped, stacked_months
from common.tables import csv_file

Cell = str | int


@dataclass(frozen=True)
class Section:
    key: str  # the CSV's first column
    title: str
    header: list[str]
    rows: list[list[Cell]]
    chart: Markup | None = None


def percent_text(value: int | None) -> str:
    return "—" if value is None else f"{value} %"


def sections(report: Report, figures: Figures) -> list[Section]:
    """The figures of one site, or of the sites together, section by section."""
    kinds, who, slots, days = kind_names(), who_names(), slot_names(), weekday_names()
    target = report.target(figures)
    uses: list[list[Cell]] = [[kinds[k], figures.uses[k]] for k in KINDS]
    uses += [
        [_("Total"), figures.total],
        [_("Objectif"), target],
        [_("Part de l'objectif"), percent_text(report.percent(figures))],
    ]
    people: list[list[Cell]] = [[who[w], figures.people[w]] for w in WHO]
    people += [
        [_("Total des personnes distinctes"), figures.people_total],
        [_("Nouveaux membres"), figures.new_members],
        [_("Membres revenus"), figures.came_back],
    ]
    week: list[list[Cell]] = [
        [days[d], figures.week.get((d, "morning"), 0), figures.week.get((d, "afternoon"), 0), figures.weekday(d)]
        for d in range(7)
    ]
    week.append([_("Total"), figures.slot("morning"), figures.slot("afternoon"), figures.total])
    trend = report.period.trend
    trend_rows: list[list[Cell]] = [
        [month_label(m), *(figures.trend.get(m, {}).get(k, 0) for k in KINDS), figures.trend_total(m)] for m in trend
    ]
    target_label = _("objectif mensuel %(n)d", n=figures.monthly_target)
    kinds_chart = bars(
        _("Demi-journées par type d'usage"),
        ", ".join(f"{kinds[k]} : {figures.uses[k]}" for k in KINDS),
        [(k, kinds[k], figures.uses[k]) for k in KINDS],
    )
    week_chart = grouped(
        _("Demi-journées par jour de la semaine"),
        ", ".join(f"{row[0]} : {row[1]} / {row[2]}" for row in week[:7]),
        [(days[d][:3], {s: figures.week.get((d, s), 0) for s in SLOTS}) for d in range(7)],
        [(s, slots[s]) for s in SLOTS],
    )
    trend_chart = stacked_months(
        _("Demi-journées des douze derniers mois"),
        ", ".join(f"{row[0]} : {row[-1]}" for row in trend_rows),
        [(f"{m[1]:02d}/{m[0] % 100:02d}", figures.trend.get(m, {})) for m in trend],
        figures.monthly_target,
        target_label,
        kinds,
    )
    return [
        Section(
            "usage", _("Demi-journées par type d'usage"), [_("Type d'usage"), _("Demi-journées")], uses, kinds_chart
        ),
        Section("personnes", _("Personnes"), [_("Personnes"), _("Nombre")], people),
        Section(
            "semaine",
            _("Par jour de la semaine et par demi-journée"),
            [_("Jour"), slots["morning"], slots["afternoon"], _("Total")],
            week,
            week_chart,
        ),
        Section(
            "tendance",
            _("Tendance sur douze mois"),
            [_("Mois"), *(kinds[k] for k in KINDS), _("Total")],
            trend_rows,
            trend_chart,
        ),
    ]


def sites_section(report: Report) -> Section:
    """One row per site: what a network's funders compare."""
    rows: list[list[Cell]] = [
        [
            s.name,
            s.figures.total,
            report.target(s.figures),
            percent_text(report.percent(s.figures)),
            s.figures.people_total,
            s.figures.new_members,
            s.figures.came_back,
        ]
        for s in report.sites
    ]
    header = [
        _("Site"),
        _("Demi-journées"),
        _("Objectif"),
        _("Part de l'objectif"),
        _("Personnes distinctes"),
        _("Nouveaux membres"),
        _("Membres revenus"),
    ]
    return Section("sites", _("Par site"), header, rows)


def report_csv(report: Report, scope: str, figures: Figures, per_site: bool) -> str:
    """One CSV file: a row per figure, named by its section, its row and its column."""
    out: list[list[Cell]] = [["periode", _("Période"), "", report.period.key], ["perimetre", _("Périmètre"), "", scope]]
    chosen = [*(sections(report, figures)), *([sites_section(report)] if per_site else [])]
    for section in chosen:
        for row in section.rows:
            for column, value in zip(section.header[1:], row[1:], strict=True):
                out.append([section.key, str(row[0]), column, value])
    return csv_file(["section", "ligne", "colonne", "valeur"], out)


def report_title(report: Report, scope: str) -> str:
    period = report.period
    if period.month is None:
        return _("Rapport d'activité %(year)d — %(scope)s", year=period.year, scope=scope)
    return _("Rapport d'activité %(month)s — %(scope)s", month=period.key, scope=scope)


def report_pdf(
    report: Report, scope: str, figures: Figures, per_site: bool, association: Association, created: dt.datetime
) -> bytes:
    """The PDF a funder is sent: the letterhead, every section with its chart, the sites, the definitions."""
    # Imported here, as for receipts: fpdf2 weighs 23 MB and most processes never make a PDF.
    from common.pdf import Document

    doc = Document(report_title(report, scope), association, created=created)
    for section in sections(report, figures):
        doc.heading(section.title)
        if section.chart is not None:
            # The PDF writer draws shapes and text only: the title and description are the page's, for screen readers.
            doc.svg(re.sub(r"<title>.*?</title><desc>.*?</desc>", "", str(section.chart), flags=re.S))
        numeric = tuple(range(1, len(section.header)))
        widths = (
            None
            if len(section.header) < 5
            else [22] + [int(158 / (len(section.header) - 1))] * (len(section.header) - 1)
        )
        doc.table(section.header, section.rows, numeric=numeric, widths=widths)
    if per_site:
        section = sites_section(report)
        doc.heading(section.title)
        doc.table(section.header, section.rows, numeric=tuple(range(1, len(section.header))))
    doc.heading(_("Définitions"))
    for term, meaning in definitions():
        doc.paragraph(f"{term} : {meaning}", small=True)
    return doc.bytes()
