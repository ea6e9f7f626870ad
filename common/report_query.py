"""The funders' report counted in SQL, on either database, from a side's description of its uses.

Each side says where its columns are (`UseColumns`); `facts` turns them into one row per use (FACT_COLUMNS), the one
place that says what a use is and whose. The report does not read the facts themselves but two counts made of them
(`Counts`): the uses per site, month, weekday, slot and kind (`tally`), and who came to each site in each month
(`presence`). The hub keeps both as tables, brought up to date in the transaction that stores each use
(sync/hub/report_counts.py), because a year of a 50-site network is half a million uses (bench.report) and joining
each to its subscription and booking at every report took seconds; the appliance, one site's uses, derives them
from its facts when asked. `compute` then makes three small passes: the uses, the people, the members' months.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    FromClause,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import QueryableAttribute, Session

from common.report import KINDS, Figures, Period, Report, SiteFigures

Column = ColumnElement[Any] | QueryableAttribute[Any]
Where = Sequence[ColumnElement[bool]]

# The columns of a tally (uses counted) and of a presence (who came where and when), see `Counts`. `month` counts
# months since year 0 (consecutive months are consecutive numbers); `weekday` is SQL's: 0 is Sunday.
TALLY_COLUMNS = ("site_id", "month", "weekday", "slot", "kind", "uses")
PRESENCE_COLUMNS = ("site_id", "month", "who", "person")


@dataclass(frozen=True)
class UseColumns:
    """Where a side keeps what a fact is made of: the use's own columns, those of the rows it names by id (the
    subscription it was charged to, the booking it was, the booked resource's kind), and how to join those rows.
    `device_id`, when a side has it, goes with each fact (the hub keeps its counts per door)."""

    site_id: Column
    local_date: Column
    slot: Column
    holder_id: Column
    pass_id: Column
    resource_id: Column
    resource_kind: Column
    subscription_member: Column  # the member of the subscription charged
    booking_member: Column  # the member who booked, null for a walk-in
    booking_group: Column  # the booking the half-day belongs to
    join_booking: Callable[[Select[Any]], Select[Any]]  # outer joins of a booked half-day's booking (and resource)
    join_subscription: Callable[[Select[Any]], Select[Any]]  # outer join of the subscription charged
    device_id: Column | None = None


def facts(c: UseColumns, where: Where = ()) -> CompoundSelect[Any]:
    """The facts (FACT_COLUMNS, and `device_id` if the side has it) of the uses that `where` keeps, all by default.

    A booked half-day is a room's or an office's, whoever booked it; a use with a pass is a walk-in's; a use
    charged to a subscription of someone else than its holder is a member's guest's; any other is a member's own.
    Three parts, so that each use is joined only to the rows it names."""
    place: list[ColumnElement[Any]] = [
        c.site_id.label("site_id"),
        c.local_date.label("local_date"),
        c.slot.label("slot"),
    ]
    if c.device_id is not None:
        place.append(c.device_id.label("device_id"))
    room = case(
        (c.resource_kind == "office", literal("offices")),
        (c.resource_kind == "meeting_room", literal("meeting_room")),
        else_=literal("other_rooms"),
    )
    booker = case((c.booking_member.is_not(None), literal("member")), else_=literal("walk_in"))
    rooms = c.join_booking(
        select(
            *place,
            room.label("kind"),
            booker.label("who"),
            func.coalesce(c.booking_member, c.booking_group, c.holder_id).label("person"),
            c.booking_member.label("member"),
        )
    ).where(c.resource_id.is_not(None), *where)
    passes = select(
        *place,
        literal("passes").label("kind"),
        literal("walk_in").label("who"),
        c.pass_id.label("person"),
        cast(null(), String).label("member"),
    ).where(c.resource_id.is_(None), c.pass_id.is_not(None), *where)
    guest = and_(c.subscription_member.is_not(None), c.subscription_member != c.holder_id)
    own = c.join_subscription(
        select(
            *place,
            case((guest, literal("guests")), else_=literal("members")).label("kind"),
            case((guest, literal("guest")), else_=literal("member")).label("who"),
            c.holder_id.label("person"),
            case((guest, cast(null(), String)), else_=c.holder_id).label("member"),
        )
    ).where(c.resource_id.is_(None), c.pass_id.is_(None), *where)
    return union_all(rooms, passes, own)


def _int(expression: ColumnElement[Any]) -> ColumnElement[int]:
    # PostgreSQL's EXTRACT gives a numeric, SQLite's an integer: read as an integer on both.
    return cast(expression, Integer)


def month_index(month: tuple[int, int]) -> int:
    """Months since year 0 (a count's `month`): consecutive months are consecutive numbers."""
    return month[0] * 12 + month[1] - 1


def _from_index(index: int) -> tuple[int, int]:
    return index // 12, index % 12 + 1


def _month_index(date: Column) -> ColumnElement[int]:
    """`month_index` in SQL."""
    return _int(extract("year", date)) * 12 + _int(extract("month", date)) - 1


def tally(facts: FromClause, *by: str) -> Select[Any]:
    """The uses among `facts` counted per site, month, weekday, slot and kind (TALLY_COLUMNS), and per the columns
    `by` of the facts too."""
    f = facts.c
    keys = (
        f.site_id,
        _month_index(f.local_date).label("month"),
        _int(extract("dow", f.local_date)).label("weekday"),  # 0 is Sunday on both databases
        f.slot,
        f.kind,
        *(f[name] for name in by),
    )
    return select(*keys, func.count().label("uses")).group_by(*keys)


def presence(facts: FromClause, *by: str) -> Select[Any]:
    """Who used each site in each month (PRESENCE_COLUMNS), once each, and per the columns `by` of the facts too.

    A member is a presence whose `who` is "member": their `person` is their member id (see common/report.py)."""
    f = facts.c
    return select(f.site_id, _month_index(f.local_date).label("month"), f.who, f.person, *(f[n] for n in by)).distinct()


@dataclass(frozen=True)
class Counts:
    """What the report reads: `tallies` (TALLY_COLUMNS, a key may come in several rows to be added up) and
    `presences` (PRESENCE_COLUMNS, a row may come more than once)."""

    tallies: FromClause
    presences: FromClause

    @classmethod
    def of(cls, facts: CompoundSelect[Any]) -> Counts:
        """The counts of a side's facts made when asked, for a side whose uses are few."""
        made = facts.subquery("facts")
        return cls(tally(made).subquery("tallies"), presence(made).subquery("presences"))


def compute(session: Session, counts: Counts, period: Period, sites: Mapping[str, tuple[str, int]]) -> Report:
    """The report of `period` for `sites` (id -> (name, monthly target)), from a side's `counts` (its rows outside
    `sites` are not counted). Three passes: the uses, the people, the members' months."""
    ids = sorted(sites)
    per_site = {site: Figures(monthly_target=sites[site][1]) for site in ids}
    network = Figures(monthly_target=sum(target for _name, target in sites.values()))
    if ids:
        _count_uses(session, counts.tallies, ids, period, per_site, network)
        _count_people(session, counts.presences, ids, period, per_site, network)
        _count_returns(session, counts.presences, ids, period, per_site, network)
    return Report(period, [SiteFigures(s, sites[s][0], per_site[s]) for s in ids], network)


def _count_uses(
    session: Session,
    tallies: FromClause,
    ids: list[str],
    period: Period,
    per_site: dict[str, Figures],
    network: Figures,
) -> None:
    """Uses by kind per month of the trend, and per weekday and slot in the period, in one pass."""
    t = tallies.c
    keys = (t.site_id, t.month, t.kind, t.weekday, t.slot)
    in_trend = (t.month >= month_index(period.trend[0]), t.month <= month_index(period.months[-1]))
    in_period = {month_index(m) for m in period.months}
    for site, index, kind, day, slot, count in session.execute(
        select(*keys, func.sum(t.uses)).where(t.site_id.in_(ids), *in_trend).group_by(*keys)
    ):
        key, n = _from_index(int(index)), int(count)
        weekday = ((int(day) + 6) % 7, str(slot))
        for figures in (per_site[site], network):
            figures.trend.setdefault(key, dict.fromkeys(KINDS, 0))[kind] += n
            if int(index) in in_period:
                figures.uses[kind] += n
                figures.week[weekday] = figures.week.get(weekday, 0) + n


def _count_people(
    session: Session,
    presences: FromClause,
    ids: list[str],
    period: Period,
    per_site: dict[str, Figures],
    network: Figures,
) -> None:
    """Distinct people per site, and in the network (a person who came to two sites is one person there)."""
    p = presences.c
    in_period = (p.month >= month_index(period.months[0]), p.month <= month_index(period.months[-1]))
    # Made distinct first, then counted: PostgreSQL hashes a DISTINCT but sorts for a COUNT(DISTINCT).
    seen = select(p.site_id, p.who, p.person).where(p.site_id.in_(ids), *in_period).distinct().cte("seen")
    per_site_rows = select(seen.c.site_id, seen.c.who, func.count()).group_by(seen.c.site_id, seen.c.who)
    people = select(seen.c.who, seen.c.person).distinct().subquery("people")
    network_rows = select(literal("").label("site_id"), people.c.who, func.count()).group_by(people.c.who)
    for site, who, count in session.execute(union_all(per_site_rows, network_rows)):
        (per_site[site] if site else network).people[who] = int(count)


def _count_returns(
    session: Session,
    presences: FromClause,
    ids: list[str],
    period: Period,
    per_site: dict[str, Figures],
    network: Figures,
) -> None:
    """New members and members who came back, from the months each member used each site: per (site, member),
    one bit per month from the month before the period to its last, and whether they had come before that."""
    p = presences.c
    first = month_index(period.months[0]) - 1
    last = month_index(period.months[-1])
    # -1: a month before the window (only whether there was one matters).
    bit = case((p.month >= first, p.month - first), else_=literal(-1))
    used = (
        select(p.site_id, p.person.label("member"), bit.label("bit"))
        .where(p.site_id.in_(ids), p.who == "member", p.month <= last)
        .distinct()
        .subquery("used")
    )
    one = literal_column("1", Integer)
    mask = func.sum(case((used.c.bit >= 0, one.op("<<")(used.c.bit)), else_=literal_column("0", Integer)))
    rows = session.execute(
        select(used.c.site_id, used.c.member, mask, func.min(used.c.bit)).group_by(used.c.site_id, used.c.member)
    )
    span = last - first
    network_masks: dict[str, tuple[int, bool]] = {}
    for site, member, bits, lowest in rows:
        months, before = int(bits or 0), int(lowest) < 0
        figures = per_site[site]
        new, back = _returns(months, before, span)
        figures.new_members += new
        figures.came_back += back
        known = network_masks.get(member, (0, False))
        network_masks[member] = (known[0] | months, known[1] or before)
    for months, before in network_masks.values():
        new, back = _returns(months, before, span)
        network.new_members += new
        network.came_back += back


def _returns(months: int, before: bool, span: int) -> tuple[int, int]:
    """(new, came back) for one member: `months` has bit i for the i-th month from the one before the period (bit
    0) to the period's last (bit `span`); `before` says they had come earlier still. See `definitions`."""
    in_period = [i for i in range(1, span + 1) if months >> i & 1]
    if not in_period:
        return 0, 0
    new = int(not before and not months & 1)
    back = any(not months >> (i - 1) & 1 and (before or months & ((1 << (i - 1)) - 1)) for i in in_period)
    return new, int(back)
