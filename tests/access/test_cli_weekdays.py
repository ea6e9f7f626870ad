"""`halfday plan add --weekdays`: a standalone site's manager sells a plan for some weekdays only, from the shell."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from access.config import load_config
from access.db import Database
from access.models import Plan
from access.policy import Reason, decide
from access.store import load_state
from halfday.cli import main

SATURDAY_10H = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)  # 10:00 in Paris
MONDAY_10H = SATURDAY_10H + dt.timedelta(days=2)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "halfday.toml"
    assert main(["--config", str(path), "init", "--site-id", "le-local", "--name", "Le Local"]) == 0
    return path


def run(site: Path, *args: str) -> int:
    return main(["--config", str(site), *args])


def stored(site: Path) -> dict[str, str | None]:
    database = Database(load_config(site).database_url)
    try:
        with database.read() as session:
            return {name: days for name, days in session.execute(select(Plan.name, Plan.weekdays))}
    finally:
        database.dispose()


def test_plans_for_some_weekdays_from_the_shell(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(site, "plan", "add", "Semaine", "--kind", "unlimited", "--weekdays", "1-5") == 0
    assert run(site, "plan", "add", "Week-end", "--kind", "carnet", "--half-days", "4", "--weekdays", "67") == 0
    assert run(site, "plan", "add", "Mardi", "--kind", "unlimited", "--weekdays", "2", "--hours", "09:00-17:00") == 0
    assert run(site, "plan", "add", "Toujours", "--kind", "unlimited", "--weekdays", "1234567") == 0
    assert run(site, "plan", "add", "Illimité", "--kind", "unlimited") == 0
    assert stored(site) == {"Semaine": "12345", "Week-end": "67", "Mardi": "2", "Toujours": None, "Illimité": None}
    capsys.readouterr()
    assert run(site, "plan", "list") == 0
    listed = {line.split(" : ")[0]: line for line in capsys.readouterr().out.splitlines() if " : " in line}
    assert "lun.–ven." in listed["Semaine"]
    assert "sam., dim." in listed["Week-end"]
    assert "mar." in listed["Mardi"] and "09:00-17:00" in listed["Mardi"]
    assert "lun." not in listed["Illimité"] and "lun." not in listed["Toujours"]


def test_the_days_reach_the_door(site: Path) -> None:
    assert (
        run(site, "plan", "add", "Semaine", "--kind", "unlimited", "--weekdays", "12345", "--hours", "08:00-20:00") == 0
    )
    assert run(site, "member", "add", "Alice", "--plan", "Semaine", "--badge", "1A2B3C4D") == 0
    config = load_config(site)
    database = Database(config.database_url)
    try:
        with database.read() as session:
            state = load_state(session, config.site.rules, config.site.id, config.site.device, SATURDAY_10H.date())
    finally:
        database.dispose()
    assert decide("1A2B3C4D", SATURDAY_10H, state).reason == Reason.OUTSIDE_WEEKDAYS
    assert decide("1A2B3C4D", MONDAY_10H, state).reason == Reason.GRANTED


@pytest.mark.parametrize(("days", "said"), [("8", "« 8 »"), ("lun-ven", "« lun-ven »"), ("5-1", "plus grand")])
def test_bad_days_are_refused_in_one_line_and_nothing_is_created(
    site: Path, capsys: pytest.CaptureFixture[str], days: str, said: str
) -> None:
    capsys.readouterr()
    assert run(site, "plan", "add", "Semaine", "--kind", "unlimited", "--weekdays", days) == 1
    err = capsys.readouterr().err
    assert said in err and "par exemple 1-5" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    database = Database(load_config(site).database_url)
    try:
        with database.read() as session:
            assert session.scalar(select(func.count()).select_from(Plan)) == 0
    finally:
        database.dispose()
