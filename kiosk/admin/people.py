"""Members, badges and plans in the admin, through access/admin.py's operations (the same as the CLI's).

In networked mode the hub owns them: the pages show them with a notice, and the desk's changes (a member added, a
badge enrolled by tapping, a carnet topped up) are asked of the hub (kiosk/admin/hub_requests.py); every other
change is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers.response import Response as BaseResponse

from access import admin
from access.closures import extended_until
from access.models import Balance, Credential, Member, Plan, Subscription, Use
from access.store import load_closures, spent_since_balances
from common.i18n import _
from common.weekdays import day_names, weekdays_label
from common.words import BookKind, CredentialStatus, PlanKind
from kiosk.admin import bp, desk, hub_requests
from kiosk.context import current_kiosk
from kiosk.words import kind_label

F = TypeVar("F", bound=Callable[..., Any])


def standalone_only(view: F) -> F:
    """Refuse a change to members, badges or plans when the hub owns them."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_kiosk().config.networked:
            flash(_("Ce lieu est relié au hub : les membres, badges et formules se modifient sur le hub."), "error")
            return redirect(url_for("admin.members"))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def or_ask_the_hub(ask: Callable[..., Any]) -> Callable[[F], F]:
    """On a networked site, `ask` the hub for the change instead of making it here."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_kiosk().config.networked:
                return ask(*args, **kwargs)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _plan_names() -> list[str]:
    with current_kiosk().db.read() as s:
        return list(s.scalars(select(Plan.name).where(Plan.active.is_(True)).order_by(Plan.name)))


def _members_page(form: Any) -> str:
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        rows = s.scalars(select(Member).order_by(Member.active.desc(), Member.last_name, Member.first_name)).all()
        badges: dict[str, int] = {}
        for member_id in s.scalars(select(Credential.member_id).where(Credential.status == CredentialStatus.ACTIVE)):
            if member_id:
                badges[member_id] = badges.get(member_id, 0) + 1
        asked = hub_requests.request_lines(s) if kiosk.config.networked else []
    return render_template(
        "admin/members.html",
        members=rows,
        badges=badges,
        plans=_plan_names(),
        form=form,
        hub_requests=asked,
        tz=kiosk.config.site.tz,
    )


@bp.get("/members")
def members() -> str:
    return _members_page({})


def _ask_add_member() -> BaseResponse | tuple[str, int]:
    asked = hub_requests.ask_add_member()
    if asked is not None:
        return asked
    return _members_page(request.form), 422


@bp.post("/members")
@or_ask_the_hub(_ask_add_member)
def add_member() -> BaseResponse | tuple[str, int]:
    kiosk = current_kiosk()
    f = request.form
    spec = admin.MemberSpec(
        first_name=f.get("first_name", ""),
        last_name=f.get("last_name", ""),
        email=f.get("email") or None,
        plan=f.get("plan") or None,
        badge=f.get("badge") or None,
        valid_from=f.get("valid_from") or None,
        valid_until=f.get("valid_until") or None,
    )
    try:
        payment = desk.desk_payment(f) if spec.plan else None
        with kiosk.db.write() as s:
            member = admin.add_member(s, spec, kiosk.config.site.device, kiosk.config.badges)
            member_id, name = member.id, member.full_name
            if spec.plan:
                # The plan given with the new member is sold like one given from their page: a line of the books.
                sub = s.scalars(select(Subscription).where(Subscription.member_id == member_id)).one()
                desk.sell(s, BookKind.SUBSCRIPTION, sub, payment)
    except admin.AdminError as exc:
        with kiosk.db.read() as s:
            rows = s.scalars(select(Member).order_by(Member.last_name, Member.first_name)).all()
        flash(str(exc), "error")
        return render_template("admin/members.html", members=rows, badges={}, plans=_plan_names(), form=f), 422
    flash(_("Membre ajouté : %(name)s", name=name), "ok")
    return redirect(url_for("admin.member", member_id=member_id))


@bp.get("/members/<member_id>")
def member(member_id: str) -> str:
    return _member_page(member_id)


def _member_page(member_id: str, errors: dict[str, str] | None = None, form: Any = None) -> str:
    """The member's page; `errors` (by form: edit, subscribe, change, badge...) are shown next to their form, which
    keeps what the manager typed (`form`)."""
    kiosk = current_kiosk()
    today = dt.datetime.now(kiosk.config.site.tz).date()
    with kiosk.db.read() as s:
        m = s.get(Member, member_id)
        if m is None:
            abort(404)
        cards = s.scalars(select(Credential).where(Credential.member_id == m.id).order_by(Credential.created_at)).all()
        spent = spent_since_balances(s, kiosk.config.site.device)
        closed = load_closures(s)
        plans = []
        for sub, plan, balance in s.execute(
            select(Subscription, Plan, Balance)
            .join(Plan, Subscription.plan_id == Plan.id)
            .outerjoin(Balance, Balance.subscription_id == Subscription.id)
            .where(Subscription.member_id == m.id)
            .order_by(Subscription.valid_from.desc().nulls_last(), Subscription.created_at.desc())
        ):
            left = balance.amount - spent.get(sub.id, 0) if balance is not None else None
            followed = admin.successor(s, sub) is not None

            # The end the door applies, later than the one entered when closures fell inside the plan.
            until = (
                extended_until(sub.valid_from, sub.valid_until, closed) if sub.valid_from and sub.valid_until else None
            )
            plans.append(
                {
                    "name": plan.name,
                    "kind": kind_label(plan.kind),
                    "sub": sub,
                    "left": left,
                    "carnet": plan.kind == PlanKind.CARNET,
                    "state": _period_state(sub, today, followed, left),
                    "open": not followed and not PlanKind(plan.kind).is_pass,
                    "days": weekdays_label(plan.weekdays) if plan.weekdays else None,
                    "extended_until": until if until != sub.valid_until else None,
                }
            )
        history = admin.badge_history(s, member_id=m.id)
        uses = s.scalars(select(Use).where(Use.holder_id == m.id).order_by(Use.local_date.desc()).limit(20)).all()
        asked = hub_requests.request_lines(s, m.id) if kiosk.config.networked else []
    return render_template(
        "admin/member.html",
        m=m,
        cards=cards,
        plans=plans,
        uses=uses,
        history=history,
        plan_names=_plan_names(),
        errors=errors or {},
        form=form or {},
        hub_requests=asked,
        tz=kiosk.config.site.tz,
    )


def _period_state(sub: Subscription, today: dt.date, followed: bool, left: int | None) -> str:
    """How a plan of the member stands today, in a word for the page."""
    if sub.valid_from is not None and sub.valid_from > today:
        return _("à venir")
    if sub.valid_until is not None and sub.valid_until < today:
        return _("terminée")
    if followed and left is not None:
        return _("remplacé")
    return _("en cours")


@bp.post("/members/<member_id>/deactivate")
@standalone_only
def deactivate(member_id: str) -> BaseResponse:
    return _change(member_id, lambda s: admin.deactivate_member(s, member_id), _("Membre désactivé·e."))


@bp.post("/members/<member_id>/topup")
@or_ask_the_hub(hub_requests.ask_top_up)
def topup(member_id: str) -> BaseResponse:
    kiosk = current_kiosk()
    try:
        half_days = int(request.form.get("half_days", ""))
    except ValueError:
        flash(_("Indiquez un nombre de demi-journées (par exemple 10, ou -1 pour corriger)."), "error")
        return redirect(url_for("admin.member", member_id=member_id))
    try:
        payment = desk.desk_payment(request.form) if half_days > 0 else None
    except admin.AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.member", member_id=member_id))

    def top_up(s: Session) -> Any:
        balance = admin.top_up(s, member_id, half_days, kiosk.config.site.device)
        desk.sell(s, BookKind.REFILL, s.get_one(Subscription, balance.subscription_id), payment, half_days)
        return balance

    return _change(member_id, top_up, _("Carnet mis à jour."))


@bp.post("/members/<member_id>/badges")
@standalone_only
def add_badge(member_id: str) -> BaseResponse:
    uid = request.form.get("uid", "")
    return _change(
        member_id,
        lambda s: admin.add_badge(s, admin.find_member(s, member_id), uid, current_kiosk().config.badges),
        _("Badge attribué."),
    )


@bp.post("/members/<member_id>/enrol")
@or_ask_the_hub(hub_requests.ask_enrol)
def enrol(member_id: str) -> BaseResponse:
    """Put the door in enrol mode, wait for the badge tapped on its reader, and give it to the member.

    The page posts this with fetch (kiosk/static/admin.js) so it can say "present the badge" meanwhile; the
    outcome is flashed and the page reloads to show it."""
    kiosk = current_kiosk()
    reply, uid = (None, None)
    if kiosk.link is not None:
        reply, uid = kiosk.link.enrol(kiosk.tuning.command_timeout_s, kiosk.tuning.enrol_timeout_s)
    if uid is not None:
        response = _change(
            member_id,
            lambda s: admin.add_badge(s, admin.find_member(s, member_id), uid, kiosk.config.badges),
            _("Badge %(uid)s attribué.", uid=uid),
        )
    else:
        if reply is None:
            flash(_("La porte ne répond pas : ajoutez le badge par son numéro."), "error")
        else:
            flash(_("Aucun badge présenté au lecteur à temps. Recommencez."), "error")
        response = redirect(url_for("admin.member", member_id=member_id))
    if request.accept_mimetypes.best == "application/json":
        return jsonify(done=True, uid=uid)
    return response


@bp.post("/badges/<uid>/revoke")
@standalone_only
def revoke_badge(uid: str) -> BaseResponse:
    member_id = request.form.get("member", "")
    return _change(member_id, lambda s: admin.revoke_badge(s, uid), _("Badge %(uid)s désactivé.", uid=uid))


def _change(member_id: str, operation: Callable[[Any], object], done: str) -> BaseResponse:
    try:
        with current_kiosk().db.write() as s:
            operation(s)
    except admin.AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(done, "ok")
    return redirect(url_for("admin.member", member_id=member_id))


def _plan_words() -> dict[str, Any]:
    """What the plans page needs to word plans and fill its form: kinds, and days of the week as boxes and labels."""
    return {
        "kinds": tuple(PlanKind),
        "kind_label": kind_label,
        "day_names": day_names(),
        "weekdays_label": weekdays_label,
    }


@bp.get("/plans")
def plans() -> str:
    with current_kiosk().db.read() as s:
        rows = s.scalars(select(Plan).order_by(Plan.name)).all()
    return render_template("admin/plans.html", plans=rows, form={}, **_plan_words())


@bp.post("/plans")
@standalone_only
def add_plan() -> BaseResponse | tuple[str, int]:
    f = request.form
    try:
        half_days = int(f["half_days"]) if f.get("half_days") else None
        price_cents = round(float(f.get("price", "0").replace(",", ".") or 0) * 100)
    except ValueError:
        half_days, price_cents = -1, -1
    guest_half_days = _guest_half_days(f.get("guest_half_days", ""))
    spec = admin.PlanSpec(
        name=f.get("name", ""),
        kind=f.get("kind", ""),
        half_days=half_days,
        allow_overdraft=f.get("overdraft") == "on",
        hours=f.get("hours") or None,
        price_cents=price_cents,
        weekdays=tuple(f.getlist("weekdays")),
        guest_half_days=guest_half_days,
        room_half_days=_guest_half_days(f.get("room_half_days", "")),
    )
    try:
        with current_kiosk().db.write() as s:
            admin.add_plan(s, spec)
    except admin.AdminError as exc:
        flash(str(exc), "error")
        with current_kiosk().db.read() as s:
            rows = s.scalars(select(Plan).order_by(Plan.name)).all()
        return render_template("admin/plans.html", plans=rows, form=f, **_plan_words()), 422
    flash(_("Formule créée : %(name)s", name=spec.name.strip()), "ok")
    return redirect(url_for("admin.plans"))


# ---------------------------------------------------------------------------------------------------- a member's year
# Editing, plans through the year and badges lost and found, by access/admin.py's operations (the CLI's too). A
# refusal is shown next to the form it answers, which keeps what was typed.


def _today() -> dt.date:
    kiosk = current_kiosk()
    return dt.datetime.now(kiosk.config.site.tz).date()


def _on_member_page(member_id: str, form_name: str, operation: Callable[[Any], object], done: str) -> Any:
    """Do `operation` in one transaction: then back to the member's page with `done`, or the page again with the
    refusal next to the form `form_name` (status 422)."""
    try:
        with current_kiosk().db.write() as s:
            operation(s)
    except admin.AdminError as exc:
        return _member_page(member_id, {form_name: str(exc)}, request.form), 422
    flash(done, "ok")
    return redirect(url_for("admin.member", member_id=member_id))


@bp.post("/members/<member_id>/edit")
@standalone_only
def edit_member(member_id: str) -> Any:
    f = request.form
    edit = admin.MemberEdit(
        first_name=f.get("first_name", ""),
        last_name=f.get("last_name", ""),
        email=f.get("email") or None,
        staff=f.get("staff") == "on",
        language=f.get("language", "fr"),
        monthly_statement=f.get("monthly_statement") == "on",
    )
    return _on_member_page(member_id, "edit", lambda s: admin.edit_member(s, member_id, edit), _("Membre modifié."))


@bp.post("/members/<member_id>/reactivate")
@standalone_only
def reactivate(member_id: str) -> BaseResponse:
    return _change(member_id, lambda s: admin.reactivate_member(s, member_id), _("Membre réactivé·e."))


@bp.post("/members/<member_id>/subscribe")
@standalone_only
def subscribe(member_id: str) -> Any:
    f = request.form
    device = current_kiosk().config.site.device

    def give(s: Session) -> Subscription:
        payment = desk.desk_payment(f)
        sub = admin.subscribe_member(s, member_id, f.get("plan", ""), f.get("valid_from"), f.get("valid_until"), device)
        desk.sell(s, BookKind.SUBSCRIPTION, sub, payment)
        return sub

    return _on_member_page(member_id, "subscribe", give, _("Formule donnée."))


def _owner(subscription_id: str) -> str:
    with current_kiosk().db.read() as s:
        sub = s.get(Subscription, subscription_id)
        if sub is None:
            abort(404)
        return sub.member_id


@bp.post("/subscriptions/<subscription_id>/renew")
@standalone_only
def renew(subscription_id: str) -> Any:
    """Renew in one click, from the member's page or the renewals list (`back` = "renewals", with its month)."""
    member_id = _owner(subscription_id)
    device = current_kiosk().config.site.device
    payment = desk.DeskPayment(None, None)  # one click: to be paid at the desk, from the sales page

    def renewed(s: Session) -> Subscription:
        sub = admin.renew(s, subscription_id, device, _today())
        desk.sell(s, BookKind.RENEWAL, sub, payment)
        return sub

    if request.form.get("back") != "renewals":
        return _on_member_page(member_id, "plans", renewed, _("Formule renouvelée."))
    month = request.form.get("month", "")
    try:
        with current_kiosk().db.write() as s:
            sub = renewed(s)
            names = {"plan": sub.plan.name, "name": sub.member.full_name}
            if sub.valid_until is None:
                said = _("« %(plan)s » de %(name)s renouvelé.", **names)
            else:
                said = _(
                    "« %(plan)s » de %(name)s renouvelée jusqu'au %(until)s.", until=_day(sub.valid_until), **names
                )
    except admin.AdminError as exc:
        return _renewals_page(month, {subscription_id: str(exc)}), 422
    flash(said, "ok")
    return redirect(url_for("admin.renewals", month=month or None))


