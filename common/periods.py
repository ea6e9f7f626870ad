"""How long a renewal runs, one rule for the appliance and the hub.

A plan bought for whole months renews for as many months, from the same day: to the day before that day in the
month it ends, or to the last day of that month when it has no such day (from 31 January: to 28 or 29 February).
Any other period renews for as many days. A period without dates renews for one month.
"""

from __future__ import annotations

import calendar
import datetime as dt

# The longest period recognised as whole months (a year's subscription).
_MAX_MONTHS = 12


def months_end(start: dt.date, months: int) -> dt.date:
    """The last day of `months` months from `start`: the day before the same day, or the month's last day."""
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    last = calendar.monthrange(year, month)[1]
    if start.day > last:
        return dt.date(year, month, last)
    return dt.date(year, month, start.day) - dt.timedelta(days=1)


def whole_months(valid_from: dt.date, valid_until: dt.date) -> int | None:
    """How many whole months a period spans (see `months_end`), or None when it is not whole months."""
    for months in range(1, _MAX_MONTHS + 1):
        end = months_end(valid_from, months)
        if end == valid_until:
            return months
        if end > valid_until:
            return None
    return None


def next_period(valid_from: dt.date | None, valid_until: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The period a renewal covers: from the day after the current one ends (today if it has ended already), for
    as long as the current one lasted."""
    start = today if valid_until is None or valid_until < today else valid_until + dt.timedelta(days=1)
    if valid_from is None or valid_until is None:
        return start, months_end(start, 1)
    months = whole_months(valid_from, valid_until)
    if months is not None:
        return start, months_end(start, months)
    return start, start + (valid_until - valid_from)
