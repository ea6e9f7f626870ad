"""The hub's accounts, for network admins: add a manager (network admin, or site manager of the sites named),
change their role and sites, deactivate them, give them a new password."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from common.i18n import _
from sync.hub import accounts
from sync.hub.accounts import AccountError
from sync.hub.audit import Role
from sync.hub.web import forms
from sync.hub.web.context import current_actor, current_hub, require_admin
from sync.hub.web.network import my_sites

bp = Blueprint("team", __name__)


@bp.before_request
def admins_only() -> None:
    require_admin()


@bp.get("/accounts")
def accounts_page() -> str:
    with current_hub().db.read() as s:
        people = accounts.all_accounts(s)
    return render_template("hub/accounts.html", accounts=people, sites=my_sites(), roles=list(Role))


@bp.post("/accounts")
def add_account() -> BaseResponse:
    try:
        accounts.add_account(
            current_hub().db,
            forms.text("login", 120),
            request.form.get("password", ""),
            request.form.get("role", ""),
            name=forms.text("name", 120),
            sites=request.form.getlist("sites"),
            actor=current_actor(),
        )
        flash(_("Compte créé : donnez son mot de passe à son titulaire de vive voix, il pourra le changer."))
    except AccountError as exc:
        forms.refused(exc)
    return redirect(url_for("team.accounts_page"))


@bp.route("/accounts/<account_id>", methods=["GET", "POST"])
def account(account_id: str) -> str | BaseResponse:
    db = current_hub().db
    found = accounts.load(db, account_id)
    if found is None:
        abort(404)
    if request.method == "POST":
        try:
            accounts.edit_account(
                db,
                account_id,
                name=forms.text("name", 120),
                role=request.form.get("role", ""),
                sites=request.form.getlist("sites"),
                active=request.form.get("active") == "on",
                actor=current_actor(),
            )
            flash(_("Compte enregistré."))
        except AccountError as exc:
            forms.refused(exc)
        return redirect(url_for("team.account", account_id=account_id))
    return render_template("hub/account_edit.html", account=found, sites=my_sites(), roles=list(Role))


@bp.post("/accounts/<account_id>/password")
def reset_password(account_id: str) -> BaseResponse:
    try:
        accounts.set_password(current_hub().db, account_id, request.form.get("password", ""), actor=current_actor())
        flash(_("Mot de passe changé : les sessions de ce compte sont fermées."))
    except AccountError as exc:
        forms.refused(exc)
    return redirect(url_for("team.account", account_id=account_id))
