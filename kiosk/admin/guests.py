"""Members' guests in the admin: the manager sees this month's guests and their codes, registers a guest for a
member at the desk, and cancels a guest who has not come in yet. Guests are the site's own facts (the kiosk writes
them, like passes), so this works at a site the hub runs too."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers.response import Response as BaseResponse

from access.guests import GuestRefused, month_of
from access.ledger import slot_at
from access.models import Guest, Member, Use
from access.store import bump_state_version
from common.i18n import _
from kiosk.account import guest_refusal, register_guest
from kiosk.admin import bp
from kiosk.context import current_kiosk


def _page(form: Any, status: int = 200) -> tuple[str, int]:
    kiosk = current_kiosk()
    today = slot_at(kiosk.now(), kiosk.rules).date
    with kiosk.db.read() as s:
        rows = s.execute(
            select(Guest, Member)
            .join(Member, Member.id == Guest.member_id)
            .where(Guest.valid_date >= month_of(today)[0])
            .order_by(Guest.valid_date.desc(), Guest.created_at.desc())
        ).all()
        came = dict(
            s.execute(
                select(Use.holder_id, func.count())
                .where(Use.holder_id.in_([g.id for g, _m in rows]))
                .group_by(Use.holder_id)
            ).all()
        )
        members = s.execute(
            select(Member.id, Member.first_name, Member.last_name)
            .where(Member.active.is_(True))
            .order_by(Member.last_name, Member.first_name)
        ).all()
    return (
        render_template("admin/guests.html", rows=rows, came=came, members=members, today=today, form=form),
        status,
    )


@bp.get("/guests")
def guests() -> tuple[str, int]:
    return _page({})


@bp.post("/guests")
def add_guest() -> BaseResponse | tuple[str, int]:
    """A member's guest registered at the desk, for today, charged as at the touchscreen."""
    kiosk = current_kiosk()
    f = request.form
    now = kiosk.now()
    try:
        with kiosk.db.write() as s:
            member = s.get(Member, f.get("member", ""))
            if member is None or not member.active:
                raise GuestRefused("no_right")
            today = slot_at(now, kiosk.rules).date
            guest = register_guest(s, member.id, f.get("name", ""), today, kiosk.config.site.device, now)
            name, code = guest.name, guest.code
    except GuestRefused as exc:
        flash(guest_refusal(exc.reason), "error")
        return _page(f, 422)
    flash(_("%(name)s est invité·e aujourd'hui : code %(code)s.", name=name, code=code), "ok")
    return redirect(url_for("admin.guests"))


@bp.post("/guests/<guest_id>/cancel")
def cancel_guest(guest_id: str) -> BaseResponse:
    """Cancel a guest who has not come in: the code opens nothing any more, and nothing was charged."""
    kiosk = current_kiosk()
    with kiosk.db.write() as s:
        guest = s.get(Guest, guest_id)
        if guest is None:
            abort(404)
        name = guest.name
        came = s.scalar(select(Use.id).where(Use.holder_id == guest.id).limit(1)) is not None
        today = slot_at(kiosk.now(), kiosk.rules).date
        if not came and guest.valid_date >= today:
            s.delete(guest)
            bump_state_version(s)
    if came or guest.valid_date < today:
        flash(_("%(name)s est déjà venu·e : sa venue reste comptée.", name=name), "error")
    else:
        flash(_("Invitation de %(name)s annulée.", name=name), "ok")
    return redirect(url_for("admin.guests"))
