"""Rooms and offices at the touchscreen: what is free today and this week, a booking by a walk-in (paid at the
counter, or for one half-day with a prepaid room voucher; a code to come in) or by a member after their tap (from
their carnet or their plan's room half-days), and a member's cancellation of their own booking.

The board shows free or booked, never who booked: the touchscreen is public. A walk-in's code is shown once, to
the browser that booked, for a short while. A member books only through the signed link of their own tap
(kiosk/account.py), which dies when anyone taps after them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, render_template, request, session
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers.response import Response as BaseResponse

from access import books
from access.bookings import (
    BOOKING_CREDENTIAL_PREFIX,
    BookingRefused,
    RoomRights,
    availability,
    book,
    booking_for_code,
    cancel,
    group_rows,
    price_cents,
    room_rights,
)
from access.ledger import SlotRef, slot_at
from access.models import Booking, Closure, Resource, Sale
from common.i18n import _, ngettext
from common.records import EMAIL_MAX, EMAIL_PATTERN
from common.web.app import error_page, from_addresses
from common.words import SLOTS, BookingPayment, BookKind, PaymentMethod, ResourceKind, Slot
from kiosk.account import AccountClosed, Visit, _page, closed_page, visit
from kiosk.context import Kiosk, current_kiosk
from kiosk.doorlink import request_id
from kiosk.payment import CounterPayment, PaymentRefused, VoucherPayment
from kiosk.sales import NAME_MAX
from kiosk.vouchers import ROOM_HALFDAY
from kiosk.words import day_label, half_label, refusal
from sync.localbus import Admit, Reply

bp = Blueprint("booking", __name__, url_prefix="/rooms")

# The touchscreen shows and books this many days from today: "today and this week".
BOARD_DAYS = 7
# Days in a row one booking at the touchscreen may hold; longer is arranged with the manager.
MAX_DAYS_IN_A_ROW = 5
# The sale of a booking (`Sale.plan_kind`): not a pass; its "sale" event carries no pass.
ROOM_SALE = "room"
HALVES = ("morning", "afternoon", "both")


@bp.before_request
def touchscreen_only() -> BaseResponse | None:
    """Like the touchscreen's other pages: the touchscreen's addresses only, never the site's Wi-Fi."""
    if from_addresses(request.remote_addr, current_kiosk().config.kiosk.touchscreen_from):
        return None
    message = _("Cette page n'est disponible que sur l'écran de la borne. L'accueil est à l'adresse /admin/.")
    return error_page(message, 403)


def kind_name(kind: str) -> str:
    labels: dict[str, str] = {
        ResourceKind.MEETING_ROOM: _("Salle de réunion"),
        ResourceKind.OFFICE: _("Bureau"),
        ResourceKind.PHONE_BOX: _("Cabine téléphonique"),
    }
    return labels.get(kind, kind)


def halves(half_days: list[tuple[dt.date, Slot]]) -> str:
    """ "mardi 1 décembre, matin ; mardi 1 décembre, après-midi", in the screen's language."""
    return _(" ; ").join(f"{day_label(d)}, {half_label(sl)}" for d, sl in half_days)


