"""`halfday restore [FILE]`: put a sound copy of the ledger in place of a damaged one.

The copy is checked whole before anything is touched, copied beside the ledger and brought to the current schema,
then swapped in; the damaged file (and its -wal and -shm, which must never be applied to another file) is kept
aside, renamed, for whoever wants to look at it. The door, which meanwhile decides read-only on its snapshot and
journals every entry, sees the new file within seconds, writes its journal into it and goes back to normal. The
kiosk and sync hold the old file open: they are restarted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from access import incarnation
from access.config import Config
from access.db import Database, alembic_config, migrate
from common.db import check_sqlite_file, sqlite_file
from common.files import sync_folder

# Where the backups are kept, beside the ledger (the backups themselves are made by `halfday backup`).
BACKUPS_FOLDER = "backups"
BACKUP_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# ledger-20261129T030000Z.db: UTC, so two backups an hour apart at the autumn clock change keep two names.
BACKUP_NAME_FORMAT = "ledger-%Y%m%dT%H%M%SZ.db"
BACKUP_NAME_RE = re.compile(r"ledger-(\d{8}T\d{6}Z)\.db")
# The ledger is shared by the door, the kiosk and sync (one group, see install/install-pi.sh).
LEDGER_MODE = 0o660


class RestoreError(RuntimeError):
    """The restore cannot be done (message in French); nothing was changed."""


@dataclass(frozen=True)
class Restored:
    source: Path
    ledger: Path
    kept_aside: Path | None
    events: int
    last_event: dt.datetime | None


def backups_folder(ledger: Path) -> Path:
    return ledger.absolute().parent / BACKUPS_FOLDER


def backup_time(path: Path) -> dt.datetime | None:
    """When a backup named by `halfday backup` was made; None for any other file."""
    found = BACKUP_NAME_RE.fullmatch(path.name)
    if found is None:
        return None
    return dt.datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def _made_at(path: Path) -> dt.datetime:
    # The time in the name, which a copy to and from a USB stick keeps; a file named otherwise, its own time.
    return backup_time(path) or dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def latest_backup(ledger: Path) -> Path | None:
    """The newest backup file beside the ledger, if any."""
    folder = backups_folder(ledger)
    if not folder.is_dir():
        return None
    found = [p for p in folder.iterdir() if p.is_file() and p.suffix in BACKUP_SUFFIXES]
    return max(found, key=_made_at, default=None)


def _revision(path: Path) -> str | None:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            return None
    return str(row[0]) if row else None


def _check_schema(path: Path) -> None:
    """A copy from this version of halfday or an older one; never from a newer one, whose schema is unknown."""
    revision = _revision(path)
    if revision is None:
        raise RestoreError(f"{path} n'a pas de version de schéma : ce n'est pas une base de halfday")
    # Here, not with the module: the door and the kiosk import this module for the backups' names and times.
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision)
    except CommandError:
        raise RestoreError(f"{path} vient d'une version plus récente de halfday (schéma {revision})") from None


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file (its -wal included), by SQLite's own backup."""
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
    with open(target, "rb+") as copied:
        os.fsync(copied.fileno())


def _summary(path: Path) -> tuple[int, dt.datetime | None]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        count, last = conn.execute("SELECT count(*), max(at) FROM events").fetchone()
    return int(count), dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC) if last else None


def _empty(path: Path) -> bool:
    """No event and no member: a ledger just made by `halfday init`, which a restore replaces without asking."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
        (members,) = conn.execute("SELECT count(*) FROM members").fetchone()
    return int(events) == 0 and int(members) == 0


def restore(config: Config, source: Path | None, *, force: bool = False) -> Restored:
    """Replace the ledger of `config` by a checked copy of `source` (default: the latest backup)."""
    ledger = sqlite_file(config.database_url)
    if ledger is None:
        raise RestoreError("la base n'est pas un fichier SQLite : rien à restaurer ici")
    ledger = ledger.absolute()
    if source is None:
        source = latest_backup(ledger)
        if source is None:
            raise RestoreError(
                f"aucune sauvegarde dans {backups_folder(ledger)} : indiquez le fichier, halfday restore FICHIER"
            )
    source = source.absolute()
    if source == ledger:
        raise RestoreError("le fichier à restaurer est la base elle-même")
    problem = check_sqlite_file(source, full=True)
    if problem is not None:
        raise RestoreError(f"{source} ne peut pas servir : {problem}")
    _check_schema(source)
    if not force and ledger.exists() and check_sqlite_file(ledger) is None and not _empty(ledger):
        # A sound ledger would lose what it holds; an empty one (a Pi just reinstalled) is the normal case.
        raise RestoreError(
            "la base actuelle est saine : la remplacer effacerait tout ce qui a été enregistré depuis cette "
            "sauvegarde (--force pour le faire quand même)"
        )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    staged = ledger.with_name(f".{ledger.name}.restoring-{stamp}")
    try:
        _copy(source, staged)
        migrate(f"sqlite:///{staged}")
        _begin_life(staged)
        problem = check_sqlite_file(staged, full=True)
        if problem is not None:
            raise RestoreError(f"la copie de {source} ne passe pas la vérification : {problem}")
        _checkpoint(staged)
        kept = _set_aside(ledger, stamp)
        try:
            _take_place(staged, ledger, kept)
        except OSError:
            if kept is not None and not ledger.exists():
                kept.rename(ledger)  # as it was: damaged, but where every service expects it
            raise
    finally:
        for leftover in (staged, Path(f"{staged}-wal"), Path(f"{staged}-shm")):
            leftover.unlink(missing_ok=True)
    events, last = _summary(ledger)
    return Restored(source, ledger, kept, events, last)


def _begin_life(staged: Path) -> None:
    """A restored ledger begins a new life: its device's stream resumes above what the hub already holds, and the
    hub's events since the backup come back into it (access/incarnation.py)."""
    db = Database(f"sqlite:///{staged}")
    try:
        with db.write() as session:
            incarnation.begin(session, incarnation.RESTORED)
    finally:
        db.dispose()


def _set_aside(ledger: Path, stamp: str) -> Path | None:
    """Rename the damaged ledger and its -wal and -shm out of the way (a -wal left behind would be applied to the
    restored file)."""
    if not ledger.exists():
        return None
    kept = ledger.with_name(f"{ledger.name}.damaged-{stamp}")
    for suffix in ("-wal", "-shm"):
        companion = Path(f"{ledger}{suffix}")
        if companion.exists():
            companion.rename(f"{kept}{suffix}")
    ledger.rename(kept)
    return kept


def _checkpoint(path: Path) -> None:
    """Fold the copy's -wal into the file itself, so the file alone is the whole database."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise RestoreError(f"la copie {path} n'a pas pu être close proprement : recommencez")
    wal.unlink(missing_ok=True)
    Path(f"{path}-shm").unlink(missing_ok=True)


def _take_place(staged: Path, ledger: Path, previous: Path | None) -> None:
    """Move the checked copy into place with the owner and mode the ledger had (the services' shared group)."""
    if previous is not None:
        before = previous.stat()
        with contextlib.suppress(PermissionError):
            os.chown(staged, before.st_uid, before.st_gid)
        os.chmod(staged, before.st_mode & 0o777)
    else:
        os.chmod(staged, LEDGER_MODE)
    os.replace(staged, ledger)
    sync_folder(ledger.parent)
