"""The network's doors and members: who is online, who holds which badge, a badge revoked, a member added."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers.response import Response as BaseResponse

from common.i18n import _
from sync.hub import admin, reports
from sync.hub.models import Credential, Member, Plan, Subscription
from sync.hub.web.context import current_hub

bp = Blueprint("network", __name__)


@bp.get("/")
def doors() -> str:
    with current_hub().db.read() as s:
        return render_template("hub/doors.html", devices=reports.devices(s))


@bp.get("/members")
def members() -> str:
    with current_hub().db.read() as s:
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
        flash(_("Le prénom est obligatoire."))
    else:
        email = request.form.get("email", "").strip() or None
        admin.add_member(current_hub().db, first[:80], request.form.get("last_name", "").strip()[:80], email)
        flash(_("Membre ajouté."))
    return redirect(url_for("network.members"))


@bp.post("/badges/<uid>/revoke")
def revoke(uid: str) -> BaseResponse:
    if admin.revoke_badge(current_hub().db, uid):
        flash(_("Badge révoqué : les portes le refusent dès le prochain registre."))
    else:
        flash(_("Ce badge n'était pas actif."))
    return redirect(url_for("network.members"))
