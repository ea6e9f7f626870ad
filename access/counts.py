"""The site's counts as the wall display and Home Assistant say them: who is in now (the open space's holders with
a half-day use in the current slot: the door sees people come in, not go out), today's half-days and the month's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access.ledger import SlotRules, slot_at
from access.models import Use


def open_space_by_slot(session: Session, site_id: str, day: dt.date) -> dict[str, int]:
    """The open space's half-day uses of `day`, by slot (a room's or an office's booking is not a seat taken)."""
    rows = session.execute(
        select(Use.slot, func.count())
        .where(Use.site_id == site_id, Use.local_date == day, Use.resource_id.is_(None))
        .group_by(Use.slot)
    )
    return {str(slot): int(count) for slot, count in rows}


@dataclass(frozen=True)
class SiteCounts:
    present: int  # in the open space now (the current slot's uses)
    today: int  # every half-day used today, rooms and offices included
    month: int  # every half-day used this month up to today: what the funders count


def site_counts(session: Session, site_id: str, now: dt.datetime, rules: SlotRules) -> SiteCounts:
    """The counts at the instant `now` (UTC-aware)."""
    ref = slot_at(now, rules)
    by_slot = open_space_by_slot(session, site_id, ref.date)

    def uses(first: dt.date) -> int:
        query = select(func.count()).where(Use.site_id == site_id, Use.local_date >= first, Use.local_date <= ref.date)
        return int(session.scalar(query) or 0)

    return SiteCounts(by_slot.get(ref.slot, 0), uses(ref.date), uses(ref.date.replace(day=1)))
