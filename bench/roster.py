"""Benchmark: roster delivery (per-site snapshots and signed deltas) on a network of 1,000 sites and 100,000
members, on PostgreSQL and a real Mosquitto.

The old design sent every site one signed roster of the whole network, and broke at 2,200 members: the roster
passed the protocol's 1 MiB message limit. The new one (sync/PROTOCOL.md, "Rosters") sends each site its own
snapshot, compressed in parts when large, and then small signed deltas. This benchmark measures it where it has
to hold: a thousand sites, a hundred thousand members, some of whom may enter everywhere.

The mix (stated again in the JSON as `mix`):
- 5% of the members (5,000) roam: their one plan is valid at every site, the network's monthly plan for 80% of
  them, the network's carnet for the rest. Each is in all 1,000 sites' rosters.
- 95% (95,000) hold a plan valid at their own site only, a site carnet (45%) or a site monthly plan (55%; at one
  site in five some of them hold its weekday plan), spread over the sites with a skew (weights 1/rank^s, s chosen
  so that the largest town-centre site has about 1,000 local members, the smallest some sixty).
- Every member has one badge (an NFC UID, upper-case hex of 8 or 14 digits, never starting with 04) and one
  subscription. Members, badges and subscriptions are bulk-inserted with SQLAlchemy core, in chunks, before the
  keeper's first pass (which reads them all); sites, doors and plans are made by the hub's own admin functions
  (bench.hub's `make_structure`), and every measured change goes through `admin.revoke_credential`.

What is measured, in this order:
1. Every site's first snapshot (`seed_all_s`). Snapshots are made on demand only (sync/PROTOCOL.md, "Missed
   deltas"): a site none of whose doors asked has none, and gets no delta. So every site's doors ask first, as new
   doors with an empty ledger do (`ask_snapshot(..., at_once=True)` for each site), then a RosterKeeper in this
   process, publishing to the hub's Mosquitto as the hub worker does (QoS 1, confirmed; deltas retained,
   snapshots not), passes until no site is asked for (`snapshots_asked`). The largest site's snapshot as published
   (`snapshot_bytes`, all parts), its JSON (`snapshot_json_bytes`), its parts; what the seed published in all
   (`seed_published_bytes`). Then the broker: what it retains (`broker_retained_after_seed`, and `_end`: a fresh
   subscriber to the protocol's topics counts the retained messages it is given, none a snapshot), its persistence
   file (`broker_store_after_seed_bytes`, after an autosave), its RSS and what it wrote during the seed.
2. The keeper's own pass for one roaming member's revoked badge (`keeper_pass_s`), still in this process: one
   `refresh()` that makes, stores and publishes a delta for each of the 1,000 sites; `--profile` prints where it
   goes. A simulated appliance per site is one MQTT client subscribed to `halfday/v1/+/delta` that notes when each
   site's delta arrives.
3. The door's time to apply that snapshot (`apply_snapshot_s`): its published parts put together
   (`SnapshotParts`), verified whole (`verify_roster(limit=MAX_ROSTER_BYTES)`) and written into a fresh ledger
   (`outbox.apply_roster`), as the sync agent does on a new appliance; then the first delta after it
   (`verify_delta`, `outbox.apply_delta`: `apply_delta_s`). Then the keeper's pass for one site's snapshot when a
   manager asks for it (`snapshot_one_site_s`: it reads only that site's members).
4. The hub for real: the hub worker in a process of its own (`run_hub`, its keeper polling every KEEPER_POLL_S),
   one real appliance at the largest site (bench.hub's `Appliance`: the door daemon in this process on its SQLite
   ledger, its local bus, its sync agent in a process of its own), the other 999 simulated by the subscriber
   above. The real appliance's agent starts on an empty ledger and asks for its snapshot by itself (its status
   says `roster_behind`; the hub worker asks the keeper), and gets it over the broker, subscribed
   (`agent_first_roster_s`; the benchmark first waits out the 30 s a site's snapshots are kept apart, so that the
   ask is answered at once). A roaming member's badge is revoked at the hub (`admin.revoke_credential`) and the
   real door's decision on it polled until it refuses (bench.hub's `revoke_once`), 50 times: `revocation_p99_ms`.
   For each, the time from the revocation's commit until the subscriber has the delta of all 1,000 sites:
   `publish_all_s` is the WORST of those (p50 beside it); `delta_bytes` the largest delta seen. What the broker
   wrote meanwhile (its persistence file, autosaved every second as shipped) is `broker_writes_mb_per_s`.
5. The door with that roster: `decide` timed (perf_counter_ns around each call, as bench.policy does) on the
   state the real door holds, over random known and unknown UIDs (`decide_p99_us`); and the RSS of the door
   daemon as it runs on an appliance (`door_rss_mb`): `halfday door` started as its own process (mock pins, a
   virtual card) on a copy of the real appliance's ledger, VmRSS read from /proc once it says it is ready (the
   door in this process shares its memory with the benchmark, so its RSS would mean nothing). The same door on
   an empty ledger gives the share of the roster (`door_rss_empty_mb`). The real door's reload of its state from
   its ledger, which it does after every roster applied (`StateCache.reload`), is timed too (`door_reload_*`).

`python -m bench.roster [--quick] [--sites N] [--members N] [--revocations N] [--profile] [--broker-autosave S]`;
needs PostgreSQL at 127.0.0.1:5432 and /usr/sbin/mosquitto. `--quick`: 20 sites, 2,000 members, 5 revocations
(two minutes or so). `--broker-autosave S` runs the hub's broker with another autosave interval than the shipped
second, to compare.
Everything runs in a throwaway database and temporary folders; processes are stopped by their own ids.
Progress lines first; the last line is one JSON object.
Targets: delta <= 2048 bytes, publish to every site <= 2 s, revocation p99 <= 1 s, snapshot applied <= 10 s,
door RSS <= 250 MB, decide p99 <= 200 us.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import gc
import io
import json
import math
import os
import pstats
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, insert, select

from access.db import Database, migrate
from access.policy import decide
from bench.hub import (
    DEVICE,
    FIRST_NAMES,
    LAST_NAMES,
    MISSES_BEFORE_GIVING_UP,
    REVOCATION_TIMEOUT_S,
    TZ,
    Appliance,
    Network,
    Person,
    PlanInfo,
    Revocation,
    RosterWatch,
    Sub,
    _agent_process,
    _hub_process,
    admin_actor,
    ascii_word,
    badge_row,
    first_credit,
    make_structure,
    member_row,
    month_end,
    pick_targets,
    revoke_once,
    spawned,
    subscription_row,
    summarise_revocations,
)
from bench.hub import Sizes as HubSizes
from bench.nfc_raw import percentile
from common.db import utcnow
from common.words import CredentialStatus, PlanKind
from halfday.broker import Mosquitto
from halfday.sample import site_config, write_config
from hardware.virtual_card import VirtualCard
from sync.agent import AgentSettings, outbox
from sync.hub import admin
from sync.hub.audit import Actor
from sync.hub.config import KEEPER_POLL_S, HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import Credential, Member, RosterVersion, Site, Subscription
from sync.hub.roster import SNAPSHOT_MIN_GAP, RosterKeeper, ask_snapshot, snapshots_asked
from sync.hub.worker import PUBLISH_CONFIRM_S
from sync.localbus import MAX_PACKET_BYTES as LOCAL_MAX_PACKET_BYTES
from sync.mqtt import Message, MqttClient, MqttSettings
from sync.payloads import validate_snapshot_part
from sync.protocol import MAX_ROSTER_BYTES, PREFIX, delta_topic, parse_json, roster_topic
from sync.signing import generate_private_key, public_key_b64, save_private_key, verify_delta, verify_roster
from sync.snapshots import SnapshotParts
from tests.support.pg import fresh_database
from tests.support.wait import wait_until

TARGET_DELTA_BYTES = 2048
TARGET_PUBLISH_ALL_S = 2.0
TARGET_REVOCATION_P99_MS = 1000.0
TARGET_APPLY_SNAPSHOT_S = 10.0
TARGET_DOOR_RSS_MB = 250.0
TARGET_DECIDE_P99_US = 200.0
# The old design: one roster of the whole network for every site, over the 1 MiB message limit past this.
PREVIOUS_LIMIT_MEMBERS = 2200
# Rows per bulk statement (and per transaction) when seeding the members.
INSERT_CHUNK = 10_000
# A site gets a snapshot its doors ask for at most this often (sync.hub.roster.SNAPSHOT_MIN_GAP, 30 s), and a little.
SNAPSHOT_GAP_S = SNAPSHOT_MIN_GAP.total_seconds() + 1.0
# How long a fresh subscriber waits for the broker's retained messages (they come at once, on subscribing).
RETAINED_QUIET_S = 2.0
# Waits: every site's delta of one change at the subscriber; the real appliance's first roster; a door's start.
ALL_SITES_TIMEOUT_S = 60.0
FIRST_ROSTER_TIMEOUT_S = 600.0
DOOR_START_TIMEOUT_S = 120.0
# Once the door process says it is ready, it settles this long before its RSS is read.
DOOR_SETTLE_S = 2.0
# Share of the timed decisions on UIDs the door does not know (other sites' members' badges, and never-seen ones).
UNKNOWN_SHARE = 0.2


@dataclass(frozen=True)
class Sizes:
    sites: int = 1000
    members: int = 100_000
    roaming_share: float = 0.05
    roaming_carnet_share: float = 0.2  # of the roaming members: the network's carnet, not its monthly plan
    local_carnet_share: float = 0.45  # of the others: their site's carnet, not its monthly plan
    largest_local: int = 1000  # local members of the largest site
    revocations: int = 50
    warmup: int = 1  # revocations through the hub worker before the measured ones (its first pass reads all)
    keeper_passes: int = 3  # revocations made into deltas by the keeper in this process, to time its pass
    decisions: int = 20_000


QUICK = Sizes(sites=20, members=2000, largest_local=300, revocations=5, keeper_passes=2, decisions=5000)


# ---------------------------------------------------------------------------------------------- the network


@dataclass
class Mix:
    """Who holds what, as generated (stated in the JSON)."""

    roaming: int = 0
    roaming_network_monthly: int = 0
    roaming_network_carnet: int = 0
    local: int = 0
    local_site_monthly: int = 0
    local_site_weekdays: int = 0
    local_site_carnet: int = 0
    largest_site: str = ""
    largest_site_local: int = 0
    smallest_site_local: int = 0
    skew_exponent: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "largest_site_members": self.roaming + self.largest_site_local,
            "badge_uids": "upper-case hex, 8 or 14 digits, never starting with 04",
            "subscriptions_per_member": 1,
            "badges_per_member": 1,
        }


def local_counts(local: int, sites: int, largest: int) -> tuple[list[int], float]:
    """Local members per site, the town centres first: weights 1/(rank+1)^s, with s such that the first site gets
    about `largest` (0, an even spread, when that already gives it as many). Returns the counts and s."""

    def first(s: float) -> float:
        weights = [math.pow(r + 1, -s) for r in range(sites)]
        return local * weights[0] / sum(weights)

    s = 0.0
    if first(0.0) < largest:
        low, high = 0.0, 8.0
        for _ in range(60):
            mid = (low + high) / 2
            low, high = (mid, high) if first(mid) < largest else (low, mid)
        s = high
    weights = [math.pow(r + 1, -s) for r in range(sites)]
    total = sum(weights)
    raw = [local * w / total for w in weights]
    counts = [int(x) for x in raw]
    for r in sorted(range(sites), key=lambda r: raw[r] - counts[r], reverse=True)[: local - sum(counts)]:
        counts[r] += 1
    return counts, s


def new_uid(rng: random.Random, taken: set[str]) -> str:
    """A badge UID nobody holds: 4 bytes (8 hex digits) or 7 (14), upper-case, never starting with 04."""
    while True:
        size = 4 if rng.random() < 0.3 else 7
        uid = f"{rng.getrandbits(8 * size):0{2 * size}X}"
        if not uid.startswith("04") and uid not in taken:
            taken.add(uid)
            return uid


def make_members(
    sizes: Sizes,
    sites: list[str],
    per_site: dict[str, list[PlanInfo]],
    network: list[PlanInfo],
    rng: random.Random,
    taken: set[str],
) -> tuple[list[Person], list[Person], Mix]:
    """The members (bench.hub's Person, one subscription and one badge each): the roaming ones, then the others."""
    today = dt.datetime.now(TZ).date()
    month_start = today.replace(day=1)
    net_monthly, net_carnet = network[0], network[1]
    roaming_count = round(sizes.members * sizes.roaming_share)
    counts, skew = local_counts(sizes.members - roaming_count, len(sites), sizes.largest_local)
    mix = Mix(
        roaming=roaming_count,
        local=sizes.members - roaming_count,
        largest_site=sites[0],
        largest_site_local=counts[0],
        smallest_site_local=min(counts),
        skew_exponent=round(skew, 3),
    )

    def person(home: str, plan: PlanInfo) -> Person:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        joined_day = today - dt.timedelta(days=rng.randrange(1, 400))
        joined = dt.datetime.combine(joined_day, dt.time(9, 0), TZ) + dt.timedelta(minutes=rng.randrange(600))
        joined = joined.astimezone(dt.UTC)
        if plan.kind == PlanKind.CARNET:
            sub = Sub(uuid.uuid4().hex, plan, joined_day, None, joined)
        else:  # this month's
            created = max(joined, dt.datetime.combine(month_start, dt.time(8), TZ).astimezone(dt.UTC))
            sub = Sub(uuid.uuid4().hex, plan, max(month_start, joined_day), month_end(today), created)
        n = rng.randrange(1_000_000)
        return Person(
            id=uuid.uuid4().hex,
            first_name=first,
            last_name=last,
            email=f"{ascii_word(first)}.{ascii_word(last)}{n}@example.fr",
            home=home,
            joined=joined,
            plan=plan,
            badge=new_uid(rng, taken),
            subs=[sub],
        )

    roaming = []
    for home in rng.choices(sites, weights=counts, k=roaming_count):
        carnet = rng.random() < sizes.roaming_carnet_share
        roaming.append(person(home, net_carnet if carnet else net_monthly))
        mix.roaming_network_carnet += carnet
        mix.roaming_network_monthly += not carnet
    local = []
    for site, count in zip(sites, counts, strict=True):
        own = per_site[site]
        for _ in range(count):
            draw = rng.random()
            if draw < sizes.local_carnet_share:
                plan = own[1]
                mix.local_site_carnet += 1
            elif len(own) > 2 and draw > 0.85:  # the weekday plan, where the site sells one
                plan = own[2]
                mix.local_site_weekdays += 1
            else:
                plan = own[0]
                mix.local_site_monthly += 1
            local.append(person(site, plan))
    return roaming, local, mix


def insert_members(db: HubDatabase, people: Sequence[Person]) -> None:
    """Members, their subscription and their badge, in chunks of bulk statements (SQLAlchemy core), before the
    keeper's first pass: it reads the whole network then, so no roster touch is needed."""
    for start in range(0, len(people), INSERT_CHUNK):
        chunk = people[start : start + INSERT_CHUNK]
        with db.write() as session:
            session.execute(insert(Member), [member_row(p) for p in chunk])
            session.execute(
                insert(Subscription), [subscription_row(p, s, first_credit(s)) for p in chunk for s in p.subs]
            )
            session.execute(insert(Credential), [badge_row(p) for p in chunk])
    with db.write() as session:
        session.connection().exec_driver_sql("ANALYZE")


# ---------------------------------------------------------------------------------------------- the broker side


class Publisher:
    """The keeper's `publish`, as the hub worker's own (`HubWorker._publish_rosters`: QoS 1, confirmed by the
    broker, retained as the keeper says: deltas yes, snapshots no), timed; it keeps the latest messages published
    on one site's snapshot topics."""

    def __init__(self, broker: Mosquitto, keep_site: str) -> None:
        self.client = MqttClient(
            MqttSettings(broker.host, broker.port),
            f"bench-keeper-{uuid.uuid4().hex[:6]}",
            clean_start=True,
            session_expiry_s=0,
        )
        self.client.start()
        if not self.client.wait_connected(15):
            raise SystemExit("the keeper's client never reached the broker")
        self.topic = roster_topic(keep_site)
        self.kept: dict[str, bytes] = {}
        self.seconds = 0.0
        self.calls = 0
        self.messages = 0
        self.bytes = 0
        self.retained_messages = 0
        self.retained_bytes = 0

    def __call__(self, messages: Sequence[tuple[str, bytes]], retain: bool) -> bool:
        started = time.monotonic()
        ok = self.client.publish_all(messages, retain=retain, timeout=PUBLISH_CONFIRM_S + len(messages) / 500)
        self.seconds += time.monotonic() - started
        self.calls += 1
        self.messages += len(messages)
        for topic, payload in messages:
            self.bytes += len(payload)
            if retain:
                self.retained_messages += 1
                self.retained_bytes += len(payload)
            if payload and (topic == self.topic or topic.startswith(f"{self.topic}/")):
                if topic == self.topic:
                    self.kept = {}  # a new snapshot: its part 0 comes first
                self.kept[topic] = payload
        return ok

    def stop(self) -> None:
        self.client.stop()


@dataclass(frozen=True)
class DeltaArrival:
    at: float  # monotonic
    version: int
    size: int


PROBE = b"bench-probe"


class DeltaWatch:
    """The 999 other sites' appliances, as far as the hub can tell: one client subscribed to every site's delta
    topic, noting when each site's first delta carrying a badge's revocation arrives, and its size."""

    def __init__(self, broker: Mosquitto, keep_site: str) -> None:
        self._cond = threading.Condition()
        self.revoking: dict[str, dict[str, DeltaArrival]] = {}  # credential id -> site -> first delta revoking it
        self.keep_site = keep_site
        self.kept: dict[int, bytes] = {}  # that site's deltas, by version
        self.received = 0
        self.probed = False
        self.client = MqttClient(
            MqttSettings(broker.host, broker.port, max_packet_bytes=128 << 20),
            f"bench-delta-watch-{uuid.uuid4().hex[:6]}",
            clean_start=True,
            session_expiry_s=0,
            on_message=self._on_message,
        )
        # QoS 0: a thousand deltas at once must not meet the broker's queue limit for one QoS 1 subscriber (the
        # doors each take one); what is measured is when the broker handed each out.
        self.client.subscribe(delta_topic("+"), qos=0)
        self.client.start()

    def _on_message(self, message: Message) -> None:
        at = time.monotonic()
        if message.payload == PROBE:
            with self._cond:
                self.probed = True
                self._cond.notify_all()
            return
        if not message.payload:
            return
        site = message.topic.split("/")[2]
        delta = orjson.loads(message.payload)
        arrival = DeltaArrival(at, int(delta["version"]), len(message.payload))
        revoked = [c["id"] for c in delta.get("credentials", ()) if c.get("status") == CredentialStatus.REVOKED]
        with self._cond:
            self.received += 1
            if site == self.keep_site:
                self.kept.setdefault(arrival.version, message.payload)
            for credential in revoked:
                self.revoking.setdefault(credential, {}).setdefault(site, arrival)
            self._cond.notify_all()

    def ready(self, publisher: Publisher) -> bool:
        """Whether the subscription is in place: a probe published on a delta topic came back."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            publisher.client.publish(delta_topic("bench-probe"), PROBE, qos=0, windowed=False)
            with self._cond:
                if self._cond.wait_for(lambda: self.probed, 0.5):
                    return True
        return False

    def wait_all(self, credential: str, sites: int, timeout: float) -> dict[str, DeltaArrival]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.revoking.get(credential, {})) >= sites, timeout)
            return dict(self.revoking.get(credential, {}))

    def stop(self) -> None:
        self.client.stop()


def broker_retained(broker: Mosquitto) -> dict[str, int]:
    """What the broker retains under the protocol's prefix, as a fresh subscriber is given it: messages and bytes,
    snapshots (roster topics, none expected now that they are not retained), deltas, and the rest."""
    counts: Counter[str] = Counter()
    last = [time.monotonic()]
    lock = threading.Lock()

    def on_message(message: Message) -> None:
        if not message.retain or not message.payload:
            return
        parts = message.topic.split("/")
        kind = "snapshot" if len(parts) >= 4 and parts[3] == "roster" else "delta" if parts[-1] == "delta" else "other"
        with lock:
            counts[f"{kind}_messages"] += 1
            counts[f"{kind}_bytes"] += len(message.payload)
            last[0] = time.monotonic()

    client = MqttClient(
        MqttSettings(broker.host, broker.port, max_packet_bytes=128 << 20),
        f"bench-retained-{uuid.uuid4().hex[:6]}",
        clean_start=True,
        session_expiry_s=0,
        on_message=on_message,
    )
    client.subscribe(f"{PREFIX}/#", qos=0)
    client.start()
    try:
        if not client.wait_connected(15):
            raise SystemExit("the retained messages' reader never reached the broker")
        with lock:
            last[0] = time.monotonic()
        while True:
            time.sleep(0.2)
            with lock:
                if time.monotonic() - last[0] >= RETAINED_QUIET_S:
                    break
    finally:
        client.stop()
    return {
        k: counts[k]
        for k in (f"{kind}_{what}" for kind in ("snapshot", "delta", "other") for what in ("messages", "bytes"))
    }


def broker_store_bytes(broker: Mosquitto) -> int | None:
    store = broker.data_dir / "mosquitto.db"
    return store.stat().st_size if store.exists() else None


@dataclass
class Spread:
    """One change published to every site: from its commit to the last site's delta at the subscriber."""

    sites: int
    all_s: float | None  # None: not every site's delta within the timeout
    first_s: float | None
    max_bytes: int
    min_bytes: int


def spread(arrivals: dict[str, DeltaArrival], committed: float, sites: int) -> Spread:
    if not arrivals:
        return Spread(0, None, None, 0, 0)
    times = [a.at - committed for a in arrivals.values()]
    sizes = [a.size for a in arrivals.values()]
    return Spread(len(arrivals), max(times) if len(arrivals) >= sites else None, min(times), max(sizes), min(sizes))


# ---------------------------------------------------------------------------------------------- the keeper


def seed_snapshots(keeper: RosterKeeper, db: HubDatabase, limit_passes: int = 1000) -> tuple[float, float, int]:
    """Every site's doors ask for a snapshot, as new doors with an empty ledger do (`ask_snapshot`, at once), then
    passes of the keeper until no site is asked for (a pass makes snapshots for a while, then lets changes through).
    Returns the time from the first ask to the last snapshot, that of the asks alone, and the passes."""
    started = time.monotonic()
    with db.write() as session:
        site_ids = list(session.execute(select(Site.id).order_by(Site.id)).scalars())
        now = utcnow()
        for site_id in site_ids:
            ask_snapshot(session, site_id, now, at_once=True)
    asked_s = time.monotonic() - started
    passes = 0
    while True:
        keeper.refresh()
        passes += 1
        with db.read() as session:
            due = len(snapshots_asked(session))
        print(f"keeper pass {passes}: {due} site(s) still asking for a snapshot", flush=True)
        if not due:
            break
        if passes >= limit_passes:
            raise SystemExit(f"{due} sites still asking for a snapshot after {passes} passes")
    with db.read() as session:
        without = session.execute(select(func.count()).select_from(Site).where(Site.snapshot_version == 0)).scalar()
    if without:
        raise SystemExit(f"{without} site(s) asked for a snapshot and have none")
    return time.monotonic() - started, asked_s, passes


def snapshot_sizes(db: HubDatabase) -> dict[str, int]:
    """Bytes published for each site's latest snapshot (every part)."""
    with db.read() as session:
        rows = session.execute(
            select(RosterVersion.site_id, RosterVersion.size)
            .join(Site, (Site.id == RosterVersion.site_id) & (Site.snapshot_version == RosterVersion.version))
            .where(RosterVersion.kind == "snapshot")
        ).all()
    return {site: int(size) for site, size in rows}


@dataclass
class Pass:
    pass_s: float
    publish_s: float
    made: int
    spread: Spread
    profiled: bool


def keeper_pass(
    keeper: RosterKeeper,
    publisher: Publisher,
    db: HubDatabase,
    actor: Actor,
    person: Person,
    watch: DeltaWatch,
    sites: int,
    profile: bool,
) -> Pass:
    """One roaming member's badge revoked, then one pass of the keeper, timed (and profiled if asked)."""
    if not admin.revoke_credential(db, person.badge_id, actor=actor):
        raise SystemExit(f"badge {person.badge} was not active")
    committed = time.monotonic()
    published = publisher.seconds
    profiler = cProfile.Profile() if profile else None
    started = time.monotonic()
    if profiler is not None:
        profiler.enable()
    made = keeper.refresh()
    if profiler is not None:
        profiler.disable()
    elapsed = time.monotonic() - started
    arrivals = watch.wait_all(person.badge_id, sites, ALL_SITES_TIMEOUT_S)
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print("--- profile of one keeper pass (cumulative):\n" + out.getvalue(), flush=True)
    return Pass(elapsed, publisher.seconds - published, len(made), spread(arrivals, committed, sites), profile)


def snapshot_gap_wait(db: HubDatabase, site: str) -> None:
    """Wait until the site may have a snapshot again (at most one every SNAPSHOT_MIN_GAP, whoever asks but a
    manager), so that a door's ask is answered at the keeper's next pass."""
    with db.read() as session:
        made_at = session.execute(select(Site.snapshot_at).where(Site.id == site)).scalar_one()
    if made_at is not None:
        wait = SNAPSHOT_GAP_S - (utcnow() - made_at).total_seconds()
        if wait > 0:
            print(f"waiting {wait:.0f} s: a site gets at most one snapshot its doors ask for every 30 s", flush=True)
            time.sleep(wait)


def fresh_snapshot(keeper: RosterKeeper, db: HubDatabase, site: str) -> float:
    """A manager asks for the site's snapshot (`ask_snapshot(at_once=True)`, the door's page): the keeper's time for
    one pass that makes it (a door that missed a delta costs the hub this). One site: the keeper reads only the
    members it holds."""
    with db.write() as session:
        ask_snapshot(session, site, utcnow(), at_once=True)
    started = time.monotonic()
    made = keeper.refresh()
    elapsed = time.monotonic() - started
    if not any(s == site for s, _v in made):
        raise SystemExit(f"the keeper made no snapshot of {site} when asked: {made}")
    return elapsed


# ---------------------------------------------------------------------------------------------- the door


def apply_snapshot(
    folder: Path, site: str, parts: dict[str, bytes], deltas: dict[int, bytes], public_key: str
) -> dict[str, Any]:
    """What a new appliance's agent does with the site's snapshot: the parts put together (digest checked,
    decompressed within MAX_ROSTER_BYTES), the whole verified, then written into a fresh ledger. Then the delta
    that follows it, verified and applied (`outbox.apply_delta`), as the agent does for a revocation."""
    url = f"sqlite:///{folder / 'fresh-ledger.db'}"
    folder.mkdir(parents=True, exist_ok=True)
    migrate(url)
    ledger = Database(url)
    topics = sorted(parts, key=lambda t: 0 if t == roster_topic(site) else int(t.rsplit("/", 1)[1]))
    try:
        started = time.perf_counter()
        gathering = SnapshotParts()
        whole: bytes | None = None
        for topic in topics:
            obj = parse_json(parts[topic])
            if "part" not in obj:  # small enough to travel whole
                whole = parts[topic]
                break
            whole = gathering.add(validate_snapshot_part(obj)) or whole
        if whole is None:
            raise SystemExit(f"the snapshot of {site} could not be put together from {len(topics)} message(s)")
        gathered = time.perf_counter()
        roster = verify_roster(whole, public_key, None, site=site, limit=MAX_ROSTER_BYTES)
        verified = time.perf_counter()
        outbox.apply_roster(ledger, roster, DEVICE)
        written = time.perf_counter()
        delta_s = None
        following = deltas.get(int(roster["version"]) + 1)
        if following is not None:
            delta_started = time.perf_counter()
            outbox.apply_delta(ledger, verify_delta(following, public_key, site=site), DEVICE)
            delta_s = round(time.perf_counter() - delta_started, 3)
    finally:
        ledger.dispose()
    return {
        "apply_delta_s": delta_s,
        "apply_snapshot_s": round(written - started, 3),
        "apply_snapshot_legs_s": {
            "gather": round(gathered - started, 3),
            "verify": round(verified - gathered, 3),
            "write": round(written - verified, 3),
        },
        "snapshot_json_bytes": len(whole),
        "snapshot_parts": len(topics),
        "snapshot_members": len(roster["members"]),
        "snapshot_credentials": len(roster["credentials"]),
    }


def time_decisions(
    appliance: Appliance, known: list[str], unknown: list[str], n: int, rng: random.Random
) -> dict[str, Any]:
    """`decide` on the state the real door holds, as its reader's thread calls it on a tap, each call timed alone
    (as bench.policy does); the door's lock is held around each call, as on a tap."""
    door = appliance.door
    uids = [rng.choice(unknown) if rng.random() < UNKNOWN_SHARE else rng.choice(known) for _ in range(n)]
    samples: list[float] = []
    reasons: Counter[str] = Counter()
    clock = time.perf_counter_ns
    gc.collect()
    for uid in uids:
        with door.lock:
            wall = dt.datetime.now(dt.UTC)
            clock_ok = door.clock.check(wall, door.synced)
            state = door.cache.state
            t = clock()
            decision = decide(uid, wall, state, clock_ok=clock_ok)
            samples.append((clock() - t) / 1e3)
        reasons[str(decision.reason)] += 1
    return {
        "decisions": n,
        "decide_p50_us": round(percentile(samples, 50), 2),
        "decide_p99_us": round(percentile(samples, 99), 2),
        "decide_max_us": round(max(samples), 1),
        "decide_reasons": dict(reasons.most_common()),
        "door_known_badges": len(door.cache.state.credentials),
    }


def time_reloads(appliance: Appliance, n: int, profile: bool) -> dict[str, Any]:
    """The real door's reload of its state from its ledger (`StateCache.reload`, what it does after every roster
    its agent applies, a one-badge delta included), timed `n` times (and profiled once if asked)."""
    cache = appliance.door.cache
    samples = []
    for i in range(n):
        profiler = cProfile.Profile() if profile and i == n - 1 else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        cache.reload()
        if profiler is not None:
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
            print("--- profile of one reload of the door's state (cumulative):\n" + out.getvalue(), flush=True)
        else:
            samples.append(time.perf_counter() - started)
    return {
        "door_reload_p50_s": round(percentile(samples, 50), 3),
        "door_reload_max_s": round(max(samples), 3),
    }


def autosave_interval(broker: Mosquitto) -> int | None:
    """The broker's autosave interval as its config says (the last line that sets it wins)."""
    found = None
    for line in broker.config_path.read_text().splitlines():
        if line.startswith("autosave_interval "):
            found = int(line.split()[1])
    return found


def proc_io(pid: int) -> dict[str, int]:
    """/proc/PID/io (rchar, wchar, write_bytes...) of a process of ours."""
    try:
        lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v) for k, _, v in (line.partition(": ") for line in lines) if v.strip().isdigit()}


