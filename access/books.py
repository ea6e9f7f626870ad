"""The appliance's books: every sale recorded by one function that numbers its receipt in the same write
transaction, payments with their tender, credit notes ("avoirs") that cancel a sale by a new line, and the
journal of a period (common/books.py writes its entries).

Numbering: each device has its own series (`[books] series`, e.g. "CAH-A"); a counter row per series is read and
raised inside the sale's transaction, which on SQLite holds the write lock from BEGIN IMMEDIATE (common/db.py), so
two sales at once get consecutive numbers and a sale rolled back gives its number back with it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, aliased

from access.models import Member, Plan, ReceiptCounter, Sale, Subscription
from access.store import Stamp, append_event
from common.books import BookLine, Books, Entry, journal
from common.receipts import Receipt
from common.words import BookKind, EventKind, PaymentMethod, Tender

# What was bought, in the books' words (French: the books and receipts are the association's French records).
PASS_LABELS = {
    "pass_halfday": "Pass demi-journée",
    "pass_day": "Pass journée",
    "pass_week": "Pass semaine",
    "pass_month": "Pass mois",
}


def pass_label(kind: str) -> str:
    return PASS_LABELS.get(kind, "Pass")


def plan_label(kind: BookKind, plan_name: str, half_days: int | None = None) -> str:
    """A member's plan bought: "Recharge du carnet « Carnet 10 » (10 demi-journées)", "Renouvellement..."."""
    words = {BookKind.REFILL: "Recharge", BookKind.RENEWAL: "Renouvellement", BookKind.SUBSCRIPTION: "Formule"}
    count = f" ({half_days} demi-journées)" if half_days else ""
    return f"{words.get(kind, 'Formule')} « {plan_name} »{count}"


def booking_label(resource_name: str, half_days: int) -> str:
    return f"Réservation « {resource_name} » ({half_days} demi-journée{'s' if half_days > 1 else ''})"


class BooksRefused(ValueError):
    """A change the books refuse; `reason` names why (kiosk/admin/books.py turns it into words)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def next_number(session: Session, series: str) -> int:
    """The next receipt number of `series`, taken in the caller's write transaction."""
    raised = session.execute(
        update(ReceiptCounter)
        .where(ReceiptCounter.series == series)
        .values(last_number=ReceiptCounter.last_number + 1)
        .returning(ReceiptCounter.last_number)
    ).scalar()
    if raised is not None:
        return int(raised)
    session.add(ReceiptCounter(series=series, last_number=1))
    session.flush()
    return 1


def record(
    session: Session,
    books: Books,
    stamp: Stamp,
    *,
    kind: BookKind,
    plan_kind: str,
    amount_cents: int,
    label: str,
    provider: str,
    paid: bool,
    tender: str | None = None,
    voucher_code: str | None = None,
    buyer_name: str = "",
    buyer_email: str | None = None,
    member_id: str | None = None,
    subscription_id: str | None = None,
    refund_of: str | None = None,
) -> Sale:
    """Write a sale with its receipt number, in the caller's one write transaction. A counter sale paid at once (at
    the desk) says its tender; one paid later gets it from `mark_paid`."""
    if tender is not None and tender not in tuple(Tender):
        raise BooksRefused("tender_unknown")
    if paid and provider == PaymentMethod.COUNTER and tender is None and kind != BookKind.REFUND:
        raise BooksRefused("tender_missing")
    sale = Sale(
        plan_kind=plan_kind,
        amount_cents=amount_cents,
        provider=provider,
        paid=paid,
        voucher_code=voucher_code,
        buyer_name=buyer_name,
        buyer_email=buyer_email,
        created_at=stamp.at,
        paid_at=stamp.at if paid else None,
        member_id=member_id,
        subscription_id=subscription_id,
        book_kind=kind,
        series=books.series,
        number=next_number(session, books.series),
        label=label[:200],
        tender=tender,
        refund_of=refund_of,
    )
    session.add(sale)
    session.flush()
    return sale


