"""Sales at the desk: a plan the manager gives, renews or refills is a line of the books (access/books.py) with
its receipt number, in the same transaction as the change. The form says how it was paid (a tender, or "to be paid
later": it then waits on the sales page like a counter pass) and how much (the plan's price by default); "no sale"
is for a free plan or a correction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from access import admin, books
from access.admin import AdminError
from access.models import Sale, Subscription
from common.i18n import _
from common.words import BookKind, Tender
from kiosk.context import current_kiosk

LATER = "later"  # to be paid later: an unpaid counter sale
NO_SALE = "none"  # a free plan, a correction: nothing to sell
# The most a manager types for one plan at the desk (the hub's bound on an amount).
MAX_AMOUNT_CENTS = 10_000_000


@dataclass(frozen=True)
class DeskPayment:
    tender: str | None  # None: to be paid later
    amount_cents: int | None  # None: the plan's price


def desk_payment(form: Mapping[str, str]) -> DeskPayment | None:
    """How the form says it was paid; None for no sale. An absent choice is "to be paid later": the sale waits on
    the sales page, never lost and never counted as money in."""
    choice = form.get("tender", LATER) or LATER
    if choice == NO_SALE:
        return None
    if choice != LATER and choice not in tuple(Tender):
        raise AdminError(_("Choisissez comment c'est payé : espèces, carte, chèque, virement, ou plus tard."))
    raw = (form.get("amount") or "").strip().replace(" ", "").replace("€", "")
    amount = None
    if raw:
        try:
            amount = round(float(raw.replace(",", ".")) * 100)
        except ValueError:
            raise AdminError(
                _("Montant « %(amount)s » : écrivez-le en euros, par exemple 90 ou 90,50.", amount=raw)
            ) from None
        if not 0 <= amount <= MAX_AMOUNT_CENTS:
            raise AdminError(_("Le montant va de 0 à 100 000 €."))
    return DeskPayment(None if choice == LATER else choice, amount)


def sell(
    s: Session, kind: BookKind, sub: Subscription, payment: DeskPayment | None, half_days: int | None = None
) -> Sale | None:
    """The sale of `sub` (given, renewed or refilled by `half_days`), in the caller's transaction."""
    if payment is None:
        return None
    kiosk = current_kiosk()
    stamp, device = kiosk.stamp(), kiosk.config.site.device
    return books.plan_sale(
        s, kiosk.config.books, stamp, device, kind, sub, payment.tender, payment.amount_cents, half_days
    )


def take_back(s: Session, subscription_id: str) -> Subscription:
    """Take back a plan given by mistake: its sale not yet paid is cancelled by a credit note (the books keep both
    lines); a paid one must be refunded from the sales page first, so no money is forgotten."""
    sales = s.scalars(select(Sale).where(Sale.subscription_id == subscription_id, Sale.refund_of.is_(None))).all()
    for sale in sales:
        if books.refund_of(s, sale.id) is not None:
            continue
        if sale.paid:
            raise AdminError(_("Cette formule a été payée : faites d'abord son avoir depuis la liste des ventes."))
        kiosk = current_kiosk()
        books.credit_note(s, kiosk.config.books, sale.id, None, kiosk.config.site.device, kiosk.stamp())
    return admin.remove_subscription(s, subscription_id)
