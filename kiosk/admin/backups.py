"""The backups, for the manager: whether last night's worked, the copies kept (to download one, for safe keeping
elsewhere), a backup now, and what to do when the SD card dies (the restore itself is a command: it replaces the
ledger this page runs on)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import abort, flash, redirect, render_template, send_file
from flask.typing import ResponseReturnValue
from werkzeug.wrappers.response import Response as BaseResponse

from access.backup import BackupError, backup, backups, read_status
from access.restore import backup_time, backups_folder
from common.db import sqlite_file
from common.i18n import _
from kiosk.admin import bp
from kiosk.context import current_kiosk


def _folder() -> Path | None:
    ledger = sqlite_file(current_kiosk().config.database_url)
    return backups_folder(ledger) if ledger is not None else None


def _when(raw: object) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None


@bp.get("/backups")
def backups_page() -> str:
    kiosk = current_kiosk()
    folder = _folder()
    status = read_status(folder) if folder is not None else None
    made = list(reversed(backups(folder))) if folder is not None else []
    rows = [(p.name, backup_time(p), p.stat().st_size) for p in made]
    return render_template(
        "admin/backups.html",
        status=status,
        status_at=_when(status.get("at")) if status else None,
        rows=rows,
        settings=kiosk.config.backup,
        tz=kiosk.config.site.tz,
    )


@bp.post("/backups/now")
def backup_now() -> BaseResponse:
    """A backup now, as the nightly one: before a risky change, or to take a copy away."""
    try:
        done = backup(current_kiosk().config)
    except BackupError as exc:
        flash(_("La sauvegarde a échoué : %(error)s", error=str(exc)), "error")
    else:
        flash(_("Sauvegarde faite et vérifiée : %(name)s", name=done.file.name), "ok")
    return redirect("/admin/backups")


@bp.get("/backups/<name>")
def backup_download(name: str) -> ResponseReturnValue:
    """One backup, to keep elsewhere (it holds members' names and access logs: the manager's only)."""
    folder = _folder()
    wanted = next((p for p in backups(folder) if p.name == name), None) if folder is not None else None
    if wanted is None:
        abort(404)
    return send_file(wanted, mimetype="application/vnd.sqlite3", as_attachment=True, download_name=wanted.name)