def plan_sale(
    session: Session,
    books: Books,
    stamp: Stamp,
    device_id: str,
    kind: BookKind,
    sub: Subscription,
    tender: str | None,
    amount_cents: int | None = None,
    half_days: int | None = None,
) -> Sale | None:
    """The desk's sale of `sub` (given, renewed, or refilled by `half_days`), paid by `tender` (None: to be paid
    later) for `amount_cents` (None: the plan's price, or its share for `half_days`); None when it costs nothing."""
    plan, member = session.get_one(Plan, sub.plan_id), session.get_one(Member, sub.member_id)
    default = plan.price_cents
    if half_days is not None and plan.half_days:
        default = round(plan.price_cents * half_days / plan.half_days)
    amount = default if amount_cents is None else amount_cents
    if amount <= 0:
        return None
    sale = record(
        session,
        books,
        stamp,
        kind=kind,
        plan_kind=plan.kind,
        amount_cents=amount,
        label=plan_label(kind, plan.name, half_days),
        provider=PaymentMethod.COUNTER,
        paid=tender is not None,
        tender=tender,
        buyer_name=member.full_name,
        buyer_email=member.email,
        member_id=member.id,
        subscription_id=sub.id,
    )
    announce(session, device_id, sale, stamp)
    return sale


def event_data(sale: Sale) -> dict[str, Any]:
    """The books' part of a "sale" event (sync/PROTOCOL.md): never the buyer's name."""
    data: dict[str, Any] = {
        "sale": sale.id,
        "kind": sale.plan_kind,
        "book_kind": sale.book_kind,
        "amount_cents": sale.amount_cents,
        "provider": sale.provider,
        "paid": sale.paid,
        "label": sale.label,
    }
    if sale.series and sale.number:
        data["series"], data["number"] = sale.series, sale.number
    for key, value in (("tender", sale.tender), ("member", sale.member_id), ("refund_of", sale.refund_of)):
        if value is not None:
            data[key] = value
    return data


def announce(session: Session, device_id: str, sale: Sale, stamp: Stamp) -> None:
    """Record the "sale" event of a sale that is not a pass (a pass's event adds the pass: kiosk/sales.py)."""
    append_event(session, device_id, EventKind.SALE, event_data(sale), stamp)


def mark_paid(session: Session, sale_id: str, tender: str, device_id: str, stamp: Stamp) -> Sale:
    """The money of a counter sale is in, by `tender`: mark it paid and record "sale_paid" (one transaction)."""
    if tender not in tuple(Tender):
        raise BooksRefused("tender_unknown")
    sale = session.get(Sale, sale_id)
    if sale is None:
        raise BooksRefused("sale_unknown")
    if sale.paid:
        raise BooksRefused("sale_already_paid")
    if refund_of(session, sale.id) is not None:
        raise BooksRefused("sale_refunded")
    sale.paid, sale.paid_at, sale.tender = True, stamp.at, tender
    append_event(session, device_id, EventKind.SALE_PAID, {"sale": sale.id, "tender": tender}, stamp)
    return sale


def unpaid() -> ColumnElement[bool]:
    """The sales still to be paid: not paid, and not cancelled by a credit note."""
    note = aliased(Sale)
    return and_(Sale.paid.is_(False), ~select(note.id).where(note.refund_of == Sale.id).exists())


def refund_of(session: Session, sale_id: str) -> Sale | None:
    """The credit note that cancels the sale `sale_id`, if any."""
    return session.scalar(select(Sale).where(Sale.refund_of == sale_id))


