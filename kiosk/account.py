"""A member's account at the touchscreen, right after their tap: plan, balance, end date, this month's half-days;
a carnet refilled or a dated plan renewed, paid like a pass; a guest registered, who comes in with a day's code.

The account is reached only through the link the member's own tap put on the touchscreen: signed with the kiosk's
key, bound to that tap (its event, its holder), dead after `account_token_s` or as soon as anyone taps after it,
and answered only to the touchscreen's addresses. The page shows a first name, never a badge, never anyone else.

A member's refill or renewal is a `Sale` with `member_id` and `subscription_id`, a line of the books with its receipt
number (access/books.py) that reaches the hub as a "sale" event. At a site the hub runs, members' rights change on
the hub, so the touchscreen sends members to the desk there.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, render_template, request, session, url_for
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.wrappers.response import Response as BaseResponse

from access import books, notices
from access.admin import current_seq, subscribe
from access.bookings import may_cancel, member_bookings_named
from access.guests import (
    CODE_DIGITS,
    GuestCharge,
    GuestRefused,
    GuestRights,
    charge_guest,
    check_guest_name,
    month_of,
)
from access.ledger import SlotRef, slot_at
from access.models import Balance, Closure, Event, Guest, Member, Pass, Plan, Resource, Sale, Subscription, Use
from access.policy import Reason
from access.store import GUEST_CREDENTIAL_PREFIX, Stamp, bump_state_version, spent_since_balances
from common.books import Books
from common.i18n import LANGUAGES, _
from common.periods import next_period
from common.web.app import error_page, from_addresses
from common.weekdays import allows
from common.words import BookKind, EventKind, PaymentMethod, PlanKind, Slot
from kiosk.context import Kiosk, current_kiosk
from kiosk.doorlink import request_id
from kiosk.payment import PaymentRefused
from kiosk.receipts import receipt_link
from kiosk.sales import Offer
from kiosk.words import day_label, door_sentence, half_label, kind_label, refusal
from sync.localbus import Admit, Reload, Reply, Tap

bp = Blueprint("account", __name__, url_prefix="/account")
log = logging.getLogger("halfday.kiosk.account")

SALT = "halfday-account-v1"
# Taps after which a member may see their account: a refused tap too when a refill or a renewal is the answer;
# never a revoked badge (someone found it) nor a suspended member.
ACCOUNT_REASONS = frozenset(
    {
        Reason.GRANTED,
        Reason.BOOKED,
        Reason.NO_CREDIT,
        Reason.EXPIRED,
        Reason.NOT_YET_VALID,
        Reason.OUTSIDE_HOURS,
        Reason.OUTSIDE_WEEKDAYS,
        Reason.NO_PLAN,
    }
)
# A plan that ended this many days ago or less is still shown, so that its holder can renew it.
RENEWABLE_AFTER_END_DAYS = 62


@bp.before_request
def touchscreen_only() -> BaseResponse | None:
    """Like the touchscreen's other pages: the touchscreen's addresses only, never the site's Wi-Fi."""
    if from_addresses(request.remote_addr, current_kiosk().config.kiosk.touchscreen_from):
        return None
    message = _("Cette page n'est disponible que sur l'écran de la borne. L'accueil est à l'adresse /admin/.")
    return error_page(message, 403)


# ---------------------------------------------------------------------------------------------- the tap's link


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or b"", salt=SALT)


def account_link(tap: Tap) -> str | None:
    """The link to the tapping member's account, for the touchscreen's event stream; None for any other tap."""
    if tap.holder is None or tap.reason not in ACCOUNT_REASONS or current_kiosk().tuning.account_token_s <= 0:
        return None
    try:
        with current_kiosk().db.read() as s:
            member = s.get(Member, tap.holder)
    except SQLAlchemyError:
        # A ledger that cannot be read must not end the screen's stream of taps: the welcome shows, no account.
        log.exception("compte du membre illisible : l'écran montre le passage sans le compte")
        return None
    if member is None or not member.active:
        return None
    return url_for("account.show", t=_signer().dumps([tap.event, tap.holder]))


class AccountClosed(Exception):
    """The link is not (or no longer) a way to this account."""


