"""How a walk-in pays: one small interface, two providers.

- `counter`: pay at the desk or into the honesty box. The sale is recorded unpaid; the manager marks it paid.
- `voucher`: a prepaid code the space printed and sold (kiosk/vouchers.py), checked offline, usable once.

A provider runs inside the sale's write transaction, so a voucher's "not used yet" check and the sale that uses
it cannot be split by another sale (and `Sale.voucher_code` is unique as a last guard).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access.config import COUNTER_PASSES, KioskConfig
from access.ledger import WeeklyHours
from access.models import Pass, Sale
from common.words import PASS_KINDS, PaymentMethod
from kiosk.sales import Offer, Payment, span_of_pass
from kiosk.vouchers import VoucherBook, VoucherError


class PaymentRefused(Exception):
    """The payment did not go through. `reason` names why; `guess` marks a possible guessing attempt."""

    def __init__(self, reason: str, *, guess: bool = False, **details: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.guess = guess
        self.details = details


class PaymentProvider(Protocol):
    name: PaymentMethod

    def take(self, session: Session, offer: Offer, form: Mapping[str, str]) -> Payment:
        """Take the payment for `offer` from what the buyer entered, or raise PaymentRefused."""
        ...


class CounterPayment:
    """Pay at the desk or into the honesty box: trusted now, reconciled by the manager later.

    Such a pass opens the door before anyone has been paid, so it is sold only in the hours the site names (when
    someone can be paid) and only so many stay unpaid per half-day; the count and the sale share one transaction,
    so two walk-ins at once cannot both take the last one."""

    name = PaymentMethod.COUNTER

    def __init__(
        self,
        hours: WeeklyHours,
        unpaid_per_slot: int,
        local_now: Callable[[], dt.datetime],
        kinds: Collection[str] = COUNTER_PASSES,
    ) -> None:
        self.hours = hours
        self.unpaid_per_slot = unpaid_per_slot
        self.local_now = local_now
        self.kinds = frozenset(kinds)

    def take(self, session: Session, offer: Offer, form: Mapping[str, str]) -> Payment:
        # Which passes may open on trust is the site's choice; a member's refill or renewal is not a pass.
        if offer.kind in PASS_KINDS and offer.kind not in self.kinds:
            raise PaymentRefused("counter_kind", kind=offer.kind)
        if not self.hours.contains(self.local_now()):
            raise PaymentRefused("counter_closed")
        if unpaid_now(session, offer) >= self.unpaid_per_slot:
            raise PaymentRefused("counter_full")
        return Payment(PaymentMethod.COUNTER, paid=False)


def unpaid_now(session: Session, offer: Offer) -> int:
    """Unpaid counter passes that open in a half-day of the offer's first day: the walk-ins let in on trust at the
    time this one would be. A week or month pass counts in each half-day it opens, not once for its whole span,
    and a pass whose days are over stops counting even if nobody settled it."""
    first = offer.span
    rows = session.execute(
        select(Pass, Sale.plan_kind)
        .join(Sale, Sale.id == Pass.sale_id)
        .where(
            Sale.provider == PaymentMethod.COUNTER,
            Sale.paid.is_(False),
            Pass.valid_date <= first.first_date,
            func.coalesce(Pass.valid_until, Pass.valid_date) >= first.first_date,
            Pass.stopped_at.is_(None),
        )
    )
    return sum(
        1
        for pass_, kind in rows
        if any(span_of_pass(pass_, kind).covers(first.first_date, slot) for slot in first.first_slots)
    )


class VoucherPayment:
    """A prepaid voucher for this kind of pass (or for a room's half-day), genuine and not used before."""

    name = PaymentMethod.VOUCHER

    def __init__(self, book: VoucherBook) -> None:
        self.book = book

    def take(self, session: Session, offer: Offer, form: Mapping[str, str]) -> Payment:
        return self.spend(session, offer.kind, form)

    def spend(self, session: Session, kind: str, form: Mapping[str, str]) -> Payment:
        """The payment by the voucher typed in `form`, if it buys `kind` and is unused; else PaymentRefused."""
        raw = form.get("voucher", "")
        if not raw.strip():
            raise PaymentRefused("voucher_missing")
        try:
            voucher = self.book.verify(raw)
        except VoucherError as exc:
            raise PaymentRefused(f"voucher_{exc.reason}", guess=True) from None
        if voucher.kind != kind:
            raise PaymentRefused("voucher_kind", kind=voucher.kind, wanted=kind)
        used = session.scalar(select(Sale).where(Sale.voucher_code == voucher.code))
        if used is not None:
            raise PaymentRefused("voucher_used", at=used.created_at)
        return Payment(PaymentMethod.VOUCHER, paid=True, voucher_code=voucher.code)


def make_providers(
    kiosk: KioskConfig, book: VoucherBook | None, local_now: Callable[[], dt.datetime]
) -> dict[str, PaymentProvider]:
    """The configured providers, in the configured order."""
    providers: dict[str, PaymentProvider] = {}
    for name in kiosk.payment:
        if name == PaymentMethod.COUNTER:
            providers[name] = CounterPayment(
                kiosk.counter_hours, kiosk.counter_unpaid_per_slot, local_now, kiosk.counter_passes
            )
        elif name == PaymentMethod.VOUCHER:
            if book is None:
                raise ValueError("the voucher provider needs the site's voucher book")
            providers[name] = VoucherPayment(book)
        else:
            raise ValueError(f"unknown payment provider {name!r}")
    return providers
