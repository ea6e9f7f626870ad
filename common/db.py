"""What the appliance's SQLite ledger and the hub's database share: UTC storage, travelling ids, SQLite's pragmas,
and the two kinds of transaction (deferred reads, immediate writes).

Every datetime stored is UTC and timezone-aware on the way in and out; ids that travel between a site and the hub
are 32 hex characters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

# Other writers hold SQLite's write lock for milliseconds (a door's commit, a hub worker's batch); wait for them
# rather than fail.
BUSY_TIMEOUT_MS = 5000
# The execution option that makes a SQLite transaction take the write lock at BEGIN.
IMMEDIATE = "halfday_immediate"


def new_id() -> str:
    """A globally unique id (32 hex characters), for rows that travel between a site and the hub."""
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime stored as naive UTC and always read back as aware UTC.

    SQLite keeps no time zone; refusing naive datetimes on the way in keeps local times out of storage.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store UTC-aware datetimes only")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


# The declarative bases of both databases map Python types the same way.
TYPE_ANNOTATION_MAP: dict[Any, Any] = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON()}


def make_engine(url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, **engine_args: Any) -> Engine:
    """An engine for `url`; on SQLite, WAL with synchronous=FULL, foreign keys on, and BEGIN IMMEDIATE for the
    transactions that ask for it (execution option IMMEDIATE)."""
    database = sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **engine_args)
    if engine.dialect.name == "sqlite":

        def connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
            _sqlite_pragmas(dbapi_connection, busy_timeout_ms)

        event.listen(engine, "connect", connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so writes can ask for IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    _wal(cursor, busy_timeout_ms)
    # FULL: a committed entry (or an acknowledged batch at the hub) survives a power cut.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _wal(cursor: sqlite3.Cursor, busy_timeout_ms: int) -> None:
    """Switch to WAL. On a new file opened by several processes at once (the hub's workers and pages starting
    together), SQLite answers "database is locked" to the switch without waiting for its busy timeout: try again,
    for as long as the timeout would have waited."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn: Connection) -> None:
    # Writes take the write lock at BEGIN: two processes never both read, then fail to upgrade their lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(IMMEDIATE) else "BEGIN")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None for another database, or one in memory)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    return Path(url.removeprefix("sqlite:///"))


class LedgerChanges:
    """Whether any process committed to a SQLite ledger since the last call, for loops that look often.

    SQLite's `PRAGMA data_version` on a connection of its own, outside SQLAlchemy: a few microseconds, where a
    query through a session costs a hundred times more. A loop that looked at the outbox every 50 ms kept a core
    at 3 % with nothing to do (bench.startup). Any doubt (another database, a file replaced, an error) says
    "changed": the caller then looks, as it did before.
    """

    def __init__(self, url: str) -> None:
        self.path = sqlite_file(url)
        self._conn: sqlite3.Connection | None = None
        self._inode = -1
        self._version: int | None = None

    def changed(self) -> bool:
        if self.path is None:
            return True
        try:
            inode = self.path.stat().st_ino
            if self._conn is None or inode != self._inode:
                self.close()  # a restored ledger is a new file: the old connection would never see it change
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._inode = inode
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except (OSError, sqlite3.Error):
            self.close()
            return True
        moved = version != self._version
        self._version = version
        return moved

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None
        self._version = None


# What SQLite says of a file that is not, or no longer, a database it can read.
CORRUPTION_WORDS = ("malformed", "not a database", "no such table", "corrupt", "disk i/o error")


def is_corruption(exc: BaseException) -> bool:
    """Whether an error from the database means its file is damaged or gone (not a moment's lock)."""
    text = str(exc).lower()
    return any(word in text for word in CORRUPTION_WORDS)


def check_sqlite_file(path: Path, *, full: bool = False, table: str = "events") -> str | None:
    """None if `path` is a sound SQLite database holding `table`; else what is wrong, in French.

    `quick_check` reads every page (seconds on a Pi for a year of entries); `full` adds index checks, for a file about
    to replace the ledger. Opened read-only: checking never changes the file."""
    if not path.is_file():
        return f"{path} n'existe pas"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
            rows = conn.execute("PRAGMA integrity_check" if full else "PRAGMA quick_check").fetchall()
            problems = [str(row[0]) for row in rows if row[0] != "ok"]
            if problems:
                return "fichier endommagé : " + "; ".join(problems[:3])
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
            if found is None:
                return f"ce n'est pas une base de halfday (pas de table {table})"
    except sqlite3.DatabaseError as exc:
        return f"fichier illisible : {exc}"
    return None


class Database:
    """An engine plus two kinds of session: `read()` for deferred reads, `write()` for immediate writes.

    Reads stay deferred so a page or a report never holds the lock a door or a hub worker needs.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, **engine_args: Any) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms=busy_timeout_ms, **engine_args)
        self.dialect = self.engine.dialect.name
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(**{IMMEDIATE: True}), expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One durable write transaction: committed on success, rolled back on any exception."""
        with self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