@dataclass(frozen=True)
class Visit:
    """A member at the touchscreen, through the link of their tap."""

    token: str
    member_id: str
    first_name: str
    tap: Tap  # the tap that opened the account, as the door announced it
    language: str = "fr"


def tap_of(event: Event) -> Tap:
    """An entry event as the door announced it on the bus, to word it again on the account."""
    data = event.data
    use = data.get("use")
    plan = data.get("plan")
    return Tap(
        event=event.id,
        seq=event.seq,
        at=event.at,
        granted=bool(data.get("granted")),
        reason=Reason(data["reason"]),
        holder=data.get("holder"),
        first_name=data.get("first_name"),
        plan=PlanKind(plan) if plan in tuple(PlanKind) else None,
        slot=Slot(use["slot"]) if use else None,
        charged=use is not None,
        spent=int(use["spent"]) if use else 0,
        balance=data.get("balance"),
    )


def visit(token: str) -> Visit:
    """The member `token` opens the account of; AccountClosed when it is forged, old, or another tap came after."""
    kiosk = current_kiosk()
    try:
        event_id, holder = _signer().loads(token, max_age=math.ceil(kiosk.tuning.account_token_s))
    except (BadData, TypeError, ValueError):
        raise AccountClosed from None
    if not isinstance(event_id, str) or not isinstance(holder, str):
        raise AccountClosed
    with kiosk.db.read() as s:
        event = s.get(Event, event_id)
        if event is None or event.kind != EventKind.ENTRY or event.data.get("holder") != holder:
            raise AccountClosed
        if event.data.get("reason") not in ACCOUNT_REASONS:
            raise AccountClosed
        latest = s.scalar(select(func.max(Event.seq)).where(Event.device_id == event.device_id, Event.kind == "entry"))
        if latest != event.seq:
            raise AccountClosed  # someone tapped since: the screen is theirs now
        if kiosk.now() - event.at > dt.timedelta(seconds=kiosk.tuning.account_token_s):
            raise AccountClosed
        member = s.get(Member, holder)
        if member is None or not member.active:
            raise AccountClosed
        language = member.language if member.language in LANGUAGES else "fr"
        return Visit(token, member.id, member.first_name, tap_of(event), language)


def closed_page() -> BaseResponse:
    return error_page(_("Ce compte n'est plus ouvert à l'écran : badgez de nouveau pour le voir."), 403)


# ---------------------------------------------------------------------------------------------- the account


@dataclass(frozen=True)
class Right:
    """One of the member's plans as the account shows it, and what can be bought for it."""

    subscription_id: str
    plan_id: str
    plan_name: str
    kind: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    balance: int | None
    price_cents: int
    refill: int | None  # half-days a refill adds (a carnet)
    renewal: tuple[dt.date, dt.date] | None  # the period a renewal buys (a dated plan, the latest of its plan)


def rights_of(s: Session, member_id: str, today: dt.date, device_id: str) -> list[Right]:
    """The member's plans now running, to come, or ended lately, with their balance and what each can buy."""
    rows = s.execute(
        select(Subscription, Plan, Balance)
        .join(Plan, Subscription.plan_id == Plan.id)
        .outerjoin(Balance, Balance.subscription_id == Subscription.id)
        .where(Subscription.member_id == member_id)
        .order_by(Subscription.valid_from)
    ).all()
    spent = spent_since_balances(s, device_id)
    latest: dict[str, dt.date] = {}
    for sub, plan, _balance in rows:
        if sub.valid_until is not None:
            latest[plan.id] = max(latest.get(plan.id, sub.valid_until), sub.valid_until)
    rights = []
    for sub, plan, balance in rows:
        if sub.valid_until is not None and sub.valid_until < today - dt.timedelta(days=RENEWABLE_AFTER_END_DAYS):
            continue
        left = balance.amount - spent.get(sub.id, 0) if balance is not None else None
        renewal = None
        if sub.valid_until is not None and latest.get(plan.id) == sub.valid_until and plan.active:
            renewal = next_period(sub.valid_from, sub.valid_until, today)
        refill = plan.half_days if plan.kind == PlanKind.CARNET and plan.half_days and plan.active else None
        running = sub.valid_until is None or sub.valid_until >= today
        rights.append(
            Right(
                sub.id,
                plan.id,
                plan.name,
                plan.kind,
                sub.valid_from,
                sub.valid_until,
                left,
                plan.price_cents,
                refill if running else None,
                renewal,
            )
        )
    return rights


