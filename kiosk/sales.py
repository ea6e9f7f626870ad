"""Walk-in sales: what is on offer now, the checks on the buyer's details, and the one transaction that records
a sale, its pass, the "sale" event and the state version the door watches.

Pure of Flask: refusals carry a reason code that the screen turns into words in the buyer's language.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from access import notices
from access.ledger import SlotRef, SlotRules, slot_at
from access.models import Credential, Pass, Sale
from access.store import Stamp, append_event, bump_state_version
from common.badges import ANY_READER, BadgeError, BadgeRule
from common.db import utcnow
from common.records import EMAIL_MAX, EMAIL_PATTERN
from common.words import SLOTS, CredentialKind, CredentialStatus, EventKind, PlanKind, Slot

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
    """A pass on sale now: its kind, the local date and slots it is valid for, and its price."""

    kind: str
    date: dt.date
    slots: tuple[str, ...]
    price_cents: int


@dataclass(frozen=True)
class Counter:
    """What the kiosk can sell at one moment; `closed` says why nothing is on sale ("hours" or "clock")."""

    offers: tuple[Offer, ...]
    slot: SlotRef
    closed: str | None = None

    def offer(self, kind: str) -> Offer | None:
        return next((o for o in self.offers if o.kind == kind), None)


def counter_at(
    now: dt.datetime, rules: SlotRules, price_halfday_cents: int, price_day_cents: int, clock_ok: bool = True
) -> Counter:
    """The passes on sale at the instant `now`.

    A half-day pass covers the current slot. The day pass is sold in the morning only: in the afternoon it would
    buy nothing more than the half-day. Nothing is sold outside the slots' hours (the door would refuse the pass)
    nor when the clock cannot be trusted (a pass is valid for a date, and the date may be wrong).
    """
    ref = slot_at(now, rules)
    if not clock_ok:
        return Counter((), ref, "clock")
    if not ref.inside:
        return Counter((), ref, "hours")
    offers = [Offer(PlanKind.PASS_HALFDAY, ref.date, (ref.slot,), price_halfday_cents)]
    if ref.slot == Slot.MORNING:
        offers.append(Offer(PlanKind.PASS_DAY, ref.date, SLOTS, price_day_cents))
    return Counter(tuple(offers), ref)


@dataclass(frozen=True)
class WalkIn:
    name: str
    email: str
    uid: str | None = None  # a card tapped at the reader to re-enter with, if the walk-in wants one


def check_walk_in(name: str, email: str, uid: str | None = None, badges: BadgeRule = ANY_READER) -> WalkIn:
    """The buyer's details, cleaned; SaleRefused naming the first problem. A card must be one the door's reader can
    read (`badges`)."""
    name = " ".join(name.split())
    email = email.strip()
    if not name:
        raise SaleRefused("name_missing")
    if len(name) > NAME_MAX:
        raise SaleRefused("name_long", max=NAME_MAX)
    if not email:
        raise SaleRefused("email_missing")
    if len(email) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(email):
        raise SaleRefused("email_invalid")
    card = None
    if uid:
        try:
            card = badges.normalise(uid)
        except BadgeError:
            raise SaleRefused("card_invalid") from None
    return WalkIn(name, email, card)


@dataclass(frozen=True)
class Payment:
    """How the sale was paid: the provider's name, whether the money is in, the voucher used (if any)."""

    provider: str
    paid: bool
    voucher_code: str | None = None


def sale_event_data(sale: Sale, pass_: Pass) -> dict[str, Any]:
    """The wire form of a sale (sync/PROTOCOL.md, kind "sale")."""
    return {
        "sale": sale.id,
        "kind": sale.plan_kind,
        "amount_cents": sale.amount_cents,
        "provider": sale.provider,
        "paid": sale.paid,
        "pass": pass_.id,
        "date": pass_.valid_date.isoformat(),
        "slots": pass_.slots.split(","),
        "name": sale.buyer_name,
        "email": sale.buyer_email,
    }


def new_pass_code(session: Session, date: dt.date) -> str:
    """A random 6-digit code that no other pass of `date` has (so a code names one pass on its day)."""
    while True:
        code = f"{secrets.randbelow(10**PASS_CODE_DIGITS):0{PASS_CODE_DIGITS}d}"
        if session.scalar(select(Pass.id).where(Pass.valid_date == date, Pass.code == code)) is None:
            return code


def record_sale(
    session: Session, device_id: str, offer: Offer, walk_in: WalkIn, payment: Payment, stamp: Stamp
) -> tuple[Sale, Pass]:
    """Write the sale, its pass, the card bound to it (if any), the "sale" event and its outbox row, and bump the
    state version, all in the caller's one write transaction."""
    sale = Sale(
        plan_kind=offer.kind,
        amount_cents=offer.price_cents,
        provider=payment.provider,
        paid=payment.paid,
        voucher_code=payment.voucher_code,
        buyer_name=walk_in.name,
        buyer_email=walk_in.email,
        created_at=stamp.at,
        paid_at=stamp.at if payment.paid else None,
    )
    session.add(sale)
    session.flush()
    pass_ = Pass(
        sale_id=sale.id,
        code=new_pass_code(session, offer.date),
        holder_name=walk_in.name,
        valid_date=offer.date,
        slots=",".join(offer.slots),
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


def mark_paid(session: Session, sale_id: str, device_id: str, stamp: Stamp) -> Sale:
    """The manager received the money of a counter sale: mark it paid and record "sale_paid" (one transaction)."""
    sale = session.get(Sale, sale_id)
    if sale is None:
        raise SaleRefused("sale_unknown")
    if sale.paid:
        raise SaleRefused("sale_already_paid")
    sale.paid = True
    sale.paid_at = stamp.at
    append_event(session, device_id, EventKind.SALE_PAID, {"sale": sale.id}, stamp)
    return sale


def pass_for_code(session: Session, code: str, now: SlotRef) -> Pass:
    """The pass whose re-entry code is `code`, if it is valid in the slot `now`; SaleRefused otherwise."""
    code = code.strip().replace(" ", "")
    if not re.fullmatch(rf"\d{{{PASS_CODE_DIGITS}}}", code):
        raise SaleRefused("code_format")
    pass_ = session.scalar(select(Pass).where(Pass.valid_date == now.date, Pass.code == code))
    # A code of another slot answers like a wrong one: a different answer would tell a guesser the code exists.
    if pass_ is None or now.slot not in pass_.slots.split(",") or not now.inside:
        raise SaleRefused("code_unknown")
    return pass_
