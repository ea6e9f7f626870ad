"""`halfday backup`: a checked online copy of the live ledger, pruned after keep_days, copied to a USB stick when one
is configured, its outcome in backups/status.json; and `halfday restore` taking the newest of them, or refusing a
corrupt one with nothing replaced."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from access import backup as backups
from access.backup import BackupError, backup, backup_time, prune, read_status
from access.db import migrate
from access.restore import RestoreError, restore
from access.store import Stamp, append_event
from common.db import check_sqlite_file
from halfday.sample import DEVICE
from tests.support.site import Site

NOW = dt.datetime(2026, 11, 29, 3, 30, tzinfo=dt.UTC)


def ledger_of(site: Site) -> Path:
    return Path(site.config.database_url.removeprefix("sqlite:///"))


def count(path: Path, sql: str = "SELECT count(*) FROM events") -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def halfday(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "halfday.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def site(new_site: Callable[..., Site]) -> Iterator[Site]:
    site = new_site()
    with site.db.write() as session:
        for _ in range(5):
            append_event(session, DEVICE, "door", {"open": True}, Stamp.now("boot"))
    yield site


def test_a_backup_is_a_checked_dated_copy_and_its_status_says_so(site: Site) -> None:
    previous = os.umask(0o027)  # the nightly unit's
    try:
        done = backup(site.config, now=NOW)
    finally:
        os.umask(previous)
    assert done.file.name == "ledger-20261129T033000Z.db"
    assert done.file.parent == ledger_of(site).parent / "backups"
    assert check_sqlite_file(done.file, full=True) is None
    assert count(done.file) == count(ledger_of(site)) == done.events
    assert done.file.stat().st_mode & 0o777 == 0o640  # names and access logs: not for others
    # Writable by the ledger's group whatever this process's umask: the nightly unit and the kiosk both write it.
    assert done.file.parent.stat().st_mode & 0o7777 == 0o2770
    assert not Path(f"{done.file}-wal").exists()  # one self-contained file
    assert read_status(done.file.parent) == {
        "at": "2026-11-29T03:30:00Z",
        "ok": True,
        "file": done.file.name,
        "error": None,
    }


def test_the_cli_backs_up_and_says_where(site: Site) -> None:
    result = halfday("--config", str(site.config_path), "backup")
    assert result.returncode == 0, result.stderr
    assert "Sauvegarde vérifiée" in result.stdout
    made = backups.backups(ledger_of(site).parent / "backups")
    assert len(made) == 1 and count(made[0]) == count(ledger_of(site))


def test_old_backups_are_pruned_and_the_newest_always_kept(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    days = [40, 20, 15, 13, 1]
    for age in days:
        (folder / (NOW - dt.timedelta(days=age)).strftime(backups.NAME_FORMAT)).write_bytes(b"x")
    (folder / "notes.txt").write_text("not ours")
    (folder / "halfday-night.db").write_bytes(b"a copy the manager put here")
    gone = prune(folder, 14, NOW)
    assert sorted(backup_time(p) or NOW for p in gone) == [NOW - dt.timedelta(days=d) for d in (40, 20, 15)]
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(
        ["notes.txt", "halfday-night.db"]
        + [(NOW - dt.timedelta(days=d)).strftime(backups.NAME_FORMAT) for d in (13, 1)]
    )
    # Even a single backup older than the limit stays: a site whose backups stopped keeps its last one.
    only = tmp_path / "only"
    only.mkdir()
    (only / (NOW - dt.timedelta(days=90)).strftime(backups.NAME_FORMAT)).write_bytes(b"x")
    assert prune(only, 14, NOW) == []


def test_a_nightly_run_prunes_with_keep_days(site: Site) -> None:
    site.reconfigure({"backup": {"keep_days": 2}})
    for night in range(5):
        backup(site.config, now=NOW + dt.timedelta(days=night))
    made = backups.backups(ledger_of(site).parent / "backups")
    assert [backup_time(p) for p in made] == [NOW + dt.timedelta(days=d) for d in (2, 3, 4)]


@pytest.fixture
def stick() -> Iterator[Path]:
    """A folder on another file system than the ledger's, as a mounted USB stick is (tmpfs here)."""
    with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
        yield Path(folder)


def test_a_backup_goes_to_the_usb_stick_too(site: Site, stick: Path) -> None:
    assert stick.stat().st_dev != ledger_of(site).parent.stat().st_dev
    site.reconfigure({"backup": {"usb_folder": str(stick)}})
    done = backup(site.config, now=NOW)
    assert done.usb_copy == stick / done.file.name
    assert check_sqlite_file(done.usb_copy) is None and count(done.usb_copy) == done.events
    assert [p.name for p in stick.iterdir()] == [done.file.name]  # no partial file left


def test_a_stick_not_mounted_is_a_clear_failure_in_the_status(site: Site, tmp_path: Path) -> None:
    # The mount point exists, on the SD card: the stick is not in it.
    mount_point = ledger_of(site).parent / "media"
    mount_point.mkdir()
    site.reconfigure({"backup": {"usb_folder": str(mount_point)}})
    with pytest.raises(BackupError, match="n'est pas montée"):
        backup(site.config, now=NOW)
    assert list(mount_point.iterdir()) == []
    status = read_status(ledger_of(site).parent / "backups")
    assert status is not None and status["ok"] is False
    assert "sauvegarde faite sur la carte SD, mais la clé USB n'est pas montée" in str(status["error"])
    assert status["file"] == "ledger-20261129T033000Z.db"  # the local copy was made

    site.reconfigure({"backup": {"usb_folder": str(tmp_path / "absent")}})
    result = halfday("--config", str(site.config_path), "backup")
    assert result.returncode == 1
    assert "la clé USB n'est pas branchée" in result.stderr and "Traceback" not in result.stderr


