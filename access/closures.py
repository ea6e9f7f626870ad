"""Closure days of a site, as pure code: a time-limited right (a week or month pass, a dated plan) is not charged
for the days the site is closed, so its last day moves on by as many open days as closures fell inside it.

No database here: the closures are a set of local dates, loaded by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

DAY = dt.timedelta(days=1)
# Closures followed one after another at most this long (a whole summer); past it the end stops moving, so a
# mistaken calendar cannot make a right last for ever.
MAX_EXTENSION_DAYS = 120


def extended_until(valid_from: dt.date, valid_until: dt.date, closures: Collection[dt.date]) -> dt.date:
    """The last day of a right bought for [valid_from, valid_until] once the closed days inside it are given back.

    The right covers as many open days as the span has days; a closure met while extending extends it again.
    """
    if valid_until < valid_from or not closures:
        return valid_until
    owed = sum(1 for day in closures if valid_from <= day <= valid_until)
    end = valid_until
    limit = valid_until + dt.timedelta(days=MAX_EXTENSION_DAYS)
    while owed > 0 and end < limit:
        end += DAY
        if end not in closures:
            owed -= 1
    return end
