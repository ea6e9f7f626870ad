"""`halfday sync`: the appliance's sync agent. Outbox to hub with ack-based retirement; rosters and commands back;
the desk's change requests to the hub and their replies; the door's health and its roster's in the status.

A thin shell: the SendWindow core decides what to send and when to resend, sync.agent.outbox reads and writes the
database, sync.agent.requests the change requests kept there, sync.verifying checks what the hub signed. The door
never waits for it: reads are deferred transactions, and each retirement is a short write of at most RETIRE_CHUNK
rows. Live events join the end of the same stream, so they leave as soon as the window reaches them: in order,
which is what lets the hub store each exactly once.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import signal
import threading
import time
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from access.alarms import AGENT_WATCHED, DEBOUNCE, AlarmWatch, Debounce, active_alarms, record_alarm
from access.clock import kernel_synchronised
from access.config import ROSTER_MAX_AGE_H, Config, load_config
from access.config_alarms import BACKLOG_MAX_AGE_H, AlarmsConfig
from access.db import Database
from access.ledger import SlotRules
from access.store import TIME_FLOOR, Stamp, boot_id, get_meta
from common.daemons import daemon_parser, start_logging
from common.db import LedgerChanges
from common.words import Alarm
from sync.agent import bookings, outbox, requests, resuming
from sync.agent.health import HealthWatch
from sync.agent.roster import MALFORMED, NOT_APPLIED, OTHER_SITE, RosterWatch, refusal_reason
from sync.agent.state import SyncState
from sync.agent.window import ACK_TIMEOUT_S, BATCH_EVENTS, FAST_RESEND_S, WINDOW_EVENTS, SendWindow
from sync.localbus import (
    DOOR_STATE,
    ENROLLED,
    SYNC_REQUEST,
    BusError,
    ChangeReply,
    ChangeRequest,
    DoorState,
    Enrol,
    Enrolled,
    Reload,
    SyncStatus,
    Unlock,
)
from sync.localbus import MAX_PACKET_BYTES as LOCAL_MAX_PACKET_BYTES
from sync.mqtt import Message, MqttClient, MqttSettings, Will
from sync.payloads import (
    DoorHealth,
    RosterHealth,
    make_status,
    validate_ack,
    validate_delta_body,
    validate_reply,
    validate_snapshot_part,
)
from sync.protocol import (
    MAX_MESSAGE_BYTES,
    MAX_ROSTER_BYTES,
    ProtocolError,
    ack_topic,
    command_topic,
    delta_topic,
    device_client_id,
    events_topic,
    parse_json,
    parse_utc,
    replies_topic,
    requests_topic,
    resume_topic,
    resumed_topic,
    roster_topic,
    status_topic,
)
from sync.resume import RESUME_RETRY_S
from sync.snapshots import SnapshotParts
from sync.verifying import StaleRoster, check_command, load_public_key, verify_delta, verify_roster

log = logging.getLogger(__name__)

# How often the sender asks whether the ledger changed when it has nothing to send: a live event leaves within
# this. Asking is SQLite's data_version (common.db.LedgerChanges), not a query: it costs next to nothing.
POLL_S = 0.05
# With the ledger unchanged there is nothing new to send; the outbox is still read this often, in case a change
# went unseen (a writer on another path to the file): the worst an event then waits.
OUTBOX_LOOK_S = 5.0
# Acknowledged outbox rows are deleted at most this often, by a thread of their own: one durable write per ack
# would cost more than sending the events, and the sender must not wait for the disk (bench.sync).
RETIRE_EVERY_S = 0.25
# Roster messages kept while a restored ledger waits for the hub's first answer (a snapshot's parts and deltas).
MAX_DEFERRED = 200
# A retained status this often, so the hub's page shows the backlog moving and a door that went quiet.
STATUS_INTERVAL_S = 30.0
# The door's health is looked at this often, and a change to it published at once, but not more often than this:
# a door that flaps open and shut must not flood the hub's broker with retained statuses.
STATUS_MIN_GAP_S = 2.0
# Unanswered change requests are sent again this often (the hub answers a repeat with the first answer).
REQUEST_RETRY_S = 30.0
# The ledger is looked at this often for requests the desk kept while the bus could not say so, when it changed.
REQUEST_POLL_S = 1.0
# Unchanged, only a retry can fall due (REQUEST_RETRY_S after the last send): looking this often keeps it at most
# this late, and saves a read of the requests and the resources every second.
REQUEST_IDLE_POLL_S = 5.0


@dataclass(frozen=True)
class AgentSettings:
    site: str
    device: str
    database_url: str
    hub: MqttSettings
    public_key: str
    state_path: str
    bus: MqttSettings | None = None
    batch_events: int = BATCH_EVENTS
    window_events: int = WINDOW_EVENTS
    ack_timeout_s: float = ACK_TIMEOUT_S
    fast_resend_s: float = FAST_RESEND_S
    poll_s: float = POLL_S
    status_interval_s: float = STATUS_INTERVAL_S
    status_min_gap_s: float = STATUS_MIN_GAP_S
    request_retry_s: float = REQUEST_RETRY_S
    request_poll_s: float = REQUEST_POLL_S
    request_idle_poll_s: float = REQUEST_IDLE_POLL_S
    outbox_look_s: float = OUTBOX_LOOK_S
    trust_clock: bool = False  # the site's [door] trust_clock: a lab machine whose clock is right by fiat
    roster_max_age_s: float = ROSTER_MAX_AGE_H * 3600  # the site's [hub] roster_max_age_h: the "roster" alarm
    # The site's time zone and half-day hours ("HH:MM" morning start, noon, afternoon end): a booking the hub asks
    # for may not start in a past half-day. Plain values, so the settings stay JSON.
    timezone: str = "Europe/Paris"
    slot_hours: tuple[str, str, str] = ("08:00", "13:00", "20:00")
    # The "backlog" alarm: an event waiting for the hub longer than this ([alarms] backlog_max_age_h).
    backlog_max_age_s: float = BACKLOG_MAX_AGE_H * 3600
    # Who is mailed when the roster or backlog alarm is raised (empty: nobody; [alarms] mail_to, with [mail]).
    alarm_mail_to: tuple[str, ...] = ()
    alarm_language: str = "fr"
    site_name: str = ""
    # How long a fact must hold before its alarm changes (None: access/alarms.py's delays; tests set 0).
    alarm_hold_s: float | None = None

    @property
    def slot_rules(self) -> SlotRules:
        start, noon, end = (dt.time.fromisoformat(t) for t in self.slot_hours)
        return SlotRules(zoneinfo.ZoneInfo(self.timezone), start, noon, end)

    @classmethod
    def from_config(cls, config: Config) -> AgentSettings:
        if config.hub is None:
            raise ValueError("ce site n'est pas relié à un hub : ajoutez la section [hub] de la configuration")
        state_dir = Path(config.database_url.removeprefix("sqlite:///")).parent
        return cls(
            site=config.site.id,
            device=config.site.device,
            database_url=config.database_url,
            hub=MqttSettings.from_config(config.hub.broker),
            public_key=config.hub.public_key,
            state_path=str(state_dir / "sync-state.sqlite"),
            bus=MqttSettings.from_config(config.bus, max_packet_bytes=LOCAL_MAX_PACKET_BYTES),
            trust_clock=config.door.trust_clock,
            roster_max_age_s=config.hub.roster_max_age_h * 3600,
            backlog_max_age_s=config.alarms.backlog_max_age_h * 3600,
            alarm_mail_to=config.alarms.mail_to if config.mail is not None else (),
            alarm_language=config.alarms.language,
            site_name=config.site.name,
            timezone=config.site.timezone,
            slot_hours=(
                config.site.slots.morning_start.strftime("%H:%M"),
                config.site.slots.noon.strftime("%H:%M"),
                config.site.slots.afternoon_end.strftime("%H:%M"),
            ),
        )


@dataclass
class AgentStats:
    batches_sent: int = 0
    retired: int = 0
    rosters_applied: int = 0
    rejected: int = 0
    commands: int = 0
    requests_sent: int = 0
    replies: int = 0
    statuses: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class PendingEnrol:
    """The hub asked for this door's next tap for `member_id`, until `until` (monotonic)."""

    member_id: str
    until: float