def test_a_copy_that_fails_on_the_stick_is_reported(site: Site, stick: Path) -> None:
    # Something in the way where the copy is written (as a stick full or gone mid-copy would fail it).
    (stick / ".ledger-20261129T033000Z.db.partial").mkdir()
    site.reconfigure({"backup": {"usb_folder": str(stick)}})
    with pytest.raises(BackupError, match="la copie sur la clé USB a échoué"):
        backup(site.config, now=NOW)
    status = read_status(ledger_of(site).parent / "backups")
    assert status is not None and status["ok"] is False and status["file"] == "ledger-20261129T033000Z.db"
    assert not (stick / "ledger-20261129T033000Z.db").exists()


def test_a_failed_backup_says_so_in_the_status(site: Site) -> None:
    folder = ledger_of(site).parent / "backups"
    folder.mkdir()
    ledger_of(site).write_bytes(b"not a database at all" * 100)  # the SD card lost it
    with pytest.raises(BackupError):
        backup(site.config, now=NOW)
    status = json.loads((folder / backups.STATUS_FILE).read_text())
    assert status["ok"] is False and status["file"] is None and status["error"]
    assert backups.backups(folder) == []  # nothing that looks like a backup was left


def test_a_backup_during_a_burst_of_taps_is_consistent_and_loses_none(site: Site) -> None:
    """The door writes an event every moment while the copy runs: the copy is one consistent moment, every write
    lands in the ledger, and none fails on a lock."""
    with site.db.write() as session:  # a ledger big enough for the copy to take a while
        for _ in range(20):
            session.connection().exec_driver_sql(
                "INSERT INTO meta (key, value) VALUES (?, ?)", (os.urandom(8).hex(), "x" * 3000)
            )
    written: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def door() -> None:
        try:
            while not stop.is_set():
                with site.db.write() as session:
                    _, seq = append_event(session, DEVICE, "door", {"open": True}, Stamp.now("boot"))
                written.append(seq)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=door)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(written) < 3 and time.monotonic() < deadline:  # the door is writing before the first copy starts
            time.sleep(0.01)
        before = len(written)
        made = [backup(site.config, now=NOW + dt.timedelta(seconds=i)) for i in range(3)]
        during = len(written) - before
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    # However slow the machine, the door went on writing while the copies ran.
    assert before >= 3 and during >= 3, (before, during)
    for done in made:
        assert check_sqlite_file(done.file, full=True) is None
        # A consistent moment: the events 1..N without a hole, N between the first and the last write.
        seqs = count(done.file, "SELECT max(seq) FROM events")
        assert count(done.file) == seqs
    assert count(ledger_of(site), "SELECT max(seq) FROM events") == written[-1]
    assert count(ledger_of(site)) == written[-1]


def test_restore_takes_the_newest_backup_and_refuses_a_corrupt_one(site: Site) -> None:
    first = backup(site.config, now=NOW)
    with site.db.write() as session:
        append_event(session, DEVICE, "door", {"open": False}, Stamp.now("boot"))
    second = backup(site.config, now=NOW + dt.timedelta(days=1))
    os.utime(first.file)  # touched later (copied back from a stick): still the older backup
    # The newest one is damaged: restore refuses it, and the ledger is as it was.
    with second.file.open("r+b") as f:
        f.seek(4096)
        f.write(os.urandom(second.file.stat().st_size - 4096))
    site.db.dispose()
    before = ledger_of(site).read_bytes()
    with pytest.raises(RestoreError, match="ne peut pas servir"):
        restore(site.config, None, force=True)
    assert ledger_of(site).read_bytes() == before
    assert [p.name for p in ledger_of(site).parent.iterdir() if "damaged" in p.name or "restoring" in p.name] == []
    # The good one, named, is taken.
    done = restore(site.config, first.file, force=True)
    assert done.events == first.events


def test_a_reinstalled_empty_ledger_takes_the_backup_without_force_a_full_one_does_not(
    site: Site, tmp_path: Path
) -> None:
    made = backup(site.config, now=NOW)
    site.db.dispose()
    # A sound ledger with its events: replacing it would lose them, so it takes --force.
    with pytest.raises(RestoreError, match="--force"):
        restore(site.config, None)
    assert count(ledger_of(site)) == made.events
    # The SD card died: the Pi reinstalled, its new ledger empty; the backup copied back is the normal path.
    ledger = ledger_of(site)
    for companion in (ledger, Path(f"{ledger}-wal"), Path(f"{ledger}-shm")):
        companion.unlink(missing_ok=True)
    migrate(site.config.database_url)
    assert count(ledger) == 0 and count(ledger, "SELECT count(*) FROM members") == 0
    result = halfday("--config", str(site.config_path), "restore")
    assert result.returncode == 0, result.stderr
    assert count(ledger) == made.events
    assert count(ledger, "SELECT count(*) FROM incarnations WHERE reason = 'restored' AND resumed_at IS NULL") == 1
