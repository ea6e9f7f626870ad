"""The hub's schema migrations, on SQLite and on PostgreSQL: a hub database of the first revision, full of rows, reaches
the newest schema with every row kept and exactly the tables the models describe; the hub refuses a database behind
its code, and `halfday hub migrate` brings it forward."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, Table, inspect, select, text

from halfday.cli import main
from sync.hub import db as hub_db_module
from sync.hub.db import (
    VERSION_TABLE,
    HubDatabase,
    HubSchemaError,
    SchemaStatus,
    alembic_config,
    head_revision,
)
from sync.hub.models import Base
from tests.support.pg import fresh_database

FIRST = "0001"
# Naive UTC, as the hub stores every datetime.
AT = dt.datetime(2026, 11, 3, 8, 47, 12, 345678)
LATER = dt.datetime(2026, 11, 3, 12, 2, 0, 1)

# One row in every table of revision 0001, every column given (nullable ones too, so a lost value shows), with
# values that a careless table rebuild would spoil: accents, 64-bit integers, microseconds, nested JSON.
ROWS_AT_FIRST: dict[str, dict[str, Any]] = {
    "sites": {
        "id": "le-local",
        "name": "Le Local d'Aurillac",
        "timezone": "Europe/Paris",
        "created_at": AT,
        "roster_version": 7,
        "roster_changes": 2**40 + 3,
        "roster_hash": "c" * 64,
    },
    "devices": {
        "site_id": "le-local",
        "id": "porte-1",
        "online": True,
        "last_seen": LATER,
        "backlog": 2**33,
        "last_seq": 2**35 + 1,
        "roster_version": 7,
    },
    "device_cursors": {"site_id": "le-local", "device_id": "porte-1", "seq": 2**35},
    "members": {
        "id": "1" * 32,
        "first_name": "Zoé",
        "last_name": "Lefèvre-Øster",
        "email": "zoe@example.org",
        "active": False,
        "created_at": AT,
    },
    "credentials": {
        "id": "2" * 32,
        "member_id": "1" * 32,
        "kind": "nfc_uid",
        "value": "04A1B2C3D4E5F6",
        "status": "revoked",
        "created_at": AT,
        "revoked_at": LATER,
    },
    "plans": {
        "id": "3" * 32,
        "name": "Carnet 10 demi-journées",
        "kind": "carnet",
        "half_days": 10,
        "allow_overdraft": True,
        "hours_start": dt.time(7, 30),
        "hours_end": dt.time(21, 45),
        "price_cents": 8000,
        "active": True,
    },
    "subscriptions": {
        "id": "4" * 32,
        "member_id": "1" * 32,
        "plan_id": "3" * 32,
        "valid_from": dt.date(2026, 11, 1),
        "valid_until": dt.date(2027, 10, 31),
        "credited": 20,
        "created_at": AT,
    },
    "events": {
        "id": "5" * 32,
        "site_id": "le-local",
        "device_id": "porte-1",
        "seq": 2**35,
        "kind": "entry",
        "at": AT,
        "mono_ns": 2**62 + 11,
        "boot": "b" * 36,
        "clock_ok": True,
        "data": {"uid": "04A1B2C3D4E5F6", "granted": True, "use": {"slot": "morning", "spent": 1}, "note": "été"},
        "problem": "badge inconnu à la réception",
        "received_at": LATER,
    },
    "uses": {
        "event_id": "5" * 32,
        "holder_id": "1" * 32,
        "site_id": "le-local",
        "device_id": "porte-1",
        "seq": 2**35,
        "local_date": dt.date(2026, 11, 3),
        "slot": "morning",
        "spent": 1,
        "subscription_id": "4" * 32,
        "pass_id": "6" * 32,
        "at": AT,
    },
    "sales": {
        "id": "7" * 32,
        "site_id": "le-local",
        "device_id": "porte-1",
        "event_id": "8" * 32,
        "kind": "pass_day",
        "amount_cents": 1400,
        "provider": "counter",
        "paid": True,
        "pass_id": "6" * 32,
        "local_date": dt.date(2026, 11, 3),
        "slots": "morning,afternoon",
        "name": "Léa Dupré",
        "email": "lea@example.org",
        "at": AT,
        "paid_at": LATER,
    },
    "roster_versions": {
        "site_id": "le-local",
        "version": 7,
        "issued_at": AT,
        "payload": '{"v":1,"members":["Zoé"]}',
        "published_at": LATER,
    },
    "commands": {
        "nonce": "9" * 32,
        "site_id": "le-local",
        "device_id": "porte-1",
        "name": "open_door",
        "args": {"seconds": 5, "why": "livraison à l'accueil"},
        "issued_at": AT,
        "expires": LATER,
        "published_at": LATER,
    },
    "change_requests": {
        "id": "a" * 32,
        "site_id": "le-local",
        "device_id": "porte-1",
        "kind": "link_card",
        "data": {"pass": "6" * 32, "uid": "04A1B2C3D4E5F6"},
        "received_at": AT,
        "ok": False,
        "error": "badge déjà actif pour un autre membre",
    },
    "hub_meta": {"key": "network_changes", "value": 2**41 + 5},
}

# A revision after the newest shipped one, for the tests that need a database behind head whatever head is. It adds a
# NOT NULL column to a table holding rows and then drops its server default: on SQLite, batch mode rebuilds the
# table, as a real later revision would.
REHEARSAL = '''"""rehearsal: a revision after the newest shipped one

