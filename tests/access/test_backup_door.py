"""`halfday backup` while the real door daemon records a burst of taps: every tap is decided and recorded, none is
refused for a busy ledger, and every copy is a consistent moment of the ledger (integrity_check, no hole)."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from access.backup import backups
from common.db import check_sqlite_file
from halfday.sample import ALICE, ALL_DAY, BRUNO
from hardware.virtual_card import VirtualCard
from tests.support.broker import Mosquitto
from tests.support.door import TAP_GAP_S, start_door
from tests.support.site import Site
from tests.support.wait import wait_until

TAPS = 15
# Five members in turn: the door counts one badge held again within a few seconds as the same tap.
BADGES = (ALICE, BRUNO, "6F708192", "708192A3", "8192A3B4")


def entries(ledger: Path) -> list[tuple[int, str]]:
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT seq, data FROM events WHERE kind = 'entry' ORDER BY seq").fetchall()


def test_backups_during_a_burst_of_taps_lose_none_and_are_consistent(
    tmp_path: Path, broker: Mosquitto, new_site: Callable[..., Site]
) -> None:
    card = VirtualCard()
    site = new_site(reader_path=card.path, bus_url=f"mqtt://127.0.0.1:{broker.port}", overrides=ALL_DAY)
    ledger = Path(site.config.database_url.removeprefix("sqlite:///"))
    site.db.dispose()
    log = tmp_path / "door.log"
    door = start_door(site.config_path, log)
    made: list[subprocess.CompletedProcess[str]] = []
    stop = threading.Event()

    def nightly() -> None:
        while not stop.is_set():
            made.append(
                subprocess.run(
                    [sys.executable, "-m", "halfday.cli", "--config", str(site.config_path), "backup"],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
            )
            stop.wait(1.0)  # one a second: names are dated to the second

    try:
        assert wait_until(lambda: "porte prête" in log.read_text(errors="replace"), 20), log.read_text()
        before = len(entries(ledger))
        backing_up = threading.Thread(target=nightly)
        backing_up.start()
        try:
            for i in range(TAPS):
                card.present(BADGES[i % len(BADGES)], 0.3)
                stop.wait(TAP_GAP_S)
            assert wait_until(lambda: len(entries(ledger)) == before + TAPS, 15), log.read_text()[-3000:]
        finally:
            stop.set()
            backing_up.join(120)
    finally:
        door.send_signal(signal.SIGTERM)
        door.wait(10)
        card.close()
    assert len(made) >= 2 and all(run.returncode == 0 for run in made), [run.stderr for run in made]
    recorded = entries(ledger)[before:]
    assert len(recorded) == TAPS
    assert all('"granted":true' in data for _, data in recorded), recorded  # none refused for a busy ledger
    assert "database is locked" not in log.read_text()
    copies = backups(ledger.parent / "backups")
    assert len(copies) == len(made)
    for copy in copies:
        assert check_sqlite_file(copy, full=True) is None
        with contextlib.closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as conn:
            count, last = conn.execute("SELECT count(*), max(seq) FROM events").fetchone()
        assert count == last  # events 1..N, no hole: one moment of the ledger
