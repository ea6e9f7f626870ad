"""The network's plans: carnets, monthly unlimited, passes; price, hours, weekdays, and where each is valid.
A site manager creates and edits plans of their own sites; plans of the whole network are the network admin's."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers.response import Response as BaseResponse

from common.i18n import _
from common.weekdays import WeekdaysError, day_names, parse_weekdays, weekdays_label
from common.words import PlanKind
from sync.hub import admin
from sync.hub.admin import HubError, PlanFields
from sync.hub.models import Plan, PlanSite
from sync.hub.web import forms
from sync.hub.web.context import current_actor, current_hub
from sync.hub.web.network import my_sites

bp = Blueprint("plans", __name__)


@bp.app_template_global()
def plan_kind(kind: str) -> str:
    words: dict[str, str] = {
        PlanKind.UNLIMITED: _("illimité au mois"),
        PlanKind.CARNET: _("carnet de demi-journées"),
        PlanKind.PASS_HALFDAY: _("pass demi-journée"),
        PlanKind.PASS_DAY: _("pass journée"),
        PlanKind.PASS_WEEK: _("pass semaine"),
        PlanKind.PASS_MONTH: _("pass mois"),
    }
    return words.get(kind, kind)


def visible_plans(include_retired: bool = True) -> list[tuple[Plan, list[str]]]:
    """The plans the manager may use: those of the whole network and those valid at one of their sites."""
    actor = current_actor()
    with current_hub().db.read() as s:
        query = select(Plan).order_by(Plan.active.desc(), Plan.name)
        if not include_retired:
            query = query.where(Plan.active)
        plans = list(s.execute(query).scalars())
        where: dict[str, list[str]] = {}
        for plan_id, site_id in s.execute(select(PlanSite.plan_id, PlanSite.site_id).order_by(PlanSite.site_id)):
            where.setdefault(plan_id, []).append(site_id)
    out = []
    for plan in plans:
        sites = where.get(plan.id, [])
        if actor.sites is None or not sites or set(sites) & actor.sites:
            out.append((plan, sites))
    return out


def may_change(sites: list[str]) -> bool:
    actor = current_actor()
    return actor.sites is None or (bool(sites) and set(sites) <= actor.sites)


def _fields() -> PlanFields:
    kind = request.form.get("kind", "")
    try:
        weekdays = parse_weekdays(request.form.getlist("weekdays"))
    except WeekdaysError as exc:
        abort(400, str(exc))
    return PlanFields(
        name=forms.text("name", 120),
        kind=kind,
        half_days=forms.number("half_days", _("Demi-journées"), low=1, high=1000) if kind == PlanKind.CARNET else None,
        allow_overdraft=request.form.get("allow_overdraft") == "on",
        hours_start=forms.time_of_day("hours_start", _("Heure de début")),
        hours_end=forms.time_of_day("hours_end", _("Heure de fin")),
        price_cents=forms.euros("price", _("Prix")),
        weekdays=weekdays,
        sites=tuple(s for s in request.form.getlist("sites") if s),
    )


def _page(plan: Plan | None = None, sites: list[str] | None = None) -> str:
    return render_template(
        "hub/plans.html" if plan is None else "hub/plan.html",
        plans=visible_plans(),
        plan=plan,
        plan_sites=sites or [],
        sites=my_sites(),
        kinds=list(PlanKind),
        days=day_names(),
        weekdays_label=weekdays_label,
        may_change=may_change,
    )


@bp.get("/plans")
def plans() -> str:
    return _page()


@bp.post("/plans")
def add_plan() -> BaseResponse:
    try:
        plan_id = admin.create_plan(current_hub().db, _fields(), actor=current_actor())
    except HubError as exc:
        forms.refused(exc)
        return redirect(url_for("plans.plans"))
    flash(_("Formule créée."))
    return redirect(url_for("plans.plan", plan_id=plan_id))


@bp.route("/plans/<plan_id>", methods=["GET", "POST"])
def plan(plan_id: str) -> str | BaseResponse:
    found = next(((p, s) for p, s in visible_plans() if p.id == plan_id), None)
    if found is None:
        abort(404)
    if request.method == "POST":
        try:
            admin.edit_plan(current_hub().db, plan_id, _fields(), actor=current_actor())
            flash(_("Formule enregistrée : les portes l'appliquent dès le prochain registre."))
        except HubError as exc:
            forms.refused(exc)
        return redirect(url_for("plans.plan", plan_id=plan_id))
    return _page(*found)


@bp.post("/plans/<plan_id>/active")
def set_active(plan_id: str) -> BaseResponse:
    active = request.form.get("active") == "1"
    try:
        admin.set_plan_active(current_hub().db, plan_id, active, actor=current_actor())
        flash(
            _("Formule proposée à nouveau.")
            if active
            else _("Formule retirée : les abonnements en cours vont à leur terme.")
        )
    except HubError as exc:
        forms.refused(exc)
    return redirect(url_for("plans.plan", plan_id=plan_id))
