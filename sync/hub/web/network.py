"""The network's sites and doors: a site created and edited, a door registered (its broker account made, the
installer's commands shown once), its health read, opened from afar, its password renewed, taken out of service."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers.response import Response as BaseResponse

from common.i18n import _
from sync.hub import admin, reports
from sync.hub.admin import HubError, SiteFields
from sync.hub.broker_accounts import BrokerAccountsError, device_username, installer_lines, new_password
from sync.hub.models import DeviceIncarnation, Site
from sync.hub.web import forms
from sync.hub.web.context import current_actor, current_hub, require_admin

# The door's last restores shown on its page.
RESTORES_SHOWN = 10

bp = Blueprint("network", __name__)


@bp.app_template_filter("ago")
def ago(when: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago, in words a manager reads at a glance ("il y a 3 min")."""
    if when is None:
        return "—"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return _("il y a %(n)d s", n=seconds)
    if seconds < 3600:
        return _("il y a %(n)d min", n=seconds // 60)
    if seconds < 86400:
        return _("il y a %(n)d h", n=seconds // 3600)
    return _("il y a %(n)d j", n=seconds // 86400)


@bp.app_template_global()
def alarm_words(code: str) -> str:
    words = {
        "forced": _("porte forcée"),
        "held_open": _("porte restée ouverte"),
        "reader": _("lecteur absent"),
        "database": _("registre local abîmé ou disque plein"),
        "clock": _("horloge non fiable"),
        "roster": _("liste des membres trop ancienne"),
        "backlog": _("passages non transmis depuis trop longtemps"),
        "disk": _("disque presque plein"),
        "backup": _("sauvegarde en échec"),
    }
    return words.get(code, code)


def my_sites() -> list[Site]:
    actor = current_actor()
    with current_hub().db.read() as s:
        query = select(Site).order_by(Site.name, Site.id)
        if actor.sites is not None:
            query = query.where(Site.id.in_(sorted(actor.sites)))
        return list(s.execute(query).scalars())


@bp.get("/")
def doors() -> str:
    actor = current_actor()
    with current_hub().db.read() as s:
        views = reports.devices(s, actor.sites)
        problems = reports.roster_problems(s) if actor.network_wide else []
    return render_template(
        "hub/doors.html",
        devices=views,
        problems=problems,
        sites=my_sites(),
        now=dt.datetime.now(dt.UTC),
        managed=current_hub().broker is not None,
    )


@bp.post("/doors")
def register_door() -> str | BaseResponse:
    hub = current_hub()
    site_id, device_id = forms.text("site_id", 63), forms.text("device_id", 63).lower()
    password = new_password()
    broker = hub.broker

    def make_account() -> None:
        if broker is not None:
            broker.add_device(site_id, device_id, password)

    try:
        admin.register_device(
            hub.db, site_id, device_id, forms.text("label", 120), actor=current_actor(), broker=make_account
        )
    except HubError as exc:
        forms.refused(exc)
        return redirect(url_for("network.doors"))
    except BrokerAccountsError as exc:  # the broker said no (unreachable, refused): nothing was registered
        flash(_("La porte n'a pas été enregistrée : %(why)s", why=str(exc)[:200]))
        return redirect(url_for("network.doors"))
    flash(_("Porte enregistrée."))
    return _installation(site_id, device_id, password if broker is not None else None)


def _installation(site_id: str, device_id: str, password: str | None) -> str:
    """The page with the lines that install a door's Pi with its new password, shown this once."""
    installer = current_hub().installer
    lines = None
    if password is not None and installer is not None:
        lines = installer_lines(
            site=site_id,
            device=device_id,
            username=device_username(site_id, device_id),
            password=password,
            hub_url=installer.hub_url,
            public_key_b64=installer.public_key_b64,
            ca_pem=installer.ca_pem,
        )
    return render_template("hub/door_registered.html", site_id=site_id, device_id=device_id, lines=lines)


def _door(site_id: str, device_id: str) -> reports.DeviceView:
    actor = current_actor()
    if not actor.may_manage(site_id):
        abort(404)
    with current_hub().db.read() as s:
        for view in reports.devices(s, frozenset({site_id}), include_removed=True):
            if view.device_id == device_id:
                return view
    abort(404)


@bp.get("/doors/<site_id>/<device_id>")
def door(site_id: str, device_id: str) -> str:
    view = _door(site_id, device_id)
    with current_hub().db.read() as s:
        # The door's ledger restored or reinstalled: when, and how much the hub gave back (sync/PROTOCOL.md).
        restores = s.scalars(
            select(DeviceIncarnation)
            .where(DeviceIncarnation.site_id == site_id, DeviceIncarnation.device_id == device_id)
            .order_by(DeviceIncarnation.asked_at.desc())
            .limit(RESTORES_SHOWN)
        ).all()
    return render_template(
        "hub/door.html",
        d=view,
        restores=restores,
        now=dt.datetime.now(dt.UTC),
        managed=current_hub().broker is not None,
    )


@bp.post("/doors/<site_id>/<device_id>/unlock")
def unlock(site_id: str, device_id: str) -> BaseResponse:
    _door(site_id, device_id)
    try:
        admin.unlock(current_hub().db, site_id, device_id, actor=current_actor())
        flash(_("Ouverture envoyée : la porte s'ouvre dès qu'elle reçoit l'ordre (30 secondes au plus)."))
    except HubError as exc:
        forms.refused(exc)
    return redirect(url_for("network.door", site_id=site_id, device_id=device_id))


@bp.post("/doors/<site_id>/<device_id>/resend")
def resend_roster(site_id: str, device_id: str) -> BaseResponse:
    _door(site_id, device_id)
    try:
        admin.resend_roster(current_hub().db, site_id, actor=current_actor())
        flash(_("La liste complète des membres part vers les portes de ce site dans quelques secondes."))
    except HubError as exc:
        forms.refused(exc)
    return redirect(url_for("network.door", site_id=site_id, device_id=device_id))


@bp.post("/doors/<site_id>/<device_id>/password")
def new_door_password(site_id: str, device_id: str) -> str | BaseResponse:
    _door(site_id, device_id)
    hub = current_hub()
    broker = hub.broker
    if broker is None:
        flash(_("Ce hub ne gère pas les comptes de son broker."))
        return redirect(url_for("network.door", site_id=site_id, device_id=device_id))
    password = new_password()
    try:
        admin.reset_device_password(
            hub.db,
            site_id,
            device_id,
            actor=current_actor(),
            broker=lambda: broker.add_device(site_id, device_id, password),
        )
    except HubError as exc:
        forms.refused(exc)
        return redirect(url_for("network.door", site_id=site_id, device_id=device_id))
    except BrokerAccountsError as exc:
        flash(_("Le mot de passe n'a pas été changé : %(why)s", why=str(exc)[:200]))
        return redirect(url_for("network.door", site_id=site_id, device_id=device_id))
    flash(_("Nouveau mot de passe : l'ancien ne sert plus."))
    return _installation(site_id, device_id, password)


@bp.post("/doors/<site_id>/<device_id>/remove")
def remove_door(site_id: str, device_id: str) -> BaseResponse:
    _door(site_id, device_id)
    hub = current_hub()
    broker = hub.broker
    try:
        admin.remove_device(
            hub.db,
            site_id,
            device_id,
            actor=current_actor(),
            broker=(lambda: broker.remove_device(site_id, device_id)) if broker is not None else None,
        )
        flash(_("Porte retirée du service : son compte ne sert plus, son historique reste."))
    except HubError as exc:
        forms.refused(exc)
    except BrokerAccountsError as exc:
        flash(_("La porte n'a pas été retirée : %(why)s", why=str(exc)[:200]))
    return redirect(url_for("network.doors"))


# ---------------------------------------------------------------------------------------------------- sites


def _site_fields() -> SiteFields:
    return SiteFields(
        name=forms.text("name", 120),
        timezone=forms.text("timezone", 64) or "Europe/Paris",
        capacity=forms.number("capacity", _("Capacité"), high=10_000, default=0),
        monthly_target=forms.number("monthly_target", _("Objectif mensuel"), high=1_000_000, default=0),
        morning_start=forms.time_of_day("morning_start", _("Début du matin"), dt.time(8, 0)) or dt.time(8, 0),
        noon=forms.time_of_day("noon", _("Début de l'après-midi"), dt.time(13, 0)) or dt.time(13, 0),
        afternoon_end=forms.time_of_day("afternoon_end", _("Fin de l'après-midi"), dt.time(20, 0)) or dt.time(20, 0),
    )


@bp.get("/sites")
def sites() -> str:
    return render_template("hub/sites.html", sites=my_sites(), blank=SiteFields(""))


@bp.post("/sites")
def add_site() -> BaseResponse:
    require_admin()
    site_id = forms.text("site_id", 63).lower()
    try:
        admin.add_site(current_hub().db, site_id, "", fields=_site_fields(), actor=current_actor(), exist_ok=False)
    except HubError as exc:
        forms.refused(exc)
        return redirect(url_for("network.sites"))
    flash(_("Site créé."))
    return redirect(url_for("network.site", site_id=site_id))


@bp.route("/sites/<site_id>", methods=["GET", "POST"])
def site(site_id: str) -> str | BaseResponse:
    actor = current_actor()
    if not actor.may_manage(site_id):
        abort(404)
    hub = current_hub()
    if request.method == "POST":
        try:
            admin.edit_site(hub.db, site_id, _site_fields(), actor=actor)
            flash(_("Site enregistré."))
        except HubError as exc:
            forms.refused(exc)
        return redirect(url_for("network.site", site_id=site_id))
    with hub.db.read() as s:
        found = s.get(Site, site_id)
        if found is None:
            abort(404)
        doors = reports.devices(s, frozenset({site_id}))
    return render_template("hub/site.html", site=found, doors=doors)
