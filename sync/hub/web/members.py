"""The network's members, as far as the manager's sites reach: found by name, added, edited, deactivated and
reactivated; their plans subscribed, renewed in one action, changed; their carnets topped up; their badges added
by UID or by tapping at a chosen door, revoked, re-issued. A member's page shows all of it with their uses by month
and site, and their sales."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import String, cast, func, or_, select
from werkzeug.wrappers.response import Response as BaseResponse

from common.i18n import _
from common.words import PlanKind
from sync.hub import admin
from sync.hub.admin import HubError, MemberFields, badge_label
from sync.hub.models import Credential, Enrolment, Member, Plan, Subscription, TopUp, Use
from sync.hub.reports import devices
from sync.hub.web import forms
from sync.hub.web.context import current_actor, current_hub
from sync.hub.web.network import my_sites
from sync.hub.web.plans import visible_plans

bp = Blueprint("members", __name__)
PAGE = 50


@dataclass(frozen=True)
class SubscriptionView:
    id: str
    plan: str
    kind: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    credited: int
    spent: int
    price_cents: int
    created_at: dt.datetime

    @property
    def balance(self) -> int | None:
        return self.credited - self.spent if self.kind == PlanKind.CARNET else None

    def current(self, today: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= today) and (
            self.valid_until is None or today <= self.valid_until
        )


@bp.get("/members")
def members() -> str:
    actor = current_actor()
    query_text = request.args.get("q", "").strip()[:80]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    with current_hub().db.read() as s:
        query = select(Member)
        clause = admin.visible_members(actor)
        if clause is not None:
            query = query.where(clause)
        if query_text:
            like = f"%{query_text.lower()}%"
            query = query.where(
                or_(
                    func.lower(Member.first_name).like(like),
                    func.lower(Member.last_name).like(like),
                    func.lower(func.coalesce(Member.email, "")).like(like),
                )
            )
        total = s.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        people = list(
            s.execute(
                query.order_by(Member.last_name, Member.first_name, Member.id).limit(PAGE).offset((page - 1) * PAGE)
            ).scalars()
        )
    return render_template(
        "hub/members.html",
        members=people,
        q=query_text,
        page=page,
        pages=max(1, -(-total // PAGE)),
        total=total,
        sites=my_sites(),
    )


@bp.post("/members")
def add_member() -> BaseResponse:
    try:
        member_id = admin.add_member(
            current_hub().db,
            forms.text("first_name", 80),
            forms.text("last_name", 80),
            forms.text("email", 254) or None,
            home_site=request.form.get("home_site") or None,
            actor=current_actor(),
        )
    except HubError as exc:
        forms.refused(exc)
        return redirect(url_for("members.members"))
    flash(_("Membre ajouté."))
    return redirect(url_for("members.member", member_id=member_id))


def visible_member(member_id: str) -> Member:
    with current_hub().db.read() as s:
        member = s.get(Member, member_id)
        # A member outside the manager's sites does not exist for them: the same answer as an unknown id.
        if member is None or not admin.member_visible(s, current_actor(), member_id):
            abort(404)
        return member


@bp.get("/members/<member_id>")
def member(member_id: str) -> str:
    person = visible_member(member_id)
    today = dt.date.today()
    with current_hub().db.read() as s:
        plans = {p.id: p for p in s.execute(select(Plan)).scalars()}
        spent = dict(
            s.execute(
                select(Use.subscription_id, func.sum(Use.spent))
                .where(Use.holder_id == member_id, Use.subscription_id.is_not(None))
                .group_by(Use.subscription_id)
            ).all()
        )
        subs = [
            SubscriptionView(
                x.id,
                plans[x.plan_id].name if x.plan_id in plans else "?",
                plans[x.plan_id].kind if x.plan_id in plans else "",
                x.valid_from,
                x.valid_until,
                x.credited,
                int(spent.get(x.id) or 0),
                x.price_cents,
                x.created_at,
            )
            for x in s.execute(
                select(Subscription).where(Subscription.member_id == member_id).order_by(Subscription.created_at.desc())
            ).scalars()
        ]
        badges = list(
            s.execute(
                select(Credential)
                .where(Credential.member_id == member_id)
                .order_by(Credential.status, Credential.created_at.desc())
            ).scalars()
        )
        month = func.substr(cast(Use.local_date, String(10)), 1, 7)
        uses = s.execute(
            select(month, Use.site_id, func.count())
            .where(Use.holder_id == member_id)
            .group_by(month, Use.site_id)
            .order_by(month.desc(), Use.site_id)
            .limit(120)
        ).all()
        top_ups = list(
            s.execute(select(TopUp).where(TopUp.member_id == member_id).order_by(TopUp.at.desc()).limit(100)).scalars()
        )
        enrolments = list(
            s.execute(
                select(Enrolment)
                .where(Enrolment.member_id == member_id)
                .order_by(Enrolment.requested_at.desc())
                .limit(5)
            ).scalars()
        )
        doors = devices(s, current_actor().sites)
    sales = sorted(
        [(x.created_at, _("Formule %(plan)s", plan=x.plan), x.price_cents) for x in subs]
        + [(t.at, _("Recharge de %(n)d demi-journée(s)", n=t.half_days), t.amount_cents) for t in top_ups],
        reverse=True,
    )
    return render_template(
        "hub/member.html",
        m=person,
        subs=subs,
        badges=badges,
        badge_label=badge_label,
        uses=uses,
        sales=sales,
        enrolments=enrolments,
        doors=[d for d in doors if d.registered or d.online],
        plans=[p for p, _sites in visible_plans(include_retired=False)],
        today=today,
        now=dt.datetime.now(dt.UTC),
    )


def _back(member_id: str) -> BaseResponse:
    return redirect(url_for("members.member", member_id=member_id))


def _attempt(member_id: str, done: str, action: object) -> BaseResponse:
    try:
        action()  # type: ignore[operator]
        flash(done)
    except HubError as exc:
        forms.refused(exc)
    return _back(member_id)


@bp.post("/members/<member_id>/edit")
def edit(member_id: str) -> BaseResponse:
    visible_member(member_id)
    fields = MemberFields(forms.text("first_name", 80), forms.text("last_name", 80), forms.text("email", 254) or None)
    return _attempt(
        member_id,
        _("Membre enregistré."),
        lambda: admin.edit_member(current_hub().db, member_id, fields, actor=current_actor()),
    )


@bp.post("/members/<member_id>/active")
def set_active(member_id: str) -> BaseResponse:
    visible_member(member_id)
    active = request.form.get("active") == "1"
    done = _("Membre réactivé.") if active else _("Membre désactivé : ses badges n'ouvrent plus les portes.")
    return _attempt(
        member_id, done, lambda: admin.set_member_active(current_hub().db, member_id, active, actor=current_actor())
    )


@bp.post("/members/<member_id>/staff")
def set_staff(member_id: str) -> BaseResponse:
    visible_member(member_id)
    staff = request.form.get("staff") == "1"
    done = _("Compté·e dans l'équipe : ouvre les jours de fermeture.") if staff else _("Retiré·e de l'équipe.")
    return _attempt(
        member_id, done, lambda: admin.set_member_staff(current_hub().db, member_id, staff, actor=current_actor())
    )


@bp.post("/members/<member_id>/subscriptions")
def subscribe(member_id: str) -> BaseResponse:
    visible_member(member_id)
    plan_id = request.form.get("plan_id", "")
    start, until = forms.date("valid_from", _("Début")), forms.date("valid_until", _("Fin"))
    return _attempt(
        member_id,
        _("Formule ajoutée."),
        lambda: admin.add_subscription(
            current_hub().db, member_id, plan_id, valid_from=start, valid_until=until, actor=current_actor()
        ),
    )


@bp.post("/members/<member_id>/subscriptions/<subscription_id>/renew")
def renew(member_id: str, subscription_id: str) -> BaseResponse:
    visible_member(member_id)
    return _attempt(
        member_id,
        _("Abonnement renouvelé."),
        lambda: admin.renew(current_hub().db, subscription_id, actor=current_actor()),
    )


@bp.post("/members/<member_id>/subscriptions/<subscription_id>/change")
def change(member_id: str, subscription_id: str) -> BaseResponse:
    visible_member(member_id)
    plan_id = request.form.get("plan_id", "")
    until = forms.date("valid_until", _("Fin"))
    return _attempt(
        member_id,
        _("Formule changée à partir d'aujourd'hui."),
        lambda: admin.change_plan(current_hub().db, subscription_id, plan_id, actor=current_actor(), valid_until=until),
    )


@bp.post("/members/<member_id>/subscriptions/<subscription_id>/top-up")
def top_up(member_id: str, subscription_id: str) -> BaseResponse:
    visible_member(member_id)
    half_days = forms.number("half_days", _("Demi-journées"), low=1, high=1000)
    amount = forms.euros("amount", _("Montant payé"))
    return _attempt(
        member_id,
        _("Carnet rechargé : les portes le savent dès le prochain registre."),
        lambda: admin.top_up(current_hub().db, subscription_id, half_days, amount_cents=amount, actor=current_actor()),
    )


@bp.post("/members/<member_id>/badges")
def add_badge(member_id: str) -> BaseResponse:
    visible_member(member_id)
    uid = forms.text("uid", 40)
    return _attempt(
        member_id,
        _("Badge ajouté."),
        lambda: admin.enrol_badge(current_hub().db, member_id, uid, actor=current_actor()),
    )


@bp.post("/members/<member_id>/badges/tap")
def enrol_by_tap(member_id: str) -> BaseResponse:
    visible_member(member_id)
    site_id, _sep, device_id = request.form.get("door", "").partition("/")
    return _attempt(
        member_id,
        _("Demande envoyée à la porte : faites passer le badge devant son lecteur dans les deux minutes."),
        lambda: admin.request_enrolment(current_hub().db, member_id, site_id, device_id, actor=current_actor()),
    )


@bp.post("/members/<member_id>/badges/<credential_id>/revoke")
def revoke(member_id: str, credential_id: str) -> BaseResponse:
    visible_member(member_id)
    try:
        if admin.revoke_credential(current_hub().db, credential_id, actor=current_actor()):
            flash(_("Badge révoqué : les portes le refusent dès le prochain registre."))
        else:
            flash(_("Ce badge n'était pas actif."))
    except HubError as exc:
        forms.refused(exc)
    return _back(member_id)


@bp.post("/members/<member_id>/badges/<credential_id>/reissue")
def reissue(member_id: str, credential_id: str) -> BaseResponse:
    visible_member(member_id)
    uid = forms.text("uid", 40)
    return _attempt(
        member_id,
        _("Badge remplacé : l'ancien est révoqué, le nouveau ouvre les portes dès le prochain registre."),
        lambda: admin.reissue_badge(current_hub().db, credential_id, uid, actor=current_actor()),
    )
