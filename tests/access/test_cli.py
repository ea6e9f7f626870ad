"""The `halfday` command, run as a manager would: clear one-line errors, nothing half-done."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from access.config import load_config
from access.db import Database, current_revision, head_revision
from access.models import Member, Use
from access.policy import apply, decide
from access.store import Stamp, load_state, record_entry
from halfday.cli import main


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "halfday.toml"
    assert main(["--config", str(path), "init", "--site-id", "le-local", "--name", "Le Local"]) == 0
    return path


def run(site: Path, *args: str) -> int:
    return main(["--config", str(site), *args])


def test_init_creates_config_and_database(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(site)
    assert current_revision(config.database_url) == head_revision()
    assert run(site, "init") == 1
    assert "existe déjà" in capsys.readouterr().err
    assert run(site, "migrate") == 0


def test_members_badges_plans(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(site, "plan", "add", "Carnet 10", "--kind", "carnet", "--half-days", "10", "--price", "80") == 0
    assert run(site, "plan", "add", "Illimité", "--kind", "unlimited", "--hours", "07:00-22:00") == 0
    assert (
        run(
            site,
            "member",
            "add",
            "Alice",
            "Martin",
            "--email",
            "alice@example.org",
            "--plan",
            "Carnet 10",
            "--badge",
            "1a:2b:3c:4d",
        )
        == 0
    )
    capsys.readouterr()
    assert run(site, "member", "show", "alice@example.org") == 0
    out = capsys.readouterr().out
    assert "badge 1A2B3C4D : actif" in out and "reste 10 demi-journée(s)" in out
    assert run(site, "badge", "add", "alice@example.org", "1A2B3C4D") == 1
    assert "déjà attribué" in capsys.readouterr().err
    assert run(site, "badge", "revoke", "1A2B3C4D") == 0
    assert run(site, "member", "add", "Bob", "--plan", "Inconnue") == 1
    err = capsys.readouterr().err
    assert "formule « Inconnue » inconnue" in err and "Traceback" not in err
    assert run(site, "member", "deactivate", "alice@example.org") == 0
    capsys.readouterr()
    assert run(site, "member", "list") == 0
    assert "désactivé" in capsys.readouterr().out
    assert run(site, "plan", "list") == 0
    assert "07:00-22:00" in capsys.readouterr().out


def test_import_reports_every_bad_row_and_imports_nothing(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(site, "plan", "add", "Illimité", "--kind", "unlimited") == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "first_name;last_name;email;plan;badge\n"
        "Bob;Durand;bob@example.org;Illimité;AABBCCDD\n"
        ";Sans Prénom;x@example.org;;\n"
        "Carl;;carl@example.org;Carnet 99;\n"
        "Dora;;dora@example.org;;AABBCCDD\n"
        "Eve;;pas-une-adresse;;\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert run(site, "member", "import", str(bad)) == 1
    err = capsys.readouterr().err
    for line, reason in ((3, "prénom"), (4, "Carnet 99"), (5, "AABBCCDD"), (6, "e-mail")):
        assert f"ligne {line} :" in err and reason in err
    assert "ligne 2" not in err
    assert "rien n'a été importé" in err
    with Database(load_config(site).database_url).read() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 0
    good = tmp_path / "good.csv"
    good.write_text("first_name,email,plan\nBob,bob@example.org,Illimité\nDora,dora@example.org,\n", "utf-8")
    assert run(site, "member", "import", str(good)) == 0
    assert "2 membre(s) importé(s)" in capsys.readouterr().out


def test_usage_export(site: Path, tmp_path: Path) -> None:
    assert run(site, "plan", "add", "Carnet 10", "--kind", "carnet", "--half-days", "10") == 0
    assert (
        run(site, "member", "add", "Alice", "--email", "a@example.org", "--plan", "Carnet 10", "--badge", "1A2B3C4D")
        == 0
    )
    config = load_config(site)
    database = Database(config.database_url)
    start = dt.datetime(2026, 11, 2, 8, 30, tzinfo=dt.UTC)
    for hours in (0, 1, 5, 24, 48 + 5):
        now = start + dt.timedelta(hours=hours)
        with database.write() as session:
            state = load_state(session, config.site.rules, config.site.id, config.site.device, now.date())
            decision = decide("1A2B3C4D", now, state)
            record_entry(session, config.site.id, config.site.device, decision, Stamp(now, 0, "boot", True))
            apply(decision, state)
    out = tmp_path / "out"
    assert run(site, "usage", "export", "--month", "2026-11", "--out-dir", str(out)) == 0
    uses = list(csv.DictReader((out / "usage-2026-11.csv").read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert [(u["date"], u["slot"]) for u in uses] == [
        ("2026-11-02", "morning"),
        ("2026-11-02", "afternoon"),
        ("2026-11-03", "morning"),
        ("2026-11-04", "afternoon"),
    ]
    summary_text = (out / "usage-2026-11-summary.csv").read_text(encoding="utf-8-sig")
    summary = list(csv.DictReader(summary_text.splitlines(), delimiter=";"))
    assert summary[0]["half_days"] == "4" and summary[0]["carnet_spent"] == "4"
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Use)) == 4
    assert run(site, "usage", "export", "--month", "2026-13") == 1


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "halfday.cli", "--config", str(tmp_path / "none.toml"), "member", "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "halfday init" in result.stderr
    assert "Traceback" not in result.stderr
