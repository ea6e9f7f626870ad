"""Exactly-once, in-order ingestion of event batches, safe with several hub workers sharing the load.

Per device, the cursor row holds H, the highest seq such that events 1..H are all stored. A batch is committed
under a lock on that row: events at or below H are duplicates, events H+1, H+2, ... are stored while contiguous,
nothing past a gap is. The caller acks the returned cursor after the commit; the device resends from there.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
import sqlalchemy.exc
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from common.db import utcnow
from common.words import BookKind, EventKind
from sync.hub import report_counts
from sync.hub.bookings import BOOKING_KINDS, record_bookings
from sync.hub.db import HubDatabase
from sync.hub.models import Base, Device, DeviceCursor, Event, Sale, Site, Use
from sync.hub.report_counts import stored_uses
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

    For SQLite, whose executemany is a C loop, and for PostgreSQL's few sales. A PostgreSQL batch of events goes
    through COPY instead (see `Ingestor._commit_postgres`).
    """
    if not rows:
        return 0
    statement = insert_ignoring_conflicts(session, model)
    return int(session.connection().execute(statement, rows).rowcount)


@dataclass(frozen=True)
class IngestResult:
    site: str
    device: str
    acked: int  # the device's cursor after this commit: ack it
    stored: int
    duplicates: int
    beyond_gap: int  # events not committed because an earlier seq is missing


def data_problems(events: list[Json]) -> list[str | None]:
    """For each validated event, why its data does not fit its kind (None when it does); each problem is logged.

    Such an event is still stored (its envelope is sound, and the stream must move on), with the problem beside
    it, and counts for nothing: no use, no sale.
    """
    problems: list[str | None] = []
    for event in events:
        problem = event_data_problem(event["kind"], event["data"])
        if problem is not None:
            log.warning(
                "événement %s (%s/%s n° %s) : %s", event["id"], event["site"], event["device"], event["seq"], problem
            )
            problem = problem[:300]
        problems.append(problem)
    return problems


def event_time(event: Json) -> dt.datetime:
    """When a validated event happened (its `at`, checked by validate_event), as an aware UTC datetime."""
    return dt.datetime.fromisoformat(event["at"][:-1]).replace(tzinfo=dt.UTC)


def event_row(event: Json, problem: str | None, received_at: dt.datetime) -> dict[str, Any]:
    """The events-table row for a validated event."""
    return {
        "id": event["id"],
        "site_id": event["site"],
        "device_id": event["device"],
        "seq": event["seq"],
        "kind": event["kind"],
        "at": event_time(event),
        "mono_ns": event["mono_ns"],
        "boot": event["boot"],
        "clock_ok": event["clock_ok"],
        "data": event["data"],
        "problem": problem,
        "received_at": received_at,
    }


EVENT_COLUMNS = (
    "id",
    "site_id",
    "device_id",
    "seq",
    "kind",
    "at",
    "mono_ns",
    "boot",
    "clock_ok",
    "data",
    "problem",
    "received_at",
)
USE_COLUMNS = (
    "event_id",
    "holder_id",
    "site_id",
    "device_id",
    "seq",
    "local_date",
    "slot",
    "spent",
    "subscription_id",
    "pass_id",
    "at",
)


