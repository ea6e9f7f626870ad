"""`halfday privacy`: the nightly retention run for real a little over three months later (Debian's faketime), a
member's export to JSON and CSV, and their erasure with its confirmation."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import zipfile

import pytest
from sqlalchemy import delete, func, select

from access.admin import MemberSpec, PlanSpec, add_member, add_plan
from access.config import Config
from access.db import Database
from access.models import Event, Member, Outbox, Use
from access.policy import Reason
from halfday.cli import main
from tests.access.test_privacy import BADGE, _enter


def _member_who_came(config: Config, db: Database, at: dt.datetime) -> str:
    with db.write() as s:
        add_plan(s, PlanSpec("Mois", "unlimited"))
        member_id = add_member(
            s, MemberSpec("Bruno", "Martin", "bruno@example.org", plan="Mois", badge=BADGE), config.site.device
        ).id
    assert _enter(config, db, BADGE, at, 1) == Reason.GRANTED
    with db.write() as s:
        s.execute(delete(Outbox))  # the hub has it
    return member_id


def test_the_nightly_run_three_months_later_scrubs_the_access_log(config: Config, db: Database) -> None:
    now = dt.datetime.now(dt.UTC).replace(hour=10, minute=0)
    _member_who_came(config, db, now - dt.timedelta(days=1))
    env = {**os.environ, "DONT_FAKE_MONOTONIC": "1"}
    command = [sys.executable, "-m", "halfday.cli", "--config", str(config.path), "privacy", "apply"]
    today = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True)
    assert "rien à faire" in today.stdout
    later = subprocess.run(
        ["faketime", "-f", "+93d", *command], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert "passage(s) anonymisé(s)" in later.stdout, later.stdout + later.stderr
    with db.read() as s:
        data = s.scalars(select(Event.data).where(Event.kind == "entry")).one()
        assert (data["uid"], data["holder"], data["first_name"]) == ("", None, None)
        assert s.scalar(select(func.count()).select_from(Use)) == 1


def test_export_then_erase_from_the_command_line(
    config: Config, db: Database, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    member_id = _member_who_came(config, db, dt.datetime.now(dt.UTC).replace(hour=10) - dt.timedelta(days=1))
    out = tmp_path / "export"  # type: ignore[operator]
    assert main(["--config", str(config.path), "privacy", "export", "bruno@example.org", "--out-dir", str(out)]) == 0
    body = json.loads((out / f"membre-{member_id}.json").read_text(encoding="utf-8"))
    assert body["badges"][0]["value"] == BADGE and len(body["uses"]) == 1
    with zipfile.ZipFile(out / f"membre-{member_id}.zip") as archive:
        assert "Bruno" in archive.read("member.csv").decode("utf-8-sig")
    # Without --yes: nothing happens, the manager is told how to confirm.
    assert main(["--config", str(config.path), "privacy", "erase", member_id]) == 1
    assert "--yes" in capsys.readouterr().err
    with db.read() as s:
        assert s.get(Member, member_id).first_name == "Bruno"  # type: ignore[union-attr]
    assert main(["--config", str(config.path), "privacy", "erase", member_id, "--yes"]) == 0
    assert main(["--config", str(config.path), "privacy", "erase", member_id, "--yes"]) == 1  # once
    with db.read() as s:
        member = s.get(Member, member_id)
        assert member is not None and member.first_name.startswith("Membre effacé")
        assert BADGE not in json.dumps(list(s.scalars(select(Event.data))))
        assert s.scalar(select(func.count()).select_from(Use)) == 1
