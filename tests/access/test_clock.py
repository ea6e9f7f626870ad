"""The time floor: a Pi without a real-time clock must not stamp events with a date it cannot trust."""

from __future__ import annotations

import datetime as dt

from access.clock import ClockGuard, kernel_synchronised

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def test_untrusted_until_synchronised_once_this_boot() -> None:
    guard = ClockGuard()
    assert guard.check(NOW, kernel_synced=False) is False
    assert guard.floor is None
    assert guard.check(NOW, kernel_synced=True) is True
    assert guard.floor == NOW
    # The network goes away: the clock synchronised this boot stays trusted, and the floor follows it.
    later = NOW + dt.timedelta(hours=5)
    assert guard.check(later, kernel_synced=False) is True
    assert guard.floor == later


def test_a_clock_below_the_floor_is_not_trusted() -> None:
    guard = ClockGuard(floor=NOW, synced_this_boot=True)
    assert guard.check(NOW - dt.timedelta(days=3), kernel_synced=True) is False
    assert guard.floor == NOW  # a wrong clock never lowers the floor
    assert guard.check(NOW + dt.timedelta(seconds=1), kernel_synced=True) is True


def test_trust_always_for_a_site_that_says_so() -> None:
    assert ClockGuard(trust_always=True).check(NOW - dt.timedelta(days=999), kernel_synced=False) is True


def test_kernel_answer_is_a_boolean() -> None:
    assert kernel_synchronised() in (True, False)
