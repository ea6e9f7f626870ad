"""The funders' report on the appliance (a standalone site's, or a networked site's own local figures): its uses
described as common/report.py's facts.

Every fact comes from the `uses` table and the rows it names by id (the booked resource's kind, the booking, the
subscription it was charged to), never from names or the access log. One site's uses are few: the report's counts
are made from the facts when asked (the hub, with a network's, keeps them as tables)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CompoundSelect
from sqlalchemy.orm import Session

from access.models import Booking, Resource, Subscription, Use
from common.report import Period, Report
from common.report_query import Counts, UseColumns, compute
from common.report_query import facts as report_facts


def facts() -> CompoundSelect[Any]:
    """One row per use (common.report.FACT_COLUMNS); a booked half-day's kind is its resource's."""
    return report_facts(
        UseColumns(
            Use.site_id,
            Use.local_date,
            Use.slot,
            Use.holder_id,
            Use.pass_id,
            Use.resource_id,
            Resource.kind,
            Subscription.member_id,
            Booking.member_id,
            Booking.group_id,
            join_booking=lambda q: q.outerjoin(Booking, Booking.id == Use.holder_id).outerjoin(
                Resource, Resource.id == Use.resource_id
            ),
            join_subscription=lambda q: q.outerjoin(Subscription, Subscription.id == Use.subscription_id),
        )
    )


def report(session: Session, period: Period, site_id: str, name: str, monthly_target: int) -> Report:
    """The report of `period` for this site, with its name and target from the config."""
    return compute(session, Counts.of(facts()), period, {site_id: (name, monthly_target)})
