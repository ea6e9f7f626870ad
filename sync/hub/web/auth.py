"""The back office's door: named accounts, each page behind the login of one, a throttle per account and per client
address, an idle expiry, logout, and sessions that end when the account's password changes or the account is
deactivated (the session holds a digest of the hash it was opened with). A form posted without the session's
token is refused by the toolkit before it gets here."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from common.i18n import _
from common.web.app import local_target
from common.web.login import SESSION_KEY, client_address, end_session, fingerprint, open_session, session_alive
from sync.hub import accounts
from sync.hub.web.context import current_account, current_actor, current_hub

bp = Blueprint("auth", __name__)

# The privacy page tells anyone what the network keeps and whom to ask: it shows no one's data.
OPEN_ENDPOINTS = ("auth.login", "static", "set_language", "privacy.page")
ACCOUNT_KEY = "hub_account"


@bp.before_app_request
def require_login() -> BaseResponse | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    hub = current_hub()
    account_id = session.get(ACCOUNT_KEY)
    account = accounts.load(hub.db, account_id) if isinstance(account_id, str) else None
    # The toolkit's rule: alive while used, and while held by the account's current password. Only the sign-in is
    # forgotten when it is not: the form token (and language) stay, so a login form already open still works.
    if session_alive(account.password_hash if account is not None and account.active else None, hub.rules.idle_s):
        g.hub_account = account
        return None
    session.pop(ACCOUNT_KEY, None)
    return redirect(url_for("auth.login", next=request.full_path if request.args else request.path))


@bp.route("/login", methods=["GET", "POST"])
def login() -> tuple[str, int] | BaseResponse:
    hub = current_hub()
    status = 200
    if request.method == "POST":
        name = request.form.get("login", "").strip().lower()[:120]
        by_account, by_client = f"hub-account:{name}", f"hub-client:{client_address()}"
        wait = max(hub.throttle.wait_s(by_account, by_client), hub.throttle.wait_s(by_client))
        if wait > 0:
            flash(_("Trop d'essais : réessayez dans %(minutes)d minute(s).", minutes=int(wait // 60) + 1))
            return render_template("hub/login.html", login=name), 429
        hub.throttle.attempt(by_client)
        account = accounts.authenticate(hub.db, name, request.form.get("password", ""))
        if account is not None:
            open_session(account.password_hash)
            session[ACCOUNT_KEY] = account.id
            return redirect(local_target(request.args.get("next"), url_for("network.doors")))
        hub.throttle.failure(by_account)
        hub.throttle.failure(by_client)
        flash(_("Identifiant ou mot de passe incorrect."))
        status = 403
        return render_template("hub/login.html", login=name), status
    return render_template("hub/login.html", login=""), status


@bp.post("/logout")
def logout() -> BaseResponse:
    end_session()
    flash(_("Vous êtes déconnecté."))
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
def own_account() -> tuple[str, int] | BaseResponse:
    """The signed-in manager changes their own password (every other session of theirs ends)."""
    account = current_account()
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm", ""):
            flash(_("Les deux nouveaux mots de passe ne sont pas identiques."))
            return render_template("hub/account.html", account=account), 400
        try:
            accounts.set_password(
                current_hub().db, account.id, new, actor=current_actor(), current=request.form.get("current", "")
            )
        except accounts.AccountError as exc:
            flash(str(exc))
            return render_template("hub/account.html", account=account), 400
        # This session goes on with the new password; the others end at their next request.
        fresh = accounts.load(current_hub().db, account.id)
        if fresh is not None:
            session[SESSION_KEY] = fingerprint(fresh.password_hash)
        flash(_("Mot de passe changé : vos autres sessions sont fermées."))
        return redirect(url_for("auth.own_account"))
    return render_template("hub/account.html", account=account), 200