def booking_refusal(reason: str, balance: int | None = None) -> str:
    """A refused booking or cancellation, with what to do next."""
    if reason == "no_credit" and balance is not None:
        return ngettext(
            "Votre carnet n'a plus que %(num)d demi-journée : rechargez-le, ou réservez moins de demi-journées.",
            "Votre carnet n'a plus que %(num)d demi-journées : rechargez-le, ou réservez moins de demi-journées.",
            balance,
        )
    texts = {
        "taken": _("Ce créneau vient d'être réservé par quelqu'un d'autre : choisissez-en un autre."),
        "past": _("Ce créneau est déjà passé : choisissez une demi-journée à venir."),
        "closed": _("L'espace est fermé ce jour-là : choisissez un autre jour."),
        "inactive": _("Cette salle n'est plus proposée à la réservation."),
        "unknown_resource": _("Cette salle n'existe pas."),
        "name_missing": _("Indiquez votre nom : l'accueil doit savoir qui a réservé."),
        "name_long": _("Ce nom est trop long (160 caractères au plus)."),
        "email_invalid": _("Cette adresse e-mail n'est pas complète (par exemple : prenom@exemple.fr)."),
        "no_credit": _("Il ne vous reste pas assez de demi-journées pour cette réservation."),
        "no_right": _("Votre formule ne permet pas de payer ainsi : choisissez un autre paiement, ou voyez l'accueil."),
        "no_half_day": _("Choisissez au moins une demi-journée."),
        "too_long": _("Pour une réservation aussi longue, adressez-vous à l'accueil."),
        "voucher_one_half_day": _(
            "Un bon de salle paie une seule demi-journée : choisissez le matin ou l'après-midi d'un seul jour, ou "
            "payez à l'accueil."
        ),
        "too_far": _("À cet écran, on réserve pour aujourd'hui et les 6 jours suivants. Au-delà, voyez l'accueil."),
        "payment": _("Choisissez comment payer."),
        "counter_closed": _("Le paiement à l'accueil n'est possible qu'aux heures d'ouverture de l'accueil."),
        "counter_full": _("Trop de réservations restent à régler à l'accueil : réglez d'abord à l'accueil."),
        "changed": _("Le prix ou les créneaux ont changé : vérifiez-les ci-dessus, puis validez à nouveau."),
        "cancelled": _("Cette réservation est déjà annulée."),
        "unknown_booking": _("Cette réservation n'existe pas."),
        "too_late_to_cancel": _("Une réservation s'annule au plus tard la veille. Adressez-vous à l'accueil."),
        "not_cancellable": _("Ici, les réservations ne s'annulent pas à l'écran. Adressez-vous à l'accueil."),
    }
    return texts.get(reason, _("Opération impossible. Adressez-vous à l'accueil."))


# ---------------------------------------------------------------------------------------------- the board


def _now(kiosk: Kiosk) -> SlotRef:
    return slot_at(kiosk.now(), kiosk.rules)


def first_bookable(ref: SlotRef) -> tuple[dt.date, Slot]:
    """The first half-day that is not over: the current one, or the next."""
    if ref.inside or ref.slot == Slot.MORNING:  # in a half-day, or before the morning opens
        return (ref.date, ref.slot)
    return (ref.date + dt.timedelta(days=1), Slot.MORNING)


def is_past(day: dt.date, slot: Slot, first: tuple[dt.date, Slot]) -> bool:
    return (day, SLOTS.index(slot)) < (first[0], SLOTS.index(first[1]))


@dataclass(frozen=True)
class Cell:
    day: dt.date
    slot: Slot
    state: str  # "free", "booked", "past", "closed"


def _visit_or_none() -> Visit | None:
    token = request.values.get("t", "")
    if not token:
        return None
    return visit(token)


@bp.get("/")
def board() -> tuple[str, int] | BaseResponse:
    """What is free today and this week, per resource, morning and afternoon."""
    try:
        visit_ = _visit_or_none()
    except AccountClosed:
        return closed_page()
    kiosk = current_kiosk()
    ref = _now(kiosk)
    first = first_bookable(ref)
    with kiosk.db.read() as s:
        resources = s.scalars(select(Resource).where(Resource.active.is_(True)).order_by(Resource.name)).all()
        cells = availability(s, ref.date, BOARD_DAYS, [r.id for r in resources])
        closed = _closures(s, ref.date)
        s.expunge_all()
    days = [ref.date + dt.timedelta(days=n) for n in range(BOARD_DAYS)]
    rows: dict[str, list[list[Cell]]] = {}
    for r in resources:
        rows[r.id] = [
            [
                Cell(
                    day,
                    slot,
                    "closed"
                    if day in closed
                    else "past"
                    if is_past(day, slot, first)
                    else "booked"
                    if cells[(r.id, day, slot)] is not None
                    else "free",
                )
                for slot in SLOTS
            ]
            for day in days
        ]
    return render_template(
        "screen/rooms.html",
        resources=resources,
        rows=rows,
        visit=visit_,
        kind_name=kind_name,
        day_label=day_label,
        half_label=half_label,
        today=ref.date,
    ), 200


