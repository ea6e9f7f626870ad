"""The appliance's SQLite ledger: the shared durable database (common/db.py) and its Alembic migrations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from common.db import Database, make_engine

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

__all__ = ["Database", "current_revision", "head_revision", "migrate"]

MIGRATIONS = Path(__file__).with_name("migrations")


# Alembic is imported where a migration or a revision is asked for, not with this module: the door, the kiosk and
# the sync agent import the ledger all day and would hold Alembic, Mako and Pygments (11 MB each) for nothing.


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> str:
    """Bring the database at `url` to the newest schema; returns the revision it is at."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    command.upgrade(alembic_config(url), "head")
    return current_revision(url) or ""


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None: never migrated), read as Alembic stores it."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()
    return versions[0] if len(versions) == 1 else None


_REVISION = re.compile(r'^(down_)?revision(?:: [^=]+)? = (?:"([^"]*)"|None)', re.MULTILINE)


def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files' own two lines; Alembic's answer when they
    are not one plain chain (then Alembic's own error says why)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for down, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            if value:
                (parents if down else revisions).add(value)
    heads = revisions - parents
    if len(heads) == 1:
        return heads.pop()
    return _alembic_head()


def _alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