def credit_note(session: Session, books: Books, sale_id: str, tender: str | None, device_id: str, stamp: Stamp) -> Sale:
    """Cancel a sale by a new line of the opposite amount, with its own receipt number (never an edit).

    A sale paid in money is paid back by `tender`; one paid by voucher gives the voucher's value back as an advance
    (refunded by `tender` if given); an unpaid one is simply cancelled (nothing changes hands)."""
    original = session.get(Sale, sale_id)
    if original is None:
        raise BooksRefused("sale_unknown")
    if original.book_kind == BookKind.REFUND:
        raise BooksRefused("sale_is_refund")
    if refund_of(session, original.id) is not None:
        raise BooksRefused("sale_already_refunded")
    money_back = original.paid and original.provider != PaymentMethod.VOUCHER
    if money_back and tender is None:
        raise BooksRefused("tender_missing")
    if not original.paid:
        tender = None
    note = record(
        session,
        books,
        stamp,
        kind=BookKind.REFUND,
        plan_kind=original.plan_kind,
        amount_cents=-original.amount_cents,
        label=f"Avoir sur {original.receipt_no or original.id[:12].upper()} : {original.label}",
        provider=original.provider,
        paid=True,
        tender=tender,
        buyer_name=original.buyer_name,
        member_id=original.member_id,
        subscription_id=original.subscription_id,
        refund_of=original.id,
    )
    announce(session, device_id, note, stamp)
    return note


def receipt_of(session: Session, sale: Sale, tz: ZoneInfo) -> Receipt:
    """The receipt of a numbered sale, as the page and the PDF show it."""
    refunds = None
    if sale.refund_of is not None:
        original = session.get(Sale, sale.refund_of)
        refunds = original.receipt_no if original is not None else None
    return Receipt(
        number=sale.receipt_no,
        at=sale.created_at.astimezone(tz),
        label=sale.label or sale.plan_kind,
        amount_cents=sale.amount_cents,
        paid=sale.paid,
        by_voucher=sale.provider == PaymentMethod.VOUCHER,
        tender=sale.tender,
        paid_on=sale.paid_at.astimezone(tz).date() if sale.paid_at is not None and sale.tender else None,
        refunds=refunds,
    )


def cancel_unpaid(session: Session, books: Books, sale_id: str | None, device_id: str, stamp: Stamp) -> Sale | None:
    """A booking cancelled before it was paid: its sale is cancelled too, by a credit note (nothing to give back).
    A paid one stays for the manager to refund from the sales page, saying how the money goes back."""
    sale = session.get(Sale, sale_id) if sale_id else None
    if sale is None or sale.paid or not sale.number or refund_of(session, sale.id) is not None:
        return None
    return credit_note(session, books, sale.id, None, device_id, stamp)


def book_line(sale: Sale, tz: ZoneInfo, refunds_kind: str | None = None) -> BookLine:
    """What the journal needs of a sale."""
    paid_day = sale.paid_at.astimezone(tz).date() if sale.paid_at is not None else None
    return BookLine(
        receipt_no=sale.receipt_no,
        day=sale.created_at.astimezone(tz).date(),
        kind=sale.book_kind,
        label=sale.label or sale.plan_kind,
        amount_cents=sale.amount_cents,
        by_voucher=sale.provider == PaymentMethod.VOUCHER,
        tender=sale.tender if sale.paid else None,
        paid_day=paid_day if sale.tender is not None else None,
        refunds_kind=refunds_kind,
    )


def period_entries(session: Session, books: Books, tz: ZoneInfo, first: dt.date, last: dt.date) -> list[Entry]:
    """The journal of the local dates [first, last]: sales numbered then, and payments received then."""
    start = dt.datetime.combine(first, dt.time(0), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.UTC)
    sales = session.scalars(
        select(Sale).where(
            Sale.number.is_not(None),
            or_(and_(Sale.created_at >= start, Sale.created_at < end), and_(Sale.paid_at >= start, Sale.paid_at < end)),
        )
    ).all()
    originals = {s.refund_of for s in sales if s.refund_of}
    kinds = dict(session.execute(select(Sale.id, Sale.book_kind).where(Sale.id.in_(originals))).all())
    lines = [book_line(s, tz, kinds.get(s.refund_of) if s.refund_of else None) for s in sales]
    return journal(lines, books, first, last)