def _closures(s: Session, first: dt.date) -> set[dt.date]:
    last = first + dt.timedelta(days=BOARD_DAYS + MAX_DAYS_IN_A_ROW)
    return set(s.scalars(select(Closure.date).where(Closure.date >= first, Closure.date <= last)))


# ---------------------------------------------------------------------------------------------- the form


@dataclass(frozen=True)
class Choice:
    """What the visitor picked: the first day, which half ("morning", "afternoon", "both"), days in a row."""

    day: dt.date
    half: str
    days: int

    @property
    def half_days(self) -> list[tuple[dt.date, Slot]]:
        slots = list(SLOTS) if self.half == "both" else [Slot(self.half)]
        return [(self.day + dt.timedelta(days=n), slot) for n in range(self.days) for slot in slots]

    def signature(self, price: int) -> str:
        return f"{self.day.isoformat()}|{self.half}|{self.days}|{price}"


def _choice(today: dt.date) -> Choice:
    values = request.values
    try:
        day = dt.date.fromisoformat(values.get("day", ""))
    except ValueError:
        day = today
    if not today <= day < today + dt.timedelta(days=BOARD_DAYS):
        day = today
    half = values.get("half", "")
    if half not in HALVES:
        slot = values.get("slot", "")
        half = slot if slot in ("morning", "afternoon") else "both"
    try:
        days = int(values.get("days", "1"))
    except ValueError:
        days = 1
    return Choice(day, half, min(max(days, 1), MAX_DAYS_IN_A_ROW))


@dataclass(frozen=True)
class PayWay:
    """A way to pay shown on the form: its value, its words, whether it can be used now."""

    value: str
    label: str
    ok: bool


def _pay_ways(kiosk: Kiosk, visit_: Visit | None, rights: RoomRights | None, wanted: int) -> list[PayWay]:
    if visit_ is None or rights is None:
        walk_in = []
        if PaymentMethod.COUNTER in kiosk.providers:
            walk_in.append(PayWay(BookingPayment.COUNTER, _("À l'accueil ou dans la boîte"), True))
        if PaymentMethod.VOUCHER in kiosk.providers:
            # A room voucher buys one half-day: offered greyed out for more, with the form saying why.
            walk_in.append(PayWay(BookingPayment.VOUCHER, _("Bon prépayé de salle (une demi-journée)"), wanted == 1))
        return walk_in
    ways = []
    if rights.included_subscription is not None:
        label = _(
            "Demi-journées de salle de votre formule (%(left)d sur %(total)d ce mois-ci)",
            left=rights.included_left,
            total=rights.included_per_month,
        )
        ways.append(PayWay(BookingPayment.INCLUDED, label, rights.included_left >= wanted))
    if rights.carnet_subscription is not None:
        label = ngettext(
            "Mon carnet (%(num)d demi-journée restante)",
            "Mon carnet (%(num)d demi-journées restantes)",
            rights.carnet_balance,
        )
        ways.append(PayWay(BookingPayment.CARNET, label, rights.carnet_overdraft or rights.carnet_balance >= wanted))
    return ways


