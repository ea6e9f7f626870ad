"""The funders' report, computed once for the hub and the appliance: half-day uses by kind against the target,
distinct people, new members, members who came back, uses per weekday and slot, and the 12-month trend.

Each side describes its uses as one query of "facts" (`FACT_COLUMNS`), built from its own tables: the uses, and
the subscriptions, passes and bookings they name by id. Never from names or the access log's payloads, so the
figures stay the same once the log is reduced after three months and a member is erased. Everything here is
counted in SQL on that query (a network's year is half a million uses) and on either database.

The definitions a funder reads are `DEFINITIONS`: the page and the PDF print them as they are.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
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

from common.i18n import _
from common.tables import month_bounds

# What a use is, by where and by whom (the `kind` of a fact), in the order reports show them.
KINDS = ("members", "passes", "guests", "offices", "meeting_room", "other_rooms")
# Who a person is (the `who` of a fact): a member, a walk-in (a pass, or a room booked without membership), a
# member's guest.
WHO = ("member", "walk_in", "guest")
SLOTS = ("morning", "afternoon")
# The columns a side's facts query has, one row per half-day use: `person` identifies who used it (a member's id,
# a pass's id, a walk-in booking's id, a guest's id) and `member` is the member's id when a member used it.
FACT_COLUMNS = ("site_id", "local_date", "slot", "kind", "who", "person", "member")
TREND_MONTHS = 12
FIRST_YEAR = 2000
Where = Sequence[ColumnElement[bool]]
Column = ColumnElement[Any] | QueryableAttribute[Any]


class PeriodError(ValueError):
    """Not a month or a year the report can be made for: the French reason."""


@dataclass(frozen=True, order=True)
class Period:
    """A month (`month` 1 to 12) or a whole year (`month` None)."""

    year: int
    month: int | None = None

    @classmethod
    def parse(cls, raw: str | None) -> Period:
        """'2026-11' (a month) or '2026' (a year); PeriodError with the reason otherwise."""
        text = (raw or "").strip()
        if re.fullmatch(r"\d{4}", text):
            period = cls(int(text))
        elif re.fullmatch(r"\d{4}-\d{2}", text):
            period = cls(int(text[:4]), int(text[5:]))
            if not 1 <= (period.month or 0) <= 12:
                raise PeriodError(_("Période « %(p)s » : le mois doit être entre 01 et 12.", p=text))
        else:
            raise PeriodError(_("Période « %(p)s » : attendu AAAA-MM (un mois) ou AAAA (une année).", p=text[:20]))
        if not FIRST_YEAR <= period.year <= 9998:
            raise PeriodError(_("Période « %(p)s » : année hors limites.", p=text))
        return period

    @property
    def key(self) -> str:
        return f"{self.year:04d}" if self.month is None else f"{self.year:04d}-{self.month:02d}"

    @property
    def months(self) -> list[tuple[int, int]]:
        return [(self.year, m) for m in range(1, 13)] if self.month is None else [(self.year, self.month)]

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.month or 1, 1)

    @property
    def end(self) -> dt.date:
        """The day after the period: [start, end)."""
        return dt.date(self.year + 1, 1, 1) if self.month is None else month_bounds(self.year, self.month)[1]

    @property
    def trend(self) -> list[tuple[int, int]]:
        """The 12 months ending with the period's last month."""
        last = (self.year, self.month or 12)
        return [_shift(last, -i) for i in range(TREND_MONTHS - 1, -1, -1)]


def _shift(month: tuple[int, int], by: int) -> tuple[int, int]:
    index = month[0] * 12 + month[1] - 1 + by
    return index // 12, index % 12 + 1


@dataclass
class Figures:
    """The report's figures for one site, or for several together (the network)."""

    monthly_target: int = 0
    uses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    people: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WHO, 0))
    new_members: int = 0
    came_back: int = 0
    # (weekday: 0 Monday .. 6 Sunday, slot) -> uses
    week: dict[tuple[int, str], int] = field(default_factory=dict)
    # (year, month) -> uses by kind, for the 12 months of the trend
    trend: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.uses.values())

    @property
    def people_total(self) -> int:
        return sum(self.people.values())

    def weekday(self, day: int) -> int:
        return sum(self.week.get((day, slot), 0) for slot in SLOTS)

    def slot(self, slot: str) -> int:
        return sum(self.week.get((day, slot), 0) for day in range(7))

    def trend_total(self, month: tuple[int, int]) -> int:
        return sum(self.trend.get(month, {}).values())


@dataclass(frozen=True)
class SiteFigures:
    site_id: str
    name: str
    figures: Figures


@dataclass(frozen=True)
class Report:
    """The period's figures for each site and for all of them together (`network`)."""

    period: Period
    sites: list[SiteFigures]
    network: Figures

    def target(self, figures: Figures) -> int:
        """The period's target: the monthly target, times twelve for a year."""
        return figures.monthly_target * len(self.period.months)

    def percent(self, figures: Figures) -> int | None:
        """The uses as a share of the target, rounded; None without a target."""
        target = self.target(figures)
        return round(100 * figures.total / target) if target else None