def _day(day: dt.date | None) -> str:
    return f"{day:%d/%m/%Y}" if day is not None else "…"


@bp.post("/subscriptions/<subscription_id>/change")
@standalone_only
def change_plan(subscription_id: str) -> Any:
    member_id = _owner(subscription_id)
    f = request.form
    device = current_kiosk().config.site.device
    return _on_member_page(
        member_id,
        "change",
        lambda s: admin.change_plan(s, subscription_id, f.get("plan", ""), device, _today(), f.get("valid_until")),
        _("Formule changée à partir d'aujourd'hui."),
    )


@bp.post("/subscriptions/<subscription_id>/dates")
@standalone_only
def correct_dates(subscription_id: str) -> Any:
    member_id = _owner(subscription_id)
    f = request.form
    return _on_member_page(
        member_id,
        "plans",
        lambda s: admin.correct_dates(s, subscription_id, f.get("valid_from"), f.get("valid_until")),
        _("Dates corrigées."),
    )


@bp.post("/subscriptions/<subscription_id>/remove")
@standalone_only
def remove_subscription(subscription_id: str) -> Any:
    member_id = _owner(subscription_id)
    return _on_member_page(member_id, "plans", lambda s: desk.take_back(s, subscription_id), _("Formule retirée."))


@bp.post("/members/<member_id>/badges/<uid>/reissue")
@standalone_only
def reissue_badge(member_id: str, uid: str) -> Any:
    f = request.form
    badges = current_kiosk().config.badges
    return _on_member_page(
        member_id,
        "badge",
        lambda s: admin.reissue_badge(s, uid, f.get("new_uid", ""), f.get("reason") or None, badges, member_id),
        _("Badge remplacé : l'ancien n'ouvre plus."),
    )