def _compact_json(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def _copy_escape(text: str) -> str:
    """Free text for PostgreSQL's COPY text format."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_events(events: list[Json], problems: list[str | None], received_at: dt.datetime) -> list[str]:
    """The events-table row of each validated event, a line of COPY text format (columns: EVENT_COLUMNS).

    Written field by field from the event itself: ids, names, kind, seq and time are already known to hold no
    character COPY would need escaped (validate_event), and `at` is already UTC in a form PostgreSQL reads.
    This is the hub's main cost per event on PostgreSQL, so it does no more than that (measured by bench.sync).
    """
    received = received_at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    lines = []
    for event, problem in zip(events, problems, strict=True):
        data = _compact_json(event["data"])
        if "\\" in data:  # JSON escapes control characters itself: only its backslashes need doubling
            data = data.replace("\\", "\\\\")
        boot = _copy_escape(event["boot"])
        clock_ok = "t" if event["clock_ok"] else "f"
        noted = "\\N" if problem is None else _copy_escape(problem)
        lines.append(
            f"{event['id']}\t{event['site']}\t{event['device']}\t{event['seq']}\t{event['kind']}\t{event['at'][:-1]}"
            f"\t{event['mono_ns']}\t{boot}\t{clock_ok}\t{data}\t{noted}\t{received}\n"
        )
    return lines


def copy_uses(events: list[Json], problems: list[str | None]) -> list[str]:
    """For each validated event, the uses-table row its entry reports as a COPY text line (columns: USE_COLUMNS),
    or an empty string."""
    lines = [""] * len(events)
    for index, event, use, holder in _reported_uses(events, problems):
        subscription, pass_id = use["subscription"] or "\\N", use["pass"] or "\\N"
        lines[index] = (
            f"{event['id']}\t{holder}\t{event['site']}\t{event['device']}\t{event['seq']}\t{use['date']}"
            f"\t{use['slot']}\t{use['spent']}\t{subscription}\t{pass_id}\t{event['at'][:-1]}\n"
        )
    return lines


@dataclass(frozen=True)
class Prepared:
    """A validated batch made ready to store: the part of ingestion that needs no lock and no database."""

    site: str
    device: str
    events: list[Json]  # validated, seq increasing
    problems: list[str | None]  # per event, see `data_problems`
    received_at: dt.datetime
    # PostgreSQL only: per event, its rows as COPY lines, so that the locked part does almost no Python work.
    copy_events: list[str] | None = None
    copy_uses: list[str] | None = None


def prepare(batch: Json, *, for_postgres: bool = False) -> Prepared:
    events = batch["events"]
    problems = data_problems(events)
    now = utcnow()
    if not for_postgres:
        return Prepared(batch["site"], batch["device"], events, problems, now)
    return Prepared(
        batch["site"],
        batch["device"],
        events,
        problems,
        now,
        copy_events(events, problems, now),
        copy_uses(events, problems),
    )


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
        self._local = threading.local()

    def ingest(self, batch: Json) -> IngestResult:
        """Commit what of a validated batch extends its device's contiguous stream; return the new cursor.

        For callers without a committer thread: the connection is handed back at once."""
        try:
            return self.commit(self.prepare(batch))
        finally:
            self.close()

    def prepare(self, batch: Json) -> Prepared:
        """The lock-free half of `ingest` (validation already done)."""
        return prepare(batch, for_postgres=self.db.dialect == "postgresql")

    def commit(self, prepared: Prepared) -> IngestResult:
        """The database half of `ingest`, for a batch already turned into rows."""
        deadline = self.clock() + self.gap_wait_s
        if prepared.copy_events is not None:
            return self._commit_postgres(prepared, deadline)
        while True:
            result = self._commit_sqlite(prepared)
            if not self._should_wait(prepared, result, deadline):
                return result
            self.sleep(self.gap_retry_s)

    def _should_wait(self, prepared: Prepared, result: IngestResult, deadline: float) -> bool:
        """Whether a batch that stored nothing because it starts past a gap should try again shortly.

        The batch before it is usually being stored by another committer at that very moment. A gap already waited
        on in vain is not waited on again: the device resends from the cursor anyway.
        """
        key = (prepared.site, prepared.device)
        if result.stored or not result.beyond_gap or result.duplicates:
            self._waited_at.pop(key, None)
            return False
        if self._waited_at.get(key) == result.acked or self.clock() >= deadline:
            self._waited_at[key] = result.acked
            log.info(
                "%s/%s : le lot à partir du n° %s est au-delà d'un trou au n° %s",
                *key,
                prepared.events[0]["seq"],
                result.acked + 1,
            )
            return False
        return True

    def _commit_sqlite(self, prepared: Prepared) -> IngestResult:
        site, device, events = prepared.site, prepared.device, prepared.events
        with self.db.write() as session:
            cursor = lock_cursor(session, site, device)
            start, end = contiguous_run(events, cursor)
            taken, problems = events[start:end], prepared.problems[start:end]
            if taken:
                rows = [event_row(e, p, prepared.received_at) for e, p in zip(taken, problems, strict=True)]
                _check_inserted(site, device, insert_rows(session, Event, rows), len(taken))
                uses = use_rows(taken, problems)
                insert_rows(session, Use, uses)
                if uses:
                    report_counts.fold_in(session, stored_uses([u["event_id"] for u in uses], device, cursor))
                record_sales(session, taken, problems)
                record_bookings(session, taken, problems)
                session.execute(
                    update(DeviceCursor)
                    .where(DeviceCursor.site_id == site, DeviceCursor.device_id == device)
                    .values(seq=taken[-1]["seq"])
                )
        return _result(prepared, cursor, start, end)

    def _commit_postgres(self, prepared: Prepared, deadline: float) -> IngestResult:
        for attempt in (1, 2):
            connection = self._connection()
            try:
                return self._commit_postgres_on(connection, prepared, deadline)
            except Exception as exc:
                self.close()
                if not isinstance(exc, LOST_CONNECTION) or attempt == 2:
                    raise
                # PostgreSQL restarted since the last batch: a new connection, once, rather than make the device
                # wait for its resend.
                log.info("%s/%s : connexion à la base perdue ; nouvel essai", prepared.site, prepared.device)
        raise AssertionError("unreachable")

    def _commit_postgres_on(self, connection: Connection, prepared: Prepared, deadline: float) -> IngestResult:
        try:
            extended = self._store_postgres(connection, prepared, locked=False, direct=True)
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
            extended = None
        if extended is not None:
            return extended
        while True:
            try:
                result = self._store_postgres(connection, prepared, locked=True, direct=True)
            except psycopg.errors.UniqueViolation:
                # An event id already stored under another seq, or a use another door of the site already
                # recorded for the same holder and half-day: store the rest, skipping those.
                result = self._store_postgres(connection, prepared, locked=True, direct=False)
            assert result is not None  # a locked try always knows the cursor
            if not self._should_wait(prepared, result, deadline):
                return result
            self.sleep(self.gap_retry_s)

    def _store_postgres(
        self, connection: Connection, prepared: Prepared, *, locked: bool, direct: bool
    ) -> IngestResult | None:
        """One try at a batch on PostgreSQL, lean: a device's batches are stored one after the other, so every
        round trip and every line of Python here counts (bench.sync).

        Not `locked`, the try assumes what is nearly always true: the batch starts just after the device's cursor.
        It COPies the events (up to a hole, if any) and their uses straight into their tables, moves the cursor
        only if it still ends just before the batch, and commits; the cursor row is locked only from that move to
        the commit, so the next batch's rows go in meanwhile. Anything else rolls back and returns None; a
        duplicate raises UniqueViolation.
        `locked`, it first locks the cursor, stores the contiguous part of the batch, directly or (not `direct`)
        through staging tables and INSERT ... ON CONFLICT DO NOTHING. A batch that stores nothing is rolled back.
        """
        assert prepared.copy_events is not None and prepared.copy_uses is not None
        site, device, events = prepared.site, prepared.device, prepared.events
        with _forget_staging_on_error(connection), connection.begin() as transaction:
            raw = connection.connection.driver_connection
            with raw.cursor() as cur:  # type: ignore[union-attr]
                if locked:
                    cur.execute(_LOCK_CURSOR, (site, device))
                    found = cur.fetchone()
                    cursor = int(found[0]) if found else lock_cursor(Session(bind=connection), site, device)
                else:
                    cursor = events[0]["seq"] - 1
                start, end = contiguous_run(events, cursor)
                if end == start:
                    transaction.rollback()
                    return _result(prepared, cursor, start, end)
                taken = events[start:end]
                rows = "".join(prepared.copy_events[start:end]).encode("utf-8")
                uses = "".join(prepared.copy_uses[start:end]).encode("utf-8")
                if direct:
                    for table, data in (("events", rows), ("uses", uses)):
                        if data:
                            with cur.copy(f"COPY {table} ({_TABLES[table]}) FROM STDIN") as copy:
                                copy.write(data)
                    inserted = len(taken)
                else:
                    inserted = _insert_staged(connection, cur, rows, uses)
                _check_inserted(site, device, inserted, len(taken))
                if uses:
                    # Before the cursor moves: the next batch waits on its row from the move to the commit only.
                    ids = [e["id"] for e, line in zip(taken, prepared.copy_uses[start:end], strict=True) if line]
                    report_counts.fold_in_batch(connection, cur, ids, device, cursor)
                cur.execute(_MOVE_CURSOR, (taken[-1]["seq"], site, device, cursor))
                if cur.rowcount != 1:  # not locked: the stream is not where the batch expects it
                    transaction.rollback()
                    return None
                if any(e["kind"] in SALE_KINDS for e in taken):
                    record_sales(Session(bind=connection), taken, prepared.problems[start:end])
                if any(e["kind"] in BOOKING_KINDS for e in taken):
                    record_bookings(Session(bind=connection), taken, prepared.problems[start:end])
        return _result(prepared, cursor, start, end)

    def _connection(self) -> Connection:
        """The calling thread's own connection, kept from batch to batch: taking one from the pool for each batch
        cost a round trip to test it (bench.sync)."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self.db.engine.connect()
        return connection

    def close(self) -> None:
        """Hand back the calling thread's connection, if it has one (a committer's last act, or after an error)."""
        connection: Connection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()


SALE_KINDS = (EventKind.SALE, EventKind.SALE_PAID, EventKind.PASS_STOPPED)
# What a connection that PostgreSQL closed (a restart, an administrator) raises, raw or through SQLAlchemy.
LOST_CONNECTION = (psycopg.OperationalError, sqlalchemy.exc.OperationalError)
_LOCK_CURSOR = "SELECT seq FROM device_cursors WHERE site_id = %s AND device_id = %s FOR UPDATE"
# Moves the cursor only from where the batch was stored against: the row lock this takes makes the check and the
# move one step with respect to every other worker.
_MOVE_CURSOR = "UPDATE device_cursors SET seq = %s WHERE site_id = %s AND device_id = %s AND seq = %s"
_TABLES = {"events": ", ".join(EVENT_COLUMNS), "uses": ", ".join(USE_COLUMNS)}


def _insert_staged(connection: Connection, cur: Any, events: bytes, uses: bytes) -> int:
    """Store events and their uses given as COPY text, skipping conflicts; returns how many events were new."""
    inserted = 0
    for table, rows in (("events", events), ("uses", uses)):
        columns = _TABLES[table]
        _stage(connection, cur, table, rows)
        cur.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM staging_{table} ON CONFLICT DO NOTHING")
        if table == "events":
            inserted = cur.rowcount
    return int(inserted)


def _stage(connection: Connection, cur: Any, table: str, rows: bytes) -> None:
    """COPY rows into this connection's staging table for `table` (created on first use, emptied at commit)."""
    columns = _TABLES[table]
    made: set[str] = connection.info.setdefault("halfday_staging", set())
    if table not in made:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS staging_{table} ON COMMIT DELETE ROWS AS"
            f" SELECT {columns} FROM {table} WITH NO DATA"
        )
        made.add(table)
    if rows:
        with cur.copy(f"COPY staging_{table} ({columns}) FROM STDIN") as copy:
            copy.write(rows)