def _render_form(resource_id: str, error: str | None = None, status: int = 200) -> tuple[str, int] | BaseResponse:
    try:
        visit_ = _visit_or_none()
    except AccountClosed:
        return closed_page()
    kiosk = current_kiosk()
    ref = _now(kiosk)
    choice = _choice(ref.date)
    with kiosk.db.read() as s:
        resource = s.get(Resource, resource_id)
        if resource is None or not resource.active:
            return error_page(booking_refusal("unknown_resource"), 404)
        s.expunge(resource)
        rights = room_rights(s, visit_.member_id, choice.day, kiosk.config.site.device) if visit_ else None
        taken = availability(s, choice.day, choice.days, [resource.id])
    half_days = choice.half_days
    price = price_cents(resource, half_days)
    busy = [(d, sl) for d, sl in half_days if taken.get((resource.id, d, sl)) is not None]
    ways = _pay_ways(kiosk, visit_, rights, len(half_days))
    days = [ref.date + dt.timedelta(days=n) for n in range(BOARD_DAYS)]
    return render_template(
        "screen/book.html",
        resource=resource,
        choice=choice,
        half_days=half_days,
        busy=busy,
        price=price,
        signature=choice.signature(price),
        ways=ways,
        halves=halves,
        visit=visit_,
        days=days,
        max_days=MAX_DAYS_IN_A_ROW,
        kind_name=kind_name,
        day_label=day_label,
        half_label=half_label,
        form=request.form,
        error=error,
    ), status


@bp.get("/<resource_id>")
def book_form(resource_id: str) -> tuple[str, int] | BaseResponse:
    return _render_form(resource_id)


@bp.post("/<resource_id>")
def book_it(resource_id: str) -> tuple[str, int] | BaseResponse:
    """Book in one write transaction: the walk-in's sale and the booking, or the member's booking from their plan."""
    try:
        visit_ = _visit_or_none()
    except AccountClosed:
        return closed_page()
    kiosk = current_kiosk()
    ref = _now(kiosk)
    choice = _choice(ref.date)
    form = request.form
    paid_by = form.get("paid_by", "")
    stamp = kiosk.stamp()
    config = kiosk.config
    try:
        with kiosk.db.write() as s:
            resource = s.get(Resource, resource_id)
            if resource is None:
                raise BookingRefused("unknown_resource")
            price = price_cents(resource, choice.half_days)
            if form.get("signature") != choice.signature(price):
                raise BookingRefused("changed")
            if choice.half_days[-1][0] >= ref.date + dt.timedelta(days=BOARD_DAYS + MAX_DAYS_IN_A_ROW):
                raise BookingRefused("too_far")
            if visit_ is not None:
                if paid_by not in (BookingPayment.CARNET, BookingPayment.INCLUDED):
                    raise BookingRefused("payment")
                name, email, member_id, sale_id = visit_.first_name, None, visit_.member_id, None
            else:
                if paid_by not in (BookingPayment.COUNTER, BookingPayment.VOUCHER):
                    raise BookingRefused("payment")
                name, email = _walk_in(form.get("name", ""), form.get("email", ""))
                if paid_by == BookingPayment.VOUCHER:
                    voucher_code = _voucher_paid(kiosk, s, len(choice.half_days))
                else:
                    _counter_open(kiosk, s, ref.date)
                    voucher_code = None
                sale = books.record(
                    s,
                    config.books,
                    stamp,
                    kind=BookKind.BOOKING,
                    plan_kind=ROOM_SALE,
                    amount_cents=price,
                    label=books.booking_label(resource.name, len(choice.half_days)),
                    provider=PaymentMethod.VOUCHER if voucher_code else PaymentMethod.COUNTER,
                    paid=voucher_code is not None,
                    voucher_code=voucher_code,
                    buyer_name=name,
                    buyer_email=email,
                )
                books.announce(s, config.site.device, sale, stamp)
                member_id, sale_id = None, sale.id
            rows = book(
                s,
                resource_id=resource.id,
                half_days=choice.half_days,
                name=name,
                origin="kiosk",
                device_id=config.site.device,
                stamp=stamp,
                paid_by=paid_by,
                member_id=member_id,
                email=email,
                sale_id=sale_id,
                today=ref.date,
                site_id=config.site.id,
                not_before=first_bookable(ref),
            )
            group = rows[0].group_id
    except BookingRefused as exc:
        balance = exc.details.get("balance")
        return _render_form(
            resource_id, booking_refusal(exc.reason, balance if isinstance(balance, int) else None), 422
        )
    except PaymentRefused as exc:
        if exc.guess:
            who, _client = _voucher_guesser()
            kiosk.guesses.failure(who)
        return _render_form(resource_id, refusal(exc.reason, exc.details), 422)
    except IntegrityError:
        # Two bookings raced for the same voucher: the database's unique code let only one through.
        return _render_form(resource_id, refusal("voucher_used"), 422)
    session["booking"] = group
    session.pop("booking_door", None)
    if visit_ is None and ref.inside and (ref.date, ref.slot) in choice.half_days:
        # Booked for the half-day under way: the walk-in is at the door, let them in now as a pass's buyer is.
        reply = admit_booking(kiosk, group)
        session["booking_door"] = {"group": group, "answered": reply is not None, "ok": bool(reply and reply.ok)}
    return _done(group, visit_)


