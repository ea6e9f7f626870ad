"""The door daemon in the test process: real nfcpy reader loop on a virtual card, gpiozero's MockFactory pins.

`DoorRig` is what a test at the door needs: the daemon in a thread on a sample site, the virtual card to tap, the
pins to drive and read back, and the database to check what was recorded.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gpiozero.pins.mock import MockFactory
from sqlalchemy import select

from access.daemon.door import Door
from access.daemon.timing import DoorTuning
from access.door import DoorTiming
from access.models import Event
from hardware.virtual_card import VirtualCard
from sync import localbus as bus
from sync.mqtt import Message
from tests.support.site import Site
from tests.support.wait import wait_until

LOCK_PIN = 17
DOOR_PIN = 27
EXIT_PIN = 22
GREEN_PIN, RED_PIN, BUZZER_PIN = 5, 6, 13
# Between two emulated taps nfcpy needs the card gone for a moment, or it sees one long presentation.
TAP_GAP_S = 0.5
# Debian's libfaketime (package faketime), multi-threaded variant, preloaded into a door that lives at another date:
# the door runs threads, and the `faketime` command would run it as a child that a signal to the command misses.
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
# A short pulse and a short held-open limit: a test never waits for a production delay.
FAST = DoorTuning(machine=DoorTiming(unlock_s=0.6, held_open_s=1.0, relock_after_close_s=0.1))


class DoorRig:
    """The door daemon in a thread of the test process, on `site`."""

    def __init__(
        self,
        site: Site,
        *,
        use_bus: bool = False,
        tuning: DoorTuning = FAST,
        kernel_synced: Callable[[], bool] | None = None,
    ) -> None:
        self.site = site
        # What the kernel says of NTP, when a test decides it (None: ask the kernel).
        self.kernel_synced = kernel_synced
        self.card = VirtualCard()
        site.reconfigure({"hardware": {"reader": {"path": self.card.path}}})
        self.factory = MockFactory()
        self.tuning = tuning
        self.use_bus = use_bus
        self.door: Door | None = None
        self.thread: threading.Thread | None = None

    @property
    def daemon(self) -> Door:
        assert self.door is not None, "the door is not started"
        return self.door

    def start(self, *, wait_for_bus: bool = True) -> Door:
        extra = {"kernel_synced": self.kernel_synced} if self.kernel_synced is not None else {}
        door = Door(self.site.config, tuning=self.tuning, pin_factory=self.factory, use_bus=self.use_bus, **extra)
        door.start()
        # The door is closed; driven after the sensor exists, whose pull-up alone would read "open".
        self.factory.pin(DOOR_PIN).drive_low()
        self.door = door
        self.thread = threading.Thread(target=door.run, name="door", daemon=True)
        self.thread.start()
        assert wait_until(lambda: not door.machine.door_open), "the door sensor never read closed"
        if self.use_bus and wait_for_bus:
            assert door.bus is not None and wait_until(lambda: door.bus is not None and door.bus.client.connected, 10)
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
        self.factory.close()

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
        """Present a badge for `seconds`, then leave the reader a gap; returns the presentation's time (ns)."""
        presented = self.card.present(uid, seconds)
        time.sleep(TAP_GAP_S)
        return presented

    @property
    def relay(self) -> Any:
        return self.factory.pin(LOCK_PIN)

    def relay_states(self) -> list[bool]:
        return [bool(s.state) for s in self.relay.states]

    def events(self, kind: str | None = None) -> list[Event]:
        with self.site.db.read() as session:
            query = select(Event).order_by(Event.seq)
            if kind is not None:
                query = query.where(Event.kind == kind)
            return list(session.scalars(query))

    def wait_events(self, count: int, kind: str | None = None, timeout: float = 5.0) -> list[Event]:
        wait_until(lambda: len(self.events(kind)) >= count, timeout)
        return self.events(kind)


# ---------------------------------------------------------------------------------------------- as systemd runs it


def start_door(
    config_path: Path, log_path: Path, wrapper: tuple[str, ...] = (), runtime: Path | None = None
) -> subprocess.Popen[bytes]:
    """`halfday door` in a process of its own, as its unit starts it; its output appended to `log_path`. A
    `wrapper` (e.g. libfiu's `fiu-run -x`) starts it, when it execs the door in its own process; `runtime` is the
    folder systemd would give it under /run (RuntimeDirectory=)."""
    env = {**os.environ, "HALFDAY_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    if runtime is not None:
        env["RUNTIME_DIRECTORY"] = str(runtime)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [*wrapper, sys.executable, "-m", "halfday.cli", "door", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


M = TypeVar("M", bound=bus.Message)


def wait_message(
    messages: queue.Queue[Message], kind: type[M], timeout: float, predicate: Callable[[M], bool] = lambda m: True
) -> M:
    """The next message of `kind` on the local bus that `predicate` accepts (others are passed over)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = messages.get(timeout=0.1)
        except queue.Empty:
            continue
        if message.topic == kind.topic and predicate(decoded := kind.decode(message.payload)):
            return decoded
    raise AssertionError(f"no {kind.__name__} within {timeout} s")