@dataclass(frozen=True)
class UseColumns:
    """Where a side keeps what a fact is made of: the use's own columns, those of the rows it names by id (the
    subscription it was charged to, the booking it was, the booked resource's kind), and how to join those rows."""

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


def facts(c: UseColumns) -> Subquery:
    """The facts (FACT_COLUMNS) from a side's columns: the one place that says what a use is and whose.

    A booked half-day is a room's or an office's, whoever booked it; a use with a pass is a walk-in's; a use
    charged to a subscription of someone else than its holder is a member's guest's; any other is a member's own.
    Three parts, so that each use is joined only to the rows it names: a year of a network is half a million uses,
    and joining every one of them to the bookings cost the yearly report a third of its time (bench.report)."""
    where = (c.site_id.label("site_id"), c.local_date.label("local_date"), c.slot.label("slot"))
    booked = c.resource_id.is_not(None)
    room = case(
        (c.resource_kind == "office", literal("offices")),
        (c.resource_kind == "meeting_room", literal("meeting_room")),
        else_=literal("other_rooms"),
    )
    booker = case((c.booking_member.is_not(None), literal("member")), else_=literal("walk_in"))
    rooms = c.join_booking(
        select(
            *where,
            room.label("kind"),
            booker.label("who"),
            func.coalesce(c.booking_member, c.booking_group, c.holder_id).label("person"),
            c.booking_member.label("member"),
        )
    ).where(booked)
    passes = select(
        *where,
        literal("passes").label("kind"),
        literal("walk_in").label("who"),
        c.pass_id.label("person"),
        cast(null(), String).label("member"),
    ).where(c.resource_id.is_(None), c.pass_id.is_not(None))
    guest = and_(c.subscription_member.is_not(None), c.subscription_member != c.holder_id)
    own = c.join_subscription(
        select(
            *where,
            case((guest, literal("guests")), else_=literal("members")).label("kind"),
            case((guest, literal("guest")), else_=literal("member")).label("who"),
            c.holder_id.label("person"),
            case((guest, cast(null(), String)), else_=c.holder_id).label("member"),
        )
    ).where(c.resource_id.is_(None), c.pass_id.is_(None))
    return union_all(rooms, passes, own).subquery("facts")


def compute(session: Session, facts: Subquery, period: Period, sites: Mapping[str, tuple[str, int]]) -> Report:
    """The report of `period` for `sites` (id -> (name, monthly target)), from a side's `facts` (its rows outside
    `sites` are not counted). Three passes over the uses: the counts, the people, the members' months."""
    ids = sorted(sites)
    per_site = {site: Figures(monthly_target=sites[site][1]) for site in ids}
    network = Figures(monthly_target=sum(target for _name, target in sites.values()))
    if ids:
        f = facts.c
        trend_start = dt.date(*period.trend[0], 1)
        here = f.site_id.in_(ids)
        _count_uses(
            session, facts, [here, f.local_date >= trend_start, f.local_date < period.end], period, per_site, network
        )
        _count_people(
            session, facts, [here, f.local_date >= period.start, f.local_date < period.end], per_site, network
        )
        _count_returns(session, facts, here, period, per_site, network)
    return Report(period, [SiteFigures(s, sites[s][0], per_site[s]) for s in ids], network)


def _month_index(date: Column) -> ColumnElement[int]:
    """Months since year 0: consecutive months are consecutive numbers."""
    return _int(extract("year", date)) * 12 + _int(extract("month", date)) - 1


def _index(month: tuple[int, int]) -> int:
    return month[0] * 12 + month[1] - 1


def _count_uses(
    session: Session, facts: Subquery, where: Where, period: Period, per_site: dict[str, Figures], network: Figures
) -> None:
    """Uses by kind per month of the trend, and per weekday and slot in the period, in one pass."""
    f = facts.c
    month = _month_index(f.local_date)
    dow = _int(extract("dow", f.local_date))  # 0 is Sunday on both databases
    keys = (f.site_id, month, f.kind, dow, f.slot)
    in_period = {_index(m) for m in period.months}
    for site, index, kind, day, slot, count in session.execute(
        select(*keys, func.count()).where(*where).group_by(*keys)
    ):
        key, n = _from_index(int(index)), int(count)
        weekday = ((int(day) + 6) % 7, str(slot))
        for figures in (per_site[site], network):
            figures.trend.setdefault(key, dict.fromkeys(KINDS, 0))[kind] += n
            if int(index) in in_period:
                figures.uses[kind] += n
                figures.week[weekday] = figures.week.get(weekday, 0) + n