Revision ID: rehearsal
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "rehearsal"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_meta") as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(40), nullable=False, server_default="aucune"))
    with op.batch_alter_table("hub_meta") as batch_op:
        batch_op.alter_column("note", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("hub_meta") as batch_op:
        batch_op.drop_column("note")
'''


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.sqlite'}"
    else:
        with fresh_database("halfday_hub_migrations") as url:
            yield url


@pytest.fixture
def db(empty_url: str) -> Iterator[HubDatabase]:
    database = HubDatabase(empty_url)
    yield database
    database.dispose()


@pytest.fixture
def shipped_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shipped migrations plus the rehearsal revision after them, in place of the shipped ones; returns the
    shipped head, which a database is then behind."""
    shipped = head_revision()
    migrations = tmp_path / "migrations"
    shutil.copytree(hub_db_module.MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "rehearsal.py").write_text(REHEARSAL.format(head=shipped), encoding="utf-8")
    monkeypatch.setattr(hub_db_module, "MIGRATIONS", migrations)
    assert head_revision() == "rehearsal"
    return shipped


def schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {VERSION_TABLE}


def insert_rows(database: HubDatabase) -> None:
    with database.engine.begin() as connection:
        metadata = MetaData()
        metadata.reflect(connection, only=list(ROWS_AT_FIRST))
        for name, row in ROWS_AT_FIRST.items():
            connection.execute(metadata.tables[name].insert(), [row])


# Columns of revision 0001 that a later revision removed on purpose: 0004 (roster deltas) replaced the keeper's
# content hash and change counter per site.
DROPPED = {"sites": {"roster_changes", "roster_hash"}}


def kept_columns(name: str) -> list[str]:
    return [c for c in ROWS_AT_FIRST[name] if c not in DROPPED.get(name, set())]


def stored_rows(database: HubDatabase) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables of revision 0001, limited to the columns that revision has and head kept."""
    with database.engine.connect() as connection:
        metadata = MetaData()
        metadata.reflect(connection, only=list(ROWS_AT_FIRST))
        return {
            name: [
                {column: row[column] for column in kept_columns(name)}
                for row in connection.execute(select(metadata.tables[name])).mappings()
            ]
            for name in ROWS_AT_FIRST
        }


def unversioned_first_revision(database: HubDatabase) -> None:
    """The hub database that `create_all()` made before the hub had migrations: revision 0001's tables, no revision."""
    database.migrate(FIRST)
    with database.engine.begin() as connection:
        Table(VERSION_TABLE, MetaData()).drop(connection)


def write_hub_config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "hub.toml"
    hub = {"database_url": database_url, "private_key": str(tmp_path / "hub.key")}
    path.write_text(tomli_w.dumps({"hub": hub}), encoding="utf-8")
    return path


def test_rows_of_the_first_revision_survive_to_head_whose_schema_is_the_models(db: HubDatabase) -> None:
    assert db.schema_state().status is SchemaStatus.EMPTY
    assert db.migrate(FIRST) == FIRST
    with db.engine.connect() as connection:
        assert tables(connection) == set(ROWS_AT_FIRST), "a table of revision 0001 has no row in this test"
    insert_rows(db)

    assert db.migrate() == head_revision()

    state = db.schema_state()
    assert (state.status, state.revision) == (SchemaStatus.CURRENT, head_revision())
    with db.engine.connect() as connection:
        differences = schema_differences(connection)
    assert not differences, (
        "the migrated database differs from sync/hub/models.py; a model change needs its migration "
        "(see sync/hub/migrations):\n" + "\n".join(map(repr, differences))
    )
    assert stored_rows(db) == {name: [{c: row[c] for c in kept_columns(name)}] for name, row in ROWS_AT_FIRST.items()}


def test_create_all_makes_an_empty_database_current_and_leaves_it_so(db: HubDatabase) -> None:
    db.create_all()
    state = db.schema_state()
    assert (state.status, state.revision, state.problem) == (SchemaStatus.CURRENT, head_revision(), None)
    with db.engine.connect() as connection:
        assert schema_differences(connection) == []
    db.create_all()
    assert db.schema_state() == state
    assert db.migrate() == head_revision()

    db.drop_all()
    assert db.schema_state().status is SchemaStatus.EMPTY
    with db.engine.connect() as connection:
        assert inspect(connection).get_table_names() == []


def test_the_hub_and_its_pages_starting_together_make_the_schema_once(empty_url: str) -> None:
    starters = [HubDatabase(empty_url) for _ in range(4)]
    go = threading.Barrier(len(starters))
    failures: list[BaseException] = []

    def start(database: HubDatabase) -> None:
        go.wait()
        try:
            database.create_all()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(database,)) for database in starters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert failures == []
        assert starters[0].schema_state().status is SchemaStatus.CURRENT
        with starters[0].engine.connect() as connection:
            assert connection.execute(text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar_one() == 1
    finally:
        for database in starters:
            database.dispose()


def test_every_migration_can_be_undone(db: HubDatabase) -> None:
    db.migrate()
    with db.engine.begin() as connection:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")
    with db.engine.connect() as connection:
        assert tables(connection) == set()
    assert db.schema_state().status is SchemaStatus.EMPTY


def test_hub_tables_without_a_revision_are_refused_until_stamped_after_a_check(db: HubDatabase) -> None:
    with pytest.raises(HubSchemaError, match="la base du hub est vide"):
        db.stamp(FIRST)
    unversioned_first_revision(db)
    insert_rows(db)
    assert db.schema_state().status is SchemaStatus.UNVERSIONED
    for refused in (db.create_all, db.migrate):
        with pytest.raises(HubSchemaError, match="« halfday hub migrate --stamp 0001 »"):
            refused()

    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE sites ADD COLUMN extra INTEGER"))
        connection.execute(text("DROP TABLE hub_meta"))
    with pytest.raises(HubSchemaError) as refusal:
        db.stamp(FIRST)
    assert "table hub_meta absente" in str(refusal.value)
    assert "colonne sites.extra en trop" in str(refusal.value)
    assert db.schema_state().status is SchemaStatus.UNVERSIONED
    with pytest.raises(HubSchemaError, match="« 0000 » n'est pas une révision"):
        db.stamp("0000")

    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE sites DROP COLUMN extra"))
        connection.execute(text("CREATE TABLE hub_meta (key VARCHAR(64) PRIMARY KEY, value BIGINT NOT NULL)"))
        connection.execute(text("INSERT INTO hub_meta VALUES ('network_changes', :value)"), {"value": 2**41 + 5})
    db.stamp(FIRST)
    assert (db.schema_state().status, db.schema_state().revision) in {
        (SchemaStatus.CURRENT, FIRST),
        (SchemaStatus.BEHIND, FIRST),
    }
    with pytest.raises(HubSchemaError, match="a déjà un numéro de schéma"):
        db.stamp(FIRST)
    assert db.migrate() == head_revision()
    assert stored_rows(db) == {name: [{c: row[c] for c in kept_columns(name)}] for name, row in ROWS_AT_FIRST.items()}


def test_a_database_migrated_by_a_newer_hub_is_refused(
    db: HubDatabase, shipped_head: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.migrate()
    monkeypatch.undo()
    assert head_revision() == shipped_head
    state = db.schema_state()
    assert (state.status, state.revision) == (SchemaStatus.UNKNOWN, "rehearsal")
    for refused in (db.create_all, db.migrate):
        with pytest.raises(HubSchemaError, match="que ce hub ne connaît pas"):
            refused()


def test_the_hub_and_its_pages_refuse_a_database_behind_head(
    tmp_path: Path, shipped_head: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = HubDatabase(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    db.migrate(shipped_head)
    config = write_hub_config(tmp_path, db.url)
    expected = (
        f"halfday hub : la base du hub est au schéma {shipped_head}, ce hub attend le schéma rehearsal : "
        "lancez « halfday hub migrate », puis redémarrez le hub\n"
    )
    for what in ([], ["web"]):
        assert main(["hub", "--config", str(config), *what]) == 1
        assert capsys.readouterr().err == expected
    state = db.schema_state()
    assert (state.status, state.revision) == (SchemaStatus.BEHIND, shipped_head)
    db.dispose()


def test_halfday_hub_migrate_brings_a_database_behind_head_forward(
    tmp_path: Path, shipped_head: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = HubDatabase(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    db.migrate(shipped_head)
    with db.write() as session:
        session.execute(text("INSERT INTO hub_meta (key, value) VALUES ('network_changes', 41)"))
    config = write_hub_config(tmp_path, db.url)

    assert main(["hub", "--config", str(config), "migrate"]) == 0
    assert capsys.readouterr().out == (
        f"Schéma de la base du hub avant : {shipped_head}\n"
        "Schéma de la base du hub après : rehearsal (le plus récent)\n"
    )
    assert db.schema_state().status is SchemaStatus.CURRENT
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT key, value, note FROM hub_meta")).all()
    assert [tuple(row) for row in rows] == [("network_changes", 41, "aucune")]

    assert main(["hub", "--config", str(config), "migrate"]) == 0
    assert capsys.readouterr().out == (
        "Schéma de la base du hub avant : rehearsal (déjà le plus récent)\n"
        "Schéma de la base du hub après : rehearsal (le plus récent)\n"
    )
    db.dispose()


def test_halfday_hub_migrate_makes_an_empty_database_and_stamps_an_old_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = head_revision()
    config = write_hub_config(tmp_path, f"sqlite:///{tmp_path / 'new' / 'hub.sqlite'}")
    assert main(["hub", "--config", str(config), "migrate"]) == 0
    assert capsys.readouterr().out == (
        "Schéma de la base du hub avant : aucun (base vide)\n"
        f"Schéma de la base du hub après : {head} (le plus récent)\n"
    )

    old = HubDatabase(f"sqlite:///{tmp_path / 'old' / 'hub.sqlite'}")
    unversioned_first_revision(old)
    config = write_hub_config(tmp_path, old.url)
    assert main(["hub", "--config", str(config), "migrate"]) == 1
    assert "« halfday hub migrate --stamp 0001 »" in capsys.readouterr().err
    assert main(["hub", "--config", str(config), "migrate", "--stamp", FIRST]) == 0
    assert capsys.readouterr().out == (
        "Base du hub marquée au schéma 0001 : ses tables et leurs colonnes y correspondent.\n"
        f"Schéma de la base du hub avant : 0001{' (déjà le plus récent)' if head == FIRST else ''}\n"
        f"Schéma de la base du hub après : {head} (le plus récent)\n"
    )
    assert old.schema_state().status is SchemaStatus.CURRENT
    old.dispose()
