"""Exactly-once, in-order ingestion of event batches, safe with several hub workers sharing the load.

Per device, the cursor row holds H, the highest seq such that events 1..H are all stored. A batch is committed
under a lock on that row: events at or below H are duplicates, events H+1, H+2, ... are stored while contiguous,
nothing past a gap is. The caller acks the returned cursor after the commit; the device resends from there.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from sync.hub.db import HubDatabase
from sync.hub.models import Base, Device, DeviceCursor, Event, Sale, Site, Use, UTCDateTime, utcnow
from sync.payloads import event_data_problem
from sync.protocol import Json

log = logging.getLogger(__name__)

# Shared subscriptions give consecutive batches of one device to different workers; the batch before a gap is
# usually being committed by the other worker at that very moment. Wait this long for it, retrying this often.
GAP_WAIT_S = 0.5
GAP_RETRY_S = 0.002


def insert_ignoring_conflicts(session: Session, model: type[Base]) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


def insert_rows(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> int:
    """Insert rows (all with the same keys), skipping conflicts; returns how many were new.

    On PostgreSQL the rows are COPied into a temporary table and moved with one INSERT ... SELECT ... ON CONFLICT
    DO NOTHING: several times faster than executemany, which psycopg sends as one statement per row (measured by
    bench.sync). SQLite's executemany is a C loop already.
    """
    if not rows:
        return 0
    table: Table = model.__table__  # type: ignore[assignment]
    if session.get_bind().dialect.name != "postgresql":
        return int(session.connection().execute(sqlite.insert(table).on_conflict_do_nothing(), rows).rowcount)
    names = tuple(rows[0])
    staging, converters = _staging(table, names)
    connection = session.connection()
    if staging not in connection.info.setdefault("halfday_staging", set()):
        # Per database connection; emptied at every commit, so nothing lingers between batches.
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS"
            f" SELECT {', '.join(names)} FROM {table.name} WITH NO DATA"
        )
        connection.info["halfday_staging"].add(staging)
    driver = connection.connection.driver_connection
    columns = ", ".join(names)
    key = next(iter(table.primary_key.columns)).name
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([convert(row[name]) for name, convert in zip(names, converters, strict=True)])
        cursor.execute(
            f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {staging}"
            f" ON CONFLICT DO NOTHING RETURNING {key}"
        )
        return len(cursor.fetchall())


def copy_text(rows: list[dict[str, Any]], model: type[Base]) -> bytes:
    """Rows in PostgreSQL's COPY text format, built outside any lock (see `insert_staged`)."""
    if not rows:
        return b""
    table: Table = model.__table__  # type: ignore[assignment]
    names = tuple(rows[0])
    _, converters = _staging(table, names)
    lines = [
        "\t".join(_copy_value(convert(row[name])) for name, convert in zip(names, converters, strict=True))
        for row in rows
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)  # int, date


def insert_staged(
    session: Session, model: type[Base], names: tuple[str, ...], payload: bytes, first_seq: int, last_seq: int
) -> int:
    """Insert the rows of a COPY `payload` whose seq is in first_seq..last_seq, skipping conflicts (PostgreSQL).

    Only this part runs under the device's cursor lock: two workers sharing one door's stream then overlap all
    the rest, and the lock is held for little more than the database's own work.
    """
    table: Table = model.__table__  # type: ignore[assignment]
    staging, _ = _staging(table, names)
    connection = session.connection()
    if staging not in connection.info.setdefault("halfday_staging", set()):
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS"
            f" SELECT {', '.join(names)} FROM {table.name} WITH NO DATA"
        )
        connection.info["halfday_staging"].add(staging)
    columns = ", ".join(names)
    key = next(iter(table.primary_key.columns)).name
    with connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            copy.write(payload)
        cursor.execute(
            f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {staging}"
            f" WHERE seq BETWEEN {int(first_seq)} AND {int(last_seq)} ON CONFLICT DO NOTHING RETURNING {key}"
        )
        return len(cursor.fetchall())


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _same(value: Any) -> Any:
    return value


