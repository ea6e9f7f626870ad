"""A door daemon running in the test process: real nfcpy reader loop on a virtual card, MockFactory pins.

`DoorRig` is what a test at the door needs: a site with sample members, the daemon in a thread, the virtual
card to tap, the relay's pin to read back, and the database to check what was recorded.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory
from sqlalchemy import select

from access.config import Config, load_config
from access.daemon.door import Door
from access.db import Database
from access.door import DoorTiming
from access.models import Event
from halfday.sample import ALICE, BRUNO, CLARA, DENIS, UNKNOWN, make_site
from hardware.virtual_card import VirtualCard
from tests.support.wait import wait_until

LOCK_PIN = 17
DOOR_PIN = 27
EXIT_PIN = 22
# Between two emulated taps nfcpy needs the card gone for a moment, or it sees one long presentation.
TAP_GAP_S = 0.5


class DoorRig:
    """The door daemon in a thread of the test process."""

    def __init__(
        self,
        folder: Path,
        *,
        bus_url: str | None = None,
        timing: DoorTiming | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.card = VirtualCard()
        self.config_path = make_site(folder, self.card.path, bus_url, extra)
        self.config: Config = load_config(self.config_path)
        self.factory = MockFactory()
        self.timing = timing or DoorTiming(unlock_s=0.6, held_open_s=1.0, relock_after_close_s=0.1)
        self.db = Database(self.config.database_url)
        self.use_bus = bus_url is not None
        self.door: Door | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> Door:
        door = Door(self.config, pin_factory=self.factory, use_bus=self.use_bus)
        door.machine.timing = self.timing
        door.start()
        # The door is closed; driven after the sensor exists, whose pull-up alone would read "open".
        self.factory.pin(DOOR_PIN).drive_low()
        self.door = door
        self.thread = threading.Thread(target=door.run, name="door", daemon=True)
        self.thread.start()
        assert wait_until(lambda: not door.machine.door_open), "the door sensor never read closed"
        return door

    def stop(self) -> None:
        if self.door is not None and self.thread is not None:
            self.door.stopping.set()
            self.thread.join(5)
            self.door.stop()
            self.door = None

    def close(self) -> None:
        self.stop()
        self.card.close()
        self.db.dispose()

    def press_exit(self) -> None:
        button = self.factory.pin(EXIT_PIN)
        button.drive_low()
        time.sleep(0.15)  # longer than the button's debounce: a real press, not a bounce
        button.drive_high()

    def set_door(self, is_open: bool) -> None:
        """The reed switch reads low when the door is closed ("closed_when = low")."""
        pin = self.factory.pin(DOOR_PIN)
        pin.drive_high() if is_open else pin.drive_low()
        time.sleep(0.15)  # longer than the sensor's debounce

    def tap(self, uid: str, seconds: float = 0.3) -> int:
        presented = self.card.present(uid, seconds)
        time.sleep(TAP_GAP_S)
        return presented

    @property
    def relay(self) -> Any:
        return self.factory.pin(LOCK_PIN)

    def relay_states(self) -> list[bool]:
        return [bool(s.state) for s in self.relay.states]

    def events(self, kind: str | None = None) -> list[Event]:
        with self.db.read() as session:
            query = select(Event).order_by(Event.seq)
            if kind is not None:
                query = query.where(Event.kind == kind)
            return list(session.scalars(query))

    def wait_events(self, count: int, kind: str | None = None, timeout: float = 5.0) -> list[Event]:
        wait_until(lambda: len(self.events(kind)) >= count, timeout)
        return self.events(kind)


__all__ = ["ALICE", "BRUNO", "CLARA", "DENIS", "UNKNOWN", "DoorRig", "make_site", "wait_until"]
