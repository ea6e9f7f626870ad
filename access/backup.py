"""`halfday backup`: a checked copy of the live ledger, every night and before an upgrade.

The copy is made by SQLite's online backup (never a file copy: the ledger's -wal holds the newest writes, and a
file copied while the door writes may be torn), in one step: on a WAL database the copy reads one snapshot and the
door goes on writing meanwhile. The copy is checked whole (`PRAGMA integrity_check`), synced, and only then given
its dated name, so a file named like a backup is always a sound one. Copies older than `[backup] keep_days` go,
the newest always stays. With `[backup] usb_folder`, the checked copy also goes to a USB stick.

Every run writes its outcome to `backups/status.json` (`{"at", "ok", "file", "error"}`), which the alarms read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from access.config import Config
from access.restore import BACKUP_NAME_FORMAT, BACKUPS_FOLDER, backup_time, backups_folder
from common.db import check_sqlite_file, sqlite_file
from common.files import sync_folder, write_atomically

STATUS_FILE = "status.json"
NAME_FORMAT = BACKUP_NAME_FORMAT
# Backups hold members' names and access logs: readable by the ledger's group (the services), not by others.
BACKUP_MODE = 0o640
# The backups folder: the ledger's group writes it, setgid so every backup belongs to that group.
BACKUPS_FOLDER_MODE = 0o2770


class BackupError(RuntimeError):
    """The backup could not be made or copied (message in French)."""


@dataclass(frozen=True)
class BackedUp:
    file: Path
    events: int
    pruned: list[Path]
    usb_copy: Path | None


def backups(folder: Path) -> list[Path]:
    """The backups in `folder`, oldest first (by the time in their names)."""
    if not folder.is_dir():
        return []
    named = [(backup_time(p), p) for p in folder.iterdir() if p.is_file()]
    return [p for at, p in sorted((at, p) for at, p in named if at is not None)]


def _ledger(config: Config) -> Path:
    ledger = sqlite_file(config.database_url)
    if ledger is None:
        raise BackupError("la base n'est pas un fichier SQLite : la sauvegarde se fait sur le serveur de la base")
    if not ledger.is_file():
        raise BackupError(f"la base {ledger} n'existe pas")
    return ledger.absolute()


def _online_copy(ledger: Path, target: Path) -> int:
    """Copy the live ledger into `target` with SQLite's backup API; returns the number of events copied."""
    with (
        contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=30)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)  # one step: a WAL reader never blocks the door's writes
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        (events,) = dst.execute("SELECT count(*) FROM events").fetchone()
    with open(target, "rb+") as copied:
        os.fsync(copied.fileno())
    return int(events)


def _usb_folder(config: Config, ledger: Path) -> Path | None:
    """The USB stick's folder, checked: there, mounted (not the SD card's own folder of that name) and writable."""
    if config.backup.usb_folder is None:
        return None
    folder = Path(config.backup.usb_folder)
    if not folder.is_dir():
        raise BackupError(f"la clé USB n'est pas branchée : le dossier {folder} n'existe pas")
    # An unplugged stick leaves its mount point as an empty folder of the SD card: copying there would fill the card
    # and protect nothing.
    if folder.stat().st_dev == ledger.parent.stat().st_dev:
        raise BackupError(f"la clé USB n'est pas montée sur {folder} (ce dossier est sur la carte SD)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BackupError(f"la clé USB montée sur {folder} n'accepte pas l'écriture (protégée ou pleine ?)")
    return folder


def _copy_to(source: Path, folder: Path) -> Path:
    target = folder / source.name
    partial = folder / f".{source.name}.partial"
    try:
        shutil.copyfile(source, partial)
        with open(partial, "rb+") as copied:
            os.fsync(copied.fileno())
        problem = check_sqlite_file(partial)
        if problem is not None:
            raise BackupError(f"la copie sur la clé USB est fausse : {problem}")
        os.replace(partial, target)
        sync_folder(folder)
    except OSError as exc:
        raise BackupError(f"la copie sur la clé USB a échoué : {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return target


def prune(folder: Path, keep_days: int, now: dt.datetime) -> list[Path]:
    """Remove backups older than `keep_days` from `folder`, the newest one always kept; returns those removed."""
    found = backups(folder)
    limit = now - dt.timedelta(days=keep_days)
    gone = []
    for path in found[:-1]:
        made = backup_time(path)
        if made is not None and made < limit:
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone


def write_status(folder: Path, at: dt.datetime, ok: bool, file: str | None, error: str | None) -> None:
    """The outcome of the last run, for the alarms (`{"at", "ok", "file", "error"}`)."""
    body = {"at": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "ok": ok, "file": file, "error": error}
    write_atomically(folder / STATUS_FILE, json.dumps(body, ensure_ascii=False).encode("utf-8"), mode=0o664)


def read_status(folder: Path) -> dict[str, object] | None:
    """The last outcome written, if any (the admin and the alarms read it)."""
    try:
        value = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def backup(config: Config, *, now: dt.datetime | None = None) -> BackedUp:
    """Make, check and keep a backup of the ledger of `config`; the outcome goes to the status file either way."""
    now = now or dt.datetime.now(dt.UTC)
    ledger = _ledger(config)
    folder = backups_folder(ledger)
    try:
        if not folder.is_dir():
            folder.mkdir()
            # Whoever makes it (the nightly unit, or the kiosk's "back up now"), the other writes into it too: the
            # mode is set, not left to this process's umask.
            os.chmod(folder, BACKUPS_FOLDER_MODE)
    except OSError as exc:
        raise BackupError(
            f"le dossier des sauvegardes {folder} ne peut pas être créé : {exc.strerror or exc}"
        ) from None
    try:
        done = _backup(config, ledger, folder, now)
    except BackupError as exc:
        made = backups(folder)
        name = made[-1].name if made and backup_time(made[-1]) == now.replace(microsecond=0) else None
        write_status(folder, now, False, name, str(exc))
        raise
    except (OSError, sqlite3.Error) as exc:
        write_status(folder, now, False, None, f"la sauvegarde a échoué : {exc}")
        raise BackupError(f"la sauvegarde a échoué : {exc}") from exc
    write_status(folder, now, True, done.file.name, None)
    return done


def _backup(config: Config, ledger: Path, folder: Path, now: dt.datetime) -> BackedUp:
    target = folder / now.astimezone(dt.UTC).strftime(NAME_FORMAT)
    partial = folder / f".{target.name}.partial"
    try:
        events = _online_copy(ledger, partial)
        problem = check_sqlite_file(partial, full=True)
        if problem is not None:
            raise BackupError(f"la copie ne passe pas la vérification : {problem}")
        os.chmod(partial, BACKUP_MODE)
        os.replace(partial, target)
        sync_folder(folder)
    finally:
        for leftover in (partial, Path(f"{partial}-journal")):
            leftover.unlink(missing_ok=True)
    pruned = prune(folder, config.backup.keep_days, now)
    try:
        usb = _usb_folder(config, ledger)
    except BackupError as exc:
        raise BackupError(f"sauvegarde faite sur la carte SD, mais {exc}") from None
    usb_copy = None
    if usb is not None:
        try:
            usb_copy = _copy_to(target, usb)
        except BackupError as exc:
            raise BackupError(f"sauvegarde faite sur la carte SD, mais {exc}") from None
        pruned += prune(usb, config.backup.keep_days, now)
    return BackedUp(target, events, pruned, usb_copy)


__all__ = ["BACKUPS_FOLDER", "BackedUp", "BackupError", "backup", "backup_time", "backups", "prune", "read_status"]
