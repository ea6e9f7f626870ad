"""Walk-in sales: what is on offer now, the checks on the buyer's details, and the one transaction that records
a sale, its pass, the "sale" event and the state version the door watches.

Pure of Flask: refusals carry a reason code that the screen turns into words in the buyer's language.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from access import books, notices
from access.config import KioskConfig
from access.ledger import SlotRef, SlotRules, slot_at
from access.models import Closure, Credential, Pass, Sale
from access.passes import LATE_MINUTES, PassSpan, span_of, start_of
from access.store import Stamp, append_event, bump_state_version
from common.badges import ANY_READER, BadgeError, BadgeRule
from common.books import Books, default_series
from common.db import utcnow
from common.records import EMAIL_MAX, EMAIL_PATTERN
from common.words import PASS_KINDS, BookKind, CredentialKind, CredentialStatus, EventKind, PlanKind, Slot

# Lengths the hub accepts for a sale's name and e-mail (sync/payloads.py).
NAME_MAX = 160
PASS_CODE_DIGITS = 6


class SaleRefused(ValueError):
    """A sale that cannot be made; `reason` names why (see kiosk/screen.py for the words shown)."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


@dataclass(frozen=True)
class Offer:
    """A pass on sale now: its kind, the local date and slots it starts with, its last date and slots (a one-day
    pass has none), and its price."""

    kind: str
    date: dt.date
    slots: tuple[str, ...]
    price_cents: int
    until: dt.date | None = None
    until_slots: tuple[str, ...] = ()

    @property
    def span(self) -> PassSpan:
        """The half-days the pass covers (access/passes.py)."""
        last = self.until or self.date
        last_slots = self.until_slots if self.until is not None else self.slots
        return PassSpan(
            PlanKind(self.kind), self.date, tuple(map(Slot, self.slots)), last, tuple(map(Slot, last_slots))
        )

    @property
    def signature(self) -> str:
        """The half-days and price the buyer was shown, sent back with the form: the sale is made only if the
        offer is still the same when they pay."""
        until = self.until.isoformat() if self.until is not None else ""
        return f"{self.date.isoformat()}|{','.join(self.slots)}|{until}|{','.join(self.until_slots)}|{self.price_cents}"

    @classmethod
    def of(cls, span: PassSpan, price_cents: int) -> Offer:
        if span.single_day:
            return cls(span.kind, span.first_date, span.first_slots, price_cents)
        return cls(span.kind, span.first_date, span.first_slots, price_cents, span.last_date, span.last_slots)


@dataclass(frozen=True)
class Counter:
    """What the kiosk can sell at one moment; `closed` says why nothing is on sale ("hours", "clock", "closure"
    or "none"), `late` that the current half-day's rest is given with every pass."""

    offers: tuple[Offer, ...]
    slot: SlotRef
    closed: str | None = None
    late: bool = False
    closures: frozenset[dt.date] = frozenset()  # the site's closure days from today (shown with a pass's days)

    def offer(self, kind: str) -> Offer | None:
        return next((o for o in self.offers if o.kind == kind), None)


def prices_on_sale(kiosk: KioskConfig) -> dict[PlanKind, int]:
    """The passes the site sells, in its order, with their prices."""
    prices = {
        PlanKind.PASS_HALFDAY: kiosk.price_halfday_cents,
        PlanKind.PASS_DAY: kiosk.price_day_cents,
        PlanKind.PASS_WEEK: kiosk.price_week_cents,
        PlanKind.PASS_MONTH: kiosk.price_month_cents,
    }
    return {kind: prices[kind] for kind in kiosk.passes}


def closures_from(session: Session, today: dt.date) -> set[dt.date]:
    """The site's closure days from `today` on (what a pass bought now may meet)."""
    return set(session.scalars(select(Closure.date).where(Closure.date >= today)))


