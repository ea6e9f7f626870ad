"""`halfday closure` and `halfday staff`: a manager keeps the holiday calendar and the staff from the shell, and
what the door loads from the database follows: closed days, staff, and dated plans given their closed days back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from access.config import load_config
from access.db import Database
from access.models import Closure, Subscription
from access.policy import AccessState, Reason, decide
from access.snapshot import state_data, state_from_data
from access.store import effective_until, load_state, state_version
from halfday.cli import main

PARIS = ZoneInfo("Europe/Paris")
TODAY = dt.datetime.now(PARIS).date()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "halfday.toml"
    assert main(["--config", str(path), "init", "--site-id", "le-local", "--name", "Le Local"]) == 0
    return path


def run(site: Path, *args: str) -> int:
    return main(["--config", str(site), *args])


def database(site: Path) -> Database:
    return Database(load_config(site).database_url)


def door_state(site: Path, today: dt.date = TODAY) -> tuple[AccessState, int]:
    config = load_config(site)
    db = Database(config.database_url)
    try:
        with db.read() as s:
            return load_state(s, config.site.rules, config.site.id, config.site.device, today), state_version(s)
    finally:
        db.dispose()


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=PARIS).astimezone(dt.UTC)


def test_the_calendar_from_the_shell(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start = TODAY + dt.timedelta(days=10)
    _, version = door_state(site)
    assert run(site, "closure", "add", start.isoformat(), "--until", (start + dt.timedelta(days=2)).isoformat(),
               "--label", "  Travaux\tde peinture ") == 0  # fmt: skip
    assert "3 jours" in capsys.readouterr().out
    assert run(site, "closure", "add", TODAY.isoformat(), "--label", "Grève") == 0
    # A day already closed is kept as it is; only the new one is added.
    assert run(site, "closure", "add", start.isoformat(), "--until", (start + dt.timedelta(days=3)).isoformat()) == 0
    assert "1 jour," in capsys.readouterr().out
    state, later = door_state(site)
    assert later > version
    assert state.closures == {TODAY} | {start + dt.timedelta(days=i) for i in range(4)}
    db = database(site)
    with db.read() as s:
        labels = {day: label for day, label in s.execute(select(Closure.date, Closure.label))}
    db.dispose()
    assert labels[start] == "Travaux de peinture" and labels[TODAY] == "Grève"
    assert labels[start + dt.timedelta(days=3)] == ""

    # Entered again with another reason, a closed day takes it; the door has nothing new to read.
    _, version = door_state(site)
    assert run(site, "closure", "add", TODAY.isoformat(), "--label", "Grève des transports") == 0
    assert door_state(site)[1] == version
    capsys.readouterr()
    assert run(site, "closure", "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{TODAY:%Y-%m-%d}") and out[0].endswith("Grève des transports")
    assert out[-1] == "5 jours de fermeture à venir"

    assert run(site, "closure", "remove", start.isoformat(), "--until", (start + dt.timedelta(days=1)).isoformat()) == 0
    assert "2 jours" in capsys.readouterr().out
    assert door_state(site)[0].closures == {TODAY, start + dt.timedelta(days=2), start + dt.timedelta(days=3)}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["closure", "add", "25/12/2026"], "n'est pas une date AAAA-MM-JJ"),
        (["closure", "add", "2026-12-26", "--until", "2026-12-24"], "la date de fin précède la date de début"),
        (["closure", "add", "2026-06-01", "--until", "2026-09-30"], "92 jours au plus"),
        (["closure", "add", "2062-12-25"], "vérifiez l'année"),
        (["closure", "add", "2026-12-25", "--label", "x" * 121], "120 caractères au plus"),
        (["closure", "remove", "2026-12-25"], "aucune fermeture à ces dates"),
        (["staff", "add", "personne@exemple.fr"], "aucun membre ne correspond"),
    ],
)
def test_mistakes_are_one_french_line_and_change_nothing(
    site: Path, capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    _, version = door_state(site)
    assert run(site, *args) == 1
    err = capsys.readouterr().err
    assert err.startswith("halfday : ") and error in err and "Traceback" not in err
    assert door_state(site)[1] == version


def test_a_closed_day_at_the_door_staff_and_a_month_given_its_day_back(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    until = TODAY + dt.timedelta(days=20)
    assert run(site, "plan", "add", "Mois", "--kind", "unlimited") == 0
    assert run(site, "member", "add", "Alice", "--email", "alice@exemple.fr", "--plan", "Mois", "--badge", "A1B2C3D4",
               "--from", TODAY.isoformat(), "--until", until.isoformat()) == 0  # fmt: skip
    assert run(site, "member", "add", "Chloé", "--email", "chloe@exemple.fr", "--badge", "C1D2E3F4") == 0
    assert run(site, "staff", "add", "chloe@exemple.fr") == 0
    assert run(site, "staff", "add", "chloe@exemple.fr") == 1  # already
    capsys.readouterr()
    assert run(site, "staff", "list") == 0
    assert "Chloé" in capsys.readouterr().out

    state, _ = door_state(site)
    assert decide("A1B2C3D4", at(TODAY), state).reason == Reason.GRANTED
    assert decide("C1D2E3F4", at(TODAY), state).reason == Reason.NO_PLAN
    assert decide("A1B2C3D4", at(until + dt.timedelta(days=1)), state).reason == Reason.EXPIRED

    assert run(site, "closure", "add", TODAY.isoformat(), "--label", "Inventaire") == 0
    state, _ = door_state(site)
    assert decide("A1B2C3D4", at(TODAY), state).reason == Reason.CLOSED
    staff = decide("C1D2E3F4", at(TODAY), state)
    assert (staff.granted, staff.reason, staff.charge) == (True, Reason.STAFF, None)
    # The closed day is given back: the month opens one day more, and the pages say the same end.
    assert decide("A1B2C3D4", at(until + dt.timedelta(days=1)), state).reason == Reason.GRANTED
    assert decide("A1B2C3D4", at(until + dt.timedelta(days=2)), state).reason == Reason.EXPIRED
    db = database(site)
    with db.read() as s:
        sub = s.scalars(select(Subscription)).one()
        assert effective_until(sub.valid_from, sub.valid_until, s) == until + dt.timedelta(days=1)
    db.dispose()

    capsys.readouterr()
    assert run(site, "member", "show", "alice@exemple.fr") == 0
    assert f"{TODAY} → {until} (prolongée jusqu'au {until + dt.timedelta(days=1)} par les fermetures)" in (
        capsys.readouterr().out
    )

    # The door's copy for a damaged ledger keeps the closed day and the staff.
    copy = state_from_data(state_data(state), state.rules, state.clock_policy)
    assert copy.closures == {TODAY}
    assert decide("A1B2C3D4", at(TODAY), copy).reason == Reason.CLOSED
    assert decide("C1D2E3F4", at(TODAY), copy).reason == Reason.STAFF

    assert run(site, "staff", "remove", "chloe@exemple.fr") == 0
    assert decide("C1D2E3F4", at(TODAY), door_state(site)[0]).reason == Reason.CLOSED
    assert run(site, "closure", "remove", TODAY.isoformat()) == 0
    assert decide("A1B2C3D4", at(TODAY), door_state(site)[0]).reason == Reason.GRANTED


def test_a_weekday_plan_shows_its_days_where_the_manager_reads_a_member(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(site, "plan", "add", "Semaine", "--kind", "carnet", "--half-days", "10", "--weekdays", "1-5") == 0
    assert run(site, "member", "add", "Wanda", "--email", "wanda@exemple.fr", "--plan", "Semaine") == 0
    capsys.readouterr()
    assert run(site, "member", "show", "wanda@exemple.fr") == 0
    out = capsys.readouterr().out
    assert "formule Semaine (carnet) … → …, lun.–ven., reste 10 demi-journée(s)" in out
    assert "prolongée" not in out