@bp.post("/members/<member_id>/badges/<uid>/giveback")
@standalone_only
def give_back_badge(member_id: str, uid: str) -> Any:
    return _on_member_page(
        member_id, "badge", lambda s: admin.give_back_badge(s, uid, member_id), _("Badge %(uid)s rendu.", uid=uid)
    )


@bp.get("/renewals")
def renewals() -> str:
    return _renewals_page(request.args.get("month", ""))


def _renewals_page(month: str, errors: dict[str, str] | None = None) -> str:
    """Plans ending in the month (this month unless `month` AAAA-MM says otherwise) and carnets (nearly) empty,
    each with its "Renouveler" button."""
    kiosk = current_kiosk()
    today = _today()
    try:
        first = admin.parse_month(month) if month else today.replace(day=1)
    except admin.AdminError as exc:
        flash(str(exc), "error")
        first = today.replace(day=1)
    with kiosk.db.read() as s:
        due = admin.due_for_renewal(s, first, kiosk.config.site.device, today, admin.nearly_empty(kiosk.config))
    return render_template(
        "admin/renewals.html",
        due=due,
        month=first,
        month_value=f"{first:%Y-%m}",
        this_month=first == today.replace(day=1),
        nearly=admin.NEARLY_EMPTY,
        errors=errors or {},
        day=_day,
    )


