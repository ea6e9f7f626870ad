"""The back office's door: every page needs the manager's login (the toolkit's session rules), a form posted
without the session's token is refused by the toolkit before it gets here."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from common.i18n import _
from common.web.app import local_target
from common.web.login import end_session
from sync.hub.web.context import current_hub

bp = Blueprint("auth", __name__)

OPEN_ENDPOINTS = ("auth.login", "static", "set_language")


@bp.before_app_request
def require_login() -> BaseResponse | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    hub = current_hub()
    if hub.login.alive(hub.password_hash):
        return None
    return redirect(url_for("auth.login", next=request.full_path if request.args else request.path))


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | tuple[str, int] | BaseResponse:
    hub = current_hub()
    status = 200
    if request.method == "POST":
        attempt = hub.login.attempt(hub.password_hash, request.form.get("password", ""))
        if attempt.ok:
            return redirect(local_target(request.args.get("next"), url_for("network.doors")))
        if attempt.wait_s > 0:
            flash(_("Trop d'essais : réessayez dans %(minutes)d minute(s).", minutes=int(attempt.wait_s // 60) + 1))
            status = 429
        else:
            flash(_("Mot de passe incorrect."))
            status = 403
    return render_template("hub/login.html"), status


@bp.post("/logout")
def logout() -> BaseResponse:
    end_session()
    return redirect(url_for("auth.login"))
