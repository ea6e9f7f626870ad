"""The e-mail notices, for the manager: whether mail is on, whether it works, and every recent notice with what
became of it; a waiting notice can be cancelled, a sent or abandoned one sent again."""

from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from sqlalchemy import func, select
from werkzeug.wrappers.response import Response as BaseResponse

from access import notices
from access.mailer import FAILING_SINCE, LAST_ERROR, LAST_SUCCESS
from access.models import Notice
from access.notices import NoticeKind
from access.store import get_meta
from common.i18n import _
from common.records import EMAIL_MAX, EMAIL_PATTERN
from kiosk.admin import bp
from kiosk.context import current_kiosk

# The notices listed: a few weeks of a small space's mail.
NOTICES_SHOWN = 200


def kind_label(kind: str) -> str:
    labels: dict[str, str] = {
        NoticeKind.LOW_CARNET: _("Carnet presque vide"),
        NoticeKind.PLAN_ENDING: _("Fin de formule"),
        NoticeKind.RECEIPT: _("Reçu"),
        NoticeKind.STATEMENT: _("Relevé du mois"),
        NoticeKind.TEST: _("Essai"),
    }
    return labels.get(kind, kind)


def _moment(raw: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(raw) if raw else None


@bp.get("/mail")
def mail() -> str:
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        rows = s.scalars(select(Notice).order_by(Notice.created_at.desc()).limit(NOTICES_SHOWN)).all()
        waiting = s.scalar(select(func.count()).where(Notice.sent_at.is_(None), Notice.next_attempt_at.is_not(None)))
        health = {
            "last_success": _moment(get_meta(s, LAST_SUCCESS)),
            "failing_since": _moment(get_meta(s, FAILING_SINCE)),
            "last_error": get_meta(s, LAST_ERROR),
        }
    return render_template(
        "admin/mail.html",
        mail=kiosk.config.mail,
        notices=rows,
        waiting=waiting or 0,
        health=health,
        tz=kiosk.config.site.tz,
        kind_label=kind_label,
    )


@bp.post("/mail/test")
def mail_test() -> BaseResponse:
    """Queue a test e-mail to an address the manager types, in the admin's language: does mail reach people?"""
    kiosk = current_kiosk()
    address = request.form.get("address", "").strip()
    if kiosk.config.mail is None:
        flash(_("L'envoi des e-mails est désactivé : la configuration n'a pas de section [mail]."), "error")
    elif len(address) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(address):
        flash(_("« %(address)s » n'est pas une adresse e-mail valide.", address=address[:80]), "error")
    else:
        with kiosk.db.write() as s:
            notices.test_message(s, address, str(get_locale() or "fr"), dt.datetime.now(dt.UTC))
        flash(
            _("E-mail d'essai mis en file pour %(address)s : il partira dans quelques secondes.", address=address), "ok"
        )
    return redirect(url_for("admin.mail"))


@bp.post("/mail/<notice_id>/cancel")
def mail_cancel(notice_id: str) -> BaseResponse:
    """Do not send a notice that waits (a wrong address, a mail sent by other means)."""
    kiosk = current_kiosk()
    with kiosk.db.write() as s:
        notice = s.get(Notice, notice_id)
        if notice is None or notice.sent_at is not None or notice.next_attempt_at is None:
            flash(_("Cet e-mail n'est plus en attente."), "error")
        else:
            notice.next_attempt_at = None
            notice.last_error = _("annulé par l'accueil")
            flash(_("E-mail annulé : il ne partira pas."), "ok")
    return redirect(url_for("admin.mail"))


@bp.post("/mail/<notice_id>/resend")
def mail_resend(notice_id: str) -> BaseResponse:
    """Send a notice again: one that was abandoned or cancelled, or one a member says they never got."""
    kiosk = current_kiosk()
    now = dt.datetime.now(dt.UTC)
    with kiosk.db.write() as s:
        notice = s.get(Notice, notice_id)
        if notice is None or (notice.sent_at is None and notice.next_attempt_at is not None):
            flash(_("Cet e-mail est déjà en attente d'envoi."), "error")
        else:
            # Queued anew: the week after which an unsent notice is abandoned starts again now.
            notice.sent_at = None
            notice.created_at = now
            notice.next_attempt_at = now
            notice.last_error = None
            flash(_("E-mail remis en file : il partira dans quelques secondes."), "ok")
    return redirect(url_for("admin.mail"))
