"""A throwaway PostgreSQL database per test run on 127.0.0.1:5432 (trust auth, user postgres).

Every run creates its own uniquely named database, so parallel runs by other people on the same server never
collide, and drops it afterwards. PostgreSQL missing is a failure, never a skip: the hub's tests must not turn
green by not running.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

PG_HOST = os.environ.get("HALFDAY_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HALFDAY_PG_PORT", "5432"))
PG_USER = os.environ.get("HALFDAY_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("HALFDAY_PG_DB", "test")
CONNECT_TIMEOUT_S = 5


def _admin_connect() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(
            host=PG_HOST,
            port=PG_PORT,
            user=PG_USER,
            dbname=PG_ADMIN_DB,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    except psycopg.OperationalError as exc:
        where = "CI" if os.environ.get("CI") == "true" else "this machine"
        pytest.fail(f"PostgreSQL is required at {PG_HOST}:{PG_PORT} (user {PG_USER}) on {where}: {exc}")


def url_for(name: str) -> str:
    """The SQLAlchemy URL of database `name` on the test server."""
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


@contextmanager
def fresh_database(prefix: str = "halfday_test") -> Iterator[str]:
    """Create a uniquely named database, yield its SQLAlchemy URL, drop it (forcing out stray connections)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url_for(name)
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the whole test run."""
    with fresh_database() as url:
        yield url