@functools.cache
def _staging(table: Table, names: tuple[str, ...]) -> tuple[str, list[Callable[[Any], Any]]]:
    converters: list[Callable[[Any], Any]] = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            converters.append(_naive_utc)
        elif isinstance(column_type, JSON):
            converters.append(_json)
        else:
            converters.append(_same)
    return f"staging_{table.name}_{abs(hash(names)) % 10**8}", converters


@dataclass(frozen=True)
class IngestResult:
    site: str
    device: str
    acked: int  # the device's cursor after this commit: ack it
    stored: int
    duplicates: int
    beyond_gap: int  # events not committed because an earlier seq is missing


def event_row(event: Json, received_at: dt.datetime) -> dict[str, Any]:
    """The events-table row for a validated event, with the problem of its data if it has one."""
    problem = event_data_problem(event["kind"], event["data"])
    if problem is not None:
        log.warning("event %s (%s/%s #%s): %s", event["id"], event["site"], event["device"], event["seq"], problem)
    return {
        "id": event["id"],
        "site_id": event["site"],
        "device_id": event["device"],
        "seq": event["seq"],
        "kind": event["kind"],
        "at": dt.datetime.fromisoformat(event["at"][:-1]).replace(tzinfo=dt.UTC),  # checked by validate_event
        "mono_ns": event["mono_ns"],
        "boot": event["boot"],
        "clock_ok": event["clock_ok"],
        "data": event["data"],
        "problem": problem[:300] if problem else None,
        "received_at": received_at,
    }


@dataclass(frozen=True)
class Prepared:
    """A validated batch turned into rows: the part of ingestion that needs no lock and no database."""

    site: str
    device: str
    rows: list[dict[str, Any]]
    uses: list[dict[str, Any]]
    # PostgreSQL only: the rows above in COPY format, so that the locked part does no Python work per row.
    copy_events: bytes | None = None
    copy_uses: bytes | None = None


def prepare(batch: Json, *, for_postgres: bool = False) -> Prepared:
    now = utcnow()
    rows = [event_row(event, now) for event in batch["events"]]
    uses = use_rows(rows)
    if not for_postgres:
        return Prepared(batch["site"], batch["device"], rows, uses)
    return Prepared(batch["site"], batch["device"], rows, uses, copy_text(rows, Event), copy_text(uses, Use))


