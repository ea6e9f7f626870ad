"""The holiday calendar in the admin: the site's closed days, coming and past, added as a day or a range with a
reason and removed; and the staff, who still open on those days. Through access/closure_days.py, as the CLI.

The calendar is the site's own, networked or not; on a networked site the staff are members the hub owns, so the
page shows them without changing them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_date
from sqlalchemy import select
from werkzeug.wrappers.response import Response as BaseResponse

from access import closure_days
from access.admin import AdminError
from access.models import Closure, Member
from common.i18n import _, ngettext
from kiosk.admin import bp
from kiosk.context import current_kiosk

# Past closures shown: enough for last year's holidays, not the whole history of the site.
PAST_SHOWN_DAYS = 400


@dataclass(frozen=True)
class Run:
    """Closed days one after another with the same reason: one line and one "reopen" button on the page."""

    first: dt.date
    last: dt.date
    label: str

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def runs(closed: list[Closure]) -> list[Run]:
    """The closures (in date order) as runs of consecutive days with one reason."""
    found: list[Run] = []
    for c in closed:
        if found and found[-1].label == c.label and found[-1].last + dt.timedelta(days=1) == c.date:
            found[-1] = Run(found[-1].first, c.date, c.label)
        else:
            found.append(Run(c.date, c.date, c.label))
    return found


def _today() -> dt.date:
    return dt.datetime.now(current_kiosk().config.site.tz).date()


def _when(run: Run) -> str:
    if run.days == 1:
        return str(format_date(run.first, "full"))
    return _(
        "du %(first)s au %(last)s",
        first=format_date(run.first, "full"),
        last=format_date(run.last, "full"),
    )


def _page(form: Any, status: int = 200) -> tuple[str, int]:
    kiosk = current_kiosk()
    today = _today()
    with kiosk.db.read() as s:
        closed = closure_days.closures(s)
        staff = closure_days.staff_members(s)
        others = list(
            s.scalars(
                select(Member)
                .where(Member.staff.is_(False), Member.active.is_(True))
                .order_by(Member.first_name, Member.last_name)
            )
        )
    coming = runs([c for c in closed if c.date >= today])
    past = runs([c for c in closed if today - dt.timedelta(days=PAST_SHOWN_DAYS) <= c.date < today])
    page = render_template(
        "admin/closures.html",
        coming=coming,
        past=list(reversed(past)),
        closed_today=any(c.date == today for c in closed),
        staff=staff,
        others=others,
        form=form,
        when=_when,
        days_label=lambda n: ngettext("%(num)d jour", "%(num)d jours", n),
    )
    return page, status


@bp.get("/closures")
def closures() -> tuple[str, int]:
    return _page({})


@bp.post("/closures")
def add_closure() -> BaseResponse | tuple[str, int]:
    f = request.form
    try:
        with current_kiosk().db.write() as s:
            span = closure_days.parse_span(f.get("first"), f.get("last") or None, _today())
            added = closure_days.add_closures(s, span, f.get("label", ""))
    except AdminError as exc:
        flash(str(exc), "error")
        return _page(f, 422)
    flash(ngettext("Fermeture enregistrée : %(num)d jour.", "Fermeture enregistrée : %(num)d jours.", len(added)), "ok")
    return redirect(url_for("admin.closures"))


@bp.post("/closures/remove")
def remove_closure() -> BaseResponse:
    f = request.form
    try:
        with current_kiosk().db.write() as s:
            span = closure_days.parse_span(f.get("first"), f.get("last") or None, _today())
            removed = closure_days.remove_closures(s, span)
    except AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(ngettext("%(num)d jour rouvert.", "%(num)d jours rouverts.", removed), "ok")
    return redirect(url_for("admin.closures"))


def _staff_change(change: Callable[[Any], Member], done: Callable[[str], str]) -> BaseResponse:
    if current_kiosk().config.networked:
        flash(_("Ce lieu est relié au hub : les membres, badges et formules se modifient sur le hub."), "error")
        return redirect(url_for("admin.closures"))
    try:
        with current_kiosk().db.write() as s:
            name = change(s).full_name
    except AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(done(name), "ok")
    return redirect(url_for("admin.closures"))


@bp.post("/staff")
def add_staff() -> BaseResponse:
    member_id = request.form.get("member", "")
    if not member_id:
        flash(_("Choisissez un membre."), "error")
        return redirect(url_for("admin.closures"))
    return _staff_change(
        lambda s: closure_days.set_staff(s, member_id, True),
        lambda name: _("%(name)s fait partie de l'équipe : entre les jours de fermeture.", name=name),
    )


@bp.post("/staff/<member_id>/remove")
def remove_staff(member_id: str) -> BaseResponse:
    return _staff_change(
        lambda s: closure_days.set_staff(s, member_id, False),
        lambda name: _("%(name)s ne fait plus partie de l'équipe.", name=name),
    )