@contextmanager
def _forget_staging_on_error(connection: Connection) -> Iterator[None]:
    # A failed transaction also undoes the staging tables it created: create them again next time.
    try:
        yield
    except BaseException:
        connection.info.pop("halfday_staging", None)
        raise


def contiguous_run(events: list[Json], cursor: int) -> tuple[int, int]:
    """[start, end) of the events that extend a device's stream stored up to `cursor`.

    Events come in increasing seq order (validate_batch): those at or below the cursor are duplicates, then the
    run cursor+1, cursor+2, ... is taken while it has no hole; nothing past a hole is.
    """
    start = 0
    while start < len(events) and events[start]["seq"] <= cursor:
        start += 1
    end = start
    while end < len(events) and events[end]["seq"] == cursor + 1 + end - start:
        end += 1
    return start, end


def _result(prepared: Prepared, cursor: int, start: int, end: int) -> IngestResult:
    acked = prepared.events[end - 1]["seq"] if end > start else cursor
    return IngestResult(prepared.site, prepared.device, acked, end - start, start, len(prepared.events) - end)


def _check_inserted(site: str, device: str, inserted: int, taken: int) -> None:
    if inserted != taken:
        # Only an event id reused under another (device, seq) can get here: keep the stream moving.
        log.error("%s/%s : %d événement(s) avaient un identifiant déjà enregistré", site, device, taken - inserted)


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


