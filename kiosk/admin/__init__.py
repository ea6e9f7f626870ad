"""The manager's pages (/admin): login, dashboard, remote unlock; members and plans (people.py); sales, events
and exports (books.py). Every page needs the manager's login; every form carries the CSRF token (app-wide
check in kiosk/app.py)."""

from __future__ import annotations

import time

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from werkzeug.wrappers.response import Response as BaseResponse

from access.models import Member, Sale
from kiosk.context import current_kiosk
from kiosk.doorlink import request_id
from kiosk.i18n import _
from kiosk.security import password_fingerprint, password_matches, stored_password_hash
from sync.localbus import Unlock

bp = Blueprint("admin", __name__)

OPEN_ENDPOINTS = ("admin.login",)


def _current_fingerprint() -> str | None:
    with current_kiosk().db.read() as s:
        stored = stored_password_hash(s)
    return password_fingerprint(stored) if stored else None


@bp.before_request
def require_login() -> BaseResponse | None:
    """Refuse every admin page without a live manager session: redirect a page, 401 anything else."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    kiosk = current_kiosk()
    fingerprint = session.get("admin")
    last_seen = session.get("admin_seen", 0.0)
    fresh = isinstance(last_seen, float) and time.time() - last_seen < kiosk.tuning.admin_idle_s
    if fingerprint and fresh and fingerprint == _current_fingerprint():
        session["admin_seen"] = time.time()
        return None
    session.pop("admin", None)
    if request.method == "GET":
        return redirect(url_for("admin.login", next=request.full_path if request.args else request.path))
    return Response(_("Connexion requise."), status=401, mimetype="text/plain")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | tuple[str, int] | BaseResponse:
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        stored = stored_password_hash(s)
    error = None
    status = 200
    if request.method == "POST" and stored:
        who = request.remote_addr or "?"
        wait = kiosk.login_throttle.wait_s(who)
        if wait > 0:
            error = _("Trop d'essais : réessayez dans %(minutes)d minute(s).", minutes=int(wait // 60) + 1)
            status = 429
        elif password_matches(stored, request.form.get("password", "")):
            kiosk.login_throttle.success(who)
            session.clear()  # a new session id for the manager: nothing from before the login carries over
            session["admin"] = password_fingerprint(stored)
            session["admin_seen"] = time.time()
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/admin") else url_for("admin.dashboard"))
        else:
            kiosk.login_throttle.failure(who)
            error = _("Mot de passe incorrect.")
            status = 403
    return render_template("admin/login.html", has_password=bool(stored), error=error), status


@bp.post("/logout")
def logout() -> BaseResponse:
    session.clear()
    return redirect(url_for("admin.login"))


@bp.get("/")
def dashboard() -> str:
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        members = s.scalar(select(func.count()).select_from(Member).where(Member.active.is_(True))) or 0
        unpaid = s.scalar(select(func.count()).select_from(Sale).where(Sale.paid.is_(False))) or 0
    link = kiosk.link
    return render_template(
        "admin/dashboard.html",
        members=members,
        unpaid=unpaid,
        door=link.door_state if link else None,
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
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/admin") else url_for("admin.dashboard"))


from kiosk.admin import books, people  # noqa: E402, F401  (they add their routes to bp)
