"""The hub's database on SQLite or PostgreSQL, chosen by URL: the shared durable database (common/db.py) plus
consistent snapshots for rosters and reports."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from common.db import IMMEDIATE, Database
from sync.hub.models import Base

# Other hub workers hold SQLite's write lock for a batch's insert (milliseconds); wait rather than fail.
SQLITE_BUSY_TIMEOUT_MS = 30_000


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

    def create_all(self) -> None:
        """Create the hub's tables if missing (the hub's schema has no migrations yet)."""
        Base.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        Base.metadata.drop_all(self.engine)

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A transaction whose reads all see one snapshot (PostgreSQL: repeatable read)."""
        with self._snapshots() as session, session.begin():
            yield session
