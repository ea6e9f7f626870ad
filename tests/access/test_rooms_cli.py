"""`halfday room` and the plans' room half-days from the shell: a manager adds a meeting room and an office, edits,
deactivates and reactivates them and replaces a calendar's secret address; mistakes are one French line and change
nothing; the door is told to reload (state version) when a resource changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from access.config import load_config
from access.db import Database
from access.models import Plan, Resource
from access.store import state_version
from halfday.cli import main


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "halfday.toml"
    assert main(["--config", str(path), "init", "--site-id", "le-local", "--name", "Le Local"]) == 0
    return path


def run(site: Path, *args: str) -> int:
    return main(["--config", str(site), *args])


def rooms(site: Path) -> dict[str, Resource]:
    db = Database(load_config(site).database_url)
    try:
        with db.read() as s:
            found = {r.name: r for r in s.scalars(select(Resource))}
            s.expunge_all()
            return found
    finally:
        db.dispose()


def version(site: Path) -> int:
    db = Database(load_config(site).database_url)
    try:
        with db.read() as s:
            return state_version(s)
    finally:
        db.dispose()


def test_rooms_from_the_shell(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = version(site)
    assert run(site, "room", "add", "Salle Jaurès", "--kind", "meeting_room", "--capacity", "10",
               "--price-halfday", "45", "--price-day", "80") == 0  # fmt: skip
    assert "Salle créée : Salle Jaurès : salle de réunion, 10 place(s), demi-journée 45.00 €" in capsys.readouterr().out
    assert version(site) > before
    assert run(site, "room", "add", "Bureau 1", "--kind", "office", "--door", "bureau-1") == 0
    capsys.readouterr()
    made = rooms(site)
    assert made["Salle Jaurès"].price_day_cents == 8000 and made["Salle Jaurès"].door_device is None
    assert made["Bureau 1"].door_device == "bureau-1" and made["Bureau 1"].active

    assert run(site, "room", "list") == 0
    listed = capsys.readouterr().out
    jaures = made["Salle Jaurès"]
    assert f"/rooms/{jaures.id}/{jaures.feed_secret}.ics" in listed
    assert "porte bureau-1" in listed and listed.rstrip().endswith("2 salle(s) et bureau(x)")

    # Edit: only what is given changes; by name in any case.
    assert run(site, "room", "edit", "salle jaurès", "--capacity", "12", "--name", "Salle Jean Jaurès") == 0
    assert run(site, "room", "edit", "Bureau 1", "--no-door") == 0
    capsys.readouterr()
    made = rooms(site)
    assert made["Salle Jean Jaurès"].capacity == 12 and made["Salle Jean Jaurès"].price_halfday_cents == 4500
    assert made["Bureau 1"].door_device is None

    # Mistakes: one line, nothing changed.
    assert run(site, "room", "add", "salle jean jaurès", "--kind", "office") == 1
    assert "une salle s'appelle déjà « salle jean jaurès »" in capsys.readouterr().err
    assert run(site, "room", "edit", "Bureau 1", "--capacity", "0") == 1
    assert "la capacité va de 1 à 500 personnes" in capsys.readouterr().err
    assert run(site, "room", "deactivate", "Grenier") == 1
    assert "aucune salle ni bureau « Grenier »" in capsys.readouterr().err
    assert run(site, "room", "add", "Cave", "--kind", "office", "--price-halfday", "-3") == 1
    assert "prix" in capsys.readouterr().err
    assert set(rooms(site)) == {"Salle Jean Jaurès", "Bureau 1"}

    assert run(site, "room", "deactivate", "Bureau 1") == 0
    assert not rooms(site)["Bureau 1"].active
    assert run(site, "room", "deactivate", "Bureau 1") == 1
    assert run(site, "room", "reactivate", "Bureau 1") == 0
    assert rooms(site)["Bureau 1"].active
    capsys.readouterr()

    old = rooms(site)["Bureau 1"].feed_secret
    assert run(site, "room", "new-secret", "Bureau 1") == 0
    new = rooms(site)["Bureau 1"].feed_secret
    assert new != old and new in capsys.readouterr().out


def test_plans_include_room_half_days(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(site, "plan", "add", "Résident", "--kind", "unlimited", "--room-half-days", "4") == 0
    assert run(site, "plan", "rooms", "Résident", "6") == 0
    assert "Formule Résident : 6 demi-journée(s) de salle par mois" in capsys.readouterr().out
    assert run(site, "plan", "list") == 0
    assert "6 demi-journées de salle par mois" in capsys.readouterr().out
    assert run(site, "plan", "rooms", "Résident", "63") == 1
    assert "les demi-journées de salle par mois vont de 0 à 62" in capsys.readouterr().err
    assert run(site, "plan", "rooms", "Résident", "0") == 0
    db = Database(load_config(site).database_url)
    try:
        with db.read() as s:
            assert s.scalars(select(Plan.room_half_days).where(Plan.name == "Résident")).one() is None
    finally:
        db.dispose()
