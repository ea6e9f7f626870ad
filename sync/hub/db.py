"""The hub's database on SQLite or PostgreSQL, chosen by URL: the shared durable database (common/db.py) plus
consistent snapshots for rosters and reports, and the schema's Alembic migrations (sync/hub/migrations)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData, Table, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from common.db import IMMEDIATE, Database, make_engine
from sync.hub.models import Base

# Other hub workers hold SQLite's write lock for a batch's insert (milliseconds); wait rather than fail.
SQLITE_BUSY_TIMEOUT_MS = 30_000

MIGRATIONS = Path(__file__).with_name("migrations")
# Not Alembic's default name: the hub's revisions and the appliance's are both numbered from 0001, and an appliance's
# ledger given to the hub by mistake must read as a stranger, never as a hub database at some revision.
VERSION_TABLE = "hub_alembic_version"
# PostgreSQL advisory lock taken by whoever changes the schema: the hub's workers and pages starting together on an
# empty database create it once. (SQLite's BEGIN IMMEDIATE does the same there.)
SCHEMA_LOCK_KEY = 0x68616C66_68756221


class SchemaStatus(StrEnum):
    EMPTY = "empty"  # no hub table and no revision: `create_all()` makes the newest schema
    CURRENT = "current"  # at the newest revision this code knows
    BEHIND = "behind"  # at an older revision: `halfday hub migrate`
    UNVERSIONED = "unversioned"  # hub tables but no revision: made before the hub had migrations
    UNKNOWN = "unknown"  # at a revision this code does not know: a newer halfday migrated it


@dataclass(frozen=True)
class SchemaState:
    """Where the database's schema stands: its revision (None when it has none) and this code's newest."""

    status: SchemaStatus
    revision: str | None
    head: str

    @property
    def problem(self) -> str | None:
        """Why the hub cannot run on this database, in French for the operator; None when it can."""
        if self.status is SchemaStatus.BEHIND:
            return (
                f"la base du hub est au schéma {self.revision}, ce hub attend le schéma {self.head} : "
                "lancez « halfday hub migrate », puis redémarrez le hub"
            )
        if self.status is SchemaStatus.UNVERSIONED:
            return (
                "la base du hub contient déjà des tables du hub mais aucun numéro de schéma (elle a été créée avant "
                "les migrations du hub) : si son schéma est celui de la révision 0001, lancez "
                "« halfday hub migrate --stamp 0001 », qui le vérifie avant de la marquer"
            )
        if self.status is SchemaStatus.UNKNOWN:
            return (
                f"la base du hub est au schéma {self.revision}, que ce hub ne connaît pas (le plus récent qu'il "
                f"connaît est {self.head}) : une version plus récente de halfday l'a migrée, installez-la"
            )
        return None


class HubSchemaError(Exception):
    """The database's schema does not let the hub run or migrate; the message says why and what to do, in French."""


