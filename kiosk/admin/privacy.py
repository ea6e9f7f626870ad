"""Personal data in the admin: the privacy page, a member's export (JSON, or a zip of CSV files) and, on a
standalone site, their erasure after a confirmation page (a networked site's members are erased at the hub, which
tells this door through its roster)."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as BaseResponse

from access.models import Erasure, Member
from access.privacy import erase_member
from access.privacy_export import member_export
from common.i18n import _
from common.privacy import export_json, export_zip
from common.privacy_notice import member_notice, privacy_page, walk_in_notice
from kiosk.admin import bp
from kiosk.context import current_kiosk


def association_name() -> str:
    """Who keeps the data: `[association]` name (by default the site's)."""
    return current_kiosk().config.association.name


@bp.app_context_processor
def notices() -> dict[str, object]:
    """The short notices where data is given: the admin's member forms, the touchscreen's pass form."""
    privacy = current_kiosk().config.privacy
    return {
        "member_privacy_notice": lambda: member_notice(privacy, association_name()),
        "walk_in_privacy_notice": lambda: walk_in_notice(privacy, association_name()),
    }


@bp.get("/privacy")
def privacy() -> str:
    sections = privacy_page(current_kiosk().config.privacy, association_name())
    return render_template("admin/privacy.html", sections=sections)


def _export(member_id: str) -> dict[str, list[dict[str, object]]]:
    with current_kiosk().db.read() as s:
        sections = member_export(s, member_id)
    if sections is None:
        abort(404)
    return sections


@bp.get("/members/<member_id>/export.json")
def export_member_json(member_id: str) -> Response:
    return Response(
        export_json(_export(member_id)),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="membre-{member_id}.json"'},
    )


@bp.get("/members/<member_id>/export.zip")
def export_member_zip(member_id: str) -> Response:
    return Response(
        export_zip(_export(member_id)),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="membre-{member_id}.zip"'},
    )


@bp.get("/members/<member_id>/erase")
def confirm_erase(member_id: str) -> str:
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        member = s.get(Member, member_id)
        if member is None:
            abort(404)
        erased = s.get(Erasure, member_id)
    return render_template("admin/erase.html", m=member, erased=erased)


@bp.post("/members/<member_id>/erase")
def erase(member_id: str) -> BaseResponse:
    kiosk = current_kiosk()
    if kiosk.config.networked:
        flash(_("Ce lieu est relié au hub : l'effacement se fait sur le hub, qui le transmet à chaque porte."), "error")
        return redirect(url_for("admin.confirm_erase", member_id=member_id))
    if request.form.get("confirm") != "yes":
        flash(_("Cochez la case pour confirmer l'effacement : rien n'a été effacé."), "error")
        return redirect(url_for("admin.confirm_erase", member_id=member_id))
    with kiosk.db.write() as s:
        if s.get(Member, member_id) is None:
            abort(404)
        done = erase_member(s, member_id, kiosk.now(), "desk")
    # The door reloads on the state version erase_member bumped: the badge stops opening at once.
    if done:
        flash(_("Membre effacé : son nom, son e-mail et ses badges ont disparu ; ses demi-journées restent comptées."))
    return redirect(url_for("admin.member", member_id=member_id))