def month_half_days(s: Session, member_id: str, today: dt.date) -> int:
    """The half-days the member used this calendar month (their own, not their guests')."""
    first, last = month_of(today)
    found = s.scalar(
        select(func.count())
        .select_from(Use)
        .where(Use.holder_id == member_id, Use.local_date >= first, Use.local_date <= last)
    )
    return int(found or 0)


def _today(kiosk: Kiosk) -> SlotRef:
    return slot_at(kiosk.now(), kiosk.rules)


def _member_payments(kiosk: Kiosk) -> list[str]:
    """How a member pays at the touchscreen: at the counter (vouchers are printed for walk-ins' passes only)."""
    return [name for name in kiosk.providers if name == PaymentMethod.COUNTER]


def _page(visit_: Visit, status: int = 200, **extra: Any) -> tuple[str, int]:
    kiosk = current_kiosk()
    today = _today(kiosk).date
    with kiosk.db.read() as s:
        rights = rights_of(s, visit_.member_id, today, kiosk.config.site.device)
        used = month_half_days(s, visit_.member_id, today)
        guests = s.scalars(
            select(Guest)
            .where(Guest.member_id == visit_.member_id, Guest.valid_date == today)
            .order_by(Guest.created_at)
        ).all()
        for_guests = guest_rights(s, visit_.member_id, today, kiosk.config.site.device)
        bookings = member_bookings_named(s, visit_.member_id, today)
        rooms = s.scalar(select(Resource.id).where(Resource.active.is_(True)).limit(1)) is not None
        s.expunge_all()
    rule = kiosk.config.rooms.cancel
    door_text = door_sentence(visit_.tap)
    can_buy = not kiosk.config.networked and bool(_member_payments(kiosk))
    return (
        render_template(
            "screen/account.html",
            visit=visit_,
            rights=rights,
            month_used=used,
            guest_half_days=(
                max(0, for_guests.included_per_month - for_guests.included_taken),
                for_guests.included_per_month,
            ),
            guests=guests,
            bookings=[(rows, name, may_cancel(rows, today, rule)) for rows, name in bookings],
            rooms=rooms,
            day_label=day_label,
            half_label=half_label,
            door_text=door_text,
            can_buy=can_buy,
            kind_label=kind_label,
            today=today,
            idle_s=kiosk.tuning.account_show_s,
            **extra,
        ),
        status,
    )


@bp.get("/")
def show() -> tuple[str, int] | BaseResponse:
    try:
        visit_ = visit(request.args.get("t", ""))
    except AccountClosed:
        return closed_page()
    # The account speaks the member's language; the attract screen gives the next visitor the site's again.
    session["lang"] = visit_.language
    return _page(visit_)


# ---------------------------------------------------------------------------------------------- refill and renew


class PurchaseRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Purchase:
    """A refill or a renewal the member may buy now."""

    what: str  # "refill" | "renew"
    right: Right

    @property
    def offer_kind(self) -> str:
        return self.right.kind


def _purchase(visit_: Visit, what: str, subscription_id: str) -> Purchase:
    kiosk = current_kiosk()
    if kiosk.config.networked:
        raise PurchaseRefused("networked")
    with kiosk.db.read() as s:
        rights = rights_of(s, visit_.member_id, _today(kiosk).date, kiosk.config.site.device)
    right = next((r for r in rights if r.subscription_id == subscription_id), None)
    if right is None or what not in ("refill", "renew"):
        raise PurchaseRefused("gone")
    if (what == "refill" and right.refill is None) or (what == "renew" and right.renewal is None):
        raise PurchaseRefused("gone")
    return Purchase(what, right)


