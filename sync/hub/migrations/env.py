"""Alembic environment for the hub's database (run through `halfday hub migrate`, or `HubDatabase.migrate()`)."""

from alembic import context
from sqlalchemy import Connection

from common.db import make_engine
from sync.hub.db import VERSION_TABLE
from sync.hub.models import Base

config = context.config


def run_migrations(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds tables instead.
    context.configure(
        connection=connection, target_metadata=Base.metadata, render_as_batch=True, version_table=VERSION_TABLE
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        # HubDatabase's own connection, already in the transaction that holds the hub's schema lock: the migration
        # commits or rolls back with it.
        run_migrations(given)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = make_engine(url)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


run()
