"""Benchmark: a 100,000-event backlog drained from an appliance to the hub on PostgreSQL, exactly once.

In the same run, with the same messages and batching, the raw rate of each stage alone: broker pass-through
(paho publisher -> paho subscriber, no processing), PostgreSQL insert of the same rows, SQLite outbox
read-and-retire. `raw_events_per_s` is the slowest of the three, `ratio_to_raw` the drain's rate over it. Then the
hub alone with one and with two workers on the same load spread over four doors.

Run: python -m bench.sync  (needs /usr/sbin/mosquitto and PostgreSQL at 127.0.0.1:5432; last line: one JSON object)
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import sqlite3
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, insert, select

from access.db import Database, migrate
from access.models import Event as DoorEvent
from access.models import Outbox
from sync.agent import AgentSettings, SyncAgent
from sync.agent.window import BATCH_EVENTS, WINDOW_EVENTS, SendWindow
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.ingest import EVENT_COLUMNS, USE_COLUMNS, copy_events, copy_uses, data_problems
from sync.hub.models import Event as HubEvent
from sync.hub.worker import run_hub
from sync.mqtt import Message, MqttClient, MqttSettings
from sync.payloads import make_batch, validate_ack
from sync.protocol import ack_topic, events_topic, utc_iso
from sync.signing import generate_private_key, public_key_b64, save_private_key
from tests.support.broker import Mosquitto
from tests.support.pg import fresh_database
from tests.support.wait import wait_until

EVENTS = 100_000
SITE, DEVICE = "site-a", "door-1"
WORKER_DOORS = 4
# One door's stream is committed in order under its cursor lock; a second worker helps across doors (measured
# below), not along one door's stream.
DRAIN_WORKERS = 1
TIMEOUT_S = 300.0


def make_events(count: int, device: str = DEVICE) -> list[dict[str, Any]]:
    """A door's day, many times over: half entries charging a half-day, half door openings and closings."""
    start = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)
    events = []
    for seq in range(1, count + 1):
        if seq % 2:
            use = {"date": "2026-11-23", "slot": "morning", "spent": 1, "subscription": uuid.uuid4().hex, "pass": None}
            kind, data = (
                "entry",
                {
                    "uid": "A1B2C3D4",
                    "holder": uuid.uuid4().hex,
                    "granted": True,
                    "reason": "carnet",
                    "plan": "carnet",
                    "use": use,
                },
            )
        else:
            kind, data = "door", {"open": seq % 4 == 0}
        events.append(
            {
                "v": 1,
                "id": uuid.uuid4().hex,
                "site": SITE,
                "device": device,
                "seq": seq,
                "kind": kind,
                "at": utc_iso(start + dt.timedelta(milliseconds=seq)),
                "mono_ns": seq * 1_000_000,
                "boot": "bench",
                "clock_ok": True,
                "data": data,
            }
        )
    return events


def fill_outbox(url: str, events: list[dict[str, Any]]) -> None:
    """The appliance's database with `events` recorded and not yet acknowledged (as the door leaves them)."""
    migrate(url)
    db = Database(url)
    with db.write() as session:
        session.execute(
            insert(DoorEvent),
            [
                {
                    "id": e["id"],
                    "device_id": e["device"],
                    "seq": e["seq"],
                    "kind": e["kind"],
                    "at": dt.datetime.fromisoformat(e["at"][:-1]).replace(tzinfo=dt.UTC),
                    "mono_ns": e["mono_ns"],
                    "boot_id": e["boot"],
                    "clock_ok": e["clock_ok"],
                    "data": e["data"],
                }
                for e in events
            ],
        )
        session.execute(
            insert(Outbox), [{"event_id": e["id"], "device_id": e["device"], "seq": e["seq"]} for e in events]
        )
    db.dispose()


def _hub_process(settings: HubSettings, stop: Any) -> None:
    run_hub(settings, stop)


class Hub:
    """`halfday hub` in its own process (its workers beside it), as in production."""

    def __init__(self, settings: HubSettings) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.stop_event = ctx.Event()
        self.process = ctx.Process(target=_hub_process, args=(settings, self.stop_event))

    def __enter__(self) -> Hub:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.process.join(30)
        if self.process.is_alive():
            self.process.terminate()


def stored(url: str) -> tuple[int, int]:
    db = HubDatabase(url)
    with db.read() as session:
        rows, distinct = session.execute(select(func.count(), func.count(func.distinct(HubEvent.id)))).one()
    db.dispose()
    return int(rows), int(distinct)


