"""Personal data at the hub's pages: the privacy page (open to anyone: it shows no one's data), and from a member's
page their export (JSON, or a zip of CSV files) and their erasure, after a confirmation page."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from common.i18n import _
from common.privacy import export_json, export_zip
from common.privacy_notice import member_notice, privacy_page
from sync.hub.admin import HubError
from sync.hub.privacy import erase_member, member_export
from sync.hub.web import forms
from sync.hub.web.context import current_actor, current_hub
from sync.hub.web.members import visible_member

bp = Blueprint("privacy", __name__)


@bp.app_context_processor
def notices() -> dict[str, object]:
    """The short notice member forms show, with a link to the page."""
    hub = current_hub()
    return {"member_privacy_notice": lambda: member_notice(hub.privacy, hub.association.name)}


@bp.get("/privacy")
def page() -> str:
    hub = current_hub()
    return render_template("hub/privacy.html", sections=privacy_page(hub.privacy, hub.association.name))


def _export(member_id: str) -> dict[str, list[dict[str, object]]]:
    visible_member(member_id)
    with current_hub().db.read() as s:
        try:
            return member_export(s, member_id, current_actor())
        except HubError:
            abort(404)


@bp.get("/members/<member_id>/export.json")
def export_as_json(member_id: str) -> Response:
    body = export_json(_export(member_id))
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="membre-{member_id}.json"'},
    )


@bp.get("/members/<member_id>/export.zip")
def export_as_zip(member_id: str) -> Response:
    body = export_zip(_export(member_id))
    return Response(
        body,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="membre-{member_id}.zip"'},
    )


@bp.get("/members/<member_id>/erase")
def confirm_erase(member_id: str) -> str:
    return render_template("hub/erase.html", m=visible_member(member_id))


@bp.post("/members/<member_id>/erase")
def erase(member_id: str) -> BaseResponse:
    visible_member(member_id)
    if request.form.get("confirm") != "yes":
        flash(_("Cochez la case pour confirmer l'effacement : rien n'a été effacé."))
        return redirect(url_for("privacy.confirm_erase", member_id=member_id))
    try:
        pseudonym = erase_member(current_hub().db, member_id, actor=current_actor())
    except HubError as exc:
        forms.refused(exc)
        return redirect(url_for("privacy.confirm_erase", member_id=member_id))
    flash(
        _(
            "Membre effacé : il s'appelle désormais « %(name)s » ; ses demi-journées restent comptées. Les portes "
            "l'oublient à leur prochaine liste.",
            name=pseudonym,
        )
    )
    return redirect(url_for("members.member", member_id=member_id))