def _walk_in(name: str, email: str) -> tuple[str, str | None]:
    """A walk-in's name and e-mail, cleaned: the name is needed (the desk must know who booked), the e-mail only if
    they want a receipt (DESIGN.md, personal data)."""
    clean = " ".join(name.split())
    address = email.strip()
    if not clean:
        raise BookingRefused("name_missing")
    if len(clean) > NAME_MAX:
        raise BookingRefused("name_long")
    if address and (len(address) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(address)):
        raise BookingRefused("email_invalid")
    return clean, address or None


def _voucher_guesser() -> tuple[str, str]:
    # The touchscreen's count of voucher guesses, shared with the passes' (kiosk/screen.py): a guesser gains no tries
    # by switching from a pass to a room. Imported here, as kiosk/screen.py imports this module.
    from kiosk.screen import VOUCHER, guesser

    return guesser(VOUCHER)


def _voucher_paid(kiosk: Kiosk, s: Session, half_days: int) -> str:
    """The code of the room voucher typed in, genuine, of the room kind and unused, checked in the booking's write
    transaction; PaymentRefused (counted against guessing, as at the passes) or BookingRefused otherwise."""
    provider = kiosk.providers.get(PaymentMethod.VOUCHER)
    if not isinstance(provider, VoucherPayment):
        raise BookingRefused("payment")
    if half_days != 1:
        raise BookingRefused("voucher_one_half_day")
    who, client = _voucher_guesser()
    wait = kiosk.guesses.wait_s(who, client)
    if wait > 0:
        raise PaymentRefused("throttled", seconds=wait)
    kiosk.guesses.attempt(client)
    payment = provider.spend(s, ROOM_HALFDAY, request.form)
    if payment.voucher_code is None:  # a voucher's payment always names its code
        raise BookingRefused("payment")
    return payment.voucher_code


def _counter_open(kiosk: Kiosk, s: Session, today: dt.date) -> None:
    """A walk-in's booking at the counter holds a room before anyone is paid: only in the counter's hours, and only
    so many stay unpaid, so that nobody can hold every room of the week from the touchscreen."""
    provider = kiosk.providers.get(PaymentMethod.COUNTER)
    if not isinstance(provider, CounterPayment):
        raise BookingRefused("payment")
    if not provider.hours.contains(kiosk.now().astimezone(kiosk.rules.tz)):
        raise BookingRefused("counter_closed")
    unpaid = s.scalar(
        select(func.count(func.distinct(Booking.group_id)))
        .join(Sale, Sale.id == Booking.sale_id)
        .where(
            Booking.cancelled_at.is_(None),
            Booking.local_date >= today,
            Sale.paid.is_(False),
            Sale.provider == PaymentMethod.COUNTER,
        )
    )
    if int(unpaid or 0) >= provider.unpaid_per_slot:
        raise BookingRefused("counter_full")