def counter_at(
    now: dt.datetime,
    rules: SlotRules,
    prices: Mapping[PlanKind, int],
    *,
    closures: Collection[dt.date] = (),
    late_minutes: int = LATE_MINUTES,
    clock_ok: bool = True,
) -> Counter:
    """The passes on sale at the instant `now`, each with the half-days it covers (access/passes.py).

    Nothing is sold outside the slots' hours nor on a closed day (the door would refuse the walk-in now), nor when
    the clock cannot be trusted (a pass is valid for dates, and the date may be wrong).
    """
    ref = slot_at(now, rules)
    if not clock_ok:
        return Counter((), ref, "clock")
    if not ref.inside:
        return Counter((), ref, "hours")
    if ref.date in closures:
        return Counter((), ref, "closure")
    if not prices:
        return Counter((), ref, "none")
    offers = tuple(Offer.of(span_of(kind, now, rules, closures, late_minutes), price) for kind, price in prices.items())
    late = start_of(now, rules, closures, late_minutes)[1] is not None
    return Counter(offers, ref, late=late, closures=frozenset(closures))


@dataclass(frozen=True)
class WalkIn:
    name: str
    email: str | None  # only if the walk-in wants their receipt by e-mail (PRIVACY.md: ask for little)
    uid: str | None = None  # a card tapped at the reader to re-enter with, if the walk-in wants one


def check_walk_in(name: str, email: str, uid: str | None = None, badges: BadgeRule = ANY_READER) -> WalkIn:
    """The buyer's details, cleaned; SaleRefused naming the first problem. The e-mail is optional (it only brings
    the receipt by mail). A card must be one the door's reader can read (`badges`)."""
    name = " ".join(name.split())
    email = email.strip()
    if not name:
        raise SaleRefused("name_missing")
    if len(name) > NAME_MAX:
        raise SaleRefused("name_long", max=NAME_MAX)
    if email and (len(email) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(email)):
        raise SaleRefused("email_invalid")
    card = None
    if uid:
        try:
            card = badges.normalise(uid)
        except BadgeError:
            raise SaleRefused("card_invalid") from None
    return WalkIn(name, email or None, card)


@dataclass(frozen=True)
class Payment:
    """How the sale was paid: the provider's name, whether the money is in, the voucher used (if any)."""

    provider: str
    paid: bool
    voucher_code: str | None = None


def sale_event_data(sale: Sale, pass_: Pass) -> dict[str, Any]:
    """The wire form of a pass's sale (sync/PROTOCOL.md, kind "sale"): the books' part, the pass and its buyer; a
    pass over several days adds its last day."""
    data = books.event_data(sale)
    data.update(
        {
            "pass": pass_.id,
            "date": pass_.valid_date.isoformat(),
            "slots": pass_.slots.split(","),
            "name": sale.buyer_name,
            # The wire's e-mail is a string: "" when the walk-in gave none.
            "email": sale.buyer_email or "",
        }
    )
    if pass_.valid_until is not None and pass_.until_slots:
        data["until"] = pass_.valid_until.isoformat()
        data["until_slots"] = pass_.until_slots.split(",")
    return data


def span_of_pass(pass_: Pass, kind: str) -> PassSpan:
    """The half-days a stored pass covers."""
    first_slots = tuple(Slot(s) for s in pass_.slots.split(","))
    last_slots = tuple(Slot(s) for s in pass_.until_slots.split(",")) if pass_.until_slots else first_slots
    sold = PlanKind(kind) if kind in PASS_KINDS else PlanKind.PASS_HALFDAY
    return PassSpan(sold, pass_.valid_date, first_slots, pass_.valid_until or pass_.valid_date, last_slots)


def _alive(first: dt.date, last: dt.date) -> ColumnElement[bool]:
    """Passes not stopped whose span meets the dates [first, last]."""
    return and_(
        Pass.valid_date <= last,
        func.coalesce(Pass.valid_until, Pass.valid_date) >= first,
        Pass.stopped_at.is_(None),
    )


def new_pass_code(session: Session, date: dt.date, until: dt.date | None = None) -> str:
    """A random 6-digit code that no other pass alive on any day of [date, until] has (so a code names one pass on
    each day)."""
    while True:
        code = f"{secrets.randbelow(10**PASS_CODE_DIGITS):0{PASS_CODE_DIGITS}d}"
        if session.scalar(select(Pass.id).where(_alive(date, until or date), Pass.code == code)) is None:
            return code


