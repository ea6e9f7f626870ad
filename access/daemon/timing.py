"""The door daemon's timing, as one value: each constant with its reason, set small in tests instead of slept
through (like the kiosk's `Tuning`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from access.alarms import DEBOUNCE, Debounce
from access.config import DoorConfig
from access.door import DoorTiming
from common.words import Alarm


@dataclass(frozen=True)
class DoorTuning:
    # The lock's pulse, the held-open alarm and the quick relock after a visitor passed (the pure machine's).
    machine: DoorTiming = field(default_factory=DoorTiming)
    # How often the door looks for changes written by the kiosk or sync (new pass, roster): the bus says "reload"
    # at once, this catches what the bus missed.
    state_poll_s: float = 1.0
    # The retained door state is refreshed this often even without change, so a display can tell it is fresh.
    state_publish_s: float = 30.0
    # While the ledger is damaged, how often the door looks whether a sound one replaced it (`halfday restore`).
    recovery_poll_s: float = 5.0
    # After the disk refused a write (full, failing), the door tries again after this long, doubled at each refusal up
    # to the most: the disk is not hammered, and the door's memory is written soon after space comes back.
    write_retry_s: float = 0.5
    write_retry_most_s: float = 8.0
    # The time floor is written to the database at most this often.
    floor_persist_s: float = 60.0
    # The main loop wakes at least this often, to follow the clock and ping systemd's watchdog.
    idle_wake_s: float = 0.5
    # The indicator: how long the green or red light shows a decision, and the buzzer: a short beep says yes, a
    # long one no.
    light_s: float = 1.0
    beep_grant_s: float = 0.1
    beep_deny_s: float = 0.5
    # How long a busy thread may keep the interpreter before the reader's thread gets it (Python's default is
    # 5 ms): a tap arriving while the main thread writes to the database must not wait for it.
    switch_interval_s: float = 0.0005
    # The reader's and the clock's alarms are looked at this often (what the door holds in memory: no I/O).
    alarm_watch_s: float = 1.0
    # The disk's free space and the backups' status are looked at this often (a statfs and a small file).
    site_watch_s: float = 60.0
    # How long a watched fact must hold before its alarm is raised or cleared (access/alarms.py).
    alarm_debounce: Mapping[Alarm, Debounce] = field(default_factory=lambda: DEBOUNCE)

    @classmethod
    def for_config(cls, door: DoorConfig, **overrides: Any) -> DoorTuning:
        """The site's own pulse and held-open limit (config [door]), with the other constants as they are."""
        machine = dataclasses.replace(DoorTiming(), unlock_s=door.unlock_s, held_open_s=door.held_open_s)
        return cls(**{"machine": machine, **overrides})
