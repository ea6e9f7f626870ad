"""The audit log: every change at the hub with its author, newest first, a page at a time."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from common.i18n import _
from sync.hub import audit
from sync.hub.web.context import current_actor, current_hub

bp = Blueprint("audit", __name__)
PAGE = 100


@bp.app_template_global()
def audit_words(action: str) -> str:
    """The change in a manager's words (the code itself for one this hub does not know)."""
    words = {
        "account.add": _("compte créé"),
        "account.edit": _("compte modifié"),
        "account.password": _("mot de passe changé"),
        "site.add": _("site créé"),
        "site.edit": _("site modifié"),
        "door.register": _("porte enregistrée"),
        "door.password": _("nouveau mot de passe de porte"),
        "door.remove": _("porte retirée"),
        "door.unlock": _("ouverture à distance"),
        "door.enrol": _("badge attendu à la porte"),
        "door.send_status": _("état demandé"),
        "plan.add": _("formule créée"),
        "plan.edit": _("formule modifiée"),
        "plan.retire": _("formule retirée"),
        "plan.offer": _("formule proposée à nouveau"),
        "member.add": _("membre ajouté"),
        "member.edit": _("membre modifié"),
        "member.deactivate": _("membre désactivé"),
        "member.reactivate": _("membre réactivé"),
        "member.staff": _("membre compté dans l'équipe"),
        "member.not_staff": _("membre retiré de l'équipe"),
        "subscription.add": _("formule ajoutée"),
        "subscription.renew": _("abonnement renouvelé"),
        "subscription.change": _("changement de formule"),
        "subscription.end": _("fin d'abonnement"),
        "carnet.top_up": _("carnet rechargé"),
        "badge.enrol": _("badge donné"),
        "badge.revoke": _("badge révoqué"),
        "roster.left_out": _("laissé hors des listes des membres"),
        "roster.resend": _("liste complète renvoyée aux portes"),
    }
    return words.get(action, action)


@bp.get("/audit")
def log() -> str:
    before = request.args.get("before", type=int)
    target = request.args.get("target") or None
    with current_hub().db.read() as s:
        rows = list(audit.entries(s, current_actor(), limit=PAGE, before_id=before, target=target))
    older = rows[-1].id if len(rows) == PAGE else None
    return render_template("hub/audit.html", entries=rows, older=older, target=target)
