"""A site's rooms and offices at the hub: its resources, the coming week's bookings, and the bookings asked for here
("demandée" until the site answers: réservée, or refusée with why)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from common.db import utcnow
from common.i18n import _
from sync.hub import bookings
from sync.hub.admin import HubError
from sync.hub.booking_requests import request_booking
from sync.hub.models import Site
from sync.hub.web import forms
from sync.hub.web.context import current_actor, current_hub

bp = Blueprint("rooms", __name__)

# How far ahead the page shows bookings.
BOARD_DAYS = 7


def refusal_words(reason: str | None) -> str:
    """Why the site refused a booking, in words a manager reads (access.bookings.BookingRefused's reasons)."""
    words = {
        "taken": _("déjà réservé sur ce créneau"),
        "past": _("ce créneau est passé"),
        "closed": _("le site est fermé ce jour-là"),
        "inactive": _("cette salle n'est plus proposée"),
        "unknown_resource": _("salle inconnue du site"),
        "name_missing": _("nom manquant"),
        "no_credit": _("plus assez de demi-journées sur le carnet"),
        "no_right": _("ce membre n'a pas de formule qui le permette"),
        "too_long": _("trop de demi-journées en une réservation"),
        "payment": _("moyen de paiement refusé"),
    }
    return words.get(reason or "", reason or "")


def state_words(state: str) -> str:
    return {
        "waiting": _("demandée"),
        "booked": _("réservée"),
        "refused": _("refusée"),
        "expired": _("sans réponse du site : demandez à nouveau"),
    }.get(state, state)


def _site(site_id: str) -> Site:
    if not current_actor().may_manage(site_id):
        abort(404)
    with current_hub().db.read() as s:
        found = s.get(Site, site_id)
    if found is None:
        abort(404)
    return found


@bp.get("/sites/<site_id>/rooms")
def rooms(site_id: str) -> str:
    site = _site(site_id)
    today = utcnow().astimezone(zoneinfo.ZoneInfo(site.timezone)).date()
    now = utcnow()
    with current_hub().db.read() as s:
        resources = bookings.site_resources(s, site_id)
        board = bookings.site_bookings(s, site_id, today, today + dt.timedelta(days=BOARD_DAYS - 1))
        asked = bookings.site_requests(s, site_id)
    names = {r.id: r.name for r in resources}
    return render_template(
        "hub/rooms.html",
        site=site,
        resources=resources,
        board=board,
        asked=[(r, "expired" if r.state == "waiting" and r.expires <= now else r.state) for r in asked],
        names=names,
        today=today,
        refusal_words=refusal_words,
        state_words=state_words,
    )


@bp.post("/sites/<site_id>/rooms")
def ask(site_id: str) -> BaseResponse:
    _site(site_id)
    day = forms.date("date", _("Date"))
    slots = {"morning": ["morning"], "afternoon": ["afternoon"], "day": ["morning", "afternoon"]}.get(
        request.form.get("slots", ""), []
    )
    name = forms.text("name", 80)
    if day is None or not slots or not name:
        flash(_("Refusé : indiquez la salle, la date, le créneau et le prénom."))
        return redirect(url_for("rooms.rooms", site_id=site_id))
    try:
        with current_hub().db.write() as s:
            bookings.expire_requests(s, utcnow())
        request_booking(
            current_hub().db,
            site_id,
            forms.text("resource", 32),
            [(day, slot) for slot in slots],
            name,
            actor=current_actor(),
            paid_by=request.form.get("paid_by", "counter"),
        )
        flash(_("Réservation demandée au site : elle s'affiche réservée dès sa réponse."))
    except HubError as exc:
        if exc.code in ("unknown_resource", "bad_booking"):
            flash(_("Refusé : %(why)s", why=_("salle inconnue, ou réservation mal formée")))
        else:
            forms.refused(exc)
    return redirect(url_for("rooms.rooms", site_id=site_id))
