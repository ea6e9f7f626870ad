"""What the wall display shows, read from the database: who is in now, today's half-days, the month so far.

Who is "in now": the door sees people come in, not go out (the exit button is not personal), so the display
counts the distinct holders - members and walk-ins - with a half-day use in the current slot of today: a first
granted entry in a slot always records a use, and a re-entry does not add one. Someone who left at 10:00 still
counts until noon; someone who stays from the morning into the afternoon counts again once they badge in the
afternoon. Outside the slots' hours the current slot is the nearest one (before the morning: the morning; in the
evening: the afternoon), as for charging. The morning and afternoon figures are the same count for each slot of
today, and the month's figure is every use of the month up to today, which is what the funders' target counts.

A booked half-day of a room or an office is a use too (its `resource_id` set): it counts in the month, shown apart
by kind of place (open space, offices, meeting rooms) and together. "Present now" and today's morning and afternoon
are the open space's, against its capacity: a meeting room booked for the afternoon is not a seat taken. Today's
board lists the site's active resources with their morning and afternoon, free or booked, and the booker's first
name only when the site shows names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access.counts import open_space_by_slot
from access.ledger import SlotRules, slot_at
from access.models import Booking, Event, Resource, Use
from common.words import PASS_KINDS, EventKind, Slot

ARRIVALS_SHOWN = 8
# Entries read back to find the latest granted ones: refusals in between (a queue of unknown cards) are skipped.
ARRIVALS_SCANNED = 60
# The month's split, in the order the wall shows it; None is the open space (a use with no resource).
PLACE_KINDS = ("open_space", "office", "meeting_room", "phone_box")
# Rows of today's board the wall has room for; a bigger site's further resources are counted, not drawn.
BOARD_ROWS = 8


@dataclass(frozen=True)
class BoardSlot:
    booked: bool
    first_name: str | None = None  # None when the site does not show names


@dataclass(frozen=True)
class BoardRow:
    name: str
    kind: str
    morning: BoardSlot
    afternoon: BoardSlot


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
    # The month's uses by kind of place (PLACE_KINDS), and each day's uses in rooms and offices (in `daily` too).
    month_split: dict[str, int] = field(default_factory=dict)
    daily_booked: dict[dt.date, int] = field(default_factory=dict)
    board: tuple[BoardRow, ...] = ()
    board_more: int = 0  # active resources beyond BOARD_ROWS

    @property
    def has_resources(self) -> bool:
        return bool(self.board) or any(self.month_split.get(kind) for kind in PLACE_KINDS[1:])

    @property
    def split_shown(self) -> tuple[tuple[str, int], ...]:
        """The kinds of place the wall names: the open space, and each kind the site has or has counted."""
        kinds = {row.kind for row in self.board}
        return tuple(
            (kind, self.month_split.get(kind, 0))
            for kind in PLACE_KINDS
            if kind == "open_space" or kind in kinds or self.month_split.get(kind)
        )

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
    """The display's figures at the instant `now` (UTC-aware); names (arrivals, bookers) only `with_arrivals`."""
    ref = slot_at(now, rules)
    today = ref.date
    by_slot = open_space_by_slot(session, site_id, today)
    month_start = today.replace(day=1)
    kinds = dict(session.execute(select(Resource.id, Resource.kind)).all())
    daily: dict[dt.date, int] = {}
    daily_booked: dict[dt.date, int] = {}
    month_split = dict.fromkeys(PLACE_KINDS, 0)
    for day, resource_id, count in session.execute(
        select(Use.local_date, Use.resource_id, func.count())
        .where(Use.site_id == site_id, Use.local_date >= month_start, Use.local_date <= today)
        .group_by(Use.local_date, Use.resource_id)
    ):
        daily[day] = daily.get(day, 0) + int(count)
        if resource_id is None:
            month_split["open_space"] += int(count)
            continue
        daily_booked[day] = daily_booked.get(day, 0) + int(count)
        kind = kinds.get(resource_id, "office")
        month_split[kind if kind in month_split else "office"] += int(count)
    arrivals = recent_arrivals(session, today, rules) if with_arrivals else ()
    board, more = today_board(session, today, with_names=with_arrivals)
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
        month_split=month_split,
        daily_booked=daily_booked,
        board=board,
        board_more=more,
    )


def first_name(name: str) -> str:
    """The first word of what the booker typed: the wall never shows a surname."""
    words = name.split()
    return words[0][:24] if words else ""


def today_board(session: Session, today: dt.date, with_names: bool) -> tuple[tuple[BoardRow, ...], int]:
    """The active resources (meeting rooms first, then offices, then phone boxes, by name) with today's morning and
    afternoon; and how many more resources there are than the wall shows."""
    order = {kind: i for i, kind in enumerate(("meeting_room", "office", "phone_box"))}
    resources = sorted(
        session.execute(select(Resource.id, Resource.name, Resource.kind).where(Resource.active.is_(True))),
        key=lambda r: (order.get(r[2], len(order)), r[1].casefold()),
    )
    shown = resources[:BOARD_ROWS]
    booked: dict[tuple[str, str], str] = {}
    if shown:
        for resource_id, slot, name in session.execute(
            select(Booking.resource_id, Booking.slot, Booking.name).where(
                Booking.local_date == today,
                Booking.cancelled_at.is_(None),
                Booking.resource_id.in_([r[0] for r in shown]),
            )
        ):
            booked[(resource_id, slot)] = name

    def cell(resource_id: str, slot: Slot) -> BoardSlot:
        if (resource_id, slot) not in booked:
            return BoardSlot(False)
        return BoardSlot(True, first_name(booked[(resource_id, slot)]) if with_names else None)

    rows = tuple(BoardRow(name, kind, cell(rid, Slot.MORNING), cell(rid, Slot.AFTERNOON)) for rid, name, kind in shown)
    return rows, len(resources) - len(shown)


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
