"""The door's watched alarms on the real door daemon: the disk nearly full (a 1 MB tmpfs filled and emptied), the
backups' status that `halfday backup` writes (failed, fine, too old, absent), the clock untrusted then synchronised;
each raised once and cleared once. Also the pure watch's debounce: a fact that flaps raises nothing."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from access.alarms import (
    BACKUP_FOLDER,
    BACKUP_STATUS,
    AlarmWatch,
    Debounce,
    active_alarms,
    backup_trouble,
    disk_nearly_full,
    record_alarm,
)
from access.daemon.timing import DoorTuning
from access.door import DoorTiming
from access.store import Stamp
from common.words import Alarm
from tests.support.door import DoorRig
from tests.support.site import Site
from tests.support.wait import wait_until

# Every delay short, no debounce: the test drives the facts and reads the events at once.
WATCH = DoorTuning(
    machine=DoorTiming(unlock_s=0.6, held_open_s=120.0, relock_after_close_s=0.1),
    alarm_watch_s=0.05,
    site_watch_s=0.1,
    alarm_debounce={alarm: Debounce() for alarm in Alarm},
)


def alarms(rig: DoorRig, kind: Alarm) -> list[bool]:
    return [e.data["active"] for e in rig.events("alarm") if e.data["type"] == kind.value]


def write_status(folder: Path, at: dt.datetime, ok: bool, error: str | None = None) -> None:
    folder.mkdir(exist_ok=True)
    status = {"at": at.isoformat().replace("+00:00", "Z"), "ok": ok, "file": "x.sqlite" if ok else None, "error": error}
    (folder / BACKUP_STATUS).write_text(json.dumps(status), encoding="utf-8")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs of the test's own, so that it can be filled without filling the machine's disk."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_disk_nearly_full_raises_once_and_clears_once(
    new_site: Callable[..., Site], door_rig: Callable[..., DoorRig], small_disk: Path
) -> None:
    site = new_site(overrides={"alarms": {"disk_path": str(small_disk), "disk_min_free_percent": 40}})
    assert disk_nearly_full(small_disk, 40) is False
    rig = door_rig(site, tuning=WATCH)
    rig.start()
    (small_disk / "fill").write_bytes(b"\0" * 700_000)
    assert wait_until(lambda: alarms(rig, Alarm.DISK) == [True], 5)
    assert rig.daemon._state().alarms == (Alarm.DISK,)  # on the bus too, for the wall and the hub
    (small_disk / "fill").unlink()
    assert wait_until(lambda: alarms(rig, Alarm.DISK) == [True, False], 5)
    rig.stop()
    assert alarms(rig, Alarm.DISK) == [True, False]


def test_a_backup_that_failed_or_is_too_old_raises_and_a_good_one_clears(
    new_site: Callable[..., Site], door_rig: Callable[..., DoorRig]
) -> None:
    site = new_site(overrides={"alarms": {"backup_max_age_h": 26}})
    folder = site.folder / BACKUP_FOLDER
    rig = door_rig(site, tuning=WATCH)
    rig.start()
    now = dt.datetime.now(dt.UTC)
    write_status(folder, now, ok=False, error="disque de sauvegarde absent")
    assert wait_until(lambda: alarms(rig, Alarm.BACKUP) == [True], 5)
    raised = next(e for e in rig.events("alarm") if e.data["type"] == "backup")
    assert raised.data["detail"] == "disque de sauvegarde absent"
    write_status(folder, now, ok=True)
    assert wait_until(lambda: alarms(rig, Alarm.BACKUP) == [True, False], 5)
    write_status(folder, now - dt.timedelta(hours=27), ok=True)  # the nightly backup stopped a day ago
    assert wait_until(lambda: alarms(rig, Alarm.BACKUP) == [True, False, True], 5)


def test_without_backups_set_up_nothing_is_raised(new_site: Callable[..., Site], tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    day = dt.timedelta(hours=26)
    folder = tmp_path / BACKUP_FOLDER
    assert backup_trouble(folder, day, now, expected=False) is None  # no `halfday backup` yet: not set up
    assert backup_trouble(folder, day, now, expected=True) == "aucune sauvegarde réussie"
    folder.mkdir()
    assert backup_trouble(folder, day, now, expected=False) == "aucune sauvegarde réussie"
    (folder / BACKUP_STATUS).write_text("{not json", encoding="utf-8")
    assert backup_trouble(folder, day, now, expected=False) == "état des sauvegardes illisible (status.json)"
    write_status(folder, now, ok=False)
    assert backup_trouble(folder, day, now, expected=False) == "la dernière sauvegarde a échoué"
    write_status(folder, now - dt.timedelta(hours=1), ok=True)
    assert backup_trouble(folder, day, now, expected=False) is None


def test_an_untrusted_clock_raises_once_and_clears_once_synchronised(
    new_site: Callable[..., Site], door_rig: Callable[..., DoorRig]
) -> None:
    site = new_site(overrides={"door": {"trust_clock": False}})
    synced = [False]
    rig = door_rig(site, tuning=WATCH, kernel_synced=lambda: synced[0])
    rig.start()
    assert wait_until(lambda: alarms(rig, Alarm.CLOCK) == [True], 5)
    synced[0] = True  # NTP has set the clock
    assert wait_until(lambda: alarms(rig, Alarm.CLOCK) == [True, False], 5)
    assert Alarm.CLOCK not in rig.daemon._state().alarms


def test_a_flapping_fact_raises_nothing_and_a_lasting_one_raises_once() -> None:
    watch = AlarmWatch({Alarm.READER: Debounce(raise_after_s=15, clear_after_s=60)})
    changes = []
    for second in range(0, 60, 5):  # a reader that drops and comes back every five seconds
        changes += watch.observe({Alarm.READER: second % 10 == 0}, float(second))
    assert changes == []
    assert watch.observe({Alarm.READER: True}, 100.0) == []
    assert watch.observe({Alarm.READER: True}, 115.0) == [(Alarm.READER, True)]
    assert watch.observe({Alarm.READER: None}, 120.0) == []  # unknown this time: nothing changes
    assert watch.observe({Alarm.READER: False}, 130.0) == []
    assert watch.observe({Alarm.READER: True}, 140.0) == []  # back before the clear: still one alarm
    assert watch.observe({Alarm.READER: False}, 150.0) == []
    assert watch.observe({Alarm.READER: False}, 210.0) == [(Alarm.READER, False)]
    assert watch.active == set()


def test_alarms_left_raised_by_a_stopped_door_are_taken_up_and_cleared(
    new_site: Callable[..., Site], door_rig: Callable[..., DoorRig]
) -> None:
    site = new_site()  # its clock is trusted: nothing to say about it now
    before = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with site.db.write() as session:
        stamp = Stamp(before, time.monotonic_ns(), "earlier-boot", True)
        for alarm in (Alarm.FORCED, Alarm.CLOCK, Alarm.BACKLOG):  # the backlog's is the sync agent's
            record_alarm(session, site.config.site.device, alarm, True, stamp, None, "Le Local", dt.UTC)
        record_alarm(session, "room-1", Alarm.READER, True, stamp, None, "Le Local", dt.UTC)  # another door's
    rig = door_rig(site, tuning=WATCH)
    rig.start()
    # The forced door is the old machine's: over. The clock is watched: cleared once the watch finds it good.
    assert wait_until(lambda: alarms(rig, Alarm.FORCED) == [True, False] and alarms(rig, Alarm.CLOCK) == [True, False])
    with site.db.read() as session:
        assert active_alarms(session) == {Alarm.READER: before, Alarm.BACKLOG: before}
