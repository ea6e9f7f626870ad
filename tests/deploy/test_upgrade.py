"""`halfday upgrade PACKAGE`: a real venv, a real wheel of halfday built from these sources, real pip, the real
migration and backup; only systemctl is a stand-in (tests/deploy/fake_command.py), since no systemd runs here. A
door that is ready keeps the new version; a door that never gets ready brings the old venv and ledger back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from access import incarnation
from access.backup import backups
from access.models import Event
from access.store import Stamp, append_event
from halfday.sample import DEVICE
from halfday.upgrade import UpgradeError, upgrade
from tests.deploy.installer import FAKE_COMMAND, REPO, SOURCE_PATHS
from tests.support.site import Site

# A long deploy run (a wheel built, venvs made and installed): in the soak step of CI, not in `make test`.
pytestmark = pytest.mark.soak

UNITS = ["halfday-door.service", "halfday-kiosk.service"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of halfday built from a snapshot of these sources (building in place would leave build/ behind)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCE_PATHS:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy(path, source / name)
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), "."],
        cwd=source,
        check=True,
        timeout=300,
    )
    (found,) = out.glob("halfday-*.whl")
    return found


@pytest.fixture
def appliance(tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The appliance's venv with halfday installed from the wheel; its dependencies reached through PYTHONPATH (as the
    installer tests do: offline), systemctl a stand-in first on PATH."""
    venv = tmp_path / "opt" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    monkeypatch.setenv("PYTHONPATH", sysconfig.get_paths()["purelib"])
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    fakes = tmp_path / "fakes"
    state = tmp_path / "fake-state"
    fakes.mkdir()
    state.mkdir()
    wrapper = fakes / "systemctl"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_COMMAND}" systemctl "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fakes}:{os.environ['PATH']}")
    monkeypatch.setenv("HALFDAY_FAKE_STATE", str(state))
    yield venv


def systemctl_calls(venv: Path) -> list[list[str]]:
    state = venv.parents[1] / "fake-state" / "calls.jsonl"
    return [json.loads(line)[1:] for line in state.read_text().splitlines()]


def halfday_in(venv: Path) -> str:
    """Which halfday the venv's python imports: its own install, not these sources."""
    env = {**os.environ}
    result = subprocess.run(
        [str(venv / "bin/python"), "-c", "import halfday.upgrade; print(halfday.upgrade.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd="/",
    )
    return result.stdout.strip()


def test_an_upgrade_backs_up_installs_migrates_and_starts_a_ready_door(
    appliance: Path, wheel: Path, new_site: Callable[..., Site]
) -> None:
    site = new_site()
    assert str(appliance) in halfday_in(appliance)
    report = upgrade(site.config, wheel, appliance, timeout=5)
    assert report.rolled_back is False
    assert report.steps[-1] == "Mise à jour faite : la porte est prête."
    calls = systemctl_calls(appliance)
    assert ["stop", *reversed(UNITS)] in calls and ["start", *UNITS] in calls
    assert calls.index(["stop", *reversed(UNITS)]) < calls.index(["start", *UNITS])
    # A backup first, made with the services stopped; the old version kept aside; the new one in place and working.
    made = backups(Path(site.config.database_url.removeprefix("sqlite:///")).parent / "backups")
    assert len(made) == 1
    assert (appliance.parent / "venv.previous" / "bin" / "python").exists()
    assert str(appliance) in halfday_in(appliance)
    migrated = subprocess.run(
        [str(appliance / "bin/halfday"), "--config", str(site.config_path), "migrate"], capture_output=True, text=True
    )
    assert migrated.returncode == 0 and "Base à jour" in migrated.stdout, migrated.stderr


def test_a_door_not_ready_brings_the_old_version_and_ledger_back(
    appliance: Path, wheel: Path, new_site: Callable[..., Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = new_site()
    monkeypatch.setenv("HALFDAY_FAKE_FAIL_START", "halfday-door.service")
    (appliance / "old-version-marker").write_text("the venv in service before the upgrade")
    with site.db.read() as session:
        before = sorted(session.scalars(select(Event.id)))
    site.db.dispose()
    with pytest.raises(UpgradeError, match="la porte n'est pas prête") as failed:
        upgrade(site.config, wheel, appliance, timeout=1)
    assert "la version et la base d'avant sont remises" in str(failed.value)
    # The venv in service is the one kept aside (the failed one beside it, for whoever looks), and it works.
    assert (appliance / "old-version-marker").exists()
    assert (appliance.parent / "venv.failed").is_dir()
    assert not (appliance.parent / "venv.previous").exists()
    assert str(appliance) in halfday_in(appliance)
    # The ledger is the backup made before the upgrade; the services were started again, and the door is up.
    with site.db.read() as session:
        assert sorted(session.scalars(select(Event.id))) == before
        life = incarnation.current(session)
        assert life is not None and life.reason == incarnation.RESTORED
    calls = systemctl_calls(appliance)
    assert calls.count(["start", *UNITS]) == 2
    assert subprocess.run(["systemctl", "is-active", "halfday-door.service"]).returncode == 0


def test_no_upgrade_without_a_backup_and_nothing_changed(
    appliance: Path, wheel: Path, new_site: Callable[..., Site]
) -> None:
    site = new_site()
    ledger = Path(site.config.database_url.removeprefix("sqlite:///"))
    with site.db.write() as session:
        append_event(session, DEVICE, "door", {"open": True}, Stamp.now("boot"))
    (ledger.parent / "backups").write_text("a file where the backups folder should be")
    with pytest.raises(UpgradeError, match="pas de mise à jour sans sauvegarde"):
        upgrade(site.config, wheel, appliance, timeout=1)
    calls = systemctl_calls(appliance)
    assert calls[-1] == ["start", *UNITS]  # the services are back
    assert not (appliance.parent / "venv.previous").exists()


def test_the_cli_refuses_what_is_not_a_package(appliance: Path, new_site: Callable[..., Site], tmp_path: Path) -> None:
    site = new_site()
    junk = tmp_path / "notes.txt"
    junk.write_text("not a package")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "halfday.cli",
            "--config",
            str(site.config_path),
            "upgrade",
            str(junk),
            "--venv",
            str(appliance),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 1
    assert "n'est pas un paquet de halfday" in result.stderr and "Traceback" not in result.stderr
    assert not (appliance.parent / "venv.previous").exists()