def _reported_uses(events: list[Json], problems: list[str | None]) -> Iterator[tuple[int, Json, Json, str]]:
    """(index, event, use, holder) for each half-day use that well-formed entries report (one per event at most)."""
    for index, (event, problem) in enumerate(zip(events, problems, strict=True)):
        if problem is not None or event["kind"] != EventKind.ENTRY:
            continue
        data = event["data"]
        use = data.get("use")
        if use is None:
            continue
        holder = data["holder"] or use["subscription"] or use["pass"]
        if holder is None:
            log.warning(
                "événement %s : une utilisation sans titulaire, abonnement ni pass n'est pas comptée", event["id"]
            )
            continue
        yield index, event, use, holder


def use_rows(events: list[Json], problems: list[str | None]) -> list[dict[str, Any]]:
    """The uses-table rows that validated entries report."""
    return [
        {
            "event_id": event["id"],
            "holder_id": holder,
            "site_id": event["site"],
            "device_id": event["device"],
            "seq": event["seq"],
            "local_date": dt.date.fromisoformat(use["date"]),
            "slot": use["slot"],
            "spent": use["spent"],
            "subscription_id": use["subscription"],
            "pass_id": use["pass"],
            "at": event_time(event),
        }
        for _, event, use, holder in _reported_uses(events, problems)
    ]


