"""A disk that refuses writes under the real `halfday door` (issue #18): a ledger on a small tmpfs filled during a
burst of taps, and write and sync failures injected into the running door by libfiu. The door keeps deciding,
raises its database alarm, keeps what it could not write in memory, and writes it all, each record once, once the
disk takes writes again."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from access.daemon.door import RESCUE_FILE, WAITING_FILE
from common.words import Alarm
from halfday.sample import ALICE, ALL_DAY, BRUNO, CLARA, DENIS, UNKNOWN
from hardware.virtual_card import VirtualCard
from tests.support.broker import Mosquitto
from tests.support.disk import fill, small_disk
from tests.support.door import TAP_GAP_S, start_door
from tests.support.listener import DoorListener
from tests.support.site import Site

# Fault runs (a filesystem filled, system calls failed in the door): in the soak step of CI, not in `make test`.
pytestmark = pytest.mark.soak

BADGES = (ALICE, BRUNO, CLARA, DENIS, UNKNOWN)
# What the door logs of each decision, with the event's id (whether written at once or waiting for the disk).
DECIDED = re.compile(r"(entrée|refus) (\S+) : .* \[([0-9a-f]{32})(, en attente du disque)?\]")
# SQLite writes its pages with pwrite and syncs them with fdatasync; the rescue journal syncs with fsync. Each
# fails with EIO (errno 5): left to chance, fiu may pick EINTR, which SQLite rightly retries for ever.
FIU_POINTS = ("posix/io/rw/pwrite", "posix/io/sync/fdatasync", "posix/io/sync/fsync")
EIO = 5


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs, the site's folder."""
    with small_disk(tmp_path / "disk") as folder:
        yield folder


@pytest.fixture
def disk_site(disk: Path, broker: Mosquitto, card: VirtualCard, new_site: Callable[..., Site]) -> Site:
    """A site open all day whose ledger is on the small disk, its door on the card and the broker."""
    site = new_site("disk", reader_path=card.path, bus_url=f"mqtt://127.0.0.1:{broker.port}", overrides=ALL_DAY)
    site.db.dispose()
    return site


@pytest.fixture
def listener(broker: Mosquitto) -> Iterator[DoorListener]:
    found = DoorListener(broker)
    yield found
    found.client.stop()


@pytest.fixture
def card() -> Iterator[VirtualCard]:
    found = VirtualCard()
    yield found
    found.close()


