"""A networked site's changes, asked of the hub from the admin: a member added at the desk, a badge enrolled by
tapping it at the door, a carnet topped up and paid at the counter.

Each becomes a change request (sync/PROTOCOL.md) kept in the ledger's `hub_requests` before anything else, so it
is never lost: the sync agent sends it when the hub can be reached, and writes the hub's answer into the same row.
The pages show where each one stands: sent and waiting for the hub, accepted, or refused and why. A badge's UID
goes into the request alone; no page and no log line of the kiosk shows it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_babel import format_currency
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers.response import Response as BaseResponse

from access import admin
from access.models import HubRequest, Member, Plan, Subscription
from common.db import new_id
from common.i18n import _, ngettext
from common.words import PaymentMethod, PlanKind
from kiosk.context import Kiosk, current_kiosk
from sync.localbus import ChangeReply, ChangeRequest
from sync.payloads import EMAIL_LEN, make_request
from sync.protocol import MAX_AMOUNT_CENTS, TOP_UP_HALF_DAYS, ProtocolError

log = logging.getLogger("halfday.kiosk.admin")

# The requests the members page lists: enough to follow a busy morning at the desk.
LISTED = 30
# An amount typed at the desk, in euros: "90", "90,5", "90.50".
AMOUNT_RE = re.compile(r"\s*(\d{1,6})(?:[.,](\d{1,2}))?\s*(?:€)?\s*")


class Refused(ValueError):
    """A desk form the admin does not send to the hub; the text says why, for the manager."""


# ---------------------------------------------------------------------------------------------- words


def refusal(code: str | None) -> str:
    """Why the hub refused, in a sentence the manager can act on (the codes of sync/PROTOCOL.md)."""
    texts = {
        "uid_in_use": _("ce badge est déjà celui d'un autre membre du réseau. Présentez un autre badge."),
        "unknown_member": _("le hub ne connaît pas ce membre."),
        "member_exists": _("ce membre existe déjà au hub avec d'autres informations."),
        "bad_uid": _("le hub n'accepte pas ce badge : son identifiant n'est pas valide."),
        "forbidden_site": _(
            "ce membre n'est pas un membre de ce lieu : aucune formule valable ici, et il n'a pas été inscrit ici. "
            "Voyez avec le réseau."
        ),
        "unknown_subscription": _("le hub ne connaît pas ce carnet."),
        "not_a_carnet": _("cette formule n'est pas un carnet : elle ne se recharge pas."),
        "bad_top_up": _("le hub refuse ce nombre de demi-journées ou ce montant."),
        ChangeReply.INVALID: _("la demande était incomplète et n'a pas été envoyée. Recommencez."),
    }
    if code in texts:
        return texts[code]
    return _("le hub a refusé la demande (code « %(code)s »).", code=code or "?")


def _provider_label(provider: str) -> str:
    return _("payé par bon") if provider == PaymentMethod.VOUCHER else _("payé au comptoir")


@dataclass(frozen=True)
class RequestLine:
    """One request as the admin lists it."""

    id: str
    at: dt.datetime
    what: str
    state: str  # pending | accepted | refused
    state_text: str


def _what(row: HubRequest, names: dict[str, str]) -> str:
    data = row.data
    name = names.get(row.member_id or "", _("un membre"))
    if row.kind == "add_member":
        full = f"{data.get('first_name', '')} {data.get('last_name', '')}".strip()
        if data.get("uid"):
            return _("Nouveau membre : %(name)s, avec un badge", name=full)
        return _("Nouveau membre : %(name)s", name=full)
    if row.kind == "enrol_badge":
        if row.origin == "hub":
            return _("Badge de %(name)s, présenté à la demande du hub", name=name)
        return _("Badge de %(name)s, présenté au lecteur", name=name)
    if row.kind == "top_up":
        return _(
            "Recharge du carnet de %(name)s : %(half_days)s, %(amount)s, %(paid)s",
            name=name,
            half_days=ngettext("%(num)d demi-journée", "%(num)d demi-journées", int(data.get("half_days", 0))),
            amount=format_currency(int(data.get("amount_cents", 0)) / 100, "EUR"),
            paid=_provider_label(str(data.get("provider"))),
        )
    return row.kind


def _state(row: HubRequest) -> tuple[str, str]:
    if row.answered_at is None:
        return "pending", _("Envoyé, en attente du hub")
    if row.ok:
        return "accepted", _("Accepté")
    return "refused", _("Refusé : %(reason)s", reason=refusal(row.error))


def request_lines(session: Session, member_id: str | None = None, limit: int = LISTED) -> list[RequestLine]:
    """The latest requests (of one member, if given), newest first."""
    query = select(HubRequest).order_by(HubRequest.created_at.desc()).limit(limit)
    if member_id is not None:
        query = query.where(HubRequest.member_id == member_id)
    rows = session.scalars(query).all()
    ids = {r.member_id for r in rows if r.member_id}
    names = {m.id: m.full_name for m in session.scalars(select(Member).where(Member.id.in_(ids)))}
    lines = []
    for row in rows:
        state, text = _state(row)
        lines.append(RequestLine(row.id, row.created_at, _what(row, names), state, text))
    return lines


# ---------------------------------------------------------------------------------------------- keeping a request


def keep(kiosk: Kiosk, kind: str, data: dict[str, Any], member_id: str) -> str:
    """Check a request as the hub will, keep it in the ledger for the agent, and tell the agent (if the bus is up).

    Kept first, told second: with the bus or the agent down the request waits in the ledger, where the agent
    looks for it when it is back."""
    request_id = new_id()
    now = kiosk.now()
    try:
        make_request(kiosk.config.site.id, kiosk.config.site.device, request_id, now, kind, data)
    except ProtocolError as exc:
        raise Refused(_("Demande impossible : %(problem)s", problem=str(exc))) from None
    with kiosk.db.write() as s:
        s.add(HubRequest(id=request_id, kind=kind, member_id=member_id, data=data, origin="desk", created_at=now))
    link = kiosk.link
    if link is not None and link.connected:
        nudge = ChangeRequest(request_id, kind, data)
        link.client.publish(nudge.topic, nudge.encode(), windowed=False)
    log.info("demande %s (%s) gardée pour le hub", request_id, kind)
    return request_id


def _tapped_badge(kiosk: Kiosk) -> str:
    """Put the door in enrol mode and wait for the badge; Refused (without the UID) when none came."""
    reply, uid = (None, None)
    if kiosk.link is not None:
        reply, uid = kiosk.link.enrol(kiosk.tuning.command_timeout_s, kiosk.tuning.enrol_timeout_s)
    if uid is None:
        if reply is None:
            raise Refused(_("La porte ne répond pas : aucun badge n'a pu être lu. Rien n'a été envoyé au hub."))
        raise Refused(_("Aucun badge présenté au lecteur à temps. Rien n'a été envoyé au hub : recommencez."))
    try:
        return admin.normalise_uid(uid, kiosk.config.badges)
    except admin.AdminError:
        # The reason would quote the UID: the manager is told what to do instead.
        raise Refused(_("Ce badge ne peut pas servir dans ce lieu : présentez-en un autre.")) from None


def _done(target: str) -> BaseResponse:
    """The answer to a form: JSON for the page's background post (kiosk/static/admin.js), else a redirect."""
    if request.accept_mimetypes.best == "application/json":
        return jsonify(done=True)
    return redirect(target)


