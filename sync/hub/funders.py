"""The funders' report at the hub: the network's uses described as common/report.py's facts, and its sites.

Every fact comes from the `uses` table and the rows it names by id (the subscription it was charged to, the room
booking it was): a guest's use is one charged to a subscription of another holder, a booking's person is its
member, or the booking itself for a walk-in."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Subquery, and_, case, func, literal, null, select
from sqlalchemy.orm import Session

from common.report import Period, Report, compute
from sync.hub.models import Booking, Site, Subscription, Use


def facts() -> Subquery:
    """One row per use: site, date, slot, kind, who, person, member (common.report.FACT_COLUMNS)."""
    booked = Use.resource_id.is_not(None)
    walk_in_pass = Use.pass_id.is_not(None)
    guest = and_(Subscription.member_id.is_not(None), Subscription.member_id != Use.holder_id)
    kind = case(
        (Use.resource_kind == "office", literal("offices")),
        (Use.resource_kind == "meeting_room", literal("meeting_room")),
        (booked, literal("other_rooms")),
        (walk_in_pass, literal("passes")),
        (guest, literal("guests")),
        else_=literal("members"),
    )
    who = case(
        (booked, case((Booking.holder_id.is_not(None), literal("member")), else_=literal("walk_in"))),
        (walk_in_pass, literal("walk_in")),
        (guest, literal("guest")),
        else_=literal("member"),
    )
    person = case(
        (booked, func.coalesce(Booking.holder_id, Booking.group_id, Use.holder_id)),
        (walk_in_pass, Use.pass_id),
        else_=Use.holder_id,
    )
    member = case(
        (booked, Booking.holder_id),
        (walk_in_pass, null()),
        (guest, null()),
        else_=Use.holder_id,
    )
    return (
        select(
            Use.site_id.label("site_id"),
            Use.local_date.label("local_date"),
            Use.slot.label("slot"),
            kind.label("kind"),
            who.label("who"),
            person.label("person"),
            member.label("member"),
        )
        .outerjoin(Subscription, Subscription.id == Use.subscription_id)
        .outerjoin(Booking, and_(booked, Booking.id == Use.holder_id))
        .subquery("facts")
    )


def report(session: Session, period: Period, sites: Collection[str] | None = None) -> Report:
    """The report of `period` for the network's sites (those of `sites` only, for a site manager)."""
    query = select(Site.id, Site.name, Site.monthly_target)
    if sites is not None:
        query = query.where(Site.id.in_(sorted(sites)))
    chosen = {site: (name or site, int(target or 0)) for site, name, target in session.execute(query)}
    return compute(session, facts(), period, chosen)
