"""Limits on guessing (passwords, re-entry codes, vouchers, card linking), kept per purpose and per guesser.

Failures only decay: each counts for `window_s`, and `max_failures` of them within the window make the guesser
wait until the oldest has aged out. A success forgives nothing, so typing one's own valid code now and then does
not reset a guesser's count. Every attempt, failed or not, also counts against a hard cap per minute and per
client (a client may be several guessers, e.g. browser sessions), so nobody goes faster than `max_per_minute`
whatever they mix in or however often they start afresh. Kept in memory: a restart clears it, which somebody
guessing at a screen cannot cause. `clock` is injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

CAP_WINDOW_S = 60.0
# How many guessers are remembered before the aged ones are swept out.
SWEEP_ABOVE = 10_000


@dataclass(frozen=True)
class Limits:
    """How many failures a window allows, and how many attempts a minute."""

    max_failures: int
    window_s: float
    max_per_minute: int


class Throttle:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, guesser: str, client: str | None = None) -> float:
        """Seconds until `guesser` (of `client`, itself by default) may try again (0 when it may now)."""
        now = self.clock()
        limits = self.limits
        with self._lock:
            failures = self._aged(self._failures, guesser, now - limits.window_s)
            attempts = self._aged(self._attempts, client or guesser, now - CAP_WINDOW_S)
            waits = [0.0]
            if len(failures) >= limits.max_failures:
                waits.append(failures[len(failures) - limits.max_failures] + limits.window_s - now)
            if len(attempts) >= limits.max_per_minute:
                waits.append(attempts[len(attempts) - limits.max_per_minute] + CAP_WINDOW_S - now)
            return max(waits)

    def attempt(self, client: str) -> None:
        """An attempt was let through (counts against the client's cap per minute, whatever its outcome)."""
        with self._lock:
            self._sweep()
            self._attempts.setdefault(client, deque()).append(self.clock())

    def failure(self, guesser: str) -> None:
        """The attempt failed: it counts against the guesser for the window."""
        with self._lock:
            self._failures.setdefault(guesser, deque()).append(self.clock())

    def _sweep(self) -> None:
        # Guessers who never come back would stay in memory for ever; now and then, drop what has aged out.
        if len(self._attempts) + len(self._failures) < SWEEP_ABOVE:
            return
        now = self.clock()
        for key in list(self._failures):
            self._aged(self._failures, key, now - self.limits.window_s)
        for key in list(self._attempts):
            self._aged(self._attempts, key, now - CAP_WINDOW_S)

    @staticmethod
    def _aged(book: dict[str, deque[float]], key: str, since: float) -> deque[float]:
        times = book.get(key)
        if times is None:
            return deque()
        while times and times[0] <= since:
            times.popleft()
        if not times:
            del book[key]
        return times
