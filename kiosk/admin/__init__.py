"""The manager's pages (/admin): login, dashboard, remote unlock; members and plans (people.py); sales, events
and exports (books.py); members' guests (guests.py). Every page needs the manager's login (common/web/login.py);
every form carries the CSRF token (checked app-wide by the toolkit)."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers.response import Response as BaseResponse

from access.alarms import active_alarms
from access.models import Member, Sale
from common.i18n import _
from common.web.app import local_target
from common.web.login import end_session
from kiosk.auth import stored_password_hash
from kiosk.context import current_kiosk
from kiosk.display import alarm_lines
from kiosk.doorlink import request_id
from sync.localbus import Unlock

bp = Blueprint("admin", __name__)

OPEN_ENDPOINTS = ("admin.login",)


def _stored_hash() -> str | None:
    with current_kiosk().db.read() as s:
        return stored_password_hash(s)


@bp.before_request
def require_login() -> BaseResponse | None:
    """Refuse every admin page without a live manager session: redirect a page, 401 anything else."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if current_kiosk().login.alive(_stored_hash()):
        return None
    if request.method == "GET":
        return redirect(url_for("admin.login", next=request.full_path if request.args else request.path))
    return Response(_("Connexion requise."), status=401, mimetype="text/plain")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | tuple[str, int] | BaseResponse:
    stored = _stored_hash()
    error = None
    status = 200
    if request.method == "POST" and stored:
        attempt = current_kiosk().login.attempt(stored, request.form.get("password", ""))
        if attempt.ok:
            return redirect(local_target(request.args.get("next"), url_for("admin.dashboard"), prefix="/admin"))
        if attempt.wait_s > 0:
            minutes = int(attempt.wait_s // 60) + 1
            error = _("Trop d'essais : réessayez dans %(minutes)d minute(s).", minutes=minutes)
            status = 429
        else:
            error = _("Mot de passe incorrect.")
            status = 403
    return render_template("admin/login.html", has_password=bool(stored), error=error), status


@bp.post("/logout")
def logout() -> BaseResponse:
    end_session()
    return redirect(url_for("admin.login"))


@bp.get("/")
def dashboard() -> str:
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        members = s.scalar(select(func.count()).select_from(Member).where(Member.active.is_(True))) or 0
        unpaid = s.scalar(select(func.count()).select_from(Sale).where(Sale.paid.is_(False))) or 0
        raised = active_alarms(s)
    link = kiosk.link
    door = link.door_state if link else None
    return render_template(
        "admin/dashboard.html",
        members=members,
        unpaid=unpaid,
        alarms=alarm_lines(raised, door, kiosk.now(), kiosk),
        door=door,
        sync=link.sync_status if link else None,
        bus_up=bool(link and link.connected),
    )


@bp.post("/unlock")
def unlock() -> BaseResponse:
    """Open the door once, from the admin (recorded by the door as an "unlock" event by the manager)."""
    kiosk = current_kiosk()
    reply = None
    if kiosk.link is not None:
        reply = kiosk.link.request(Unlock(request_id(), by="manager", ref="admin"), kiosk.tuning.command_timeout_s)
    if reply is None:
        flash(_("La porte ne répond pas : elle n'a pas été ouverte."), "error")
    elif reply.ok:
        flash(_("Porte ouverte."), "ok")
    else:
        flash(_("La porte a refusé : %(reason)s", reason=reply.reason), "error")
    return redirect(local_target(request.form.get("back"), url_for("admin.dashboard"), prefix="/admin"))


from kiosk.admin import backups, books, closures, guests, mail, people, privacy, report, rooms  # noqa: E402, F401  (they add their routes to bp)
