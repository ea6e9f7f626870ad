"""A damaged ledger at the door's start (an SD card's bad pages, a file cut short): once, `start()` raised
"database disk image is malformed" and systemd restarted the door for ever, a fail-safe lock mostly open meanwhile.
Now the door keeps deciding on its last snapshot, read-only, journals every entry, raises its alarm, and
`halfday restore` puts a checked backup in place, into which the door writes its journal by itself."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from access.daemon.door import RESCUE_FILE, SNAPSHOT_FILE
from common.words import Alarm
from halfday.sample import ALICE, ALL_DAY, UNKNOWN
from hardware.virtual_card import VirtualCard
from tests.support.broker import Mosquitto
from tests.support.door import TAP_GAP_S, start_door
from tests.support.listener import DoorListener
from tests.support.site import Site


def damage_pages(ledger: Path) -> None:
    """Every page after the first turned to noise, as a failing card returns them: still "a SQLite file"."""
    size = ledger.stat().st_size
    with ledger.open("r+b") as f:
        f.seek(4096)
        f.write(os.urandom(size - 4096))


def damage_header(ledger: Path) -> None:
    """The first bytes lost: SQLite does not even recognise the file."""
    with ledger.open("r+b") as f:
        f.write(b"\0" * 100)


def halfday(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "halfday.cli", *args], capture_output=True, text=True, timeout=60)


def copy_ledger(source: Path, target: Path) -> None:
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def rows(ledger: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(ledger)) as conn:
        return conn.execute(sql).fetchall()


def badge(card: VirtualCard, uid: str) -> None:
    """A badge held 0.3 s, then taken away long enough for the reader to see it go."""
    card.present(uid, 0.3)
    time.sleep(TAP_GAP_S)


@pytest.fixture
def door_site(new_site: Callable[..., Site], broker: Mosquitto) -> Iterator[tuple[Site, VirtualCard, DoorListener]]:
    card = VirtualCard()
    site = new_site(reader_path=card.path, bus_url=f"mqtt://127.0.0.1:{broker.port}", overrides=ALL_DAY)
    listener = DoorListener(broker)
    yield site, card, listener
    listener.client.stop()
    card.close()


def stop(door: subprocess.Popen[bytes]) -> None:
    door.send_signal(signal.SIGTERM)
    assert door.wait(10) == 0


@pytest.mark.soak  # a fault run
@pytest.mark.parametrize("damage", [damage_pages, damage_header], ids=["bad-pages", "lost-header"])
def test_a_damaged_ledger_keeps_the_door_deciding_read_only_and_loud(
    tmp_path: Path, door_site: tuple[Site, VirtualCard, DoorListener], damage: Callable[[Path], None]
) -> None:
    site, card, listener = door_site
    ledger = Path(site.config.database_url.removeprefix("sqlite:///"))
    log = tmp_path / "door.log"
    site.db.dispose()

    # A normal day: the door reads the ledger (and keeps a snapshot of what it decides on); Alice comes in.
    door = start_door(site.config_path, log)
    try:
        listener.state(lambda s: Alarm.DATABASE not in s.alarms)
        badge(card, ALICE)
        assert listener.tap().granted
    finally:
        stop(door)
    assert (ledger.parent / SNAPSHOT_FILE).stat().st_mode & 0o777 == 0o600
    backup = ledger.parent / "backups" / "halfday-night.db"
    backup.parent.mkdir()
    copy_ledger(ledger, backup)  # the night's backup (made by `halfday backup`, another day's work)
    before = rows(backup, "SELECT count(*) FROM events")[0][0]
    assert isinstance(before, int)

    # The card fails. The door starts anyway, says so everywhere, and lets in whom its snapshot knows.
    damage(ledger)
    door = start_door(site.config_path, log)
    try:
        state = listener.state(lambda s: Alarm.DATABASE in s.alarms)
        assert state.locked
        badge(card, ALICE)
        tap = listener.tap()
        assert tap.granted and tap.first_name == "Alice"
        badge(card, UNKNOWN)
        assert not listener.tap().granted
        assert door.poll() is None  # running, not restarting
    finally:
        stop(door)
    # Restarted as systemd would, still on the damaged file: the same, and its journal only grows.
    door = start_door(site.config_path, log)
    try:
        listener.state(lambda s: Alarm.DATABASE in s.alarms)
        journal = (ledger.parent / RESCUE_FILE).read_text().splitlines()
        assert len([line for line in journal if '"kind":"entry"' in line]) == 2
        assert (ledger.parent / RESCUE_FILE).stat().st_mode & 0o777 == 0o600
        assert "BASE DE DONNÉES ILLISIBLE" in log.read_text()

        # A bad copy is refused before anything is touched; the damaged ledger cannot restore itself.
        assert halfday("--config", str(site.config_path), "restore", str(ledger)).returncode == 1
        not_halfday = tmp_path / "other.db"
        with contextlib.closing(sqlite3.connect(not_halfday)) as other:
            other.execute("CREATE TABLE t (x)")
        refused = halfday("--config", str(site.config_path), "restore", str(not_halfday))
        assert refused.returncode == 1 and "rien n'a été changé" in refused.stderr

        # The manager restores the latest backup; the door takes it up by itself, its journal written into it.
        restored = halfday("--config", str(site.config_path), "restore")
        assert restored.returncode == 0, restored.stderr
        assert "halfday-night.db" in restored.stdout
        listener.state(lambda s: Alarm.DATABASE not in s.alarms, timeout=30)
        badge(card, ALICE)
        assert listener.tap().granted
    finally:
        stop(door)
    assert not (ledger.parent / RESCUE_FILE).exists()
    assert list(ledger.parent.glob("halfday.db.damaged-*"))  # kept aside, for whoever wants to look
    assert rows(ledger, "PRAGMA integrity_check") == [("ok",)]
    entries = rows(
        ledger,
        "SELECT json_extract(data, '$.uid'), json_extract(data, '$.granted') FROM events "
        "WHERE kind = 'entry' ORDER BY seq",
    )
    # The backup's entry, the two journaled while degraded (Alice, then the unknown badge), the one after.
    assert entries == [(ALICE, 1), (ALICE, 1), (UNKNOWN, 0), (ALICE, 1)]
    alarms = rows(
        ledger,
        "SELECT json_extract(data, '$.active') FROM events WHERE kind = 'alarm' "
        "AND json_extract(data, '$.type') = 'database' ORDER BY seq",
    )
    assert alarms[0] == (1,) and alarms[-1] == (0,)
    assert rows(ledger, "SELECT count(*) FROM events") > [(before,)]


def test_restore_never_replaces_a_sound_ledger_unasked(
    door_site: tuple[Site, VirtualCard, DoorListener], tmp_path: Path
) -> None:
    site, _card, _listener = door_site
    ledger = Path(site.config.database_url.removeprefix("sqlite:///"))
    backup = tmp_path / "copy.db"
    copy_ledger(ledger, backup)
    refused = halfday("--config", str(site.config_path), "restore", str(backup))
    assert refused.returncode == 1 and "saine" in refused.stderr
    assert not list(ledger.parent.glob("halfday.db.damaged-*"))
    forced = halfday("--config", str(site.config_path), "restore", str(backup), "--force")
    assert forced.returncode == 0, forced.stderr
    none_yet = halfday("--config", str(site.config_path), "restore")
    assert none_yet.returncode == 1 and "aucune sauvegarde" in none_yet.stderr