def proc_status_mb(pid: int, key: str) -> float | None:
    """A memory figure of /proc/PID/status (VmRSS, VmHWM), in MB (MiB)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return None


def copy_ledger(url: str, target: Path) -> None:
    """A consistent copy of a SQLite ledger in use (SQLite's backup API)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def halfday_command() -> list[str]:
    script = Path(sys.executable).with_name("halfday")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from halfday.cli import main; sys.exit(main())"]


def door_process_rss(folder: Path, site: str, name: str, ledger: Path | None) -> dict[str, Any]:
    """`halfday door` as an appliance runs it (its own process; the config's mock pins, a virtual card, a local
    bus of its own), on `ledger` (or an empty one): its RSS once it says it is ready and has settled."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "halfday.db"
    if ledger is not None:
        database.write_bytes(ledger.read_bytes())
    card = VirtualCard()
    log_path = folder / "door.log"
    out: dict[str, Any] = {}
    with Mosquitto(folder / "bus") as bus:
        data = site_config(database, card.path, site_id=site, name=name, bus_url=f"mqtt://{bus.host}:{bus.port}")
        config = write_config(folder / "halfday.toml", data)
        migrate(config.database_url)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*halfday_command(), "door", "--config", str(folder / "halfday.toml")],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "HALFDAY_LOG_LEVEL": "INFO"},
            )
        try:
            started = time.monotonic()
            said = wait_until(
                lambda: process.poll() is not None or "porte prête" in log_path.read_text(errors="replace"),
                DOOR_START_TIMEOUT_S,
                0.1,
            )
            if not said or process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise SystemExit(f"the door process never said it was ready:\n{tail}")
            out["ready_s"] = round(time.monotonic() - started, 2)
            time.sleep(DOOR_SETTLE_S)
            rss, peak = proc_status_mb(process.pid, "VmRSS"), proc_status_mb(process.pid, "VmHWM")
            out["rss_mb"] = round(rss, 1) if rss is not None else None
            out["peak_mb"] = round(peak, 1) if peak is not None else None
            line = next(x for x in log_path.read_text(errors="replace").splitlines() if "porte prête" in x)
            out["said"] = line.split("porte prête", 1)[1].strip(" :")[:80]
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            card.close()
    return out


# ---------------------------------------------------------------------------------------------- the run


@contextmanager
def stopping(*things: Any) -> Iterator[None]:
    """Stop each of `things` (their own `stop()`), last started first, whatever happens."""
    try:
        yield
    finally:
        for thing in reversed(things):
            try:
                thing.stop()
            except Exception as exc:  # one that fails to stop must not keep the others running
                print(f"stopping {type(thing).__name__}: {exc}", flush=True)


@dataclass
class Measured:
    result: dict[str, Any] = field(default_factory=dict)
    revocations: list[Revocation] = field(default_factory=list)
    spreads: list[Spread] = field(default_factory=list)
    passes: list[Pass] = field(default_factory=list)


def run(
    sizes: Sizes, rng: random.Random, folder: Path, url: str, profile: bool, autosave: int | None
) -> dict[str, Any]:
    m = Measured()
    r = m.result
    key_file = folder / "hub.key"
    key = generate_private_key()
    save_private_key(key, key_file)
    public_key = public_key_b64(key)
    db = HubDatabase(url)
    db.create_all()
    with db.read() as session:
        r["database_version"] = session.connection().exec_driver_sql("SHOW server_version").scalar()

    t = time.monotonic()
    sites, per_site, network = make_structure(db, HubSizes(sites=sizes.sites))
    r["structure_s"] = round(time.monotonic() - t, 1)
    print(f"{len(sites)} sites, their doors and {sum(map(len, per_site.values())) + len(network)} plans", flush=True)
    t = time.monotonic()
    taken: set[str] = set()
    roaming, local, mix = make_members(sizes, sites, per_site, network, rng, taken)
    insert_members(db, roaming + local)
    r["members_insert_s"] = round(time.monotonic() - t, 1)
    r["mix"] = mix.summary()
    print(f"members: {json.dumps(r['mix'])} ({r['members_insert_s']} s)", flush=True)
    site = mix.largest_site
    with db.read() as session:
        site_name = session.execute(select(Site.name).where(Site.id == site)).scalar_one()
    # What the door's decisions are timed on: the site's own members' badges and the roaming ones (known), other
    # sites' members' and never-seen badges (unknown).
    known = [p.badge for p in roaming] + [p.badge for p in local if p.home == site]
    unknown = [p.badge for p in local if p.home != site][:5000] + [new_uid(rng, taken) for _ in range(5000)]
    # The benchmark's own objects (the generated network) out of the collector's reach: the hub's and the door's
    # processes do not hold them.
    gc.collect()
    gc.freeze()
    actor = admin_actor(db)

    # The hub's broker as bench.hub starts it (halfday.broker: persistence, autosave every second, as the shipped
    # systemd/halfday-hub-broker.conf), or with another autosave interval to compare.
    extra = f"autosave_interval {autosave}" if autosave is not None else ""
    with Mosquitto(folder / "broker", extra_config=extra) as broker, Mosquitto(folder / "bus") as bus:
        r["broker_autosave_interval_s"] = autosave_interval(broker)
        r["keeper_poll_s"] = KEEPER_POLL_S
        publisher = Publisher(broker, site)
        watch = DeltaWatch(broker, site)
        with stopping(publisher, watch):
            if not watch.ready(publisher):
                raise SystemExit("the delta subscriber never got its subscription in place")
            # 1. Every site's doors ask for a snapshot; the keeper makes them all.
            keeper = RosterKeeper(db, key, publisher)
            io_before, io_at = proc_io(broker.pid or 0), time.monotonic()
            seed_s, asked_s, passes = seed_snapshots(keeper, db)
            io_after, io_span = proc_io(broker.pid or 0), time.monotonic() - io_at
            sizes_by_site = snapshot_sizes(db)
            r.update(
                seed_all_s=round(seed_s, 1),
                seed_ask_s=round(asked_s, 2),
                seed_passes=passes,
                seed_publish_s=round(publisher.seconds, 1),
                seed_messages=publisher.messages,
                seed_published_bytes=publisher.bytes,
                seed_retained_published_bytes=publisher.retained_bytes,
                snapshot_site=site,
                snapshot_bytes=sizes_by_site.get(site),
                snapshot_bytes_max=max(sizes_by_site.values()),
                snapshot_bytes_min=min(sizes_by_site.values()),
            )
            if io_before and io_after:
                r["broker_writes_seed_mb"] = round((io_after["wchar"] - io_before["wchar"]) / 1e6, 1)
                r["broker_writes_seed_mb_per_s"] = round((io_after["wchar"] - io_before["wchar"]) / 1e6 / io_span, 1)
            print(
                f"first snapshots of {len(sizes_by_site)} sites, asked by their doors: {r['seed_all_s']} s in "
                f"{passes} pass(es), {r['seed_published_bytes'] / 1e6:.0f} MB published "
                f"({r['seed_retained_published_bytes']} bytes retained); {site}: {r['snapshot_bytes']} bytes",
                flush=True,
            )
            # What the broker keeps of it: its retained messages, its store once saved again, its memory.
            r["broker_retained_after_seed"] = broker_retained(broker)
            time.sleep((autosave_interval(broker) or 1) + 1.0)
            broker_rss = proc_status_mb(broker.pid or 0, "VmRSS")
            r["broker_rss_after_seed_mb"] = round(broker_rss, 1) if broker_rss is not None else None
            r["broker_store_after_seed_bytes"] = broker_store_bytes(broker)
            print(
                f"the broker after the seed: retains {r['broker_retained_after_seed']}, store "
                f"{r['broker_store_after_seed_bytes']} bytes, RSS {r['broker_rss_after_seed_mb']} MB, wrote "
                f"{r.get('broker_writes_seed_mb')} MB during the seed",
                flush=True,
            )
            # 3. The keeper's own pass for a revocation that reaches every site (before 2: the first delta is
            # applied after the snapshot there).
            spare = roaming[len(roaming) - sizes.keeper_passes :]
            for i, person in enumerate(spare):
                done = keeper_pass(keeper, publisher, db, actor, person, watch, len(sites), profile and i == 0)
                m.passes.append(done)
                print(
                    f"keeper pass {i + 1}/{len(spare)}: {done.made} deltas in {done.pass_s:.3f} s "
                    f"(publishing {done.publish_s:.3f} s); every site's delta at the subscriber after "
                    f"{done.spread.all_s if done.spread.all_s is None else round(done.spread.all_s, 3)} s",
                    flush=True,
                )
            # 2. The door's time to apply that snapshot, from its published parts (then the first delta after it).
            r.update(apply_snapshot(folder / "apply", site, publisher.kept, watch.kept, public_key))
            print(
                f"snapshot of {site}: {r['snapshot_json_bytes']} bytes of JSON in {r['snapshot_parts']} part(s), "
                f"{r['snapshot_members']} members; applied to a fresh ledger in {r['apply_snapshot_s']} s "
                f"{r['apply_snapshot_legs_s']}; the delta after it in {r['apply_delta_s']} s",
                flush=True,
            )
            # The largest site's snapshot when a manager asks for it (one site: only its members are read).
            r["snapshot_one_site_s"] = round(fresh_snapshot(keeper, db, site), 2)
            print(f"a snapshot of {site} on request: {r['snapshot_one_site_s']} s for the keeper's pass", flush=True)
            # The real appliance's agent asks for its own snapshot when it starts: answered at once, not 30 s on.
            snapshot_gap_wait(db, site)

            # 4. The hub worker, the real appliance, the subscriber for the other sites.
            settings = HubSettings(url, MqttSettings(broker.host, broker.port), str(key_file), workers=1)
            appliance = Appliance.start(folder / "appliance", site, site_name, bus)
            site_watch = RosterWatch(broker, site)
            agent_settings = AgentSettings(
                site,
                DEVICE,
                appliance.config.database_url,
                MqttSettings(broker.host, broker.port),
                public_key,
                str(folder / "appliance" / "sync-state.sqlite"),
                bus=MqttSettings.from_config(appliance.config.bus, max_packet_bytes=LOCAL_MAX_PACKET_BYTES),
            )
            with stopping(appliance, site_watch), spawned(_hub_process, settings):
                started = time.monotonic()
                with spawned(_agent_process, agent_settings):
                    io_before, io_at = proc_io(broker.pid or 0), time.monotonic()
                    measure_with_worker(m, sizes, db, actor, appliance, site_watch, watch, sites, roaming, started, rng)
                    io_after, io_span = proc_io(broker.pid or 0), time.monotonic() - io_at
                    if io_before and io_after:
                        # What the broker wrote meanwhile (its persistence file): MB/s.
                        written = io_after["wchar"] - io_before["wchar"]
                        r["broker_writes_mb_per_s"] = round(written / 1e6 / io_span, 1)
                    print("timing the door's decisions and its reloads", flush=True)
                    r.update(time_decisions(appliance, known, unknown, sizes.decisions, rng))
                    r.update(time_reloads(appliance, 6, profile))
                    copy_ledger(appliance.config.database_url, folder / "ledger-copy.db")
            broker_rss = proc_status_mb(broker.pid or 0, "VmRSS")
            r["broker_rss_end_mb"] = round(broker_rss, 1) if broker_rss is not None else None
            r["broker_store_bytes"] = broker_store_bytes(broker)
            r["broker_retained_end"] = broker_retained(broker)
    db.dispose()

    # 5. The door daemon's memory, in a process of its own, with that roster and with none.
    print("the door daemon's RSS, as its own process", flush=True)
    loaded = door_process_rss(folder / "door-rss", site, site_name, folder / "ledger-copy.db")
    empty = door_process_rss(folder / "door-rss-empty", site, site_name, None)
    r.update(
        door_rss_mb=loaded["rss_mb"],
        door_rss_peak_mb=loaded["peak_mb"],
        door_rss_empty_mb=empty["rss_mb"],
        door_process_said=loaded["said"],
        door_process_ready_s=loaded["ready_s"],
    )
    return summarise(m)


def measure_with_worker(
    m: Measured,
    sizes: Sizes,
    db: HubDatabase,
    actor: Actor,
    appliance: Appliance,
    site_watch: RosterWatch,
    watch: DeltaWatch,
    sites: list[str],
    roaming: list[Person],
    started: float,
    rng: random.Random,
) -> None:
    r = m.result
    applied = wait_until(lambda: appliance.roster_version() is not None, FIRST_ROSTER_TIMEOUT_S, 0.05)
    r["agent_first_roster_s"] = round(time.monotonic() - started, 2) if applied else None
    ready = applied and wait_until(lambda: len(appliance.door.cache.state.credentials) > 0, 60, 0.01)
    r["door_ready_s"] = round(time.monotonic() - started, 2) if ready else None
    print(
        f"real appliance: roster v{appliance.roster_version()} applied by its agent {r['agent_first_roster_s']} s "
        f"after it started, the door deciding on it at {r['door_ready_s']} s",
        flush=True,
    )
    if not ready:
        raise SystemExit("the real appliance never got its roster")
    # The roaming members the door lets in now (bench.hub's choice, on a network of the roaming ones only), less
    # those whose badge the keeper's timed passes revoked.
    today = dt.date.today()
    pool = Network([r["snapshot_site"]], {}, [], roaming[: len(roaming) - sizes.keeper_passes], today, today)
    targets = pick_targets(pool, appliance, sizes.warmup + sizes.revocations)
    if len(targets) < sizes.warmup + sizes.revocations:
        raise SystemExit(f"only {len(targets)} roaming badges admitted at the door")
    misses = 0
    for i, person in enumerate(targets):
        warm = i < sizes.warmup
        t0 = time.monotonic()
        result = revoke_once(db, actor, person, site_watch, appliance, REVOCATION_TIMEOUT_S)
        # The worker's first pass reads the whole network (its hourly full check): a warm-up waits it out.
        arrivals = watch.wait_all(person.badge_id, len(sites), ALL_SITES_TIMEOUT_S * (5 if warm else 1))
        done = spread(arrivals, t0 + result.commit_s, len(sites))
        legs = {k: round(v, 3) if isinstance(v, float) else v for k, v in dataclasses.asdict(result).items()}
        what = f"warm-up {i + 1}" if warm else f"revocation {i + 1 - sizes.warmup}/{sizes.revocations}"
        every = "not all" if done.all_s is None else f"{done.all_s:.3f} s"
        print(
            f"{what}: {legs}; every site's delta ({done.sites}) at the subscriber: {every}, "
            f"{done.max_bytes} bytes at most",
            flush=True,
        )
        if warm:
            r["worker_ready_s"] = round(time.monotonic() - started, 1)
            continue
        m.revocations.append(result)
        m.spreads.append(done)
        misses = misses + 1 if result.total_s is None else 0
        if misses >= MISSES_BEFORE_GIVING_UP:
            print(f"{misses} revocations in a row not seen at the door: the rest are not tried", flush=True)
            break
        time.sleep(rng.uniform(0.1, 0.6))  # revocations land at every phase of the keeper's and door's polls


def summarise(m: Measured) -> dict[str, Any]:
    r = m.result
    r.update(summarise_revocations({"revocations": m.revocations}))
    complete = [s.all_s for s in m.spreads if s.all_s is not None]
    missed = len(m.spreads) - len(complete)
    r["publish_all_missed"] = missed
    # The worst change of the run (one not at every site within the timeout gives none).
    r["publish_all_s"] = round(max(complete), 3) if complete and not missed else None
    r["publish_all_p50_s"] = round(percentile(complete, 50), 3) if complete else None
    firsts = [s.first_s for s in m.spreads if s.first_s is not None]
    r["publish_first_site_p50_s"] = round(percentile(firsts, 50), 3) if firsts else None
    sizes = [s.max_bytes for s in m.spreads + [p.spread for p in m.passes] if s.max_bytes]
    r["delta_bytes"] = max(sizes) if sizes else None
    r["delta_bytes_min"] = min(s.min_bytes for s in m.spreads) if m.spreads else None
    r["delta_sites"] = max((s.sites for s in m.spreads), default=0)
    # The keeper's pass in this process: the worst of those not slowed by the profiler (if another was made).
    passes = [p for p in m.passes if not p.profiled] or m.passes
    if passes:
        r["keeper_pass_s"] = round(max(p.pass_s for p in passes), 3)
        r["keeper_pass_publish_s"] = round(max(p.publish_s for p in passes), 3)
        r["keeper_pass_deltas"] = max(p.made for p in passes)
        alone = [p.spread.all_s for p in passes if p.spread.all_s is not None]
        r["publish_all_keeper_alone_s"] = round(max(alone), 3) if alone else None
    r["previous_limit_members"] = PREVIOUS_LIMIT_MEMBERS
    targets = {
        "delta_bytes": (r["delta_bytes"], TARGET_DELTA_BYTES),
        "publish_all_s": (r["publish_all_s"], TARGET_PUBLISH_ALL_S),
        "revocation_p99_ms": (r.get("revocation_p99_ms"), TARGET_REVOCATION_P99_MS),
        "apply_snapshot_s": (r.get("apply_snapshot_s"), TARGET_APPLY_SNAPSHOT_S),
        "door_rss_mb": (r.get("door_rss_mb"), TARGET_DOOR_RSS_MB),
        "decide_p99_us": (r.get("decide_p99_us"), TARGET_DECIDE_P99_US),
    }
    r["targets"] = {k: limit for k, (_v, limit) in targets.items()}
    r["targets_met"] = {k: v is not None and v <= limit for k, (v, limit) in targets.items()}
    r["meets_target"] = all(r["targets_met"].values())
    return r


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="roster delivery (snapshots and deltas) on a large network")
    parser.add_argument("--quick", action="store_true", help="a small network, for a test (20 sites, 2,000 members)")
    parser.add_argument("--sites", type=int)
    parser.add_argument("--members", type=int)
    parser.add_argument("--largest-local", type=int, help="local members of the largest site")
    parser.add_argument("--revocations", type=int)
    parser.add_argument("--decisions", type=int)
    parser.add_argument(
        "--profile", action="store_true", help="profile the keeper's first timed pass and one reload of the door"
    )
    parser.add_argument(
        "--broker-autosave",
        type=int,
        help="the hub broker's autosave_interval in seconds (default: halfday.broker's, 1 s as shipped), to compare",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    chosen = {
        "sites": args.sites,
        "members": args.members,
        "largest_local": args.largest_local,
        "revocations": args.revocations,
        "decisions": args.decisions,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in chosen.items() if v is not None})
    run_started = time.monotonic()
    result: dict[str, Any] = {
        "database": "postgresql",
        "sites": sizes.sites,
        "members": sizes.members,
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
    }
    with (
        tempfile.TemporaryDirectory(prefix="halfday-bench-roster-") as tmp,
        fresh_database("halfday_bench_roster") as url,
    ):
        result.update(run(sizes, random.Random(args.seed), Path(tmp), url, args.profile, args.broker_autosave))
    result["run_s"] = round(time.monotonic() - run_started, 1)
    # Other people's tests share this machine's two cores: the load says how noisy the figures may be.
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