def record_member_sale(
    s: Session,
    member: Member,
    purchase: Purchase,
    provider: str,
    paid: bool,
    device_id: str,
    stamp: Stamp,
    ledger_books: Books,
) -> Sale:
    """The refill or renewal and its sale, in the caller's one write transaction; the door reloads on the state
    version, so the new balance or end date holds at its next tap."""
    right = purchase.right
    plan = s.get(Plan, right.plan_id)
    sub = s.get(Subscription, right.subscription_id)
    if plan is None or sub is None:
        raise PurchaseRefused("gone")
    if purchase.what == "refill":
        balance = s.get(Balance, sub.id)
        if balance is None:
            balance = Balance(subscription_id=sub.id, amount=0, as_of_seq=0)
            s.add(balance)
        effective = balance.amount - spent_since_balances(s, device_id).get(sub.id, 0)
        balance.amount = effective + (plan.half_days or 0)
        balance.as_of_seq = current_seq(s, device_id)
        bought = sub
    else:
        assert right.renewal is not None
        bought = subscribe(s, member, plan, right.renewal[0], right.renewal[1], device_id)
    kind = BookKind.REFILL if purchase.what == "refill" else BookKind.RENEWAL
    sale = books.record(
        s,
        ledger_books,
        stamp,
        kind=kind,
        plan_kind=plan.kind,
        amount_cents=plan.price_cents,
        label=books.plan_label(kind, plan.name, plan.half_days if purchase.what == "refill" else None),
        provider=provider,
        paid=paid,
        buyer_name=member.full_name,
        buyer_email=member.email,
        member_id=member.id,
        subscription_id=bought.id,
    )
    books.announce(s, device_id, sale, stamp)
    bump_state_version(s)
    notices.receipt(s, sale, None)  # the member's receipt, when they gave an e-mail
    return sale


def _buy_page(visit_: Visit, purchase: Purchase, error: str | None = None, status: int = 200) -> tuple[str, int]:
    kiosk = current_kiosk()
    return (
        render_template(
            "screen/account_buy.html",
            visit=visit_,
            purchase=purchase,
            providers=_member_payments(kiosk),
            kind_label=kind_label,
            error=error,
        ),
        status,
    )


def purchase_refusal(reason: str) -> str:
    texts = {
        "networked": _("Ce lieu est relié au réseau : rechargez ou renouvelez à l'accueil."),
        "gone": _("Cet achat n'est plus possible. Adressez-vous à l'accueil."),
        "unpaid": _("Un achat précédent reste à régler à l'accueil : réglez-le avant d'en faire un autre."),
        "no_payment": _("Le paiement à l'écran n'est pas proposé ici : adressez-vous à l'accueil."),
    }
    return texts.get(reason, refusal(reason))


@bp.get("/buy")
def buy_form() -> tuple[str, int] | BaseResponse:
    try:
        visit_ = visit(request.args.get("t", ""))
    except AccountClosed:
        return closed_page()
    try:
        purchase = _purchase(visit_, request.args.get("what", ""), request.args.get("sub", ""))
    except PurchaseRefused as exc:
        return _page(visit_, 409, error=purchase_refusal(exc.reason))
    return _buy_page(visit_, purchase)


@bp.post("/buy")
def buy() -> tuple[str, int] | BaseResponse:
    """Pay and record a refill or a renewal, in one write transaction; then the account with its new figures."""
    kiosk = current_kiosk()
    form = request.form
    try:
        visit_ = visit(form.get("t", ""))
    except AccountClosed:
        return closed_page()
    try:
        purchase = _purchase(visit_, form.get("what", ""), form.get("sub", ""))
    except PurchaseRefused as exc:
        return _page(visit_, 409, error=purchase_refusal(exc.reason))
    provider = (
        kiosk.providers.get(form.get("provider", "")) if form.get("provider") in _member_payments(kiosk) else None
    )
    if provider is None:
        return _buy_page(visit_, purchase, purchase_refusal("no_payment"), 422)
    ref = _today(kiosk)
    offer = Offer(purchase.offer_kind, ref.date, (ref.slot,), purchase.right.price_cents)
    try:
        with kiosk.db.write() as s:
            member = s.get(Member, visit_.member_id)
            if member is None:
                raise PurchaseRefused("gone")
            unpaid = s.scalar(select(Sale.id).where(Sale.member_id == member.id, books.unpaid()).limit(1))
            if unpaid is not None:
                raise PurchaseRefused("unpaid")
            payment = provider.take(s, offer, form)
            sale = record_member_sale(
                s,
                member,
                purchase,
                payment.provider,
                payment.paid,
                kiosk.config.site.device,
                kiosk.stamp(),
                kiosk.config.books,
            )
    except PurchaseRefused as exc:
        return _buy_page(visit_, purchase, purchase_refusal(exc.reason), 422)
    except PaymentRefused as exc:
        return _buy_page(visit_, purchase, refusal(exc.reason, exc.details), 422)
    tell_the_door(kiosk)
    done = (
        _("Carnet rechargé. À régler à l'accueil ou dans la boîte.")
        if purchase.what == "refill"
        else _("Formule renouvelée. À régler à l'accueil ou dans la boîte.")
    )
    return _page(visit_, done=done, receipt_url=receipt_link(sale), receipt_no=sale.receipt_no)


