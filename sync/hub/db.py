"""The hub's database on SQLite or PostgreSQL, chosen by URL, with the transaction kinds the hub needs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from sync.hub.models import Base

# Other hub workers hold SQLite's write lock for a batch's insert (milliseconds); wait rather than fail.
SQLITE_BUSY_TIMEOUT_MS = 30_000


class HubDatabase:
    """An engine and three kinds of session: `write()`, `read()`, and `snapshot()` for consistent reports."""

    def __init__(self, url: str, **engine_args: Any) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if url.startswith("postgresql"):
            # A restarted PostgreSQL leaves dead pooled connections; test them before use.
            engine_args.setdefault("pool_pre_ping", True)
        self.engine: Engine = create_engine(url, **engine_args)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # PostgreSQL's default (read committed) gives each statement its own snapshot; a roster must read the
        # cursors and the balances from one, or a device would subtract a half-day twice or not at all.
        snapshot_engine = (
            self.engine.execution_options(isolation_level="REPEATABLE READ")
            if self.dialect == "postgresql"
            else self.engine
        )
        self._snapshots = sessionmaker(snapshot_engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create the hub's tables if missing (the hub's schema has no migrations yet)."""
        Base.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        Base.metadata.drop_all(self.engine)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction, committed on success, rolled back on any exception (SQLite: BEGIN IMMEDIATE)."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A transaction whose reads all see one snapshot (PostgreSQL: repeatable read)."""
        with self._snapshots() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # SQLAlchemy's "begin" event issues BEGIN itself, so that every hub transaction can be IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # An ack promises the batch is stored: FULL makes that true across a power cut.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Take the write lock at BEGIN: two workers never both read a cursor and then fight to upgrade their lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")
