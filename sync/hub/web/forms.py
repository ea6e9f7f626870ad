"""Reading the back office's forms: each value checked, a bad one named in French (a 400 page saying which), and
the one way pages report a refused change."""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, request

from common.i18n import _
from sync.hub.accounts import AccountError
from sync.hub.admin import ERRORS, HubError


def text(name: str, max_len: int = 200) -> str:
    return request.form.get(name, "").strip()[:max_len]


def number(name: str, label: str, *, low: int = 0, high: int = 1_000_000, default: int | None = None) -> int:
    raw = request.form.get(name, "").strip()
    if not raw and default is not None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, _("%(label)s : un nombre entier est attendu.", label=label))
    if not low <= value <= high:
        abort(400, _("%(label)s : entre %(low)d et %(high)d.", label=label, low=low, high=high))
    return value


def euros(name: str, label: str) -> int:
    """An amount typed in euros ("12", "12,50", "12.5"), as cents."""
    raw = request.form.get(name, "").strip().replace(",", ".").replace("€", "").strip() or "0"
    try:
        cents = round(float(raw) * 100)
    except ValueError:
        abort(400, _("%(label)s : un montant en euros est attendu (par exemple 12,50).", label=label))
    if not 0 <= cents <= 10_000_000:
        abort(400, _("%(label)s : montant hors limites.", label=label))
    return cents


def time_of_day(name: str, label: str, default: dt.time | None = None) -> dt.time | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return default
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        abort(400, _("%(label)s : une heure HH:MM est attendue.", label=label))


def date(name: str, label: str) -> dt.date | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        abort(400, _("%(label)s : une date AAAA-MM-JJ est attendue.", label=label))


def refused(exc: HubError | AccountError) -> None:
    """Tell the manager why a change was refused (the domain's French message)."""
    if isinstance(exc, HubError):
        flash(_("Refusé : %(why)s", why=str(exc) or ERRORS.get(exc.code, exc.code)))
    else:
        flash(_("Refusé : %(why)s", why=str(exc)))
