"""Monthly usage: one row per half-day used, and a per-member summary, as CSV for the association's reports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from access.admin import AdminError
from access.models import Member, Pass, Plan, Subscription, Use

USE_COLUMNS = ("date", "slot", "holder_id", "name", "email", "plan", "spent", "site")
SUMMARY_COLUMNS = ("holder_id", "name", "email", "half_days", "mornings", "afternoons", "carnet_spent")


def month_bounds(raw: str) -> tuple[dt.date, dt.date]:
    """'2026-11' -> (2026-11-01, 2026-12-01)."""
    if not re.fullmatch(r"\d{4}-\d{2}", raw or ""):
        raise AdminError(f"mois « {raw} » : attendu AAAA-MM, par exemple 2026-11")
    year, month = int(raw[:4]), int(raw[5:])
    if not 1 <= month <= 12:
        raise AdminError(f"mois « {raw} » : le mois doit être entre 01 et 12")
    start = dt.date(year, month, 1)
    end = dt.date(year + (month == 12), month % 12 + 1, 1)
    return start, end


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
    start, end = month_bounds(month)
    members = {m.id: m for m in session.scalars(select(Member))}
    passes = {p.id: p for p in session.scalars(select(Pass))}
    plan_of_sub = dict(
        session.execute(select(Subscription.id, Plan.name).join(Plan, Subscription.plan_id == Plan.id)).all()
    )
    rows = []
    uses = session.scalars(
        select(Use)
        .where(Use.local_date >= start, Use.local_date < end)
        .order_by(Use.local_date, case((Use.slot == "morning", 0), else_=1), Use.id)
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
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(USE_COLUMNS)
    for r in rows:
        writer.writerow([r.date.isoformat(), r.slot, r.holder_id, r.name, r.email, r.plan, r.spent, r.site])
    return out.getvalue()


def summary_csv(rows: list[UsageRow]) -> str:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    who: dict[str, tuple[str, str]] = {}
    for r in rows:
        t = totals[r.holder_id]
        t[0] += 1
        t[1] += r.slot == "morning"
        t[2] += r.slot == "afternoon"
        t[3] += r.spent
        who[r.holder_id] = (r.name, r.email)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SUMMARY_COLUMNS)
    for holder_id in sorted(totals, key=lambda h: who[h][0].lower()):
        writer.writerow([holder_id, *who[holder_id], *totals[holder_id]])
    return out.getvalue()