class SyncAgent:
    def __init__(
        self,
        settings: AgentSettings,
        db: Database | None = None,
        *,
        kernel_synced: Callable[[], bool] = kernel_synchronised,
    ) -> None:
        self.settings = settings
        self.site, self.device = settings.site, settings.device
        self.db = db or Database(settings.database_url)
        self.public_key = load_public_key(settings.public_key)
        self.state = SyncState(settings.state_path)
        self.stats = AgentStats()
        with self.db.read() as session:
            floor = get_meta(session, TIME_FLOOR)
        self.watch = HealthWatch(
            kernel_synced, dt.datetime.fromisoformat(floor) if floor else None, settings.trust_clock
        )
        self.roster = RosterWatch(
            outbox.roster_issued_at(self.db),
            dt.timedelta(seconds=settings.roster_max_age_s),
            outbox.roster_version(self.db),
        )
        hold = settings.alarm_hold_s
        debounce = DEBOUNCE if hold is None else {alarm: Debounce(hold, hold) for alarm in DEBOUNCE}
        # The roster's and the backlog's alarms are this agent's to raise: it alone knows both facts.
        self.alarms = AlarmWatch(debounce)
        with self.db.read() as session:
            # Those it left raised stay so until their fact has gone, then are cleared: never left on for ever.
            self.alarms.active = {a for a in active_alarms(session, settings.device) if a in AGENT_WATCHED}
        self._published: tuple[DoorHealth, RosterHealth] | None = None  # the health in the last status sent
        self._status_lock = threading.Lock()
        self._enrols: dict[str, PendingEnrol] = {}  # by request id
        self._boot = boot_id()
        self._requests_due = threading.Event()  # look for requests to send now, not at the next poll
        self._resend_all = threading.Event()  # after a reconnect: every unanswered request goes again
        self.window = SendWindow(
            acked=outbox.acked_at_start(self.db, self.device),
            batch_events=settings.batch_events,
            window_events=settings.window_events,
            ack_timeout_s=settings.ack_timeout_s,
            fast_resend_s=settings.fast_resend_s,
        )
        self._retired_to = self.window.acked
        # A restored or new ledger sends nothing before the hub says where the stream stands (sync/PROTOCOL.md).
        self._resume = resuming.pending(self.db)
        self._resume_due = threading.Event()
        self._resume_due.set()
        self._deferred: list[Message] = []  # rosters that came before the hub's first answer
        self._known_last_seq = 0  # the newest seq in the outbox when last looked
        self._ledger = LedgerChanges(self.db.url)
        # Whether the outbox must be read again: the ledger changed, or the window was rebuilt (then True).
        self._outbox_moved = True
        self._next_outbox_look = 0.0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._inbox: queue.Queue[Message | None] = queue.Queue()  # None: the agent stops
        self._threads: list[threading.Thread] = []
        self.last_contact: dt.datetime | None = None
        status = status_topic(self.site, self.device)
        self.hub = MqttClient(
            settings.hub,
            device_client_id(self.site, self.device),
            clean_start=False,
            will=Will(status, make_status(self.site, self.device, "offline")),
            max_in_flight=max(1, settings.window_events // settings.batch_events),
            on_message=self._on_hub_message,
            on_connect=self._on_hub_connect,
        )
        for topic in (ack_topic, command_topic, replies_topic, resumed_topic):
            self.hub.subscribe(topic(self.site, self.device))
        # Snapshots (part 0, or whole), their other parts, and deltas (sync/PROTOCOL.md, "Rosters").
        self.hub.subscribe(roster_topic(self.site))
        self.hub.subscribe(f"{roster_topic(self.site)}/+")
        self.hub.subscribe(delta_topic(self.site))
        self.parts = SnapshotParts()
        self.bus: MqttClient | None = None
        if settings.bus is not None:
            self.bus = MqttClient(
                settings.bus,
                f"halfday-sync-{uuid.uuid4().hex[:6]}",
                clean_start=True,
                session_expiry_s=0,
                on_message=self._inbox.put,
            )
            for local_topic in (SYNC_REQUEST, DOOR_STATE, ENROLLED):
                self.bus.subscribe(local_topic)

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.hub.start()
        if self.bus is not None:
            self.bus.start()
        for target, name in ((self._send_loop, "send"), (self._retire_loop, "retire"), (self._control_loop, "control")):
            thread = threading.Thread(target=target, name=f"sync-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._inbox.put(None)
        for thread in self._threads:
            thread.join(10)
        try:
            self._retire()
        except Exception:
            log.exception(
                "impossible de retirer de la file d'envoi les derniers événements acquittés : ils seront renvoyés"
            )
        offline = Message(
            status_topic(self.site, self.device), make_status(self.site, self.device, "offline"), retain=True
        )
        self.hub.stop(final=offline)
        if self.bus is not None:
            self.bus.stop()
        self.state.close()
        self._ledger.close()
        self.db.dispose()

    @property
    def acked(self) -> int:
        with self._lock:
            return self.window.acked

    # ------------------------------------------------------------------------------------------ events out

    def _on_hub_connect(self, _session_present: bool) -> None:
        # Whatever was handed over before the link dropped may be lost: unanswered requests go again now.
        self._resend_all.set()
        self._requests_due.set()
        self._resume_due.set()
        self._wake.set()

    def _send_loop(self) -> None:
        next_status = next_health = next_requests = next_idle_requests = next_resume = 0.0
        requests_moved = True  # the ledger changed since the requests were last read
        while not self._stopping.is_set():
            try:
                now = time.monotonic()
                if self._ledger.changed():
                    requests_moved = self._outbox_moved = True
                if now >= next_status and self.hub.connected:
                    self.publish_status()
                    next_status = now + self.settings.status_interval_s
                    next_health = now + self.settings.status_min_gap_s
                elif now >= next_health and self.hub.connected:
                    self.publish_status(only_if_changed=True)
                    next_health = now + self.settings.status_min_gap_s
                due = self._requests_due.is_set() or now >= next_idle_requests
                if self.hub.connected and (due or (requests_moved and now >= next_requests)):
                    self._requests_due.clear()
                    requests_moved = False
                    resend_all = self._resend_all.is_set()
                    self._resend_all.clear()
                    self._send_requests(resend_all=resend_all)
                    if bookings.send_resources(self.db, self.device, self._stamp()):
                        self._wake.set()
                    next_requests = now + self.settings.request_poll_s
                    next_idle_requests = now + self.settings.request_idle_poll_s
                life = self._resume
                if life is not None:
                    if self.hub.connected and (now >= next_resume or self._resume_due.is_set()):
                        self._resume_due.clear()
                        self.hub.publish(
                            resume_topic(self.site, self.device),
                            resuming.request(self.site, self.device, life),
                            windowed=False,
                        )
                        next_resume = now + RESUME_RETRY_S
                    self._wake.wait(self.settings.poll_s)
                    self._wake.clear()
                elif not self._send_one():
                    self._wake.wait(self.settings.poll_s)
                    self._wake.clear()
            except Exception:
                log.exception("échec de l'envoi vers le hub ; nouvel essai")
                self._stopping.wait(1.0)

    def _send_one(self) -> bool:
        """Send the next batch if the window allows; False when there was nothing to send."""
        with self._lock:
            wanted = self.window.next_seq + self.window.batch_events - 1
        # During a backlog the outbox is known to hold more: no query. At rest, only once the ledger moved.
        now = time.monotonic()
        if wanted > self._known_last_seq and (self._outbox_moved or now >= self._next_outbox_look):
            self._outbox_moved = False
            self._next_outbox_look = now + self.settings.outbox_look_s
            self._known_last_seq = outbox.last_seq(self.db, self.device)
        with self._lock:
            batch = self.window.next_batch(self._known_last_seq, time.monotonic())
            if batch is None:
                return False
            # Marked sent first: a rewind while we publish must not be undone by this batch.
            self.window.sent(*batch, time.monotonic())
        payload, count = outbox.read_batch(self.db, self.site, self.device, *batch)
        if not count:
            return True
        while not self._stopping.is_set():
            if self.hub.publish(events_topic(self.site, self.device), payload, timeout=1.0):
                with self.stats.lock:
                    self.stats.batches_sent += 1
                break
        return True

    def _retire_loop(self) -> None:
        # Each retirement is a durable write; gathering acks for a moment saves most of them during a backlog.
        while not self._stopping.wait(RETIRE_EVERY_S):
            try:
                self._retire()
            except Exception:
                log.exception("impossible de retirer de la file d'envoi les événements acquittés ; nouvel essai")

    def _retire(self) -> None:
        with self._lock:
            acked = self.window.acked
        if acked > self._retired_to:
            count = outbox.retire(self.db, self.device, acked)
            self._retired_to = acked
            with self.stats.lock:
                self.stats.retired += count

    def publish_status(self, *, only_if_changed: bool = False) -> bool:
        """Publish the retained status; with `only_if_changed`, only if the door's health or its roster's moved since
        the last one. True if published."""
        with self._status_lock:
            now = dt.datetime.now(dt.UTC)
            # A list only the hub can renew is too old only while the hub is reachable: cut off, the door is
            # expected to decide on the last one it got, and the hub sees the link down anyway.
            too_old = self.hub.connected and self.roster.too_old(now)
            oldest = outbox.oldest_unsent_at(self.db, self.device)
            backlog_age = dt.timedelta(seconds=self.settings.backlog_max_age_s)
            backlog_old = oldest is not None and now - oldest > backlog_age
            self._watch_alarms({Alarm.ROSTER: too_old, Alarm.BACKLOG: backlog_old}, now)
            health = self.watch.health(oldest, now, too_old, backlog_old)
            roster = self.roster.health()
            if only_if_changed and (health, roster) == self._published:
                return False
            fields = outbox.status_fields(self.db, self.device, self.acked)
            self.hub.publish(
                status_topic(self.site, self.device),
                make_status(self.site, self.device, "online", at=now, health=health, roster=roster, **fields),
                retain=True,
                windowed=False,
            )
            self._published = (health, roster)
        with self.stats.lock:
            self.stats.statuses += 1
        if self.bus is not None:
            local = SyncStatus(
                self.hub.connected,
                self.last_contact,
                fields["backlog"],
                fields["roster_version"],
                roster_issued_at=roster.issued_at,
                roster_failed_at=roster.failed_at,
                roster_failure=roster.failure,
                roster_stale="roster" in health.alarms,
            )
            self.bus.publish(local.topic, local.encode(), retain=True, windowed=False)
        return True

    def _watch_alarms(self, facts: dict[Alarm, bool | None], now: dt.datetime) -> None:
        """Record the roster's and the backlog's alarms as they are raised and cleared (debounced), each with its
        managers' e-mail in the event's transaction."""
        changes = self.alarms.observe(facts, time.monotonic())
        if not changes:
            return
        settings = self.settings
        mail = AlarmsConfig(mail_to=settings.alarm_mail_to, language=settings.alarm_language)
        stamp = self._stamp()
        with self.db.write() as session:
            for alarm, active in changes:
                place = settings.site_name or self.site
                record_alarm(session, self.device, alarm, active, stamp, mail, place, settings.slot_rules.tz)
                log.warning("alarme %s %s", alarm.value, "levée" if active else "close")
        self._wake.set()

    # ------------------------------------------------------------------------------------------ hub in

    def _on_hub_message(self, message: Message) -> None:
        self.last_contact = dt.datetime.now(dt.UTC)
        if message.topic == ack_topic(self.site, self.device):
            try:
                seq = validate_ack(message.payload)
            except ProtocolError as exc:
                self._reject(message, exc)
                return
            with self._lock:
                moved = self.window.on_ack(seq, time.monotonic())
            if moved:
                self._wake.set()
            return
        self._inbox.put(message)

    def _control_loop(self) -> None:
        while not self._stopping.is_set():
            message = self._inbox.get()  # no timeout: a waiting thread costs nothing, stop() wakes it
            if message is None:
                break
            try:
                self.handle(message)
            except ProtocolError as exc:
                self._reject(message, exc)
            except Exception:
                log.exception("impossible de traiter un message sur %s", message.topic[:200])

    def handle(self, message: Message) -> None:
        """Roster, command, reply from the hub; a change request, the door's state or an enrolled badge from the bus."""
        rosters = roster_topic(self.site)
        if self._unsettled() and (
            message.topic.startswith(f"{rosters}/") or message.topic in (rosters, delta_topic(self.site))
        ):
            # A roster's balances count this door's events in the hub's numbers, which the restored ledger's own
            # do not follow until the hub's first answer: kept until then (a few, the newest).
            self._deferred = [*self._deferred, message][-MAX_DEFERRED:]
            return
        if message.topic == rosters or message.topic.startswith(f"{rosters}/"):
            self._snapshot_message(message.payload)
        elif message.topic == delta_topic(self.site):
            self._apply_delta(message.payload)
        elif message.topic == command_topic(self.site, self.device):
            command = check_command(
                message.payload, self.public_key, self.site, self.device, dt.datetime.now(dt.UTC), self.state
            )
            self._execute(command)
        elif message.topic == resumed_topic(self.site, self.device):
            self._resumed(message.payload)
        elif message.topic == replies_topic(self.site, self.device):
            reply = validate_reply(message.payload)
            self._answered(reply["request"], reply["ok"], reply["error"], reply["roster_version"])
        elif message.topic == SYNC_REQUEST:
            self._desk_request(self._decode(ChangeRequest, message))
        elif message.topic == DOOR_STATE:
            self.watch.door_news(self._decode(DoorState, message))
        elif message.topic == ENROLLED:
            self._enrolled(self._decode(Enrolled, message))
        else:
            raise ProtocolError(f"topic inattendu : {message.topic[:200]}")

    @staticmethod
    def _decode(kind: Any, message: Message) -> Any:
        try:
            return kind.decode(message.payload)
        except BusError as exc:
            raise ProtocolError(str(exc)) from None

    def _unsettled(self) -> bool:
        life = self._resume
        return life is not None and life.hub_seq is None

    def _resumed(self, payload: bytes) -> None:
        """The hub's answer to the resume request: written, then the next page asked, or the stream goes on."""
        life = self._resume
        if life is None:
            return  # a repeat of the last answer: already written
        step, after = resuming.apply(self.db, self.public_key, self.site, self.device, life, payload)
        if step.resumed:
            with self._lock:
                self.window = SendWindow(
                    acked=step.cursor,
                    batch_events=self.settings.batch_events,
                    window_events=self.settings.window_events,
                    ack_timeout_s=self.settings.ack_timeout_s,
                    fast_resend_s=self.settings.fast_resend_s,
                )
                self._retired_to = step.cursor
                self._known_last_seq = 0
                self._outbox_moved = True
            log.info("flux repris après le %de événement connu du hub", step.cursor)
        self._resume = after
        for deferred in self._deferred:
            self._inbox.put(deferred)  # the rosters that came meanwhile, in the order they came
        self._deferred = []
        self._resume_due.set()
        if self.bus is not None:
            # The door reloads the uses and balances the hub's events changed, now rather than at its next poll.
            reload = Reload(uuid.uuid4().hex)
            self.bus.publish(reload.topic, reload.encode(), windowed=False)
        self._wake.set()

    def _snapshot_message(self, payload: bytes) -> None:
        """A whole snapshot, or one part of a large one (applied once every part is here). An empty message is
        nothing: one clears a retained roster an older hub left."""
        if not payload:
            return
        try:
            obj = parse_json(payload)
        except ProtocolError as exc:
            self.roster.failed(f"{MALFORMED} ({exc})", dt.datetime.now(dt.UTC))
            raise
        if "part" not in obj:
            self._apply_roster(payload)
            return
        try:
            part = validate_snapshot_part(obj)
            if part["site"] != self.site:
                raise ProtocolError(f"le registre est pour le site {part['site']}, pas pour {self.site}")
        except ProtocolError as exc:
            reason = OTHER_SITE if obj.get("site") != self.site else MALFORMED
            self.roster.failed(f"{reason} ({exc})", dt.datetime.now(dt.UTC))
            raise
        current = outbox.roster_version(self.db)
        if current is not None and part["version"] <= current:
            return
        try:
            whole = self.parts.add(part)
        except ProtocolError as exc:
            self.roster.failed(f"{MALFORMED} ({exc})", dt.datetime.now(dt.UTC))
            raise
        if whole is not None:
            self._apply_roster(whole, limit=MAX_ROSTER_BYTES)

    def _apply_roster(self, payload: bytes, *, limit: int = MAX_MESSAGE_BYTES) -> None:
        """Apply a snapshot, or record why it failed for the status (sent within `status_min_gap_s`); the error goes
        on to the control loop, which logs it."""
        current = outbox.roster_version(self.db)
        try:
            roster = verify_roster(payload, self.public_key, current, site=self.site, limit=limit)
        except StaleRoster as exc:
            # The retained copy again, after a reconnect, or a replay: the door's list is still the newest one.
            log.debug("registre ignoré : %s", exc)
            return
        except ProtocolError:
            self.roster.failed(
                refusal_reason(payload, self.public_key, self.site, limit=limit), dt.datetime.now(dt.UTC)
            )
            raise
        self._applying(lambda: outbox.apply_roster(self.db, roster, self.device), roster)

    def _apply_delta(self, payload: bytes) -> None:
        """Apply a delta to the version it names (sync/PROTOCOL.md, "Delta"): an older one is ignored, one past a
        gap leaves the door behind (the status asks for a snapshot), a refused one is reported like a roster."""
        try:
            delta = verify_delta(payload, self.public_key, site=self.site)
        except ProtocolError:
            reason = refusal_reason(payload, self.public_key, self.site, validate=validate_delta_body)
            self.roster.failed(reason, dt.datetime.now(dt.UTC))
            raise
        current = outbox.roster_version(self.db)
        if current is not None and delta["version"] <= current:
            log.debug("delta %s ignoré : la porte tient la version %s", delta["version"], current)
            return
        if current is None or delta["base"] != current:
            log.warning("delta %s manqué (la porte tient %s) : liste complète demandée", delta["base"], current)
            self.roster.heard(delta["version"])
            self._wake.set()
            return
        try:
            self._applying(lambda: outbox.apply_delta(self.db, delta, self.device), delta)
        except outbox.DeltaOutOfTurn:
            self.roster.heard(delta["version"])
            raise

    def _applying(self, write: Callable[[], None], roster: dict[str, Any]) -> None:
        """Write a verified roster (snapshot or delta), then record it and tell the door."""
        try:
            write()
        except outbox.DeltaOutOfTurn:
            raise
        except Exception:
            self.roster.failed(NOT_APPLIED, dt.datetime.now(dt.UTC))
            raise
        self.parts.forget(roster["version"])
        self.roster.applied(parse_utc(roster["issued_at"]), roster["version"])
        with self.stats.lock:
            self.stats.rosters_applied += 1
        if self.bus is not None:
            # The door would see the new roster at its next poll; told now, a badge revoked at the hub is refused
            # at the very next tap.
            reload = Reload(uuid.uuid4().hex)
            self.bus.publish(reload.topic, reload.encode(), windowed=False)
        self._wake.set()

    def _execute(self, command: dict[str, Any]) -> None:
        with self.stats.lock:
            self.stats.commands += 1
        log.info("commande %s (%s) reçue du hub", command["name"], command["nonce"])
        if command["name"] == "send_status":
            self.publish_status()
        elif command["name"] == "unlock":
            if self.bus is None:
                log.warning("ouverture demandée par le hub, mais aucun bus local pour joindre la porte")
                return
            nonce = command["nonce"]
            unlock = Unlock(nonce, by="manager", ref=f"hub:{nonce}")
            self.bus.publish(unlock.topic, unlock.encode(), windowed=False)
        elif command["name"] == "enrol":
            self._enrol(command["args"])
        elif command["name"] == "book":
            self._book(command["args"])

    def _stamp(self) -> Stamp:
        now = dt.datetime.now(dt.UTC)
        return Stamp(now, time.monotonic_ns(), self._boot, self.watch.clock_ok(now))

    def _book(self, args: dict[str, Any]) -> None:
        """The hub asks for a booking: booked or refused here, the answer goes back as an event."""
        outcome = bookings.book_for_hub(self.db, self.site, self.device, args, self._stamp(), self.settings.slot_rules)
        if outcome == "booked" and self.bus is not None:
            # The door would see the booking at its next poll; told now, the booker's code opens at once.
            reload = Reload(uuid.uuid4().hex)
            self.bus.publish(reload.topic, reload.encode(), windowed=False)
        self._wake.set()

    # ------------------------------------------------------------------------------------------ change requests

    def _enrol(self, args: dict[str, Any]) -> None:
        """The hub asks for this door's next tap: the door takes it in enrol mode, and `_enrolled` asks the hub."""
        if self.bus is None:
            log.warning("enrôlement demandé par le hub, mais aucun bus local pour joindre la porte")
            return
        now = time.monotonic()
        with self._lock:
            self._enrols = {r: p for r, p in self._enrols.items() if p.until > now}
            self._enrols[args["request"]] = PendingEnrol(args["member_id"], now + args["timeout_s"])
        enrol = Enrol(args["request"], timeout_s=float(args["timeout_s"]))
        self.bus.publish(enrol.topic, enrol.encode(), windowed=False)

    def _enrolled(self, enrolled: Enrolled) -> None:
        # The kiosk's own enrolments pass here too: only the hub's, still waiting, become requests. The UID goes into
        # the request alone, never into a log line.
        with self._lock:
            pending = self._enrols.pop(enrolled.request, None)
        if pending is None or pending.until < time.monotonic():
            return
        data = {"member_id": pending.member_id, "uid": enrolled.uid}
        try:
            requests.add(
                self.db, self.site, self.device, enrolled.request, "enrol_badge", data, "hub", dt.datetime.now(dt.UTC)
            )
        except ProtocolError:
            log.warning("enrôlement %s : le badge présenté n'est pas un badge que le hub accepte", enrolled.request)
            return
        log.info("badge présenté pour l'enrôlement %s demandé par le hub : demande envoyée", enrolled.request)
        self._requests_due.set()
        self._wake.set()

    def _desk_request(self, request: ChangeRequest) -> None:
        """The desk says it kept a request: send it now. One the ledger does not hold yet is kept first."""
        if not requests.known(self.db, request.id):
            requests.add(
                self.db, self.site, self.device, request.id, request.kind, request.data, "desk", dt.datetime.now(dt.UTC)
            )
        self._requests_due.set()
        self._wake.set()

    def _send_requests(self, *, resend_all: bool = False) -> None:
        """Send the kept requests never sent, or unanswered for `request_retry_s` (all unanswered ones with
        `resend_all`); the hub answers a repeat with its first answer."""
        now = dt.datetime.now(dt.UTC)
        sent: list[str] = []
        retry_before = now if resend_all else now - dt.timedelta(seconds=self.settings.request_retry_s)
        for item in requests.due(self.db, self.site, self.device, retry_before):
            if item.payload is None:
                log.warning("demande %s jamais envoyée, elle enfreint le protocole : %s", item.id, item.problem)
                self._answered(item.id, False, ChangeReply.INVALID, None)
                continue
            if not self.hub.publish(requests_topic(self.site, self.device), item.payload, windowed=False):
                break
            sent.append(item.id)
        requests.mark_sent(self.db, sent, now)
        with self.stats.lock:
            self.stats.requests_sent += len(sent)

    def _answered(self, request_id: str, ok: bool, error: str | None, roster_version: int | None) -> None:
        """Write the answer into the kept request, and tell the desk; a repeated or stray reply changes nothing."""
        if not requests.answer(self.db, request_id, ok, error, roster_version, dt.datetime.now(dt.UTC)):
            log.debug("réponse du hub à une demande inconnue ou déjà réglée : %s", request_id)
            return
        with self.stats.lock:
            self.stats.replies += 1
        if self.bus is not None:
            answer = ChangeReply(request_id, ok, error, roster_version)
            self.bus.publish(answer.topic, answer.encode(), windowed=False)

    def _reject(self, message: Message, exc: Exception) -> None:
        with self.stats.lock:
            self.stats.rejected += 1
        log.warning("message rejeté sur %s : %s", message.topic[:200], exc)


def main(argv: list[str]) -> int:
    """`halfday sync [--config PATH]`: run until SIGTERM."""
    args = daemon_parser("halfday sync", "l'agent de synchronisation avec le hub").parse_args(argv)
    start_logging(args.log_level)
    settings = AgentSettings.from_config(load_config(args.config))
    agent = SyncAgent(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    agent.start()
    try:
        stop.wait()
    finally:
        agent.stop()
    return 0
