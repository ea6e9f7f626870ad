"""The site's holiday calendar and its staff: the manager's operations, shared by the CLI and the admin page.

On a closed day the door refuses members and passes and lets staff in; time-limited rights are given the closed
days back (access/closures.py). Each change bumps the state version in the caller's transaction, so the door
reloads; each check raises `AdminError` (a French sentence) before anything is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from access.admin import AdminError, find_member, parse_date
from access.models import Closure, Member
from access.store import bump_state_version

# One change closes at most this many days: a whole summer, not a year typed by mistake.
MAX_RANGE_DAYS = 92
# How far from today the calendar reaches: a closure forgotten last year may be entered, not one of another era.
REACH_DAYS = 2 * 366
LABEL_MAX = 120


@dataclass(frozen=True)
class Span:
    """Consecutive dates, first and last included."""

    first: dt.date
    last: dt.date

    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def parse_span(first: str | None, last: str | None, today: dt.date) -> Span:
    """The dates a manager typed (AAAA-MM-JJ, a last date optional), checked: order, length, reach."""
    start = parse_date(first, "la date")
    if start is None:
        raise AdminError("indiquez la date de fermeture (AAAA-MM-JJ)")
    end = parse_date(last, "la date de fin") or start
    if end < start:
        raise AdminError("la date de fin précède la date de début")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise AdminError(f"une fermeture dure {MAX_RANGE_DAYS} jours au plus : entrez-la en plusieurs fois")
    reach = dt.timedelta(days=REACH_DAYS)
    if start < today - reach or end > today + reach:
        raise AdminError("cette date est à plus de deux ans d'aujourd'hui : vérifiez l'année")
    return Span(start, end)


def _label(raw: str) -> str:
    """The reason shown beside the dates ("Noël", "Travaux"): one printable line, not over the column."""
    text = "".join(c for c in " ".join(raw.split()) if c.isprintable())
    if len(text) > LABEL_MAX:
        raise AdminError(f"le motif fait {LABEL_MAX} caractères au plus")
    return text


def add_closures(session: Session, span: Span, label: str = "") -> list[dt.date]:
    """Close the site on every date of `span` with this reason; returns the dates closed or given the new reason
    (a day already closed keeps its reason when none is given: entering a range over it changes nothing else)."""
    text = _label(label)
    known = {c.date: c for c in session.scalars(select(Closure).where(Closure.date.between(span.first, span.last)))}
    added = [day for day in span.days() if day not in known]
    renamed = [c for c in known.values() if text and c.label != text]
    if not added and not renamed:
        raise AdminError("ces jours sont déjà fermés")
    session.add_all(Closure(date=day, label=text) for day in added)
    for closure in renamed:
        closure.label = text
    session.flush()
    if added:
        bump_state_version(session)  # a reason alone changes nothing at the door
    return sorted([*added, *(c.date for c in renamed)])


def remove_closures(session: Session, span: Span) -> int:
    """Open the site again on the dates of `span`; returns how many closed days were removed."""
    where = Closure.date.between(span.first, span.last)
    removed = len(list(session.scalars(select(Closure.date).where(where))))
    if not removed:
        raise AdminError("aucune fermeture à ces dates")
    session.execute(delete(Closure).where(where))
    bump_state_version(session)
    return int(removed)


def closures(session: Session) -> list[Closure]:
    """Every closed day, in date order."""
    return list(session.scalars(select(Closure).order_by(Closure.date)))


def set_staff(session: Session, ref: str, staff: bool) -> Member:
    """Count a member as staff (they open on closed days, not charged for them), or no longer."""
    member = find_member(session, ref)
    if member.staff == staff:
        state = "fait déjà partie de l'équipe" if staff else "ne fait pas partie de l'équipe"
        raise AdminError(f"{member.full_name} {state}")
    member.staff = staff
    bump_state_version(session)
    return member


def staff_members(session: Session) -> list[Member]:
    return list(session.scalars(select(Member).where(Member.staff.is_(True)).order_by(Member.first_name)))
