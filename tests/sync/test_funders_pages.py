"""The funders' report's page, PDF and CSV at the hub carry the figures counted again from the raw events; a site
manager reads their sites only; a wrong period is said, not guessed."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from common.config import Association
from sync.hub.db import HubDatabase
from tests.support.activity import Activity, Expected, expected
from tests.support.hub import add_admin, add_manager, hub_app, sign_in
from tests.sync.test_funders_report import SITES, network

KIND_LABELS = {
    "members": "Espace ouvert, membres",
    "passes": "Espace ouvert, passes",
    "guests": "Invités",
    "offices": "Bureaux",
    "meeting_room": "Salle de réunion",
    "other_rooms": "Autres salles",
}
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
LOGO = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 20"><rect width="40" height="20" fill="#1f4e79"/></svg>'


@pytest.fixture
def signed_in(hub_db: HubDatabase, tmp_path: Path) -> tuple[FlaskClient, Activity]:
    act = network(hub_db)
    add_admin(hub_db)
    add_manager(hub_db, "camille", ["site-b"])
    logo = tmp_path / "logo.svg"
    logo.write_text(LOGO)
    association = Association("Tiers-lieux du Lot", ("12 quai Champollion", "46000 Cahors"), str(logo))
    client = hub_app(hub_db, association=association).test_client()
    sign_in(client)
    return client, act


def pdf_text(body: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(body)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def rows_after(text: str, header: str, count: int) -> list[list[str]]:
    """The `count` table rows after the line that starts with `header`, cells split on runs of spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(header))
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[start + 1 :] if line.strip()]
    return rows[:count]


def month_figures(want: Expected) -> dict[str, int]:
    return {KIND_LABELS[k]: want.uses.get(k, 0) for k in KIND_LABELS} | {"Total": sum(want.uses.values())}


def test_the_pdf_reads_back_with_the_letterhead_and_the_same_figures(
    signed_in: tuple[FlaskClient, Activity], tmp_path: Path
) -> None:
    client, act = signed_in
    response = client.get("/reports/report.pdf?period=2026-11")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.data, tmp_path)
    want = expected(act, list(SITES), [(2026, 11)])
    assert "Tiers-lieux du Lot" in text and "46000 Cahors" in text
    assert "Rapport d'activité 2026-11 — Réseau" in text
    usage = {row[0]: int(row[-1]) for row in rows_after(text, "Type d'usage", 7)}
    assert usage == month_figures(want)
    people = {row[0]: int(row[-1]) for row in rows_after(text, "Personnes  ", 6)}
    assert people == {
        "Membres": want.people.get("member", 0),
        "Visiteurs": want.people.get("walk_in", 0),
        "Invités": want.people.get("guest", 0),
        "Total des personnes distinctes": sum(want.people.values()),
        "Nouveaux membres": want.new_members,
        "Membres revenus": want.came_back,
    }
    week = {row[0]: [int(n) for n in row[1:]] for row in rows_after(text, "Jour ", 7)}
    halves = {d: (want.week.get((d, "morning"), 0), want.week.get((d, "afternoon"), 0)) for d in range(7)}
    assert week == {DAYS[d]: [m, a, m + a] for d, (m, a) in halves.items()}
    trend = {
        (int(y), int(mo)): int(line.split()[-1])
        for y, mo, line in re.findall(r"^\s*(\d{4})-(\d{2})((?:\s+\d+){7})\s*$", text, flags=re.M)
    }
    assert trend == want.trend
    assert "Nouveaux membres :" in text and "Membres revenus :" in text  # the definitions


def test_the_csv_parses_back_to_the_same_figures(signed_in: tuple[FlaskClient, Activity]) -> None:
    client, act = signed_in
    response = client.get("/reports/report.csv?period=2026&site=site-a")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    cells = {(s, row, col): value for s, row, col, value in csv.reader(io.StringIO(text[1:]), delimiter=";")}
    want = expected(act, ["site-a"], [(2026, m) for m in range(1, 13)])
    for label, n in month_figures(want).items():
        assert cells[("usage", label, "Demi-journées")] == str(n)
    assert cells[("usage", "Objectif", "Demi-journées")] == str(12 * SITES["site-a"][1])
    assert cells[("personnes", "Nouveaux membres", "Nombre")] == str(want.new_members)
    assert cells[("personnes", "Membres revenus", "Nombre")] == str(want.came_back)
    assert cells[("personnes", "Total des personnes distinctes", "Nombre")] == str(sum(want.people.values()))
    for d, day in enumerate(DAYS):
        assert cells[("semaine", day, "Matin")] == str(want.week.get((d, "morning"), 0))
    for (y, m), n in want.trend.items():
        assert cells[("tendance", f"{y:04d}-{m:02d}", "Total")] == str(n)
    assert cells[("perimetre", "Périmètre", "")] == "Le Local"


def test_the_page_shows_the_network_the_sites_and_the_definitions(signed_in: tuple[FlaskClient, Activity]) -> None:
    client, act = signed_in
    page = client.get("/reports?period=2026-11").get_data(as_text=True)
    want = expected(act, list(SITES), [(2026, 11)])
    assert "<svg" in page and "<title>" in page and "Définitions" in page
    assert f'data-label="Demi-journées">{sum(want.uses.values())}</td>' in page
    for name, _target in SITES.values():
        assert name in page
    assert "/reports/report.pdf?period=2026-11" in page


def test_a_site_manager_reads_their_site_and_no_other(
    hub_db: HubDatabase, signed_in: tuple[FlaskClient, Activity]
) -> None:
    client, act = signed_in
    client.post("/logout", data={"csrf_token": ""})
    manager = hub_app(hub_db).test_client()
    sign_in(manager, "camille")
    for path in ("/reports", "/reports/report.pdf", "/reports/report.csv"):
        assert manager.get(f"{path}?period=2026-11&site=site-a").status_code == 404
        assert manager.get(f"{path}?period=2026-11&site=site-b").status_code == 200
    page = manager.get("/reports?period=2026-11").get_data(as_text=True)
    assert "Vos sites" in page and "Le Local" not in page and "La Fabrique" in page
    text = manager.get("/reports/report.csv?period=2026-11").get_data(as_text=True)
    want = expected(act, ["site-b"], [(2026, 11)])
    assert f"usage;Total;Demi-journées;{sum(want.uses.values())}\r\n" in text
    assert "Le Local" not in text


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "26", "novembre", "2026-11-01", "1999"])
def test_a_wrong_period_is_a_clear_error(signed_in: tuple[FlaskClient, Activity], period: str) -> None:
    client, _act = signed_in
    for path in ("/reports", "/reports/report.pdf", "/reports/report.csv"):
        response = client.get(path, query_string={"period": period})
        assert response.status_code == 400
        assert "Période" in response.get_data(as_text=True)