def _count_people(
    session: Session, facts: Subquery, where: Where, per_site: dict[str, Figures], network: Figures
) -> None:
    """Distinct people per site, and in the network (a person who came to two sites is one person there)."""
    f = facts.c
    # Made distinct first, then counted: PostgreSQL hashes a DISTINCT but sorts for a COUNT(DISTINCT).
    seen = select(f.site_id, f.who, f.person).where(*where).distinct().cte("seen")
    per_site_rows = select(seen.c.site_id, seen.c.who, func.count()).group_by(seen.c.site_id, seen.c.who)
    people = select(seen.c.who, seen.c.person).distinct().subquery("people")
    network_rows = select(literal("").label("site_id"), people.c.who, func.count()).group_by(people.c.who)
    for site, who, count in session.execute(union_all(per_site_rows, network_rows)):
        (per_site[site] if site else network).people[who] = int(count)


def _count_returns(
    session: Session,
    facts: Subquery,
    here: ColumnElement[bool],
    period: Period,
    per_site: dict[str, Figures],
    network: Figures,
) -> None:
    """New members and members who came back, from the months each member used each site: per (site, member),
    one bit per month from the month before the period to its last, and whether they had come before that."""
    f = facts.c
    first = _index(period.months[0]) - 1
    last = _index(period.months[-1])
    month = _month_index(f.local_date)
    # -1: a month before the window (only whether there was one matters).
    bit = case((f.local_date >= dt.date(*_from_index(first), 1), month - first), else_=literal(-1))
    used = (
        select(f.site_id, f.member, bit.label("bit"))
        .where(here, f.member.is_not(None), f.local_date < period.end)
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


def _from_index(index: int) -> tuple[int, int]:
    return index // 12, index % 12 + 1


def _returns(months: int, before: bool, span: int) -> tuple[int, int]:
    """(new, came back) for one member: `months` has bit i for the i-th month from the one before the period (bit
    0) to the period's last (bit `span`); `before` says they had come earlier still. See `definitions`."""
    in_period = [i for i in range(1, span + 1) if months >> i & 1]
    if not in_period:
        return 0, 0
    new = int(not before and not months & 1)
    back = any(not months >> (i - 1) & 1 and (before or months & ((1 << (i - 1)) - 1)) for i in in_period)
    return new, int(back)


def _int(expression: ColumnElement[Any]) -> ColumnElement[int]:
    # PostgreSQL's EXTRACT gives a numeric, SQLite's an integer: read as an integer on both.
    return cast(expression, Integer)


def definitions() -> list[tuple[str, str]]:
    """What each figure counts, in the reader's language: printed on the page and in the PDF."""
    return [
        (
            _("Demi-journée"),
            _(
                "Un matin ou un après-midi (aux heures du site) passé sur place par une personne. Une personne qui "
                "entre plusieurs fois dans la même demi-journée compte une fois."
            ),
        ),
        (_("Espace ouvert, membres"), _("Demi-journées de l'espace ouvert par les membres (carnet ou abonnement).")),
        (_("Espace ouvert, passes"), _("Demi-journées de l'espace ouvert par des visiteurs avec un pass acheté.")),
        (_("Invités"), _("Demi-journées des invités d'un membre (entrée par un code d'un jour).")),
        (
            _("Bureaux, salle de réunion, autres salles"),
            _("Demi-journées réservées, par des membres ou des visiteurs. Une réservation annulée ne compte pas."),
        ),
        (
            _("Objectif"),
            _(
                "L'objectif mensuel du site ; pour une année, douze fois l'objectif mensuel ; pour le réseau, la "
                "somme des sites."
            ),
        ),
        (
            _("Personnes distinctes"),
            _(
                "Membres comptés une fois chacun ; chaque pass compte pour une personne (un visiteur qui achète deux "
                "passes compte deux fois) ; de même chaque réservation sans adhésion et chaque invité. Pour le réseau, "
                "un membre venu dans deux sites compte une fois."
            ),
        ),
        (
            _("Nouveaux membres"),
            _("Membres dont la première demi-journée au site (au réseau, pour le réseau) tombe dans la période."),
        ),
        (
            _("Membres revenus"),
            _(
                "Membres venus dans un mois de la période après un mois sans venir, et qui étaient venus avant ce "
                "mois-là. Chaque membre compte une fois dans la période."
            ),
        ),
        (_("Tendance"), _("Les douze mois qui finissent avec le dernier mois de la période.")),
    ]


def weekday_names() -> list[str]:
    return [_("lundi"), _("mardi"), _("mercredi"), _("jeudi"), _("vendredi"), _("samedi"), _("dimanche")]


def kind_names() -> dict[str, str]:
    return {
        "members": _("Espace ouvert, membres"),
        "passes": _("Espace ouvert, passes"),
        "guests": _("Invités"),
        "offices": _("Bureaux"),
        "meeting_room": _("Salle de réunion"),
        "other_rooms": _("Autres salles"),
    }


def who_names() -> dict[str, str]:
    return {"member": _("Membres"), "walk_in": _("Visiteurs"), "guest": _("Invités")}


def slot_names() -> dict[str, str]:
    return {"morning": _("Matin"), "afternoon": _("Après-midi")}


def month_label(month: tuple[int, int]) -> str:
    return f"{month[0]:04d}-{month[1]:02d}"
