"""What several benchmarks need and the tests' helpers also do, written once for bench/ (which does not import
tests/): a throwaway PostgreSQL database, polling with a deadline, an HTTP client that keeps its session cookie.

PostgreSQL is the one at HALFDAY_PG_HOST:HALFDAY_PG_PORT (127.0.0.1:5432, user postgres, trust auth), as for the
tests; each run makes its own uniquely named database and drops it afterwards, so runs by other people on the same
server never collide.
"""

from __future__ import annotations

import http.client
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import psycopg

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
        raise SystemExit(f"PostgreSQL is required at {PG_HOST}:{PG_PORT} (user {PG_USER}): {exc}") from None


@contextmanager
def fresh_database(prefix: str = "halfday_bench") -> Iterator[str]:
    """Create a uniquely named database, yield its SQLAlchemy URL, drop it (forcing out stray connections)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, period: float = 0.01) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return predicate()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: float  # request sent -> whole body read, as the browser waits for it

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class HttpSession:
    """One browser's worth of HTTP: a kept-alive connection and the cookies the server set, nothing else (no
    redirects followed: a benchmark times each answer on its own)."""

    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    _conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Reply:
        headers = {"Host": f"{self.host}:{self.port}", "Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            started = time.perf_counter()
            try:
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                # The server closed a kept-alive connection between two requests: once more on a new one.
                self.close()
                if attempt == 2:
                    raise
                continue
            elapsed_ms = (time.perf_counter() - started) * 1e3
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    for key, morsel in SimpleCookie(value).items():
                        self.cookies[key] = morsel.value
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data, elapsed_ms)
        raise AssertionError("unreachable")

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Reply:
        return self.request("POST", path, form)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def server_ms(headers: dict[str, str]) -> float | None:
    """The app's own time from the Server-Timing header ("app;dur=12.34"), when the app sends it."""
    for part in headers.get("server-timing", "").split(","):
        name, _, dur = part.strip().partition(";dur=")
        if name == "app" and dur:
            return float(dur)
    return None