class HubDatabase(Database):
    """`write()`, `read()`, and `snapshot()` for a roster or a report read from one consistent state."""

    def __init__(self, url: str, **engine_args: Any) -> None:
        if url.startswith("postgresql"):
            # A restarted PostgreSQL leaves dead pooled connections; test them before use.
            engine_args.setdefault("pool_pre_ping", True)
        super().__init__(url, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, **engine_args)
        # PostgreSQL's default (read committed) gives each statement its own snapshot; a roster must read the
        # cursors and the balances from one, or a device would subtract a half-day twice or not at all. On SQLite a
        # snapshot that writes (the keeper's) takes the write lock at BEGIN, like any write.
        snapshot_engine = self.engine.execution_options(
            **({"isolation_level": "REPEATABLE READ"} if self.dialect == "postgresql" else {IMMEDIATE: True})
        )
        self._snapshots = sessionmaker(snapshot_engine, expire_on_commit=False)

    def schema_state(self) -> SchemaState:
        """Whether the database is empty, at the newest schema, behind it, or not the hub's to run on; reads only."""
        with self.engine.connect() as connection:
            return _read_state(connection)

    def create_all(self) -> None:
        """Make the newest schema in an empty database (faster than running every migration), marked as at the
        newest revision; nothing to do on a database already there. Refuses any other database (HubSchemaError):
        the hub must not run on a schema it was not written for."""
        with self._schema_lock() as connection:
            state = _read_state(connection)
            if state.status is SchemaStatus.EMPTY:
                Base.metadata.create_all(connection)
                _migration_context(connection).stamp(_scripts(), "head")
                return
        if state.problem is not None:
            raise HubSchemaError(state.problem)

    def migrate(self, target: str = "head") -> str:
        """Run the migrations up to `target` (the newest schema by default); returns the revision reached."""
        with self._schema_lock() as connection:
            state = _read_state(connection)
            if state.status in (SchemaStatus.UNVERSIONED, SchemaStatus.UNKNOWN):
                assert state.problem is not None
                raise HubSchemaError(state.problem)
            _upgrade(connection, target)
            reached = _read_state(connection).revision
        assert reached is not None
        return reached

    def stamp(self, revision: str) -> None:
        """Mark a database made before the hub had migrations as being at `revision`, once its tables and their
        columns are checked to be exactly those `revision` makes; `migrate()` then takes it from there."""
        scripts = _scripts()
        try:
            scripts.get_revision(revision)
        except CommandError:
            raise HubSchemaError(
                f"« {revision} » n'est pas une révision du schéma du hub (la plus récente est {_head(scripts)})"
            ) from None
        expected = _tables_made_by(revision)
        with self._schema_lock() as connection:
            state = _read_state(connection)
            if state.status is SchemaStatus.EMPTY:
                raise HubSchemaError("la base du hub est vide : rien à marquer, lancez « halfday hub migrate »")
            if state.status is not SchemaStatus.UNVERSIONED:
                raise HubSchemaError(f"la base du hub a déjà un numéro de schéma ({state.revision}) : rien à marquer")
            differences = _differences(expected, _tables(connection))
            if differences:
                raise HubSchemaError(
                    f"la base du hub n'est pas au schéma de la révision {revision}, elle n'est pas marquée : "
                    + " ; ".join(differences)
                )
            _migration_context(connection).stamp(scripts, revision)

    def drop_all(self) -> None:
        Base.metadata.drop_all(self.engine)
        with self.engine.begin() as connection:
            Table(VERSION_TABLE, MetaData()).drop(connection, checkfirst=True)

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A transaction whose reads all see one snapshot (PostgreSQL: repeatable read)."""
        with self._snapshots() as session, session.begin():
            yield session

    @contextmanager
    def _schema_lock(self) -> Iterator[Connection]:
        """The one transaction at a time that may change the schema; it reads the schema's state again inside.
        Both databases change their schema transactionally, so a failed migration leaves the database as it was."""
        with self.engine.execution_options(**{IMMEDIATE: True}).begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            yield connection


def alembic_config(url: str) -> AlembicConfig:
    """Alembic's configuration for the hub's database at `url`, with no alembic.ini: the migrations ship in the
    package. Put an open connection in `attributes["connection"]` to migrate in its transaction."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision of the hub's schema that this code knows."""
    return _head(_scripts())


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def _head(scripts: ScriptDirectory) -> str:
    head = scripts.get_current_head()
    assert head is not None, "the hub's migrations have one head"
    return head


def _migration_context(connection: Connection) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})


def _upgrade(connection: Connection, target: str) -> None:
    cfg = alembic_config("sqlite://")
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, target)


def _read_state(connection: Connection) -> SchemaState:
    scripts = _scripts()
    head = _head(scripts)
    revisions = _migration_context(connection).get_current_heads()
    if not revisions:
        ours = set(inspect(connection).get_table_names()) & set(Base.metadata.tables)
        return SchemaState(SchemaStatus.UNVERSIONED if ours else SchemaStatus.EMPTY, None, head)
    revision = ",".join(revisions)
    if revisions == (head,):
        return SchemaState(SchemaStatus.CURRENT, revision, head)
    try:
        for known in revisions:
            scripts.get_revision(known)
    except CommandError:
        return SchemaState(SchemaStatus.UNKNOWN, revision, head)
    return SchemaState(SchemaStatus.BEHIND, revision, head)


def _tables(connection: Connection) -> dict[str, set[str]]:
    """Every table of the database but the version table, with its columns' names."""
    inspector = inspect(connection)
    return {
        table: {column["name"] for column in inspector.get_columns(table)}
        for table in inspector.get_table_names()
        if table != VERSION_TABLE
    }


def _tables_made_by(revision: str) -> dict[str, set[str]]:
    """The tables and columns that the migrations up to `revision` make, built in a scratch database in memory."""
    engine = make_engine("sqlite://")
    try:
        with engine.begin() as connection:
            _upgrade(connection, revision)
            return _tables(connection)
    finally:
        engine.dispose()


def _differences(expected: dict[str, set[str]], found: dict[str, set[str]]) -> list[str]:
    """What `found` lacks or has too many against `expected`, in French."""
    differences = [f"table {table} absente" for table in sorted(expected.keys() - found.keys())]
    differences += [f"table {table} en trop" for table in sorted(found.keys() - expected.keys())]
    for table in sorted(expected.keys() & found.keys()):
        differences += [f"colonne {table}.{column} absente" for column in sorted(expected[table] - found[table])]
        differences += [f"colonne {table}.{column} en trop" for column in sorted(found[table] - expected[table])]
    return differences