# ---------------------------------------------------------------------------------------------- guests


def guest_rights(s: Session, member_id: str, today: dt.date, device_id: str) -> GuestRights:
    """What the member holds today for a guest, counted from the ledger (see access/guests.py)."""
    rows = s.execute(
        select(Subscription, Plan, Balance)
        .join(Plan, Subscription.plan_id == Plan.id)
        .outerjoin(Balance, Balance.subscription_id == Subscription.id)
        .where(Subscription.member_id == member_id)
        .order_by(Subscription.valid_from)
    ).all()
    running = [
        (sub, plan, balance)
        for sub, plan, balance in rows
        if (sub.valid_from is None or sub.valid_from <= today)
        and (sub.valid_until is None or sub.valid_until >= today)
        and allows(plan.weekdays, today)  # a guest comes on a day the member's plan admits
    ]
    guests = s.scalars(select(Guest).where(Guest.member_id == member_id, Guest.valid_date >= month_of(today)[0])).all()
    came = set(s.scalars(select(Use.holder_id).where(Use.holder_id.in_([g.id for g in guests]))))
    waiting = [g for g in guests if g.valid_date == today and g.id not in came]
    included = next(((sub, plan) for sub, plan, _b in running if (plan.guest_half_days or 0) > 0), None)
    taken = 0
    if included is not None:
        first, last = month_of(today)
        included_guests = [g.id for g in guests if g.charge == GuestCharge.INCLUDED]
        used = s.scalar(
            select(func.count())
            .select_from(Use)
            .where(Use.holder_id.in_(included_guests), Use.local_date >= first, Use.local_date <= last)
        )
        taken = int(used or 0) + sum(1 for g in waiting if g.charge == GuestCharge.INCLUDED)
    carnet = next(((sub, plan, b) for sub, plan, b in running if plan.kind == PlanKind.CARNET and b is not None), None)
    balance = 0
    if carnet is not None:
        balance = carnet[2].amount - spent_since_balances(s, device_id).get(carnet[0].id, 0)
        balance -= sum(1 for g in waiting if g.charge == GuestCharge.CARNET and g.subscription_id == carnet[0].id)
    return GuestRights(
        included_subscription=included[0].id if included else None,
        included_per_month=(included[1].guest_half_days or 0) if included else 0,
        included_taken=taken,
        carnet_subscription=carnet[0].id if carnet else None,
        carnet_balance=balance,
        carnet_overdraft=bool(carnet and carnet[1].allow_overdraft),
        guests_today=sum(1 for g in guests if g.valid_date == today),
    )


def new_guest_code(s: Session, day: dt.date) -> str:
    """A random 6-digit code no pass nor guest of `day` has, so that a code entered names one visitor."""
    while True:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        taken = s.scalar(select(Pass.id).where(Pass.valid_date == day, Pass.code == code)) or s.scalar(
            select(Guest.id).where(Guest.valid_date == day, Guest.code == code)
        )
        if taken is None:
            return code