def bench_drain(broker: Mosquitto, tmp: Path, key_file: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The real agent drains the real appliance database into a real hub on PostgreSQL."""
    door_url = f"sqlite:///{tmp / 'door.sqlite'}"
    fill_outbox(door_url, events)
    with fresh_database("halfday_bench") as hub_url:
        HubDatabase(hub_url).create_all()
        settings = HubSettings(hub_url, MqttSettings(broker.host, broker.port), str(key_file), workers=DRAIN_WORKERS)
        with Hub(settings):
            from sync.signing import load_private_key

            agent = SyncAgent(
                AgentSettings(
                    SITE,
                    DEVICE,
                    door_url,
                    MqttSettings(broker.host, broker.port),
                    public_key_b64(load_private_key(key_file)),
                    str(tmp / "sync-state.sqlite"),
                )
            )
            time.sleep(3.0)  # let every worker subscribe
            started = time.monotonic()
            agent.start()
            done = wait_until(lambda: agent.acked >= len(events), TIMEOUT_S, 0.01)
            drain_s = time.monotonic() - started
            agent.stop()
        rows, distinct = stored(hub_url)
    return {"drain_s": round(drain_s, 2), "drained": done, "stored": rows, "stored_distinct": distinct}


def batches(events: list[dict[str, Any]]) -> list[bytes]:
    return [
        make_batch(e[0]["site"], e[0]["device"], e)
        for e in (events[i : i + BATCH_EVENTS] for i in range(0, len(events), BATCH_EVENTS))
    ]


def raw_broker(broker: Mosquitto, payloads: list[bytes]) -> float:
    """paho publisher -> broker -> paho subscriber, the same messages, nothing done with them."""
    settings = MqttSettings(broker.host, broker.port)
    got = threading.Semaphore(0)
    sub = MqttClient(settings, "raw-sub", clean_start=True, session_expiry_s=0, on_message=lambda _m: got.release())
    sub.subscribe(events_topic(SITE, "raw"))
    pub = MqttClient(
        settings, "raw-pub", clean_start=True, session_expiry_s=0, max_in_flight=WINDOW_EVENTS // BATCH_EVENTS
    )
    sub.start()
    pub.start()
    assert sub.wait_connected(10) and pub.wait_connected(10)
    started = time.monotonic()
    for payload in payloads:
        pub.publish(events_topic(SITE, "raw"), payload)
    for _ in payloads:
        got.acquire(timeout=TIMEOUT_S)
    elapsed = time.monotonic() - started
    pub.stop()
    sub.stop()
    return elapsed


def raw_postgres(events: list[dict[str, Any]]) -> float:
    """The rows the hub stores for these events (the events, and the half-day uses their entries report), put
    into PostgreSQL by psycopg alone, one transaction per message.

    The fastest plain way measured here, and the hub's: COPY straight into the tables, with the rows converted to
    COPY text beforehand. The stage's own capacity, not a straw man.
    """
    now = dt.datetime.now(dt.UTC)
    payloads = []
    for i in range(0, len(events), BATCH_EVENTS):
        chunk = events[i : i + BATCH_EVENTS]
        problems = data_problems(chunk)
        payloads.append(
            {
                "events": "".join(copy_events(chunk, problems, now)).encode("utf-8"),
                "uses": "".join(copy_uses(chunk, problems)).encode("utf-8"),
            }
        )
    columns = {"events": ", ".join(EVENT_COLUMNS), "uses": ", ".join(USE_COLUMNS)}
    with fresh_database("halfday_bench_raw") as url:
        HubDatabase(url).create_all()
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
            started = time.monotonic()
            for batch in payloads:
                with conn.transaction(), conn.cursor() as cur:
                    for table, rows in batch.items():
                        with cur.copy(f"COPY {table} ({columns[table]}) FROM STDIN") as copy:
                            copy.write(rows)
            return time.monotonic() - started


def raw_outbox(tmp: Path, events: list[dict[str, Any]]) -> float:
    """The appliance's outbox read in seq order and retired batch by batch, by sqlite3 alone."""
    url = f"sqlite:///{tmp / 'raw-door.sqlite'}"
    fill_outbox(url, events)
    db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    started = time.monotonic()
    after = 0
    while True:
        rows = db.execute(
            "SELECT e.id, e.seq, e.kind, e.at, e.mono_ns, e.boot_id, e.clock_ok, e.data FROM outbox o"
            " JOIN events e ON e.id = o.event_id WHERE o.device_id = ? AND o.seq > ? ORDER BY o.seq LIMIT ?",
            (DEVICE, after, BATCH_EVENTS),
        ).fetchall()
        if not rows:
            break
        after = rows[-1][1]
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM outbox WHERE device_id = ? AND seq <= ?", (DEVICE, after))
        db.execute("COMMIT")
    elapsed = time.monotonic() - started
    db.close()
    return elapsed


def bench_workers(broker: Mosquitto, key_file: Path, workers: int, per_door: int) -> float:
    """The hub alone: four doors' backlogs, pre-encoded, sent as fast as the acks allow."""
    doors = [f"door-{i}" for i in range(1, WORKER_DOORS + 1)]
    encoded = {d: batches(make_events(per_door, d)) for d in doors}
    with fresh_database("halfday_bench_workers") as url:
        HubDatabase(url).create_all()
        settings = replace(HubSettings(url, MqttSettings(broker.host, broker.port), str(key_file)), workers=workers)
        with Hub(settings):
            windows = {d: SendWindow(batch_events=BATCH_EVENTS, ack_timeout_s=10.0) for d in doors}
            lock = threading.Lock()

            def on_ack(message: Message) -> None:
                with lock:
                    windows[message.topic.split("/")[3]].on_ack(validate_ack(message.payload), time.monotonic())

            client = MqttClient(
                MqttSettings(broker.host, broker.port),
                "bench-doors",
                clean_start=True,
                session_expiry_s=0,
                on_message=on_ack,
                max_in_flight=400,
            )
            for d in doors:
                client.subscribe(ack_topic(SITE, d))
            client.start()
            assert client.wait_connected(10)
            time.sleep(2.0 + workers)  # every worker subscribed before the clock starts
            started = time.monotonic()
            while time.monotonic() - started < TIMEOUT_S:
                sent = False
                for d in doors:
                    with lock:
                        batch = windows[d].next_batch(per_door, time.monotonic())
                        if batch is not None:
                            windows[d].sent(*batch, time.monotonic())
                    if batch is not None:
                        client.publish(events_topic(SITE, d), encoded[d][(batch[0] - 1) // BATCH_EVENTS])
                        sent = True
                with lock:
                    if all(w.acked >= per_door for w in windows.values()):
                        break
                if not sent:
                    time.sleep(0.002)
            elapsed = time.monotonic() - started
            client.stop()
        rows, distinct = stored(url)
    if rows != distinct or rows != per_door * WORKER_DOORS:
        raise SystemExit(
            f"workers={workers}: stored {rows} rows, {distinct} distinct, wanted {per_door * WORKER_DOORS}"
        )
    return elapsed


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="halfday-bench-sync-"))
    key_file = tmp / "hub.key"
    save_private_key(generate_private_key(), key_file)
    events = make_events(EVENTS)
    with Mosquitto(tmp / "broker") as broker:
        drain = bench_drain(broker, tmp, key_file, events)
        print("drain", drain, flush=True)
        payloads = batches(make_events(EVENTS, "raw"))
        stages = {
            "broker": EVENTS / raw_broker(broker, payloads),
            "postgres_insert": EVENTS / raw_postgres(events),
            "outbox_read_retire": EVENTS / raw_outbox(tmp, events),
        }
        print("raw", {k: round(v) for k, v in stages.items()}, flush=True)
        one = bench_workers(broker, key_file, 1, EVENTS // WORKER_DOORS)
        two = bench_workers(broker, key_file, 2, EVENTS // WORKER_DOORS)
        print("workers", {"one_s": round(one, 2), "two_s": round(two, 2)}, flush=True)
    events_per_s = EVENTS / drain["drain_s"]
    raw = min(stages.values())
    exactly_once = drain["drained"] and drain["stored"] == drain["stored_distinct"] == EVENTS
    print(
        json.dumps(
            {
                "events": EVENTS,
                "batch_events": BATCH_EVENTS,
                "drain_s": drain["drain_s"],
                "drain_hub_workers": DRAIN_WORKERS,
                "exactly_once": exactly_once,
                "events_per_s": round(events_per_s),
                "raw_events_per_s": round(raw),
                "raw_stages_per_s": {k: round(v) for k, v in stages.items()},
                "raw_postgres_rows": "events and their uses, as the hub stores them",
                "ratio_to_raw": round(events_per_s / raw, 3),
                "hub_one_worker_s": round(one, 2),
                "hub_two_workers_s": round(two, 2),
                "two_worker_speedup": round(one / two, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