class Ingestor:
    """Commits batches for one hub worker; remembers which gaps it already waited on."""

    def __init__(
        self,
        db: HubDatabase,
        *,
        gap_wait_s: float = GAP_WAIT_S,
        gap_retry_s: float = GAP_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.gap_wait_s = gap_wait_s
        self.gap_retry_s = gap_retry_s
        self.clock = clock
        self.sleep = sleep
        # (site, device) -> cursor at which we last waited in vain: a lost batch must not make every later batch
        # of the device wait again (a window holds about a hundred of them).
        self._waited_at: dict[tuple[str, str], int] = {}

    def ingest(self, batch: Json) -> IngestResult:
        """Commit what of a validated batch extends its device's contiguous stream; return the new cursor."""
        return self.commit(self.prepare(batch))

    def prepare(self, batch: Json) -> Prepared:
        """The lock-free half of `ingest` (validation already done)."""
        return prepare(batch, for_postgres=self.db.dialect == "postgresql")

    def commit(self, prepared: Prepared) -> IngestResult:
        """The database half of `ingest`, for a batch already turned into rows."""
        site, device, rows = prepared.site, prepared.device, prepared.rows
        deadline = self.clock() + self.gap_wait_s
        while True:
            result = self._commit(prepared)
            if result.stored or not result.beyond_gap or result.duplicates:
                self._waited_at.pop((site, device), None)
                return result
            if self._waited_at.get((site, device)) == result.acked or self.clock() >= deadline:
                self._waited_at[(site, device)] = result.acked
                log.info("%s/%s: batch from #%s is past a gap at #%s", site, device, rows[0]["seq"], result.acked + 1)
                return result
            self.sleep(self.gap_retry_s)

    def _commit(self, prepared: Prepared) -> IngestResult:
        site, device, rows = prepared.site, prepared.device, prepared.rows
        with self.db.write() as session:
            cursor = lock_cursor(session, site, device)
            expected = cursor + 1
            taken: list[dict[str, Any]] = []
            duplicates = 0
            for row in rows:
                if row["seq"] < expected:
                    duplicates += 1
                elif row["seq"] == expected:
                    taken.append(row)
                    expected += 1
                else:
                    break
            beyond_gap = len(rows) - duplicates - len(taken)
            if taken:
                first, last = taken[0]["seq"], taken[-1]["seq"]
                uses = [u for u in prepared.uses if first <= u["seq"] <= last]
                if prepared.copy_events is not None and prepared.copy_uses is not None:
                    inserted = insert_staged(session, Event, tuple(rows[0]), prepared.copy_events, first, last)
                    if uses:
                        insert_staged(session, Use, tuple(uses[0]), prepared.copy_uses, first, last)
                else:
                    inserted = insert_rows(session, Event, taken)
                    insert_rows(session, Use, uses)
                if inserted != len(taken):
                    # Only an event id reused under another (device, seq) can get here: keep the stream moving.
                    log.error("%s/%s: %d events had ids already stored", site, device, len(taken) - inserted)
                record_sales(session, taken)
                session.execute(
                    update(DeviceCursor)
                    .where(DeviceCursor.site_id == site, DeviceCursor.device_id == device)
                    .values(seq=expected - 1)
                )
            return IngestResult(site, device, expected - 1, len(taken), duplicates, beyond_gap)


def lock_cursor(session: Session, site: str, device: str) -> int:
    """Lock the device's cursor row for this transaction and return it; first contact creates site and device."""
    query = select(DeviceCursor.seq).where(DeviceCursor.site_id == site, DeviceCursor.device_id == device)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    seq = session.execute(query).scalar_one_or_none()
    if seq is None:
        session.execute(insert_ignoring_conflicts(session, Site).values(id=site, name=site))
        session.execute(insert_ignoring_conflicts(session, Device).values(site_id=site, id=device))
        session.execute(insert_ignoring_conflicts(session, DeviceCursor).values(site_id=site, device_id=device, seq=0))
        seq = session.execute(query).scalar_one()
    return int(seq)


def use_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The half-day uses that entry events report (one per event at most)."""
    uses: list[dict[str, Any]] = []
    for row in rows:
        data = row["data"]
        if row["problem"] is not None or row["kind"] != "entry" or data.get("use") is None:
            continue
        use = data["use"]
        holder = data["holder"] or use["subscription"] or use["pass"]
        if holder is None:
            log.warning("event %s: a use without holder, subscription or pass is not counted", row["id"])
            continue
        uses.append(
            {
                "event_id": row["id"],
                "holder_id": holder,
                "site_id": row["site_id"],
                "device_id": row["device_id"],
                "seq": row["seq"],
                "local_date": dt.date.fromisoformat(use["date"]),
                "slot": use["slot"],
                "spent": use["spent"],
                "subscription_id": use["subscription"],
                "pass_id": use["pass"],
                "at": row["at"],
            }
        )
    return uses


def record_sales(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record the sales and payments that newly stored events report, in seq order."""
    sales: list[dict[str, Any]] = []
    paid: list[tuple[str, dt.datetime]] = []
    for row in rows:
        if row["problem"] is not None:
            continue
        data, kind = row["data"], row["kind"]
        if kind == "sale":
            sales.append(
                {
                    "id": data["sale"],
                    "site_id": row["site_id"],
                    "device_id": row["device_id"],
                    "event_id": row["id"],
                    "kind": data["kind"],
                    "amount_cents": data["amount_cents"],
                    "provider": data["provider"],
                    "paid": data["paid"],
                    "pass_id": data["pass"],
                    "local_date": dt.date.fromisoformat(data["date"]),
                    "slots": ",".join(data["slots"]),
                    "name": data["name"],
                    "email": data["email"],
                    "at": row["at"],
                    "paid_at": row["at"] if data["paid"] else None,
                }
            )
        elif kind == "sale_paid":
            paid.append((data["sale"], row["at"]))
    if sales:
        insert_rows(session, Sale, sales)
    for sale_id, at in paid:
        done = session.execute(
            update(Sale).where(Sale.id == sale_id, Sale.paid.is_(False)).values(paid=True, paid_at=at)
        )
        if done.rowcount == 0:  # type: ignore[attr-defined]
            log.info("sale_paid for %s: no unpaid sale with that id", sale_id)