# ---------------------------------------------------------------------------------------------- the desk's forms


def check_member_form(form: Any) -> dict[str, Any]:
    """The new member's details from the desk's form, checked; Refused with the reason."""
    try:
        first = admin.check_name(form.get("first_name", ""), "le prénom")
        last = admin.check_name(form.get("last_name", ""), "le nom")
        email = admin.check_email(form.get("email"))
    except admin.AdminError as exc:
        raise Refused(str(exc)) from None
    if email is not None and len(email) > EMAIL_LEN:
        raise Refused(_("l'adresse e-mail est trop longue (%(max)d caractères au plus)", max=EMAIL_LEN))
    return {"member_id": new_id(), "first_name": first, "last_name": last, "email": email, "uid": None}


def ask_add_member() -> BaseResponse | None:
    """POST /admin/members on a networked site: ask the hub to add the member, with a badge tapped if wanted.
    None when the form is refused (flashed), for the caller to show the form again."""
    kiosk = current_kiosk()
    try:
        data = check_member_form(request.form)
        if request.form.get("tap_badge"):
            data["uid"] = _tapped_badge(kiosk)
        keep(kiosk, "add_member", data, data["member_id"])
    except Refused as exc:
        flash(str(exc), "error")
        if request.accept_mimetypes.best == "application/json":
            return jsonify(done=False)
        return None
    name = f"{data['first_name']} {data['last_name']}"
    flash(_("Ajout de %(name)s demandé au hub : il apparaîtra dans la liste une fois accepté.", name=name), "ok")
    return _done(url_for("admin.members"))