def record_sale(
    session: Session,
    device_id: str,
    offer: Offer,
    walk_in: WalkIn,
    payment: Payment,
    stamp: Stamp,
    ledger_books: Books | None = None,
) -> tuple[Sale, Pass]:
    """Write the sale with its receipt number (access/books.py), its pass, the card bound to it (if any), the "sale"
    event and its outbox row, and bump the state version, all in the caller's one write transaction."""
    sale = books.record(
        session,
        ledger_books or Books(default_series(device_id)),
        stamp,
        kind=BookKind.PASS,
        plan_kind=offer.kind,
        amount_cents=offer.price_cents,
        label=books.pass_label(offer.kind),
        provider=payment.provider,
        paid=payment.paid,
        voucher_code=payment.voucher_code,
        buyer_name=walk_in.name,
        buyer_email=walk_in.email,
    )
    pass_ = Pass(
        sale_id=sale.id,
        code=new_pass_code(session, offer.date, offer.until),
        holder_name=walk_in.name,
        valid_date=offer.date,
        slots=",".join(offer.slots),
        valid_until=offer.until,
        until_slots=",".join(offer.until_slots) if offer.until is not None else None,
        created_at=stamp.at,
    )
    session.add(pass_)
    session.flush()
    if walk_in.uid is not None:
        bind_card(session, pass_, walk_in.uid)
    append_event(session, device_id, EventKind.SALE, sale_event_data(sale, pass_), stamp)
    notices.receipt(session, sale, pass_)
    bump_state_version(session)
    return sale, pass_


def bind_card(session: Session, pass_: Pass, uid: str) -> Credential:
    """Let the card `uid` open the door for this pass. A card last used for an older pass moves to this one; a
    member's badge is refused (the member just badges)."""
    card = session.scalar(select(Credential).where(Credential.kind == CredentialKind.NFC_UID, Credential.value == uid))
    if card is not None and card.member_id is not None:
        raise SaleRefused("card_member")
    if card is None:
        card = Credential(pass_id=pass_.id, kind=CredentialKind.NFC_UID, value=uid, created_at=utcnow())
        session.add(card)
    else:
        card.pass_id = pass_.id
        card.status = CredentialStatus.ACTIVE
        card.revoked_at = None
    session.flush()
    return card


def mark_paid(session: Session, sale_id: str, device_id: str, stamp: Stamp, tender: str) -> Sale:
    """The manager received the money of a counter sale by `tender`: mark it paid and record "sale_paid"."""
    try:
        return books.mark_paid(session, sale_id, tender, device_id, stamp)
    except books.BooksRefused as exc:
        raise SaleRefused(exc.reason) from None


def stop_pass(session: Session, sale_id: str, device_id: str, stamp: Stamp) -> Pass:
    """The manager stops the pass of a sale (a wrong pass sold, one never paid): the door no longer opens for it,
    its code and card included. Records "pass_stopped" and bumps the state version (one transaction)."""
    pass_ = session.scalar(select(Pass).where(Pass.sale_id == sale_id))
    if pass_ is None:
        raise SaleRefused("sale_unknown")
    if pass_.stopped_at is not None:
        raise SaleRefused("pass_already_stopped")
    pass_.stopped_at = stamp.at
    append_event(session, device_id, EventKind.PASS_STOPPED, {"sale": sale_id, "pass": pass_.id}, stamp)
    bump_state_version(session)
    return pass_


def pass_for_code(session: Session, code: str, now: SlotRef) -> Pass:
    """The pass whose re-entry code is `code`, if it opens in the slot `now`; SaleRefused otherwise."""
    code = code.strip().replace(" ", "")
    if not re.fullmatch(rf"\d{{{PASS_CODE_DIGITS}}}", code):
        raise SaleRefused("code_format")
    found = session.execute(
        select(Pass, Sale.plan_kind)
        .join(Sale, Sale.id == Pass.sale_id)
        .where(_alive(now.date, now.date), Pass.code == code)
    ).first()
    # A code of another slot answers like a wrong one: a different answer would tell a guesser the code exists.
    if found is None or not now.inside or not span_of_pass(found[0], found[1]).covers(now.date, now.slot):
        raise SaleRefused("code_unknown")
    return found[0]
