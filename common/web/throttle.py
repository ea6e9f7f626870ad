"""Limits on guessing (passwords, codes, vouchers): after a few failures within a window, a key waits."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class Throttle:
    """After `max_failures` failures within `window_s`, a key is refused for `lockout_s` seconds.

    Kept in memory: a restart clears it, which an attacker at the kiosk cannot cause, and a password hash (0.1 s
    per try) keeps brute force hopeless anyway. `clock` is injectable for tests.
    """

    def __init__(
        self, max_failures: int, window_s: float, lockout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_s(self, key: str) -> float:
        """Seconds until `key` may try again (0 when it may now)."""
        with self._lock:
            return max(0.0, self._locked_until.get(key, 0.0) - self.clock())

    def failure(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while times and times[0] < now - self.window_s:
                times.popleft()
            if len(times) >= self.max_failures:
                self._locked_until[key] = now + self.lockout_s
                times.clear()

    def success(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._locked_until.pop(key, None)
