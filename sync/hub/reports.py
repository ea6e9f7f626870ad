"""What the network reads at the hub: carnet balances, overdrafts, monthly usage per member and per site, sales.

Balances are recomputed from the uses received, never stored: a carnet's balance is the half-days credited minus
the half-days spent at any site. Offline sites may spend the same carnet at once; the overdraft report shows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Subquery, exists, func, select
from sqlalchemy.orm import Session

from common.tables import month_bounds
from common.words import PlanKind
from sync.hub.models import Device, DeviceCursor, Member, Plan, RosterProblem, Sale, Site, Subscription, Use


def _carnet_spent(subscriptions: Collection[str] | None = None) -> Subquery:
    """Half-days spent per subscription, from the uses that spent one: only carnets' do (a re-entry, an unlimited
    plan or a pass spends nothing), so the sum reads a third of the uses and yields one row per carnet used."""
    query = select(Use.subscription_id.label("subscription_id"), func.sum(Use.spent).label("spent")).where(
        Use.spent > 0, Use.subscription_id.is_not(None)
    )
    if subscriptions is not None:
        query = query.where(Use.subscription_id.in_(list(subscriptions)))
    return query.group_by(Use.subscription_id).subquery()


def balances(session: Session, subscriptions: Collection[str] | None = None) -> dict[str, int]:
    """Balance of every carnet subscription (or of those among `subscriptions`): credited minus spent."""
    spent = _carnet_spent(subscriptions)
    query = (
        select(Subscription.id, Subscription.credited - func.coalesce(spent.c.spent, 0))
        .join(Plan, Plan.id == Subscription.plan_id)
        .outerjoin(spent, spent.c.subscription_id == Subscription.id)
        .where(Plan.kind == PlanKind.CARNET)
    )
    if subscriptions is not None:
        query = query.where(Subscription.id.in_(list(subscriptions)))
    return {sub_id: int(balance) for sub_id, balance in session.execute(query)}


@dataclass(frozen=True)
class Overdraft:
    subscription_id: str
    member_id: str
    member: str
    plan: str
    credited: int
    spent: int
    balance: int
    spent_by_site: dict[str, int]


def overdrafts(session: Session, sites: Collection[str] | None = None) -> list[Overdraft]:
    """Carnets spent beyond their credit, with how much each site spent (sites that were offline at once).

    With `sites`, only the carnets used at one of them (a site manager's): each still shows every site that spent
    it, since the other sites are where the overdraft comes from. The balance is the network's, whatever `sites`.

    The comparison is made in SQL: a network holds thousands of carnets and only a few are overdrawn, so only those
    few rows are read (loading every carnet with its member and plan cost the page most of its time, bench.hub)."""
    spent = _carnet_spent()
    query = (
        select(
            Subscription.id,
            Member.id,
            Member.first_name,
            Member.last_name,
            Plan.name,
            Subscription.credited,
            spent.c.spent,
        )
        .join(spent, spent.c.subscription_id == Subscription.id)
        .join(Member, Member.id == Subscription.member_id)
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(Plan.kind == PlanKind.CARNET, spent.c.spent > Subscription.credited)
    )
    if sites is not None:
        # Checked on the few overdrawn carnets only, through the uses' index on the subscription.
        used_here = exists().where(Use.subscription_id == Subscription.id, Use.site_id.in_(sorted(sites)))
        query = query.where(used_here)
    rows = session.execute(query).all()
    by_site: dict[str, dict[str, int]] = {}
    if rows:
        for sub_id, site, n in session.execute(
            select(Use.subscription_id, Use.site_id, func.sum(Use.spent))
            .where(Use.subscription_id.in_([r[0] for r in rows]))
            .group_by(Use.subscription_id, Use.site_id)
        ):
            by_site.setdefault(str(sub_id), {})[site] = int(n or 0)
    out = [
        Overdraft(
            sub_id,
            member_id,
            f"{first_name} {last_name}".strip(),  # Member.full_name, without loading the member
            plan,
            credited,
            int(total),
            credited - int(total),
            by_site.get(sub_id, {}),
        )
        for sub_id, member_id, first_name, last_name, plan, credited, total in rows
    ]
    # Most overdrawn first, then by name: the same order on every load and on either database.
    return sorted(out, key=lambda o: (o.balance, o.member, o.subscription_id))


@dataclass(frozen=True)
class MemberUsage:
    member_id: str
    member: str
    by_site: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_site.values())


def _in_month(year: int, month: int, sites: Collection[str] | None) -> list[ColumnElement[bool]]:
    """The uses of a month, at `sites` only when given: a site manager's reports count their sites in SQL rather
    than the whole network filtered afterwards (that cost a manager's /usage most of its time, bench.hub)."""
    start, end = month_bounds(year, month)
    where = [Use.local_date >= start, Use.local_date < end]
    if sites is not None:
        where.append(Use.site_id.in_(sorted(sites)))
    return where


def monthly_usage_by_member(
    session: Session, year: int, month: int, sites: Collection[str] | None = None
) -> list[MemberUsage]:
    """Half-days used in a month by each member (every use counts, spent from a carnet or not), per site; with
    `sites`, the uses at those sites only (a roaming member's others are left out), and members with none there too.

    Names come with the counts, in one query: a busy month has thousands of members, and reading them back by
    id (a parameter each) as full rows cost more than counting (bench.hub). Walk-ins' passes have no member row and
    are left out."""
    rows = session.execute(
        select(Use.holder_id, Member.first_name, Member.last_name, Use.site_id, func.count())
        .join(Member, Member.id == Use.holder_id)
        .where(*_in_month(year, month, sites))
        .group_by(Use.holder_id, Member.first_name, Member.last_name, Use.site_id)
    )
    per_holder: dict[str, dict[str, int]] = {}
    names: dict[str, str] = {}
    for holder, first_name, last_name, site, count in rows:
        per_holder.setdefault(holder, {})[site] = int(count)
        names[holder] = f"{first_name} {last_name}".strip()  # Member.full_name
    usage = [MemberUsage(h, names[h], by_site) for h, by_site in per_holder.items()]
    return sorted(usage, key=lambda u: (-u.total, u.member, u.member_id))


@dataclass(frozen=True)
class UsagePage:
    members: int  # members who used a site (of `sites`) in the month, on every page
    rows: list[MemberUsage]


def monthly_usage_page(
    session: Session, year: int, month: int, sites: Collection[str] | None = None, *, offset: int, limit: int
) -> UsagePage:
    """One page of `monthly_usage_by_member`: most half-days first, then by name (the database's collation).

    Ranked and cut in SQL: a month of the network has thousands of members, and building and rendering every row
    for a page that shows fifty cost the page most of its time (bench.hub). The uses are counted per member before
    the names are joined, and only the page's members are then counted per site."""
    where = _in_month(year, month, sites)
    counts = select(Use.holder_id, func.count().label("n")).where(*where).group_by(Use.holder_id).subquery()
    ranked = session.execute(
        select(counts.c.holder_id, Member.first_name, Member.last_name, func.count().over())
        .join(Member, Member.id == counts.c.holder_id)
        .order_by(counts.c.n.desc(), Member.first_name, Member.last_name, counts.c.holder_id)
        .limit(limit)
        .offset(offset)
    ).all()
    if not ranked:
        # Past the last page the window has no row to carry the count: counted on its own (rare: a stale link).
        total = session.execute(
            select(func.count()).select_from(counts.join(Member, Member.id == counts.c.holder_id))
        ).scalar_one()
        return UsagePage(int(total), [])
    by_site: dict[str, dict[str, int]] = {}
    for holder, site, count in session.execute(
        select(Use.holder_id, Use.site_id, func.count())
        .where(*where, Use.holder_id.in_([r[0] for r in ranked]))
        .group_by(Use.holder_id, Use.site_id)
    ):
        by_site.setdefault(holder, {})[site] = int(count)
    rows = [
        MemberUsage(holder, f"{first_name} {last_name}".strip(), by_site.get(holder, {}))
        for holder, first_name, last_name, _members in ranked
    ]
    return UsagePage(int(ranked[0][3]), rows)


def monthly_usage_by_site(
    session: Session, year: int, month: int, sites: Collection[str] | None = None
) -> dict[str, dict[str, int]]:
    """Per site (of `sites` when given): half-day uses by members, by walk-in passes, and all together, in a month."""
    rows = session.execute(
        select(Use.site_id, Use.pass_id.is_not(None), func.count())
        .where(*_in_month(year, month, sites))
        .group_by(Use.site_id, Use.pass_id.is_not(None))
    )
    out: dict[str, dict[str, int]] = {}
    for site, is_pass, count in rows:
        entry = out.setdefault(site, {"members": 0, "passes": 0, "total": 0})
        entry["passes" if is_pass else "members"] += int(count)
        entry["total"] += int(count)
    return out


# Where a half-day was used: the open space (no resource), or the kind of room or office booked.
USAGE_PLACES = ("open_space", "offices", "meeting_room", "other_rooms")
_PLACE_OF_KIND = {None: "open_space", "office": "offices", "meeting_room": "meeting_room"}


def monthly_usage_by_place(
    session: Session, year: int, month: int, sites: Collection[str] | None = None
) -> dict[str, dict[str, int]]:
    """Per site (of `sites` when given): the month's half-day uses in the open space, in offices, in the meeting
    room and in other rooms (phone boxes), apart and together (`total`): what the funders count."""
    rows = session.execute(
        select(Use.site_id, Use.resource_kind, func.count())
        .where(*_in_month(year, month, sites))
        .group_by(Use.site_id, Use.resource_kind)
    )
    out: dict[str, dict[str, int]] = {}
    for site, kind, count in rows:
        entry = out.setdefault(site, dict.fromkeys((*USAGE_PLACES, "total"), 0))
        entry[_PLACE_OF_KIND.get(kind, "other_rooms")] += int(count)
        entry["total"] += int(count)
    return out


def _sales_in_month(year: int, month: int, sites: Collection[str] | None) -> list[ColumnElement[bool]]:
    start, end = month_bounds(year, month)
    where = [Sale.local_date >= start, Sale.local_date < end]
    if sites is not None:
        where.append(Sale.site_id.in_(sorted(sites)))
    return where


def sales_in_month(
    session: Session,
    year: int,
    month: int,
    sites: Collection[str] | None = None,
    *,
    offset: int = 0,
    limit: int | None = None,
) -> Sequence[Sale]:
    """The month's sales (at `sites` when given) in the order they were made; `offset` and `limit` cut a page."""
    query = select(Sale).where(*_sales_in_month(year, month, sites)).order_by(Sale.at, Sale.id)
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return session.execute(query).scalars().all()


def count_sales_in_month(session: Session, year: int, month: int, sites: Collection[str] | None = None) -> int:
    return int(session.execute(select(func.count()).where(*_sales_in_month(year, month, sites))).scalar_one())


@dataclass(frozen=True)
class DeviceView:
    site_id: str
    site: str
    device_id: str
    label: str
    registered: bool
    active: bool
    online: bool
    last_seen: dt.datetime | None
    backlog: int | None
    stored_seq: int
    oldest_unsent_at: dt.datetime | None
    roster_version: int | None
    site_roster_version: int
    clock_ok: bool | None
    door: str | None
    alarms: list[str]
    reader: str | None
    roster_issued_at: dt.datetime | None = None
    roster_failed_at: dt.datetime | None = None
    roster_failure: str | None = None

    @property
    def roster_behind(self) -> bool:
        return self.roster_version is None or self.roster_version < self.site_roster_version


def devices(
    session: Session, sites: frozenset[str] | None = None, *, include_removed: bool = False
) -> list[DeviceView]:
    """The doors of the network (or of `sites`): online or not, backlog, how far the hub has their events, the
    roster they applied against the site's latest, and the health they report."""
    query = (
        select(Device, Site.name, Site.roster_version, DeviceCursor.seq)
        .join(Site, Site.id == Device.site_id)
        .outerjoin(DeviceCursor, (DeviceCursor.site_id == Device.site_id) & (DeviceCursor.device_id == Device.id))
        .order_by(Device.site_id, Device.id)
    )
    if sites is not None:
        query = query.where(Device.site_id.in_(sorted(sites)))
    if not include_removed:
        query = query.where(Device.active)
    return [
        DeviceView(
            d.site_id,
            name,
            d.id,
            d.label,
            d.registered_at is not None,
            d.active,
            d.online,
            d.last_seen,
            d.backlog,
            int(seq or 0),
            d.oldest_unsent_at,
            d.roster_version,
            int(site_version or 0),
            d.clock_ok,
            d.door,
            list(d.alarms or []),
            d.reader,
            d.roster_issued_at,
            d.roster_failed_at,
            d.roster_failure,
        )
        for d, name, site_version, seq in session.execute(query)
    ]


def roster_problems(session: Session) -> list[str]:
    """The rows the keeper left out of every roster at its last pass (a value a door would refuse)."""
    return list(session.execute(select(RosterProblem.problem).order_by(RosterProblem.id)).scalars())
