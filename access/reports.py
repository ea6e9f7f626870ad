"""Monthly usage: one row per half-day used, and a per-member summary, as CSV for the association's reports
(written by the one CSV writer, common/tables.py)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from access.admin import AdminError
from access.models import Member, Pass, Plan, Subscription, Use
from common.tables import csv_file, month_bounds, parse_month
from common.words import Slot

USE_COLUMNS = ("date", "slot", "holder_id", "name", "email", "plan", "spent", "site")
SUMMARY_COLUMNS = ("holder_id", "name", "email", "half_days", "mornings", "afternoons", "carnet_spent")


@dataclass(frozen=True)
class UsageRow:
    date: dt.date
    slot: str
    holder_id: str
    name: str
    email: str
    plan: str
    spent: int
    site: str


def month_usage(session: Session, month: str) -> list[UsageRow]:
    """Every half-day used in `month` ('2026-11'); AdminError when it is not a month."""
    try:
        start, end = month_bounds(*parse_month(month))
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    members = {m.id: m for m in session.scalars(select(Member))}
    passes = {p.id: p for p in session.scalars(select(Pass))}
    plan_of_sub = dict(
        session.execute(select(Subscription.id, Plan.name).join(Plan, Subscription.plan_id == Plan.id)).all()
    )
    rows = []
    uses = session.scalars(
        select(Use)
        .where(Use.local_date >= start, Use.local_date < end)
        .order_by(Use.local_date, case((Use.slot == Slot.MORNING, 0), else_=1), Use.id)
    )
    for use in uses:
        member = members.get(use.holder_id)
        walk_in = passes.get(use.holder_id)
        if member is not None:
            name, email = member.full_name, member.email or ""
        else:
            name, email = (walk_in.holder_name if walk_in else "?"), ""
        plan = plan_of_sub.get(use.subscription_id or "", "pass" if use.pass_id else "")
        rows.append(UsageRow(use.local_date, use.slot, use.holder_id, name, email, plan, use.spent, use.site_id))
    return rows


def usage_csv(rows: list[UsageRow]) -> str:
    body = ([r.date.isoformat(), r.slot, r.holder_id, r.name, r.email, r.plan, r.spent, r.site] for r in rows)
    return csv_file(USE_COLUMNS, body)


def summary_csv(rows: list[UsageRow]) -> str:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    who: dict[str, tuple[str, str]] = {}
    for r in rows:
        t = totals[r.holder_id]
        t[0] += 1
        t[1] += r.slot == Slot.MORNING
        t[2] += r.slot == Slot.AFTERNOON
        t[3] += r.spent
        who[r.holder_id] = (r.name, r.email)
    ordered = sorted(totals, key=lambda h: who[h][0].lower())
    return csv_file(SUMMARY_COLUMNS, ([holder_id, *who[holder_id], *totals[holder_id]] for holder_id in ordered))
