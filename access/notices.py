"""E-mail notices, written to the `notices` queue in the caller's transaction, the same as their cause: an entry
that leaves a carnet low, a sale with an e-mail, a plan that ends soon, a new month. The mail worker
(access/mailer.py) sends them later, with retries: nothing here talks to a mail server, so a door or a sale never
waits for one.

Each notice has a `key` that names its cause, so the same cause never writes two: a low carnet by the entry that
took it under the threshold, a plan's end once per end date, a statement once per member and month, a receipt
once per sale.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from access import notice_texts as texts
from access.closures import MAX_EXTENSION_DAYS, extended_until
from access.models import Balance, Closure, Member, Notice, Pass, Plan, Sale, Subscription, Use
from common.records import EMAIL_PATTERN
from common.words import PlanKind

# Statements of last month are written during the first days of a month only: a worker stopped over the 1st
# catches up, but a member who asks on the 20th gets theirs next month, not a late one now.
STATEMENT_DAYS = 7
# How far back a plan's end is looked for: the longest a closure calendar may push an end forward.
LOOKBACK = dt.timedelta(days=MAX_EXTENSION_DAYS)


class NoticeKind(StrEnum):
    LOW_CARNET = "low_carnet"
    PLAN_ENDING = "plan_ending"
    RECEIPT = "receipt"
    STATEMENT = "statement"
    ALARM = "alarm"  # to the site's managers: the door forced, a backup failed... (access/alarms.py)
    TEST = "test"  # sent by the manager from the admin, to check that mail works


def enqueue(
    session: Session,
    kind: NoticeKind,
    key: str,
    to_address: str,
    language: str,
    text: texts.Text,
    now: dt.datetime,
    member_id: str | None = None,
) -> Notice | None:
    """Add a notice to the queue unless its cause already wrote one (same `key`); None when it did, or when the
    address is not one a mail server would take."""
    if not EMAIL_PATTERN.fullmatch(to_address):
        return None
    if session.scalar(select(Notice.id).where(Notice.key == key)) is not None:
        return None
    notice = Notice(
        kind=kind,
        key=key,
        member_id=member_id,
        to_address=to_address,
        language=language if language in texts.LANGUAGES else "fr",
        subject=text.subject,
        body=text.body,
        created_at=now,
        attempts=0,
        next_attempt_at=now,
    )
    # In a savepoint: whatever goes wrong with a notice must not undo its cause (a door's entry, a sale).
    try:
        with session.begin_nested():
            session.add(notice)
    except IntegrityError:
        return None
    return notice


def carnet_is_low(spent: int, left: int, threshold: int | None) -> bool:
    """The door's one cheap check, on every entry charged to a carnet: whether this entry took the carnet from above
    the threshold to at or below it. Only then is the database read, and a carnet is told once per descent, that
    is once per refill that takes it above the threshold again; the balance's bookkeeping (a roster resets
    `as_of_seq` at every acknowledgement) plays no part."""
    return threshold is not None and spent > 0 and left <= threshold < left + spent


# One plain statement inside the door's commit (the ORM's per-statement work costs more than the lookup itself).
_LOW_CARNET_SQL = (
    "SELECT m.id, m.first_name, m.email, m.language, m.active, p.name"
    " FROM subscriptions s JOIN members m ON m.id = s.member_id JOIN plans p ON p.id = s.plan_id WHERE s.id = ?"
)


def low_carnet(session: Session, subscription_id: str, left: int, now: dt.datetime, entry_id: str) -> Notice | None:
    """The entry `entry_id` left a carnet with `left` half-days, crossing the threshold: tell its holder."""
    row = session.connection().exec_driver_sql(_LOW_CARNET_SQL, (subscription_id,)).first()
    if row is None:
        return None
    member_id, first_name, email, language, active, plan = row
    if not email or not active:
        return None
    text = texts.low_carnet(first_name, plan, left, language)
    key = f"low_carnet:{subscription_id}:{entry_id}"
    return enqueue(session, NoticeKind.LOW_CARNET, key, email, language, text, now, member_id)


def receipt(session: Session, sale: Sale, pass_: Pass | None) -> Notice | None:
    """The receipt of a sale whose buyer gave an e-mail: in a member's language, French then English for a
    walk-in (the sale does not record which language the touchscreen spoke)."""
    if not sale.buyer_email:
        return None
    language: str | None = None
    if sale.member_id is not None:
        language = session.scalar(select(Member.language).where(Member.id == sale.member_id))
    at = sale.created_at
    purchase = texts.Purchase(
        name=sale.buyer_name.split(" ")[0] if sale.buyer_name else "",
        kind=sale.plan_kind,
        amount_cents=sale.amount_cents,
        paid=sale.paid,
        at=at.date(),
        number=sale.receipt_no or sale.id[:12].upper(),
        valid_from=(pass_.valid_date, pass_.slots) if pass_ is not None else None,
        valid_until=(
            (pass_.valid_until, pass_.until_slots or "morning,afternoon")
            if pass_ is not None and pass_.valid_until is not None
            else None
        ),
    )
    text = texts.receipt(purchase, language)
    key = f"receipt:{sale.id}"
    return enqueue(session, NoticeKind.RECEIPT, key, sale.buyer_email, language or "fr", text, at, sale.member_id)


def test_message(session: Session, to_address: str, language: str, now: dt.datetime) -> Notice | None:
    """An e-mail the manager sends to check that mail reaches people; each one a notice of its own."""
    text = texts.test_message(language)
    key = f"test:{now.isoformat()}:{to_address}"
    return enqueue(session, NoticeKind.TEST, key, to_address, language, text, now)


def plans_ending(session: Session, today: dt.date, days: int, now: dt.datetime) -> int:
    """Tell members whose plan ends within `days` days (its last day, closures given back) and who have not
    renewed it; once per plan and end date. Returns how many notices were written."""
    closures = set(session.scalars(select(Closure.date).where(Closure.date >= today - LOOKBACK)))
    rows = session.execute(
        select(Subscription, Member, Plan)
        .join(Member, Member.id == Subscription.member_id)
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(
            Subscription.valid_until.is_not(None),
            Subscription.valid_until >= today - LOOKBACK,
            Member.active.is_(True),
            Member.email.is_not(None),
        )
    ).all()
    later: dict[str, list[Subscription]] = {}
    for sub, _member, _plan in rows:
        later.setdefault(sub.member_id, []).append(sub)
    open_ended = set(session.scalars(select(Subscription.member_id).where(Subscription.valid_until.is_(None))))
    written = 0
    for sub, member, plan in rows:
        assert sub.valid_until is not None
        end = extended_until(sub.valid_from or sub.valid_until, sub.valid_until, closures)
        if not today <= end <= today + dt.timedelta(days=days) or member.email is None:
            continue
        if member.id in open_ended or _renewed(sub, end, later.get(member.id, [])):
            continue
        text = texts.plan_ending(member.first_name, plan.name, end, member.language)
        key = f"plan_ending:{sub.id}:{end.isoformat()}"
        if enqueue(session, NoticeKind.PLAN_ENDING, key, member.email, member.language, text, now, member.id):
            written += 1
    return written


def _renewed(sub: Subscription, end: dt.date, others: list[Subscription]) -> bool:
    """Whether another of the member's plans goes on past `end` without a gap (a renewal already made)."""
    for other in others:
        if other.id == sub.id or other.valid_until is None or other.valid_until <= end:
            continue
        if other.valid_from is None or other.valid_from <= end + dt.timedelta(days=1):
            return True
    return False


