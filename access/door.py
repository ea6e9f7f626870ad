"""The door state machine, as pure code: inputs and the monotonic time in, relay, indicator and alarms out.

Inputs: a granted or refused tap, the exit button, the door sensor, a remote unlock, the passing of time, and
whether the space is staffed (open to all). Outputs: whether the relay should hold the lock open, what the
indicator shows, and events to record (door opened/closed, alarms raised and cleared).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.words import Alarm, EventKind, Signal

Events = list[tuple[EventKind, dict[str, Any]]]

# Once the door has opened and closed again, a visitor is in: relock quickly rather than wait out the pulse,
# so a second person cannot follow. Half a second lets a bouncing door settle.
RELOCK_AFTER_CLOSE_S = 0.5


@dataclass(frozen=True, slots=True)
class DoorTiming:
    unlock_s: float = 5.0
    held_open_s: float = 60.0
    relock_after_close_s: float = RELOCK_AFTER_CLOSE_S


@dataclass(slots=True)
class Output:
    """What the daemon must do after an input: set the relay, show the indicator, record events."""

    unlocked: bool
    indicator: Signal | None = None
    events: Events = field(default_factory=list)


@dataclass(slots=True)
class DoorMachine:
    """The lock, the door and its alarms. Times are monotonic seconds."""

    timing: DoorTiming = field(default_factory=DoorTiming)
    unlocked_until: float | None = None
    door_open: bool = False
    opened_at: float | None = None
    staffed: bool = False
    alarms: set[Alarm] = field(default_factory=set)

    @property
    def unlocked(self) -> bool:
        return self.staffed or self.unlocked_until is not None

    def start(self, door_open: bool, now: float) -> Output:
        """The daemon starts: the lock is locked before anything else, whatever happened before."""
        self.unlocked_until = None
        self.door_open = door_open
        self.opened_at = now if door_open else None
        return Output(unlocked=self.unlocked)

    def grant(self, now: float) -> Output:
        """A granted badge or pass: open the lock for one pulse."""
        self._pulse(now)
        return Output(unlocked=True, indicator=Signal.GRANT)

    def deny(self, now: float) -> Output:
        return Output(unlocked=self.unlocked, indicator=Signal.DENY)

    def exit_button(self, now: float) -> Output:
        """Request to exit from inside: always opens."""
        self._pulse(now)
        return Output(unlocked=True, events=[(EventKind.EXIT, {"by": "button"})])

    def remote_unlock(self, now: float, by: str, ref: str | None = None) -> Output:
        self._pulse(now)
        return Output(unlocked=True, events=[(EventKind.UNLOCK, {"by": by, "ref": ref})])

    def door_changed(self, is_open: bool, now: float) -> Output:
        if is_open == self.door_open:
            return Output(unlocked=self.unlocked)
        self.door_open = is_open
        events: Events = [(EventKind.DOOR, {"open": is_open})]
        if is_open:
            self.opened_at = now
            if not self.unlocked and Alarm.FORCED not in self.alarms:
                # Opened while locked, with no badge and no exit button: somebody forced it.
                self.alarms.add(Alarm.FORCED)
                events.append(_alarm(Alarm.FORCED, True))
        else:
            self.opened_at = None
            for alarm in sorted(self.alarms):
                events.append(_alarm(alarm, False))
            self.alarms.clear()
            if self.unlocked_until is not None:
                self.unlocked_until = min(self.unlocked_until, now + self.timing.relock_after_close_s)
        return Output(unlocked=self.unlocked, events=events)

    def tick(self, now: float, staffed: bool = False) -> Output:
        """Time passes: end the pulse, raise the held-open alarm, follow the staffed schedule."""
        events: Events = []
        if staffed != self.staffed:
            self.staffed = staffed
            events.append((EventKind.STAFFED, {"active": staffed}))
        if self.unlocked_until is not None and now >= self.unlocked_until:
            self.unlocked_until = None
        if (
            self.door_open
            and not self.staffed
            and self.opened_at is not None
            and now - self.opened_at >= self.timing.held_open_s
            and Alarm.HELD_OPEN not in self.alarms
        ):
            self.alarms.add(Alarm.HELD_OPEN)
            events.append(_alarm(Alarm.HELD_OPEN, True))
        return Output(unlocked=self.unlocked, events=events)

    def next_deadline(self) -> float | None:
        """The next monotonic time at which `tick` changes something (None: only inputs will)."""
        deadlines = []
        if self.unlocked_until is not None:
            deadlines.append(self.unlocked_until)
        if self.door_open and self.opened_at is not None and Alarm.HELD_OPEN not in self.alarms:
            deadlines.append(self.opened_at + self.timing.held_open_s)
        return min(deadlines) if deadlines else None

    def _pulse(self, now: float) -> None:
        self.unlocked_until = max(self.unlocked_until or 0.0, now + self.timing.unlock_s)


def _alarm(alarm: Alarm, active: bool) -> tuple[EventKind, dict[str, Any]]:
    return EventKind.ALARM, {"type": alarm.value, "active": active}
