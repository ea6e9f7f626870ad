"""The door's health as the agent reports it in its status (sync/PROTOCOL.md, status): from the door's retained state
on the local bus and the agent's own judgement of the clock, so the hub's doors page shows a door left open, a
forced door, a dead reader or a clock gone wrong without anyone at the site.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from access.clock import ClockGuard
from sync.localbus import DoorState
from sync.payloads import DoorHealth
from sync.protocol import STATUS_ALARMS


def door_health(
    state: DoorState | None,
    clock_ok: bool | None,
    oldest_unsent_at: dt.datetime | None,
    roster_too_old: bool = False,
    backlog_too_old: bool = False,
) -> DoorHealth:
    """The status's health fields: door, reader and their alarms unknown (None) while the door is not heard.
    `roster_too_old` raises "roster" only while the clock is trusted: a clock gone wrong would make any list look old,
    and has its own alarm."""
    raised: set[str] = set()
    door = reader = None
    if state is not None and state.online:
        door = "open" if state.open else "closed"
        raised.update(alarm.value for alarm in state.alarms)
        if state.reader is not None:
            # Reopening after a glitch counts too: while it lasts, no badge is read at this door.
            reader = "ok" if state.reader.state == "ok" else "absent"
            if reader == "absent":
                raised.add("reader")
    if clock_ok is False:
        raised.add("clock")
    elif roster_too_old:
        raised.add("roster")
    if backlog_too_old:
        raised.add("backlog")
    alarms = tuple(code for code in STATUS_ALARMS if code in raised)
    return DoorHealth(oldest_unsent_at, clock_ok, door, alarms, reader)


class HealthWatch:
    """Keeps the door's latest state from the bus and judges the clock as the door does (access/clock.py): the
    kernel's NTP status and the ledger's time floor."""

    def __init__(self, kernel_synced: Callable[[], bool], floor: dt.datetime | None, trust_clock: bool) -> None:
        self.kernel_synced = kernel_synced
        self._guard = ClockGuard(floor=floor, trust_always=trust_clock)
        self._door: DoorState | None = None
        self._lock = threading.Lock()

    def door_news(self, state: DoorState) -> None:
        with self._lock:
            self._door = state

    def clock_ok(self, now: dt.datetime) -> bool:
        """Whether the wall clock can be trusted now, as the door judges it."""
        synced = self.kernel_synced()
        with self._lock:
            return self._guard.check(now, synced)

    def health(
        self,
        oldest_unsent_at: dt.datetime | None,
        now: dt.datetime,
        roster_too_old: bool = False,
        backlog_too_old: bool = False,
    ) -> DoorHealth:
        synced = self.kernel_synced()
        with self._lock:
            clock_ok = self._guard.check(now, synced)
            return door_health(self._door, clock_ok, oldest_unsent_at, roster_too_old, backlog_too_old)
