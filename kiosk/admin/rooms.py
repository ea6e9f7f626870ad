"""Rooms and offices in the admin: the site's resources (added, edited, deactivated and reactivated, through
access/resources.py as the CLI), each with its week's board of bookings by the half-day, where the manager books
for a member or a walk-in and cancels (the manager always may), through access/bookings.py as the touchscreen;
the address of the resource's calendar feed (kiosk/ical.py) and a button that replaces it; and the room
half-days a month the plans include.

Resources are the site's own, networked or not: its appliance is the one writer of their bookings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_currency, format_date
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers.response import Response as BaseResponse

from access import admin, bookings, books, resources
from access.admin import AdminError
from access.models import Booking, Member, Resource
from common.i18n import _
from common.words import SLOTS, BookKind, PaymentMethod, Slot
from kiosk.admin import bp
from kiosk.booking import ROOM_SALE
from kiosk.context import current_kiosk

WEEK = dt.timedelta(days=7)
# A booking made at the admin covers at most this many days in a row: a longer stay is a rental, not a booking.
BOOKING_DAYS_MAX = 14


def resource_kind_label(kind: str) -> str:
    labels = {
        "meeting_room": _("Salle de réunion"),
        "office": _("Bureau"),
        "phone_box": _("Cabine téléphonique"),
    }
    return labels.get(kind, kind)


def slot_label(slot: str) -> str:
    return _("Matin") if slot == Slot.MORNING else _("Après-midi")


def paid_label(paid_by: str) -> str:
    labels = {
        "counter": _("à l'accueil"),
        "voucher": _("bon d'achat"),
        "carnet": _("carnet"),
        "included": _("compris dans la formule"),
    }
    return labels.get(paid_by, paid_by)


def refusal(exc: bookings.BookingRefused) -> str:
    """Why a booking or a cancellation was refused, as the manager reads it."""
    reasons = {
        "taken": _("Ce créneau est déjà réservé : rien n'a été réservé."),
        "past": _("Ce créneau est passé."),
        "closed": _("Le lieu est fermé ce jour-là."),
        "inactive": _("Cette salle est désactivée : réactivez-la pour la réserver."),
        "unknown_resource": _("Cette salle n'existe pas."),
        "name_missing": _("Indiquez le nom de la personne qui réserve."),
        "no_credit": _("Il ne reste pas assez de demi-journées pour cette réservation."),
        "no_right": _("Ce membre n'a pas de formule qui permette ce paiement."),
        "too_late_to_cancel": _("Il est trop tard pour annuler."),
        "cancelled": _("Cette réservation est déjà annulée."),
        "not_cancellable": _("Les réservations de ce lieu ne s'annulent pas."),
        "unknown_booking": _("Cette réservation n'existe pas."),
        "name_long": _("Ce nom est trop long."),
        "too_long": _("Une réservation couvre 14 jours au plus."),
        "no_half_day": _("Choisissez au moins une demi-journée."),
        "payment": _("Ce mode de paiement n'est pas possible ici."),
    }
    return reasons.get(exc.reason, _("Réservation refusée : %(reason)s", reason=exc.reason))


def _today() -> dt.date:
    kiosk = current_kiosk()
    return kiosk.now().astimezone(kiosk.config.site.tz).date()


def _int(raw: str | None, default: int = 0) -> int:
    """A whole number from the form; what is not one is refused by the checks (-1)."""
    try:
        return int(raw) if raw and raw.strip() else default
    except ValueError:
        return -1


def _cents(raw: str | None) -> int:
    try:
        return round(float((raw or "0").replace(",", ".").replace("€", "").strip() or 0) * 100)
    except ValueError:
        return -1


def _euros(cents: int) -> str:
    return f"{cents // 100}" if cents % 100 == 0 else f"{cents / 100:.2f}"


def _spec(f: MultiDict[str, str]) -> resources.ResourceSpec:
    return resources.ResourceSpec(
        name=f.get("name", ""),
        kind=f.get("kind", ""),
        capacity=_int(f.get("capacity"), 1),
        price_halfday_cents=_cents(f.get("price_halfday")),
        price_day_cents=_cents(f.get("price_day")),
        door_device=f.get("door_device") or None,
    )


def _words() -> dict[str, Any]:
    return {
        "kinds": resources.KINDS,
        "kind_label": resource_kind_label,
        "slot_label": slot_label,
        "paid_label": paid_label,
    }


# ------------------------------------------------------------------------------------------------- the resources


def _rooms_page(form: Any, status: int = 200) -> tuple[str, int]:
    with current_kiosk().db.read() as s:
        rows = s.scalars(select(Resource).order_by(Resource.active.desc(), Resource.name)).all()
    return render_template("admin/rooms.html", rooms=rows, form=form, **_words()), status


@bp.get("/rooms")
def rooms() -> tuple[str, int]:
    return _rooms_page({})


@bp.post("/rooms")
def add_room() -> BaseResponse | tuple[str, int]:
    f = request.form
    try:
        with current_kiosk().db.write() as s:
            room = resources.add_resource(s, _spec(f))
            room_id, name = room.id, room.name
    except AdminError as exc:
        flash(str(exc), "error")
        return _rooms_page(f, 422)
    flash(_("Salle créée : %(name)s", name=name), "ok")
    return redirect(url_for("admin.room", resource_id=room_id))


def _week_start(raw: str | None, today: dt.date) -> dt.date:
    try:
        day = dt.date.fromisoformat(raw) if raw else today
    except ValueError:
        day = today
    return day - dt.timedelta(days=day.weekday())


def _rights_label(rights: bookings.RoomRights) -> str:
    """What a member may book from, for the manager choosing how they pay: carnet and room half-days left."""
    parts = []
    if rights.carnet_subscription is not None:
        parts.append(_("carnet : %(num)d", num=rights.carnet_balance))
    if rights.included_subscription is not None:
        parts.append(_("salle comprise : %(num)d ce mois-ci", num=rights.included_left))
    return ", ".join(parts)


def _room_page(resource_id: str, form: Any, status: int = 200) -> tuple[str, int]:
    today = _today()
    monday = _week_start(request.args.get("week") or form.get("first"), today)
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    with current_kiosk().db.read() as s:
        room = s.get(Resource, resource_id)
        if room is None:
            abort(404)
        booked = s.scalars(
            select(Booking).where(
                Booking.resource_id == room.id,
                Booking.cancelled_at.is_(None),
                Booking.local_date >= days[0],
                Booking.local_date <= days[-1],
            )
        ).all()
        members = s.scalars(
            select(Member).where(Member.active.is_(True)).order_by(Member.first_name, Member.last_name)
        ).all()
        device = current_kiosk().config.site.device
        rights = {m.id: _rights_label(bookings.room_rights(s, m.id, today, device)) for m in members}
        s.expunge_all()
    board: dict[tuple[dt.date, str], Booking] = {(b.local_date, b.slot): b for b in booked}
    edit = form.get("edit") or {
        "name": room.name,
        "kind": room.kind,
        "capacity": str(room.capacity),
        "price_halfday": _euros(room.price_halfday_cents),
        "price_day": _euros(room.price_day_cents),
        "door_device": room.door_device or "",
    }
    page = render_template(
        "admin/room.html",
        room=room,
        days=days,
        slots=SLOTS,
        board=board,
        today=today,
        previous_week=(monday - WEEK).isoformat(),
        next_week=(monday + WEEK).isoformat(),
        this_week=_week_start(None, today) == monday,
        members=members,
        rights=rights,
        form=form if "edit" not in form else {},
        edit=edit,
        day_label=lambda d: format_date(d, "EEEE d MMMM"),
        feed_url=url_for("ical.feed", resource_id=room.id, secret=room.feed_secret, _external=True),
        days_max=BOOKING_DAYS_MAX,
        **_words(),
    )
    return page, status


@bp.get("/rooms/<resource_id>")
def room(resource_id: str) -> tuple[str, int]:
    return _room_page(resource_id, {})


def _room_change(resource_id: str, change: Callable[[Any], str]) -> BaseResponse:
    try:
        with current_kiosk().db.write() as s:
            said = change(s)
    except AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(said, "ok")
    return redirect(url_for("admin.room", resource_id=resource_id))


@bp.post("/rooms/<resource_id>/edit")
def edit_room(resource_id: str) -> BaseResponse | tuple[str, int]:
    f = request.form
    try:
        with current_kiosk().db.write() as s:
            name = resources.edit_resource(s, resource_id, _spec(f)).name
    except AdminError as exc:
        flash(str(exc), "error")
        return _room_page(resource_id, {"edit": f}, 422)
    flash(_("Salle enregistrée : %(name)s", name=name), "ok")
    return redirect(url_for("admin.room", resource_id=resource_id))


@bp.post("/rooms/<resource_id>/active")
def room_active(resource_id: str) -> BaseResponse:
    active = request.form.get("active") == "1"

    def change(s: Any) -> str:
        name = resources.set_active(s, resource_id, active).name
        if active:
            return _("%(name)s est de nouveau réservable.", name=name)
        return _("%(name)s est désactivée : plus de nouvelle réservation, celles faites restent.", name=name)

    return _room_change(resource_id, change)


@bp.post("/rooms/<resource_id>/secret")
def room_secret(resource_id: str) -> BaseResponse:
    return _room_change(
        resource_id,
        lambda s: _(
            "Nouvelle adresse du calendrier de %(name)s : l'ancienne ne marche plus.",
            name=resources.renew_feed_secret(s, resource_id).name,
        ),
    )


# -------------------------------------------------------------------------------------------------- the bookings


def _half_days(f: MultiDict[str, str]) -> list[tuple[dt.date, Slot]]:
    try:
        first = dt.date.fromisoformat(f.get("first", ""))
    except ValueError:
        raise AdminError(_("Choisissez le premier jour.")) from None
    count = _int(f.get("days"), 1)
    if not 1 <= count <= BOOKING_DAYS_MAX:
        raise AdminError(_("Une réservation couvre de 1 à %(max)d jours.", max=BOOKING_DAYS_MAX))
    which = f.get("slots", "both")
    chosen = SLOTS if which == "both" else tuple(s for s in SLOTS if s == which)
    if not chosen:
        raise AdminError(_("Choisissez le matin, l'après-midi ou les deux."))
    return [(first + dt.timedelta(days=i), slot) for i in range(count) for slot in chosen]


@bp.post("/rooms/<resource_id>/book")
def book_room(resource_id: str) -> BaseResponse | tuple[str, int]:
    f = request.form
    kiosk = current_kiosk()
    try:
        half_days = _half_days(f)
        with kiosk.db.write() as s:
            member_id = f.get("member") or None
            member = s.get(Member, member_id) if member_id else None
            if member_id and member is None:
                raise AdminError(_("Ce membre n'existe pas."))
            paid_by = f.get("paid_by", "counter")
            if member is None and paid_by != "counter":
                raise AdminError(_("Une personne de passage paie à l'accueil."))
            name = member.first_name if member is not None else f.get("name", "").strip()
            email = None if member is not None else (admin.check_email(f.get("email")) or None)
            stamp = kiosk.stamp()
            room = s.get(Resource, resource_id)
            due = bookings.price_cents(room, half_days) if room is not None and paid_by == "counter" else 0
            sale_id = None
            if due:
                # To be paid at the desk: a sale the sales page lists until the manager marks it paid, like the
                # touchscreen's bookings and passes.
                sale = books.record(
                    s,
                    kiosk.config.books,
                    stamp,
                    kind=BookKind.BOOKING,
                    plan_kind=ROOM_SALE,
                    amount_cents=due,
                    label=books.booking_label(room.name if room is not None else "", len(half_days)),
                    provider=PaymentMethod.COUNTER,
                    paid=False,
                    buyer_name=member.full_name if member is not None else name,
                    buyer_email=email,
                    member_id=member.id if member is not None else None,
                )
                books.announce(s, kiosk.config.site.device, sale, stamp)
                sale_id = sale.id
            made = bookings.book(
                s,
                resource_id=resource_id,
                half_days=half_days,
                name=name,
                origin="admin",
                device_id=kiosk.config.site.device,
                stamp=stamp,
                paid_by=paid_by,
                member_id=member.id if member is not None else None,
                email=email,
                guests=tuple(g.strip() for g in f.get("guests", "").split(",") if g.strip()),
                sale_id=sale_id,
                today=_today(),
                site_id=kiosk.config.site.id,
            )
            code = made[0].code if made else None
    except AdminError as exc:
        flash(str(exc), "error")
        return _room_page(resource_id, f, 422)
    except bookings.BookingRefused as exc:
        flash(refusal(exc), "error")
        return _room_page(resource_id, f, 409 if exc.reason == "taken" else 422)
    said = _("Réservé : %(count)d demi-journée(s).", count=len(made))
    if due:
        said += " " + _("À encaisser : %(price)s.", price=format_currency(due / 100, "EUR"))
    if code:
        said += " " + _("Code d'entrée à donner : %(code)s", code=code)
    flash(said, "ok")
    return redirect(url_for("admin.room", resource_id=resource_id, week=half_days[0][0].isoformat()))


@bp.post("/rooms/<resource_id>/cancel")
def cancel_booking(resource_id: str) -> BaseResponse:
    kiosk = current_kiosk()
    group_id = request.form.get("group", "")
    try:
        with kiosk.db.write() as s:
            mine = s.scalar(select(Booking.id).where(Booking.group_id == group_id, Booking.resource_id == resource_id))
            if mine is None:
                abort(404)
            stamp = kiosk.stamp()
            cancelled = bookings.cancel(
                s,
                group_id,
                device_id=kiosk.config.site.device,
                stamp=stamp,
                today=_today(),
                by_manager=True,
                rule=kiosk.config.rooms.cancel,
            )
            books.cancel_unpaid(s, kiosk.config.books, cancelled[0].sale_id, kiosk.config.site.device, stamp)
    except bookings.BookingRefused as exc:
        flash(refusal(exc), "error")
    else:
        flash(_("Réservation annulée : %(count)d demi-journée(s) libérée(s).", count=len(cancelled)), "ok")
    return redirect(url_for("admin.room", resource_id=resource_id, week=request.form.get("week") or None))