def register_guest(s: Session, member_id: str, name: str, today: dt.date, device_id: str, at: dt.datetime) -> Guest:
    """Register a guest of the member for `today` (GuestRefused naming why not), in the caller's write
    transaction, and tell the door."""
    clean = check_guest_name(name)
    if s.get(Closure, today) is not None:
        raise GuestRefused("closed")  # the door would refuse the guest's code all day
    charging = charge_guest(guest_rights(s, member_id, today, device_id))
    guest = Guest(
        member_id=member_id,
        subscription_id=charging.subscription_id,
        name=clean,
        code=new_guest_code(s, today),
        valid_date=today,
        charge=charging.charge,
        created_at=at,
    )
    s.add(guest)
    bump_state_version(s)
    s.flush()
    return guest


def guest_refusal(reason: str) -> str:
    texts = {
        "name_missing": _("Indiquez le prénom de votre invité."),
        "name_long": _("Ce prénom est trop long."),
        "too_many": _("Vous avez déjà invité assez de personnes aujourd'hui : voyez l'accueil pour un groupe."),
        "carnet_empty": _("Votre carnet est vide : rechargez-le pour inviter quelqu'un."),
        "included_used": _("Les demi-journées d'invités de votre formule sont utilisées ce mois-ci."),
        "no_right": _("Votre formule ne permet pas d'inviter quelqu'un. Adressez-vous à l'accueil."),
        "clock": _("L'heure de la borne n'est pas sûre : l'invitation se fait à l'accueil."),
        "closed": _("L'espace est fermé aujourd'hui : pas d'invité ce jour-là."),
    }
    return texts.get(reason, _("Invitation impossible. Adressez-vous à l'accueil."))


def charge_words(guest: Guest) -> str:
    if guest.charge == GuestCharge.INCLUDED:
        return _("Compris dans votre formule : une demi-journée d'invité par demi-journée de présence.")
    return _("Décompté de votre carnet : une demi-journée par demi-journée de présence.")


@bp.get("/guest")
def guest_form() -> tuple[str, int] | BaseResponse:
    try:
        visit_ = visit(request.args.get("t", ""))
    except AccountClosed:
        return closed_page()
    return render_template("screen/guest.html", visit=visit_, guest=None, error=None, form={}), 200


@bp.post("/guest")
def guest() -> tuple[str, int] | BaseResponse:
    kiosk = current_kiosk()
    form = request.form
    try:
        visit_ = visit(form.get("t", ""))
    except AccountClosed:
        return closed_page()
    now = kiosk.now()
    try:
        if not kiosk.clock_ok(now):
            raise GuestRefused("clock")
        with kiosk.db.write() as s:
            guest_ = register_guest(
                s, visit_.member_id, form.get("name", ""), slot_at(now, kiosk.rules).date, kiosk.config.site.device, now
            )
            s.expunge(guest_)
    except GuestRefused as exc:
        page = render_template(
            "screen/guest.html", visit=visit_, guest=None, error=guest_refusal(exc.reason), form=form
        )
        return page, 422
    return (
        render_template(
            "screen/guest.html",
            visit=visit_,
            guest=guest_,
            code=f"{guest_.code[:3]} {guest_.code[3:]}",
            charge=charge_words(guest_),
            error=None,
            form={},
        ),
        200,
    )


# ---------------------------------------------------------------------------------------------- a guest's code


def guest_for_code(s: Session, code: str, now: SlotRef) -> Guest | None:
    """The guest whose code is `code`, if it is for today and within the slots' hours; else None."""
    code = code.strip().replace(" ", "")
    if len(code) != CODE_DIGITS or not code.isdigit() or not now.inside:
        return None
    return s.scalar(select(Guest).where(Guest.valid_date == now.date, Guest.code == code))


def admit_guest(kiosk: Kiosk, guest_id: str) -> Reply | None:
    """Ask the door to decide on the guest's code as on a tap; None when the door did not answer."""
    if kiosk.link is None:
        return None
    command = Admit(request_id(), credential=GUEST_CREDENTIAL_PREFIX + guest_id)
    return kiosk.link.request(command, kiosk.tuning.command_timeout_s)


def tell_the_door(kiosk: Kiosk) -> None:
    """Ask the door to read the member's rights now rather than at its next poll of the state version: the member
    walks from the screen to the door in less time than a poll may take. Silence changes nothing (it polls)."""
    if kiosk.link is not None:
        kiosk.link.request(Reload(request_id()), kiosk.tuning.command_timeout_s)