def _require_member(kiosk: Kiosk, member_id: str) -> None:
    """Only a member the roster carries: a page for anyone else does not exist."""
    with kiosk.db.read() as s:
        if s.get(Member, member_id) is None:
            abort(404)


def ask_enrol(member_id: str) -> BaseResponse:
    """POST /admin/members/<id>/enrol on a networked site: the badge tapped at the door, asked of the hub."""
    kiosk = current_kiosk()
    _require_member(kiosk, member_id)
    try:
        keep(kiosk, "enrol_badge", {"member_id": member_id, "uid": _tapped_badge(kiosk)}, member_id)
    except Refused as exc:
        flash(str(exc), "error")
    else:
        flash(_("Badge lu : demande envoyée au hub. Il ouvrira la porte une fois accepté."), "ok")
    return _done(url_for("admin.member", member_id=member_id))


def _amount_cents(raw: str) -> int:
    found = AMOUNT_RE.fullmatch(raw or "")
    if found is None:
        raise Refused(_("Indiquez le montant payé en euros, par exemple 90 ou 90,50."))
    cents = int(found.group(1)) * 100 + int((found.group(2) or "0").ljust(2, "0"))
    if cents > MAX_AMOUNT_CENTS:
        raise Refused(_("Ce montant est trop élevé pour une recharge : vérifiez la saisie."))
    return cents


def check_top_up_form(session: Session, member_id: str, form: Any) -> dict[str, Any]:
    """A carnet's top-up from the desk's form, checked against the roster; Refused with the reason."""
    found = session.execute(
        select(Subscription, Plan)
        .join(Plan, Subscription.plan_id == Plan.id)
        .where(Subscription.id == form.get("subscription_id", ""), Subscription.member_id == member_id)
    ).first()
    if found is None or found[1].kind != PlanKind.CARNET:
        raise Refused(_("Ce membre n'a pas ce carnet : rechargez l'un de ceux affichés sur sa page."))
    low, high = TOP_UP_HALF_DAYS
    raw = (form.get("half_days") or "").strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise Refused(_("Indiquez un nombre de demi-journées de %(low)d à %(high)d.", low=low, high=high))
    provider = form.get("provider", "")
    if provider not in tuple(PaymentMethod):
        raise Refused(_("Indiquez comment la recharge a été payée : au comptoir ou par bon."))
    return {
        "subscription_id": found[0].id,
        "half_days": int(raw),
        "amount_cents": _amount_cents(form.get("amount", "")),
        "provider": provider,
    }


def ask_top_up(member_id: str) -> BaseResponse:
    """POST /admin/members/<id>/topup on a networked site: a carnet refilled and paid at the desk, asked of the hub."""
    kiosk = current_kiosk()
    _require_member(kiosk, member_id)
    try:
        with kiosk.db.read() as s:
            data = check_top_up_form(s, member_id, request.form)
        keep(kiosk, "top_up", data, member_id)
    except Refused as exc:
        flash(str(exc), "error")
    else:
        flash(_("Recharge demandée au hub : le solde changera une fois acceptée."), "ok")
    return redirect(url_for("admin.member", member_id=member_id))
