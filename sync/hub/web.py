"""The hub's pages: doors (online, backlog), members and badges, monthly usage, sales, overdrafts, CSV exports.

`create_hub_app(db, config)` is the factory; the password and the session secret come from the caller's config,
never from defaults in the code.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.security import check_password_hash
from werkzeug.wrappers.response import Response as BaseResponse

from sync.hub import admin, reports
from sync.hub.db import HubDatabase
from sync.hub.models import Credential, Member, Plan, Subscription
from sync.hub.words import language, translate

bp = Blueprint("hub", __name__, template_folder="templates")
CSRF_FIELD = "csrf_token"
OPEN_ENDPOINTS = ("hub.login", "static")


def create_hub_app(db: HubDatabase, config: dict[str, Any]) -> Flask:
    """The hub's Flask app. `config` needs SECRET_KEY and HUB_PASSWORD_HASH (werkzeug's generate_password_hash)."""
    for key in ("SECRET_KEY", "HUB_PASSWORD_HASH"):
        if not config.get(key):
            raise ValueError(f"{key} est obligatoire pour les pages du hub")
    app = Flask(__name__)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.config.update(config)
    app.extensions["hub_db"] = db
    app.jinja_env.globals.update(_=translate, csrf_token=csrf_token, lang=language)
    app.register_blueprint(bp)
    return app


def db() -> HubDatabase:
    return current_app.extensions["hub_db"]  # type: ignore[no-any-return]


def csrf_token() -> str:
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(session[CSRF_FIELD])


@bp.before_app_request
def guard() -> BaseResponse | None:
    if request.endpoint not in OPEN_ENDPOINTS and not session.get("hub_admin"):
        return redirect(url_for("hub.login", next=request.path))
    if request.method == "POST":
        sent = request.form.get(CSRF_FIELD, "")
        if not hmac.compare_digest(sent, str(session.get(CSRF_FIELD, ""))):
            flash(translate("Session expirée, recommencez."))
            return redirect(url_for("hub.login" if request.endpoint == "hub.login" else "hub.doors"))
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | BaseResponse:
    if request.method == "POST":
        if check_password_hash(current_app.config["HUB_PASSWORD_HASH"], request.form.get("password", "")):
            session.clear()
            session["hub_admin"] = True
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("hub.doors"))
        flash(translate("Mot de passe incorrect."))
    return render_template("hub/login.html")


@bp.route("/")
def doors() -> str:
    with db().read() as s:
        return render_template("hub/doors.html", devices=reports.devices(s))


@bp.route("/members")
def members() -> str:
    with db().read() as s:
        people = s.execute(select(Member).order_by(Member.last_name, Member.first_name)).scalars().all()
        badges: dict[str, list[Credential]] = {}
        for c in s.execute(select(Credential).order_by(Credential.value)).scalars():
            badges.setdefault(c.member_id, []).append(c)
        plans = {p.id: p for p in s.execute(select(Plan)).scalars()}
        subs: dict[str, list[tuple[str, int | None]]] = {}
        balance = reports.balances(s)
        for sub in s.execute(select(Subscription)).scalars():
            name = plans[sub.plan_id].name if sub.plan_id in plans else "?"
            subs.setdefault(sub.member_id, []).append((name, balance.get(sub.id)))
    return render_template("hub/members.html", members=people, badges=badges, subs=subs)


@bp.post("/members")
def add_member() -> BaseResponse:
    first = request.form.get("first_name", "").strip()
    if not first:
        flash(translate("Le prénom est obligatoire."))
    else:
        email = request.form.get("email", "").strip() or None
        admin.add_member(db(), first[:80], request.form.get("last_name", "").strip()[:80], email)
        flash(translate("Membre ajouté."))
    return redirect(url_for("hub.members"))


@bp.post("/badges/<uid>/revoke")
def revoke(uid: str) -> BaseResponse:
    if admin.revoke_badge(db(), uid):
        flash(translate("Badge révoqué : les portes le refusent dès le prochain registre."))
    else:
        flash(translate("Ce badge n'était pas actif."))
    return redirect(url_for("hub.members"))


def chosen_month() -> tuple[int, int]:
    text = request.args.get("month")
    if not text:
        today = dt.date.today()
        return today.year, today.month
    try:
        year, month = (int(part) for part in text.split("-"))
        dt.date(year, month, 1)
    except ValueError:
        abort(400, translate("Mois invalide (AAAA-MM)."))
    return year, month


@bp.route("/usage")
def usage() -> str:
    year, month = chosen_month()
    with db().read() as s:
        per_member = reports.monthly_usage_by_member(s, year, month)
        per_site = reports.monthly_usage_by_site(s, year, month)
    return render_template("hub/usage.html", month=f"{year:04d}-{month:02d}", per_member=per_member, per_site=per_site)


@bp.route("/sales")
def sales() -> str:
    year, month = chosen_month()
    with db().read() as s:
        rows = reports.sales_in_month(s, year, month)
    return render_template("hub/sales.html", month=f"{year:04d}-{month:02d}", sales=rows)


@bp.route("/overdrafts")
def overdrafts() -> str:
    with db().read() as s:
        return render_template("hub/overdrafts.html", overdrafts=reports.overdrafts(s))


def csv_response(name: str, body: str) -> Response:
    # A byte-order mark so that spreadsheet programs read the accents right.
    return Response(
        "\ufeff" + body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/export/usage.csv")
def export_usage() -> Response:
    year, month = chosen_month()
    with db().read() as s:
        rows = [
            [u.member_id, u.member, site, count]
            for u in reports.monthly_usage_by_member(s, year, month)
            for site, count in sorted(u.by_site.items())
        ]
    header = ["membre_id", "membre", "site", "demi_journees"]
    return csv_response(f"usage-{year:04d}-{month:02d}.csv", reports.to_csv(header, rows))


@bp.route("/export/sales.csv")
def export_sales() -> Response:
    year, month = chosen_month()
    with db().read() as s:
        rows = [
            [
                x.id,
                x.site_id,
                x.local_date.isoformat(),
                x.kind,
                f"{x.amount_cents / 100:.2f}",
                x.provider,
                "oui" if x.paid else "non",
                x.name,
                x.email,
            ]
            for x in reports.sales_in_month(s, year, month)
        ]
    header = ["vente_id", "site", "date", "formule", "montant_eur", "paiement", "paye", "nom", "courriel"]
    return csv_response(f"ventes-{year:04d}-{month:02d}.csv", reports.to_csv(header, rows))
