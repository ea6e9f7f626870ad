"""One small interface per device at the door, and the values they report.

The door daemon depends on these, not on gpiozero or nfcpy, so a simulated device and a real one are
interchangeable. Callbacks run on a device thread: they must return quickly (hand the event to a queue).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

IndicatorPart = Literal["green", "red", "buzzer"]
INDICATOR_PARTS: tuple[IndicatorPart, ...] = ("green", "red", "buzzer")

ReaderState = Literal["stopped", "ok", "reopening", "error"]


@dataclass(frozen=True)
class Tap:
    """A badge presented to the reader: its UID in upper-case hex, and when nfcpy connected to it."""

    uid: str
    connected_ns: int  # time.monotonic_ns() at nfcpy's on-connect


@dataclass(frozen=True)
class ReaderHealth:
    """What the daemon can show about the reader."""

    state: ReaderState  # ok | reopening (fault seen, reopening) | error (reopen failed, retrying) | stopped
    detail: str  # French, empty when ok
    last_seen_ns: int | None  # time.monotonic_ns() of the reader loop's last iteration
    reopens: int  # how many times the reader was reopened since start()


class Lock(Protocol):
    """The door's lock relay. Built locked; `close()` locks before releasing the pin."""

    def lock(self) -> None: ...

    def unlock(self) -> None: ...

    @property
    def is_unlocked(self) -> bool: ...

    def close(self) -> None: ...


class DoorSensor(Protocol):
    """Reed switch on the door; `on_change(is_open)` after the level has settled."""

    on_change: Callable[[bool], None] | None

    @property
    def is_open(self) -> bool: ...

    def close(self) -> None: ...


class ExitButton(Protocol):
    """Request-to-exit button inside; `on_press()` once per settled press."""

    on_press: Callable[[], None] | None

    @property
    def is_pressed(self) -> bool: ...

    def close(self) -> None: ...


class Indicator(Protocol):
    """Green and red lights and a buzzer; a part that is not fitted ignores every call."""

    def has(self, part: IndicatorPart) -> bool: ...

    def is_on(self, part: IndicatorPart) -> bool: ...

    def on(self, part: IndicatorPart) -> None: ...

    def off(self, part: IndicatorPart) -> None: ...

    def blink(self, part: IndicatorPart, on_s: float = 0.2, off_s: float = 0.2, times: int | None = 1) -> None: ...

    def all_off(self) -> None: ...

    def close(self) -> None: ...


class Reader(Protocol):
    """A badge reader that calls its `on_tap(Tap)` once per presentation, and recovers by itself."""

    path: str  # where it is (nfcpy's path), for the log and the manager

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def health(self) -> ReaderHealth: ...
