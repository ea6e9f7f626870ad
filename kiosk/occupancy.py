"""What the wall display shows, read from the database: who is in now, today's half-days, the month so far.

Who is "in now": the door sees people come in, not go out (the exit button is not personal), so the display
counts the distinct holders - members and walk-ins - with a half-day use in the current slot of today: a first
granted entry in a slot always records a use, and a re-entry does not add one. Someone who left at 10:00 still
counts until noon; someone who stays from the morning into the afternoon counts again once they badge in the
afternoon. Outside the slots' hours the current slot is the nearest one (before the morning: the morning; in the
evening: the afternoon), as for charging. The morning and afternoon figures are the same count for each slot of
today, and the month's figure is every use of the month up to today, which is what the funders' target counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access.ledger import SlotRules, slot_at
from access.models import Event, Use
from common.words import PASS_KINDS, EventKind, Slot

ARRIVALS_SHOWN = 8
# Entries read back to find the latest granted ones: refusals in between (a queue of unknown cards) are skipped.
ARRIVALS_SCANNED = 60


@dataclass(frozen=True)
class Arrival:
    at: dt.datetime  # local time of the site
    first_name: str
    walk_in: bool


@dataclass(frozen=True)
class Occupancy:
    today: dt.date
    slot: str
    inside_hours: bool
    present: int
    capacity: int
    morning: int
    afternoon: int
    month_start: dt.date
    month_uses: int
    target: int
    daily: dict[dt.date, int] = field(default_factory=dict)
    arrivals: tuple[Arrival, ...] = ()

    @property
    def fill_percent(self) -> int:
        return min(100, round(100 * self.present / self.capacity)) if self.capacity else 0

    @property
    def target_percent(self) -> int:
        return round(100 * self.month_uses / self.target) if self.target else 0


def read_occupancy(
    session: Session,
    site_id: str,
    now: dt.datetime,
    rules: SlotRules,
    capacity: int,
    target: int,
    with_arrivals: bool = True,
) -> Occupancy:
    """The display's figures at the instant `now` (UTC-aware)."""
    ref = slot_at(now, rules)
    today = ref.date
    by_slot = dict(
        session.execute(
            select(Use.slot, func.count()).where(Use.site_id == site_id, Use.local_date == today).group_by(Use.slot)
        ).all()
    )
    month_start = today.replace(day=1)
    daily = {
        day: int(count)
        for day, count in session.execute(
            select(Use.local_date, func.count())
            .where(Use.site_id == site_id, Use.local_date >= month_start, Use.local_date <= today)
            .group_by(Use.local_date)
        )
    }
    arrivals = recent_arrivals(session, today, rules) if with_arrivals else ()
    return Occupancy(
        today=today,
        slot=ref.slot,
        inside_hours=ref.inside,
        present=int(by_slot.get(ref.slot, 0)),
        capacity=capacity,
        morning=int(by_slot.get(Slot.MORNING, 0)),
        afternoon=int(by_slot.get(Slot.AFTERNOON, 0)),
        month_start=month_start,
        month_uses=sum(daily.values()),
        target=target,
        daily=daily,
        arrivals=arrivals,
    )


def recent_arrivals(session: Session, today: dt.date, rules: SlotRules) -> tuple[Arrival, ...]:
    """The latest granted entries of today, newest first, with the holder's first name."""
    start = dt.datetime.combine(today, dt.time(0), rules.tz).astimezone(dt.UTC)
    rows = session.execute(
        select(Event.at, Event.data)
        .where(Event.kind == EventKind.ENTRY, Event.at >= start)
        .order_by(Event.at.desc(), Event.seq.desc())
        .limit(ARRIVALS_SCANNED)
    )
    arrivals = []
    for at, data in rows:
        if not isinstance(data, dict) or data.get("granted") is not True:
            continue
        name = data.get("first_name")
        arrivals.append(Arrival(at.astimezone(rules.tz), str(name) if name else "", data.get("plan") in PASS_KINDS))
        if len(arrivals) == ARRIVALS_SHOWN:
            break
    return tuple(arrivals)