def _done(group: str, visit_: Visit | None) -> tuple[str, int] | BaseResponse:
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        rows = group_rows(s, group)
        resource = s.get(Resource, rows[0].resource_id) if rows else None
        sale = s.get(Sale, rows[0].sale_id) if rows and rows[0].sale_id else None
        rights = room_rights(s, visit_.member_id, rows[0].local_date, kiosk.config.site.device) if visit_ else None
        s.expunge_all()
    if not rows or resource is None:
        return error_page(booking_refusal("unknown_booking"), 404)
    code = rows[0].code
    door = session.get("booking_door")
    door_text = None
    if isinstance(door, dict) and door.get("group") == group:
        door_text = door_words(door)
    return render_template(
        "screen/booked.html",
        rows=rows,
        resource=resource,
        sale=sale,
        code=f"{code[:3]} {code[3:]}" if code else None,
        first_name=rows[0].name.split(" ")[0],
        visit=visit_,
        rights=rights,
        door_text=door_text,
        kind_name=kind_name,
        day_label=day_label,
        half_label=half_label,
    ), 200


def door_words(door: dict[str, object]) -> tuple[str, bool]:
    """What the door answered when the walk-in booked for the half-day under way."""
    if not door.get("answered"):
        return _("La porte ne répond pas pour l'instant : tapez votre code sur cet écran dans un instant."), False
    if door.get("ok"):
        return _("La porte est ouverte : entrez !"), True
    return _("La porte a refusé ce code. Adressez-vous à l'accueil."), False


@bp.get("/booked/<group>")
def booked(group: str) -> tuple[str, int] | BaseResponse:
    """The booking just made, shown again (a reload) to the browser that made it, for a short while only: a
    walk-in's code is not for the next visitor's eyes."""
    kiosk = current_kiosk()
    if session.get("booking") != group:
        return error_page(booking_refusal("unknown_booking"), 404)
    with kiosk.db.read() as s:
        created = s.scalar(select(Booking.created_at).where(Booking.group_id == group).limit(1))
    if created is None or kiosk.now() - created > dt.timedelta(seconds=kiosk.tuning.pass_page_s):
        return error_page(booking_refusal("unknown_booking"), 404)
    try:
        visit_ = _visit_or_none()
    except AccountClosed:
        visit_ = None
    return _done(group, visit_)


# ---------------------------------------------------------------------------------------------- a member's own


@bp.post("/cancel/<group>")
def cancel_mine(group: str) -> tuple[str, int] | BaseResponse:
    """A member cancels their own booking from their account (the site's rule allowing)."""
    try:
        visit_ = _visit_or_none()
    except AccountClosed:
        return closed_page()
    if visit_ is None:
        return closed_page()
    kiosk = current_kiosk()
    ref = _now(kiosk)
    try:
        with kiosk.db.write() as s:
            rows = group_rows(s, group)
            if not rows or rows[0].member_id != visit_.member_id:
                raise BookingRefused("unknown_booking")
            stamp = kiosk.stamp()
            cancel(
                s,
                group,
                device_id=kiosk.config.site.device,
                stamp=stamp,
                today=ref.date,
                by_manager=False,
                rule=kiosk.config.rooms.cancel,
            )
            books.cancel_unpaid(s, kiosk.config.books, rows[0].sale_id, kiosk.config.site.device, stamp)
    except BookingRefused as exc:
        return _page(visit_, 422, error=booking_refusal(exc.reason))
    return _page(visit_, done=_("Réservation annulée."))


# ---------------------------------------------------------------------------------------------- the code


def booking_by_code(s: Session, code: str, now: SlotRef) -> list[Booking]:
    """The walk-in's booking whose code opens now (its half-day is the current one), or an empty list."""
    if not now.inside:
        return []
    return booking_for_code(s, code, now.date, now.slot)


def admit_booking(kiosk: Kiosk, group: str) -> Reply | None:
    """Ask the door to let a booking's holder in now; None when the door did not answer."""
    if kiosk.link is None:
        return None
    command = Admit(request_id(), credential=BOOKING_CREDENTIAL_PREFIX + group)
    return kiosk.link.request(command, kiosk.tuning.command_timeout_s)


def rooms_on_offer(kiosk: Kiosk) -> bool:
    """Whether the site has a room or office to book (the waiting screen then offers "Réserver une salle")."""
    with kiosk.db.read() as s:
        return s.scalar(select(Resource.id).where(Resource.active.is_(True)).limit(1)) is not None