def _guest_half_days(raw: str) -> int | None:
    """The form's guest half-days a month: empty is none; what is not a number is refused by the check (-1)."""
    try:
        return int(raw) if raw.strip() else None
    except ValueError:
        return -1


def _set_allowance(
    plan_id: str, field: str, setter: Callable[[Session, str, int | None], object], done: str
) -> BaseResponse:
    """Change one of a plan's monthly allowances (`field` of the form) with `setter`; `done` names the plan."""
    try:
        with current_kiosk().db.write() as s:
            plan = s.get(Plan, plan_id)
            if plan is None:
                abort(404)
            name = plan.name
            setter(s, name, _guest_half_days(request.form.get(field, "")))
    except admin.AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(done % {"name": name}, "ok")
    return redirect(url_for("admin.plans"))


@bp.post("/plans/<plan_id>/guests")
@standalone_only
def plan_guests(plan_id: str) -> BaseResponse:
    """Change the guest half-days a month a plan includes (guests registered from now on)."""
    done = _("Formule %(name)s : demi-journées d'invités enregistrées.")
    return _set_allowance(plan_id, "guest_half_days", admin.set_guest_half_days, done)


@bp.post("/plans/<plan_id>/rooms")
@standalone_only
def plan_rooms(plan_id: str) -> BaseResponse:
    """Change the room half-days a month a plan includes (for bookings made from now on)."""
    done = _("Formule %(name)s : demi-journées de salle enregistrées.")
    return _set_allowance(plan_id, "room_half_days", admin.set_room_half_days, done)
