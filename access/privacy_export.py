"""Everything the site holds about one member, for their right of access (PRIVACY.md): one section per table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import Session

from access.models import (
    BadgeHistory,
    Balance,
    Booking,
    Credential,
    Erasure,
    Event,
    Guest,
    HubRequest,
    Member,
    Notice,
    Plan,
    Sale,
    Subscription,
    Use,
)
from common.privacy import Row


def _row(obj: Any) -> Row:
    """A model row as a dict of its columns."""
    return {c.key: getattr(obj, c.key) for c in inspect(obj).mapper.column_attrs}


def member_export(session: Session, member_id: str) -> dict[str, list[Row]] | None:
    """The member's data, or None when the site holds no such member."""
    member = session.get(Member, member_id)
    if member is None:
        return None
    subscriptions = session.execute(
        select(Subscription, Plan.name, Balance.amount)
        .join(Plan, Plan.id == Subscription.plan_id)
        .outerjoin(Balance, Balance.subscription_id == Subscription.id)
        .where(Subscription.member_id == member_id)
        .order_by(Subscription.created_at)
    ).all()
    badges = list(session.scalars(select(Credential).where(Credential.member_id == member_id)))
    values = [b.value for b in badges]
    holder = func.json_extract(Event.data, "$.holder")
    uid = func.json_extract(Event.data, "$.uid")
    access_log = session.scalars(
        select(Event)
        .where(Event.kind == "entry", or_(holder == member_id, uid.in_(values)))
        .order_by(Event.device_id, Event.seq)
    ).all()
    erasure = session.get(Erasure, member_id)
    return {
        "member": [_row(member) | {"erased_at": erasure.erased_at if erasure else None}],
        "badges": [_row(b) for b in badges],
        "badge_history": [
            _row(h) for h in session.scalars(select(BadgeHistory).where(BadgeHistory.member_id == member_id))
        ],
        "subscriptions": [_row(s) | {"plan": name, "balance": amount} for s, name, amount in subscriptions],
        "uses": [
            _row(u)
            for u in session.scalars(select(Use).where(Use.holder_id == member_id).order_by(Use.local_date, Use.slot))
        ],
        "access_log": [
            {"at": e.at, "granted": e.data.get("granted"), "reason": e.data.get("reason"), "badge": e.data.get("uid")}
            for e in access_log
        ],
        "sales": [_row(s) for s in session.scalars(select(Sale).where(Sale.member_id == member_id))],
        "bookings": [_row(b) for b in session.scalars(select(Booking).where(Booking.member_id == member_id))],
        "guests": [_row(g) for g in session.scalars(select(Guest).where(Guest.member_id == member_id))],
        "notices": [_row(n) for n in session.scalars(select(Notice).where(Notice.member_id == member_id))],
        "hub_requests": [_row(r) for r in session.scalars(select(HubRequest).where(HubRequest.member_id == member_id))],
    }