def month_before(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last days of the month before `today`'s."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


def monthly_statements(session: Session, today: dt.date, spent_after: dict[str, int], now: dt.datetime) -> int:
    """Last month's half-days to each active member who asked for a statement, during the first days of a month;
    once per member and month. `spent_after` is `access.store.spent_since_balances` (carnets' unsent uses)."""
    if today.day > STATEMENT_DAYS:
        return 0
    first, last = month_before(today)
    month = first.strftime("%Y-%m")
    members = session.scalars(
        select(Member).where(Member.monthly_statement.is_(True), Member.active.is_(True), Member.email.is_not(None))
    ).all()
    written = 0
    for member in members:
        key = f"statement:{member.id}:{month}"
        if member.email is None or session.scalar(select(func.count()).where(Notice.key == key)):
            continue
        uses = [
            (day, slot)
            for day, slot in session.execute(
                select(Use.local_date, Use.slot).where(
                    Use.holder_id == member.id, Use.local_date >= first, Use.local_date <= last
                )
            )
        ]
        carnets = [
            (name, amount - spent_after.get(sub_id, 0))
            for sub_id, name, amount in session.execute(
                select(Subscription.id, Plan.name, Balance.amount)
                .join(Plan, Plan.id == Subscription.plan_id)
                .join(Balance, Balance.subscription_id == Subscription.id)
                .where(
                    Subscription.member_id == member.id,
                    Plan.kind == PlanKind.CARNET,
                    (Subscription.valid_until.is_(None)) | (Subscription.valid_until >= today),
                )
            )
        ]
        text = texts.statement(member.first_name, first, uses, carnets, member.language)
        if enqueue(session, NoticeKind.STATEMENT, key, member.email, member.language, text, now, member.id):
            written += 1
    return written