def burst(card: VirtualCard, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        card.present(BADGES[i % len(BADGES)], 0.3)
        time.sleep(TAP_GAP_S)


def stop(door: subprocess.Popen[bytes]) -> None:
    door.send_signal(signal.SIGTERM)
    assert door.wait(15) == 0


def fail(door: subprocess.Popen[bytes], points: tuple[str, ...], *, on: bool) -> None:
    """Make `points` fail with EIO in the running door (started under `fiu-run -x`), or stop failing them."""
    action = f"enable name={{}},failinfo={EIO}" if on else "disable name={}"
    commands = [arg for point in points for arg in ("-c", action.format(point))]
    subprocess.run(["fiu-ctrl", *commands, str(door.pid)], check=True, timeout=10)


def decided(log: Path) -> list[tuple[bool, str, str, bool]]:
    """Each decision the door logged: (granted, badge, event id, waited for the disk)."""
    found = []
    for line in log.read_text(encoding="utf-8").splitlines():
        match = DECIDED.search(line)
        if match:
            found.append((match[1] == "entrée", match[2], match[3], match[4] is not None))
    return found


def check_ledger(ledger: Path, log: Path, alarms_seen: int = 1) -> list[tuple[bool, str, str, bool]]:
    """Every decision the door logged is in the ledger once, granted ones with their use; the file is sound."""
    said = decided(log)
    with contextlib.closing(sqlite3.connect(ledger)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        entries = conn.execute(
            "SELECT id, json_extract(data, '$.uid'), json_extract(data, '$.granted') FROM events "
            "WHERE kind = 'entry' ORDER BY seq"
        ).fetchall()
        seqs = [seq for (seq,) in conn.execute("SELECT seq FROM events ORDER BY seq")]
        outbox = {row[0] for row in conn.execute("SELECT event_id FROM outbox")}
        charged = {row[0] for row in conn.execute("SELECT event_id FROM uses")}
        alarms = conn.execute(
            "SELECT json_extract(data, '$.active') FROM events WHERE kind = 'alarm' "
            "AND json_extract(data, '$.type') = 'database' ORDER BY seq"
        ).fetchall()
    # Each logged decision once, in the order decided, with its badge and verdict; nothing else.
    assert [(event_id, uid, int(granted)) for granted, uid, event_id, _ in said] == entries
    assert seqs == list(range(1, len(seqs) + 1))  # no hole, no duplicate
    assert {row[0] for row in entries} <= outbox  # every entry waits for the hub
    # Each member's first tap of the day charged (or counted) a half-day: its use is there with it.
    first: dict[str, str] = {}
    for granted, uid, event_id, _ in said:
        if granted:
            first.setdefault(uid, event_id)
    assert set(first.values()) <= charged
    # Raised once the disk refused (by each process that saw it), cleared once all was written.
    assert alarms == [(1,)] * alarms_seen + [(0,)]
    return said


def test_a_full_disk_during_a_burst_loses_no_tap(
    tmp_path: Path, disk: Path, disk_site: Site, listener: DoorListener, card: VirtualCard
) -> None:
    site = disk_site
    ledger = Path(site.config.database_url.removeprefix("sqlite:///"))
    assert ledger.parent == disk
    log = tmp_path / "door.log"
    door = start_door(site.config_path, log)
    try:
        listener.state(lambda s: Alarm.DATABASE not in s.alarms)
        burst(card, 3)
        filler = fill(disk)
        burst(card, 7, start=3)
        listener.state(lambda s: Alarm.DATABASE in s.alarms and s.pending_writes > 0)
        burst(card, 2, start=10)  # still deciding, still refusing the unknown badge
        assert door.poll() is None
        waiting = [d for d in decided(log) if d[3]]
        assert len(waiting) >= 7 and any(granted for granted, *_ in waiting)
        # Alice and Bruno come in; Clara's used-up carnet, Denis's revoked badge and a stranger's do not.
        assert {uid for granted, uid, *_ in decided(log) if granted} == {ALICE, BRUNO}
        filler.unlink()  # the manager frees some space
        listener.state(lambda s: Alarm.DATABASE not in s.alarms and s.pending_writes == 0, timeout=30)
        burst(card, 1, start=12)
        time.sleep(0.5)
    finally:
        stop(door)
    said = check_ledger(ledger, log)
    assert len(said) == 13


def door_under_fiu(site: Site, tmp_path: Path) -> tuple[Path, Path, subprocess.Popen[bytes]]:
    """`halfday door` for the site under libfiu (`fiu-run -x`; `fail` turns its failure points on and off): the
    ledger, the door's log and the process."""
    site.db.dispose()
    log = tmp_path / "door.log"
    door = start_door(site.config_path, log, wrapper=("fiu-run", "-x"))
    return Path(site.config.database_url.removeprefix("sqlite:///")), log, door


def test_write_and_sync_failures_in_the_door_lose_no_tap(
    tmp_path: Path, broker: Mosquitto, listener: DoorListener, card: VirtualCard, new_site: Callable[..., Site]
) -> None:
    site = new_site(reader_path=card.path, bus_url=f"mqtt://127.0.0.1:{broker.port}", overrides=ALL_DAY)
    ledger, log, door = door_under_fiu(site, tmp_path)
    try:
        listener.state(lambda s: Alarm.DATABASE not in s.alarms)
        burst(card, 2)
        fail(door, FIU_POINTS, on=True)
        burst(card, 6, start=2)
        listener.state(lambda s: Alarm.DATABASE in s.alarms and s.pending_writes > 0)
        assert door.poll() is None
        fail(door, FIU_POINTS, on=False)
        listener.state(lambda s: Alarm.DATABASE not in s.alarms and s.pending_writes == 0, timeout=30)
        burst(card, 1, start=8)
        time.sleep(0.5)
    finally:
        stop(door)
    said = check_ledger(ledger, log)
    assert len(said) == 9
    assert len([d for d in said if d[3]]) >= 5


def test_a_door_stopped_while_its_ledger_refuses_writes_keeps_them_in_its_journal(
    tmp_path: Path, broker: Mosquitto, listener: DoorListener, card: VirtualCard, new_site: Callable[..., Site]
) -> None:
    site = new_site(reader_path=card.path, bus_url=f"mqtt://127.0.0.1:{broker.port}", overrides=ALL_DAY)
    ledger, log, door = door_under_fiu(site, tmp_path)
    try:
        listener.state(lambda s: Alarm.DATABASE not in s.alarms)
        burst(card, 1)
        # Only the ledger's writes fail (SQLite's pwrite and fdatasync): the journal beside it still takes its own.
        fail(door, FIU_POINTS[:2], on=True)
        burst(card, 4, start=1)
        listener.state(lambda s: Alarm.DATABASE in s.alarms and s.pending_writes > 0)
    finally:
        stop(door)  # systemd restarts the door, say for an upgrade, while the card still fails
    journal = ledger.parent / RESCUE_FILE
    waiting = [event_id for *_, event_id, kept in decided(log) if kept]
    assert len(waiting) >= 3
    held = journal.read_text(encoding="utf-8")
    assert all(event_id in held for event_id in waiting)
    door = start_door(site.config_path, log)  # the card repaired: the journal goes into the ledger first
    try:
        listener.state(lambda s: Alarm.DATABASE not in s.alarms)
        burst(card, 1, start=5)
        time.sleep(0.5)
    finally:
        stop(door)
    assert not journal.exists()
    said = decided(log)
    assert len(said) == 6
    with contextlib.closing(sqlite3.connect(ledger)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        entries = [row[0] for row in conn.execute("SELECT id FROM events WHERE kind = 'entry' ORDER BY seq")]
    assert entries == [event_id for *_, event_id, _ in said]


@pytest.mark.parametrize("full_at_restart", [True, False], ids=["still-full", "space-freed"])
def test_a_door_killed_while_the_disk_is_full_leaves_what_waited_to_the_next_start(
    tmp_path: Path, disk: Path, disk_site: Site, listener: DoorListener, card: VirtualCard, full_at_restart: bool
) -> None:
    """The watchdog (or a manager) kills the door while its ledger's disk is full: what waited in its memory is in
    RAM under /run. The next door writes it as it starts if space was freed meanwhile; if not, it takes it back,
    with the half-days it used, and writes it once space is freed."""
    site = disk_site
    ledger = Path(site.config.database_url.removeprefix("sqlite:///"))
    runtime = tmp_path / "run"
    runtime.mkdir()
    log = tmp_path / "door.log"
    door = start_door(site.config_path, log, runtime=runtime)
    try:
        listener.state(lambda s: Alarm.DATABASE not in s.alarms)
        burst(card, 2)
        filler = fill(disk)
        burst(card, 5, start=2)
        listener.state(lambda s: Alarm.DATABASE in s.alarms and s.pending_writes >= 5)
    finally:
        door.kill()
        door.wait(15)
    waiting = [event_id for *_, event_id, kept in decided(log) if kept]
    held = (runtime / WAITING_FILE).read_text(encoding="utf-8")
    assert len(waiting) >= 5 and all(event_id in held for event_id in waiting)
    time.sleep(1)  # the killed door's last words (its will: offline) arrive; then only the new door speaks
    while not listener.messages.empty():
        listener.messages.get_nowait()
    if not full_at_restart:
        filler.unlink()
    door = start_door(site.config_path, log, runtime=runtime)  # systemd restarts it
    try:
        if full_at_restart:
            listener.state(lambda s: Alarm.DATABASE in s.alarms and s.pending_writes >= 5)
        else:
            listener.state(lambda s: Alarm.DATABASE not in s.alarms and s.pending_writes == 0)
            assert not (runtime / WAITING_FILE).exists()  # written as it started
        burst(card, 3, start=7)  # Alice and Bruno again: the half-days they used before the kill stay used
        if full_at_restart:
            filler.unlink()
        listener.state(lambda s: Alarm.DATABASE not in s.alarms and s.pending_writes == 0, timeout=30)
        time.sleep(0.5)
    finally:
        stop(door)
    assert not (runtime / WAITING_FILE).exists()
    said = check_ledger(ledger, log, alarms_seen=2 if full_at_restart else 1)
    assert len(said) == 10
    with contextlib.closing(sqlite3.connect(ledger)) as conn:
        charged = conn.execute("SELECT holder_id, local_date, slot, count(*) FROM uses GROUP BY 1, 2, 3").fetchall()
    assert charged and all(count == 1 for *_, count in charged)
