"""Hub workers: thin shells that take messages off the broker, call the ingestion and admin cores, and answer.

Several workers share the load through MQTT 5 shared subscriptions. Worker 0 is also the keeper: it follows the
devices' retained status and publishes rosters and commands. A malformed payload is logged and dropped; nothing a
device sends can stop a worker.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, update

from common.daemons import LOG_FORMAT, start_logging
from common.db import utcnow
from sync.hub import resume
from sync.hub.admin import handle_request
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor, Prepared, insert_ignoring_conflicts
from sync.hub.models import Command, Device, Site
from sync.hub.privacy import apply_retention
from sync.hub.roster import RosterKeeper, ask_snapshot
from sync.mqtt import Message, MqttClient
from sync.payloads import make_ack, make_reply, validate_batch, validate_request, validate_status
from sync.protocol import (
    HUB_EVENTS_FILTER,
    HUB_REQUESTS_FILTER,
    HUB_RESUME_FILTER,
    HUB_STATUS_FILTER,
    VERSION,
    ProtocolError,
    ack_topic,
    command_topic,
    dumps,
    parse_topic,
    parse_utc,
    replies_topic,
    resumed_topic,
    utc_iso,
)
from sync.resume import validate_resume_request
from sync.signing import load_private_key, sign

log = logging.getLogger(__name__)

# After a database error, pause before the next message so a PostgreSQL restart does not become a hot loop.
DB_ERROR_PAUSE_S = 0.5
# How long the paho thread waits to hand a message over before checking whether the worker is stopping.
HANDOFF_POLL_S = 0.2
READY_SIZE = 4
# The committer waits on PostgreSQL several times per batch, and each time it must get the interpreter back from
# the thread preparing the next batch. At Python's default 5 ms switch interval that wait dominated the hub's
# time (bench.sync); half a millisecond keeps the database busy.
SWITCH_INTERVAL_S = 0.0005
# A roster or command counts as published once the broker acknowledged it; this long at most.
PUBLISH_CONFIRM_S = 5.0


@dataclass
class WorkerStats:
    """Counters for tests, benchmarks and the log."""

    batches: int = 0
    events_stored: int = 0
    duplicates: int = 0
    beyond_gap: int = 0
    rejected: int = 0
    errors: int = 0
    requests: int = 0
    statuses: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class HubWorker:
    """One hub worker: MQTT in, database, MQTT out. `start()` returns at once; `stop()` ends its threads."""

    def __init__(self, settings: HubSettings, index: int = 0, *, db: HubDatabase | None = None) -> None:
        self.settings = settings
        self.index = index
        self.is_keeper = index == 0
        self.db = db or HubDatabase(settings.database_url)
        self.ingestor = Ingestor(self.db, gap_wait_s=settings.gap_wait_s)
        self.stats = WorkerStats()
        self._inbox: queue.Queue[Message] = queue.Queue(maxsize=settings.queue_size)
        # Prepared batches waiting for the committer: a few, so that preparing runs ahead but not away.
        self._ready: queue.Queue[Prepared] = queue.Queue(maxsize=READY_SIZE)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        # Clean sessions: a broker queues shared-subscription messages for an offline member's session, so a
        # dead worker would sit on its share; devices resend from the ack instead (sync/PROTOCOL.md).
        self.client = MqttClient(
            settings.broker,
            f"{settings.name}-{index}-{uuid.uuid4().hex[:8]}",
            clean_start=True,
            session_expiry_s=0,
            on_message=self._hand_over,
            reconnect_min_s=settings.reconnect_min_s,
        )
        self.keeper: RosterKeeper | None = None
        if self.is_keeper:
            key = load_private_key(settings.private_key_file)
            self._key = key
            self.keeper = RosterKeeper(self.db, key, self._publish_rosters)

    def start(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.client.subscribe(HUB_EVENTS_FILTER)
        self.client.subscribe(HUB_REQUESTS_FILTER)
        if self.is_keeper:
            self.client.subscribe(HUB_STATUS_FILTER)
            self.client.subscribe(HUB_RESUME_FILTER)
        self.client.start()
        self._spawn(self._process_loop, "prepare")
        # One committer: a device's batches go in turn anyway, and a second thread gave one device's backlog no
        # measurable gain once a batch's rows went in before its cursor was locked (bench.sync). More throughput
        # comes from more workers, each with its own interpreter.
        self._spawn(self._commit_loop, "commit")
        if self.is_keeper:
            self._spawn(self._keeper_loop, "keeper")
            self._spawn(self._privacy_loop, "privacy")

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.client.stop()
        for thread in self._threads:
            thread.join(timeout)

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=f"hub-{self.index}-{name}", daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    # ------------------------------------------------------------------------------------------ messages

    def _hand_over(self, message: Message) -> None:
        # Runs on paho's thread; a full inbox holds it back, and with it the broker's deliveries to us.
        while not self._stopping.is_set():
            try:
                self._inbox.put(message, timeout=HANDOFF_POLL_S)
                return
            except queue.Full:
                continue

    def _process_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._inbox.get(timeout=HANDOFF_POLL_S)
            except queue.Empty:
                continue
            self.handle(message, self._hand_to_committer)

    def _hand_to_committer(self, prepared: Prepared) -> None:
        while not self._stopping.is_set():
            try:
                self._ready.put(prepared, timeout=HANDOFF_POLL_S)
                return
            except queue.Full:
                continue

    def _commit_loop(self) -> None:
        # Not the thread that prepares: the next batch is parsed and checked while this one waits on the database.
        try:
            while not self._stopping.is_set():
                try:
                    prepared = self._ready.get(timeout=HANDOFF_POLL_S)
                except queue.Empty:
                    continue
                try:
                    self._commit_batch(prepared)
                except Exception:
                    with self.stats.lock:
                        self.stats.errors += 1
                    log.exception(
                        "impossible d'enregistrer un lot de %s/%s ; l'appareil le renverra",
                        prepared.site,
                        prepared.device,
                    )
                    time.sleep(DB_ERROR_PAUSE_S)
        finally:
            self.ingestor.close()

    def handle(self, message: Message, commit: Callable[[Prepared], None] | None = None) -> None:
        """Handle one message from the broker; log and drop anything malformed.

        A batch is validated and prepared here, then committed by `commit` (the committer thread) or at once.
        """
        try:
            topic = parse_topic(message.topic)
            if topic.device is None:
                raise ProtocolError(f"le hub ne prend pas les messages de {message.topic}")
            if topic.kind == "events":
                prepared = self.ingestor.prepare(validate_batch(message.payload, topic.site, topic.device))
                (commit or self._commit_batch)(prepared)
            elif topic.kind == "requests":
                self._handle_request(message, topic.site, topic.device)
            elif topic.kind == "status":
                self._handle_status(message, topic.site, topic.device)
            elif topic.kind == "resume" and self.is_keeper:
                self._handle_resume(message, topic.site, topic.device)
            else:
                raise ProtocolError(f"le hub ne prend pas les messages « {topic.kind} »")
        except ProtocolError as exc:
            # Logged before it is counted: whoever watches the count then finds the log line already there.
            log.warning("message écarté sur %s : %s", message.topic[:200], exc)
            with self.stats.lock:
                self.stats.rejected += 1
        except Exception:
            with self.stats.lock:
                self.stats.errors += 1
            log.exception("impossible de traiter un message sur %s ; l'appareil le renverra", message.topic[:200])
            time.sleep(DB_ERROR_PAUSE_S)

    def _commit_batch(self, prepared: Prepared) -> None:
        site, device = prepared.site, prepared.device
        result = self.ingestor.commit(prepared)
        # Only now, after the commit: the ack promises the events are stored.
        self.client.publish(ack_topic(site, device), make_ack(result.acked), windowed=False)
        with self.stats.lock:
            self.stats.batches += 1
            self.stats.events_stored += result.stored
            self.stats.duplicates += result.duplicates
            self.stats.beyond_gap += result.beyond_gap

    def _handle_request(self, message: Message, site: str, device: str) -> None:
        request = validate_request(message.payload, site, device)
        ok, error = handle_request(self.db, request)
        with self.db.read() as session:
            version = session.execute(select(Site.roster_version).where(Site.id == site)).scalar_one_or_none()
        # The change is in the next roster the keeper makes, which has a higher version than the current one.
        self.client.publish(
            replies_topic(site, device),
            make_reply(request["id"], ok, error, (version or 0) + 1 if ok else None),
            windowed=False,
        )
        with self.stats.lock:
            self.stats.requests += 1

    def _handle_resume(self, message: Message, site: str, device: str) -> None:
        request = validate_resume_request(message.payload, site, device)
        payload = resume.answer(self.db, request, self._key)
        self.client.publish(resumed_topic(site, device), payload, windowed=False)
        log.info(
            "%s/%s reprend son flux (incarnation %s, depuis %d)", site, device, request["incarnation"], request["from"]
        )

    def _handle_status(self, message: Message, site: str, device: str) -> None:
        status = validate_status(message.payload, site, device)
        online = status["state"] == "online"
        values: dict[str, object] = {"online": online}
        if online:
            values.update(
                last_seen=parse_utc(status["at"]) if status.get("at") else utcnow(),
                backlog=status.get("backlog"),
                last_seq=status.get("last_seq"),
                roster_version=status.get("roster_version"),
                # The health an appliance reports (absent from an older one's status: shown as unknown).
                oldest_unsent_at=_when(status.get("oldest_unsent_at")),
                clock_ok=status.get("clock_ok"),
                door=status.get("door"),
                alarms=list(status.get("alarms") or []),
                reader=status.get("reader"),
                roster_issued_at=_when(status.get("roster_issued_at")),
                roster_failed_at=_when(status.get("roster_failed_at")),
                roster_failure=(status.get("roster_failure") or None),
            )
        with self.db.write() as session:
            session.execute(insert_ignoring_conflicts(session, Site).values(id=site, name=site))
            session.execute(insert_ignoring_conflicts(session, Device).values(site_id=site, id=device))
            session.execute(update(Device).where(Device.site_id == site, Device.id == device).values(**values))
            if online and status.get("roster_behind"):
                # The door missed a delta, or holds no roster: the keeper sends the site a snapshot.
                ask_snapshot(session, site, utcnow())
        with self.stats.lock:
            self.stats.statuses += 1

    # ------------------------------------------------------------------------------------------ keeper

    def _publish_rosters(self, messages: Sequence[tuple[str, bytes]], retain: bool) -> bool:
        return self.client.publish_all(messages, retain=retain, timeout=PUBLISH_CONFIRM_S + len(messages) / 500)

    def _keeper_loop(self) -> None:
        assert self.keeper is not None
        self.client.wait_connected(self.settings.keeper_poll_s * 10)
        republished = False
        last_balance_check = time.monotonic()
        while not self._stopping.wait(self.settings.keeper_poll_s):
            try:
                if not republished and self.client.connected:
                    self.keeper.republish_all()
                    republished = True
                due = time.monotonic() - last_balance_check >= self.settings.roster_balance_interval_s
                if due:
                    last_balance_check = time.monotonic()
                self.keeper.refresh(balances_due=due)
                self.publish_commands()
            except Exception:
                log.exception("échec de la mise à jour des registres ; nouvel essai")

    def _privacy_loop(self) -> None:
        """The retention of personal data, once a day (PRIVACY.md), beside the keeper: a long first run after an
        upgrade holds up no roster."""
        wait = self.settings.privacy_first_s
        while not self._stopping.wait(wait):
            wait = self.settings.privacy_interval_s
            try:
                done = apply_retention(self.db, utcnow(), self.settings.privacy)
                if done:
                    log.info("conservation des données appliquée : %s", done)
            except Exception:
                log.exception("échec de la conservation des données ; nouvel essai demain")

    def publish_commands(self, now: dt.datetime | None = None) -> int:
        """Sign and publish queued, unexpired commands; each is published once."""
        now = now or utcnow()
        with self.db.read() as session:
            pending = (
                session.execute(
                    select(Command)
                    .where(Command.published_at.is_(None), Command.expires > now)
                    .order_by(Command.issued_at)
                )
                .scalars()
                .all()
            )
        sent = 0
        for command in pending:
            body = {
                "v": VERSION,
                "site": command.site_id,
                "device": command.device_id,
                "name": command.name,
                "nonce": command.nonce,
                "expires": utc_iso(command.expires),
                "args": command.args,
            }
            payload = dumps(sign(body, self._key))
            if self.client.publish_confirmed(command_topic(command.site_id, command.device_id), payload):
                sent += 1
                with self.db.write() as session:
                    session.execute(update(Command).where(Command.nonce == command.nonce).values(published_at=now))
        return sent


def run_worker(settings: HubSettings, index: int, stop: threading.Event | None = None) -> None:
    """Run one worker until `stop` is set (or for ever)."""
    worker = HubWorker(settings, index)
    worker.db.create_all()
    worker.start()
    try:
        (stop or threading.Event()).wait()
    finally:
        worker.stop()
        worker.db.dispose()


def _child(settings: HubSettings, index: int, stop: object) -> None:
    start_logging(logging.INFO, fmt=LOG_FORMAT.replace("%(name)s", f"hub-{index} %(name)s"))
    run_worker(settings, index, stop)  # type: ignore[arg-type]


def run_hub(settings: HubSettings, stop: threading.Event | None = None) -> None:
    """`halfday hub`: create the tables, then run `settings.workers` workers (worker 0 in this process)."""
    HubDatabase(settings.database_url).create_all()
    ctx = multiprocessing.get_context("spawn")
    child_stop = ctx.Event()
    children = [
        ctx.Process(target=_child, args=(settings, index, child_stop), name=f"hub-{index}", daemon=True)
        for index in range(1, settings.workers)
    ]
    for child in children:
        child.start()
    try:
        run_worker(settings, 0, stop)
    finally:
        child_stop.set()
        for child in children:
            child.join(10)
            if child.is_alive():
                child.terminate()


def _when(value: object) -> dt.datetime | None:
    """An optional time of a status (validated already): absent or null from an appliance that does not say."""
    return parse_utc(value) if isinstance(value, str) and value else None