def sale_row(event: Json, at: dt.datetime, tz: ZoneInfo) -> dict[str, Any]:
    """The hub's row of a `sale` event (sync/PROTOCOL.md): every key, so rows insert together."""
    data = event["data"]
    is_pass = data.get("book_kind", BookKind.PASS) == BookKind.PASS
    return {
        "id": data["sale"],
        "site_id": event["site"],
        "device_id": event["device"],
        "event_id": event["id"],
        "kind": data["kind"],
        "amount_cents": data["amount_cents"],
        "provider": data["provider"],
        "paid": data["paid"],
        "pass_id": data["pass"] if is_pass else None,
        "local_date": dt.date.fromisoformat(data["date"]) if is_pass else at.astimezone(tz).date(),
        "slots": ",".join(data["slots"]) if is_pass else None,
        "valid_until": dt.date.fromisoformat(data["until"]) if "until" in data else None,
        "until_slots": ",".join(data["until_slots"]) if "until" in data else None,
        "name": data.get("name"),
        "email": data.get("email"),
        "at": at,
        "paid_at": at if data["paid"] else None,
        "book_kind": data.get("book_kind", BookKind.PASS),
        "series": data.get("series"),
        "number": data.get("number"),
        "label": data.get("label"),
        "tender": data.get("tender"),
        "member_id": data.get("member"),
        "refund_of": data.get("refund_of"),
    }


def record_sales(session: Session, events: list[Json], problems: list[str | None]) -> None:
    """Record the sales, payments and stopped passes that newly stored, well-formed events report, in seq order."""
    sales: list[dict[str, Any]] = []
    paid: list[tuple[str, dt.datetime, str | None]] = []
    stopped: list[tuple[str, dt.datetime]] = []
    zones: dict[str, ZoneInfo] = {}
    for event, problem in zip(events, problems, strict=True):
        if problem is not None or event["kind"] not in SALE_KINDS:
            continue
        data, at = event["data"], event_time(event)
        if event["kind"] == "sale":
            site = event["site"]
            if site not in zones:
                zone = session.scalar(select(Site.timezone).where(Site.id == site))
                zones[site] = ZoneInfo(zone or "UTC")
            sales.append(sale_row(event, at, zones[site]))
        elif event["kind"] == EventKind.PASS_STOPPED:
            stopped.append((data["sale"], at))
        else:
            paid.append((data["sale"], at, data.get("tender")))
    if sales:
        insert_rows(session, Sale, sales)
    for sale_id, at in stopped:
        session.execute(update(Sale).where(Sale.id == sale_id, Sale.stopped_at.is_(None)).values(stopped_at=at))
    for sale_id, at, tender in paid:
        done = session.execute(
            update(Sale).where(Sale.id == sale_id, Sale.paid.is_(False)).values(paid=True, paid_at=at, tender=tender)
        )
        if done.rowcount == 0:  # type: ignore[attr-defined]
            log.info("sale_paid pour %s : aucune vente impayée avec cet identifiant", sale_id)
