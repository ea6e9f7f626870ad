"""`halfday door`: the only process that touches the reader and the GPIO pins.

A thin shell around the pure core: read an input (tap, exit button, door sensor, bus command, time), ask the
policy and the door state machine, drive the relay, record the outcome durably, tell the bus. It needs nothing
else running: with the bus down it still decides, opens and records. Its parts: the recorder (group commit, what
the disk refused), the state cache (what `decide` reads), the indicator's timer, the bus.

A tap is decided on the reader's thread, and the relay energised there at once; the durable commit follows on the
main thread within a millisecond. If the process dies in between, the GPIO line is released and a fail-secure
lock relocks: the door cannot be opened in that millisecond, so no visit happens without its record.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DatabaseError

from access.alarms import (
    BACKUP_FOLDER,
    DOOR_JUDGED,
    DOOR_WATCHED,
    AlarmWatch,
    active_alarms,
    backup_trouble,
    disk_nearly_full,
)
from access.clock import ClockGuard, kernel_synchronised
from access.config import Config, load_config
from access.daemon.bus import DoorBus
from access.daemon.indicator import IndicatorTimer
from access.daemon.notify import Notifier
from access.daemon.recorder import Pending, Recorder, refusal
from access.daemon.rescue import RescueJournal
from access.daemon.state import StateCache
from access.daemon.timing import DoorTuning
from access.db import Database
from access.door import DoorMachine, Output
from access.policy import Decision, decide
from access.snapshot import SnapshotError, load_snapshot
from access.store import TIME_FLOOR, Stamp, boot_id, get_meta
from common.daemons import daemon_parser, start_logging
from common.db import check_sqlite_file, is_corruption, sqlite_file
from common.words import Alarm, EventKind, Signal
from hardware.devices import build_devices, build_reader
from hardware.protocols import Tap as ReaderTap
from sync.localbus import Admit, Command, DoorState, Enrol, Enrolled, ReaderHealth, Reload, Reply, Tap, Unlock

log = logging.getLogger("halfday.door")

# Files beside the ledger (access/snapshot.py, access/daemon/rescue.py).
SNAPSHOT_FILE = "door-snapshot.json"
RESCUE_FILE = "door-rescue.jsonl"
# In the unit's runtime folder (RAM, kept across restarts: RuntimeDirectoryPreserve=yes): what waits for the disk.
WAITING_FILE = "door-waiting.jsonl"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class Input:
    kind: str  # record | exit | door | command | enrolled
    value: Any = None
    at_ns: int = field(default_factory=time.monotonic_ns)


class Door:
    """The door daemon's parts and its loop. `pin_factory` lets tests drive gpiozero's MockFactory; `tuning` sets
    every delay at once (default: the site's config)."""

    def __init__(
        self,
        config: Config,
        *,
        tuning: DoorTuning | None = None,
        pin_factory: Any = None,
        use_bus: bool = True,
        kernel_synced: Callable[[], bool] = kernel_synchronised,
    ) -> None:
        self.config = config
        self.site = config.site
        self.tuning = tuning or DoorTuning.for_config(config.door)
        # The lock first: it is built locked, before the database, the reader or the bus exist.
        self.devices = build_devices(config.hardware, pin_factory)
        self.lock = threading.RLock()  # guards the state, the machine and the relay (reader and main threads)
        self.inputs: queue.Queue[Input] = queue.Queue()
        self.machine = DoorMachine(self.tuning.machine)
        self.db = Database(config.database_url)
        # Beside a file ledger: the last good access state, and the journal of what happens while it is damaged.
        self.ledger = sqlite_file(config.database_url)
        folder = self.ledger.absolute().parent if self.ledger is not None else None
        # A room's own door beside the entrance's, on the same ledger, keeps its own files.
        own = f"-{self.site.device}" if config.door.resource is not None else ""
        self.snapshot = folder / SNAPSHOT_FILE.replace(".", f"{own}.", 1) if folder is not None else None
        self.cache = StateCache(
            self.db,
            self.site.rules,
            self.site.id,
            self.site.device,
            config.door.clock_unsure,
            self.lock,
            snapshot=self.snapshot,
            on_broken=self._ledger_broken,
            room=config.door.resource,
        )
        self.recorder = Recorder(
            self.db,
            self.site.id,
            self.site.device,
            on_settled=self.cache.settled,
            journal=RescueJournal(folder / RESCUE_FILE.replace(".", f"{own}.", 1)) if folder is not None else None,
            spare=self._spare(own),
            on_broken=self._ledger_broken,
            low_carnet=config.mail.low_carnet_threshold if config.mail is not None else None,
            alarm_mail=config.alarms if config.mail is not None and config.alarms.mail_to else None,
            place=self._place(),
            tz=self.site.tz,
            retry_first_s=self.tuning.write_retry_s,
            retry_most_s=self.tuning.write_retry_most_s,
        )
        # Why the ledger cannot be used (None: it can). The door then decides read-only on its snapshot.
        self.degraded: str | None = None
        # Whether the door raised its alarm for a disk that refuses writes (full, or failing): records wait in memory.
        self.unwritten = False
        # The alarms the door watches for (reader, clock; at the entrance, the disk and the backups too).
        self.watch = AlarmWatch(self.tuning.alarm_debounce)
        # The site's own facts (its disk, its backups) are the entrance door's to watch, on a file ledger: one
        # writer, however many room doors share the ledger.
        self.site_folder = folder if config.door.resource is None else None
        self._ledger_seen: tuple[int, ...] | None = None
        t = self.tuning
        self.indicator = IndicatorTimer(self.devices.indicator, t.light_s, t.beep_grant_s, t.beep_deny_s)
        self.boot = boot_id()
        self.kernel_synced = kernel_synced
        # The kernel's answer, refreshed by the main loop: asking it costs a foreign call, which hands the
        # interpreter to other threads in the middle of a tap.
        self.synced = False
        self.clock = ClockGuard(trust_always=config.door.trust_clock)
        self.enrol: tuple[str, float] | None = None  # (request id, monotonic deadline)
        self.notifier = Notifier()
        self.stopping = threading.Event()
        self.reader = build_reader(config.hardware.reader, self._on_tap)
        self.bus: DoorBus | None = None
        # The local bus is the entrance's, with the kiosk's commands and screens: a room's door stays off it, so
        # that a pass admitted at the touchscreen never reaches it, and its taps never show at the entrance.
        if use_bus and config.door.resource is None:
            name = f"halfday-door-{self.site.id}-{self.site.device}"
            self.bus = DoorBus(config.bus, name, lambda command: self.inputs.put(Input("command", command)))

    @property
    def recorded(self) -> list[Pending]:
        """The last few commits, with their times (for benchmarks and diagnostics)."""
        return self.recorder.recent

    @property
    def taps_recorded(self) -> int:
        return self.recorder.taps_recorded

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        sys.setswitchinterval(self.tuning.switch_interval_s)
        sensor = self.devices.door_sensor
        with self.lock:
            self._drive(self.machine.start(sensor.is_open if sensor else False, time.monotonic()))
        if sensor is not None:
            sensor.on_change = lambda is_open: self.inputs.put(Input("door", is_open))
        if self.devices.exit_button is not None:
            self.devices.exit_button.on_press = lambda: self.inputs.put(Input("exit"))
        self.synced = self.kernel_synced()
        problem = self._ledger_problem()
        if problem is None:
            try:
                self._open_ledger()
            except DatabaseError as exc:
                if not is_corruption(exc):
                    raise
                problem = str(exc)
        if problem is not None:
            self._degrade(problem, from_snapshot=True)
        else:
            self._resume_alarms()
        if self.bus is not None:
            self.bus.start()
        self.reader.start()
        known = len(self.cache.state.credentials)
        log.info("porte prête : %d badges connus, lecteur %s", known, self.reader.path)
        self.notifier.ready(self._status(known))
        if problem is None:
            self.cache.keep()

    # ------------------------------------------------------------------------------------------ a damaged ledger

    def _ledger_problem(self) -> str | None:
        """What is wrong with the ledger file, if anything (a database elsewhere than a file is not checked)."""
        if self.ledger is None:
            return None
        return check_sqlite_file(self.ledger)

    def _open_ledger(self) -> None:
        """Start on a sound ledger: what the rescue journal holds goes in first, then the state is read."""
        journal = self.recorder.journal
        if journal is not None:
            journal.replay(self.db, self.site.id, self.site.device)
        self._take_back()
        with self.db.read() as session:
            floor = get_meta(session, TIME_FLOOR)
        if floor:
            self.clock.floor = max(self.clock.floor or EPOCH, dt.datetime.fromisoformat(floor))
        self.cache.reload(keep=False)  # written once the door is READY: see start()

    @staticmethod
    def _spare(own: str) -> RescueJournal | None:
        """The RAM copy of what waits for the disk, in the runtime folder systemd gives the unit (none without)."""
        runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        return RescueJournal(Path(runtime) / WAITING_FILE.replace(".", f"{own}.", 1)) if runtime else None

    def _take_back(self) -> None:
        """What a previous process left waiting for the disk (stopped or killed while the disk refused writes):
        into the ledger now, or, if the disk still refuses, into memory to be written with the next write."""
        spare = self.recorder.spare
        if spare is None:
            return
        try:
            written = spare.replay(self.db, self.site.id, self.site.device)
        except Exception as exc:
            taken = self.recorder.adopt(refusal(exc))
            with self.lock:
                for record in taken:
                    if record.decision is not None:
                        self.cache.acted(record.decision)  # the half-days they used stay spent
            log.error("le disque refuse encore les écritures : %d enregistrement(s) repris en mémoire", len(taken))
            return
        if written:
            log.warning("%d enregistrement(s) laissés en attente par l'arrêt précédent, écrits", written)

    def _ledger_broken(self, problem: str) -> None:
        # From a writer or a reload, maybe on the reader's thread: the main loop decides.
        self.inputs.put(Input("broken", problem))

    def _degrade(self, problem: str, *, from_snapshot: bool) -> None:
        """Keep deciding without the ledger: on the last snapshot (at start) or on what the door holds (when the
        ledger breaks under it), writing to the rescue journal, with the alarm raised everywhere it shows."""
        self.degraded = problem
        self._ledger_seen = self._ledger_identity()
        self.db.dispose()
        log.critical(
            "BASE DE DONNÉES ILLISIBLE (%s) : la porte décide sur sa dernière copie des droits, sans rien modifier, "
            "et garde les passages dans son journal de secours. Restaurez une sauvegarde : halfday restore",
            problem,
        )
        if from_snapshot:
            self._load_snapshot()
        if self.recorder.journal is not None:
            self.recorder.start_journal()
        self._record(EventKind.ALARM, {"type": Alarm.DATABASE.value, "active": True, "detail": problem[:200]})
        self.notifier.status(self._status(len(self.cache.state.credentials)))

    def _load_snapshot(self) -> None:
        if self.snapshot is None:
            log.critical("aucune copie des droits : seuls les horaires d'accueil ouvrent la porte")
            return
        try:
            snapshot = load_snapshot(
                self.snapshot, self.site.rules, self.config.door.clock_unsure, self.site.id, self.site.device
            )
        except SnapshotError as exc:
            log.critical("%s : seuls les horaires d'accueil ouvrent la porte", exc)
            return
        if self.config.door.resource is not None and snapshot.state.room is None:
            snapshot.state.room = ""  # a copy that names no room: at a room's door, staff only
        self.cache.replace(snapshot.state, snapshot.version)
        log.warning(
            "copie des droits du %s : %d badges connus",
            snapshot.saved_at.astimezone(self.site.tz).strftime("%d/%m/%Y %H:%M"),
            len(snapshot.state.credentials),
        )

    def _ledger_identity(self) -> tuple[int, ...] | None:
        try:
            found = self.ledger.stat() if self.ledger is not None else None
        except OSError:
            return None
        return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns) if found is not None else None

    def _try_recover(self) -> None:
        """While degraded: once the ledger file changed (a restore) and is sound, write the journal into it, read
        the state from it, and leave the read-only mode."""
        seen = self._ledger_identity()
        if seen is None or seen == self._ledger_seen:
            return
        self._ledger_seen = seen
        if self._ledger_problem() is not None:
            return
        self.db.dispose()  # connections to the damaged file, if any, are gone
        try:
            self._open_ledger()
        except Exception:
            log.exception("la base restaurée ne peut pas encore être reprise ; nouvel essai au prochain changement")
            return
        self.recorder.journaling = False
        self.degraded = None
        self._record(EventKind.ALARM, {"type": Alarm.DATABASE.value, "active": False})
        known = len(self.cache.state.credentials)
        log.warning("base de données rétablie : la porte reprend son registre (%d badges connus)", known)
        self.notifier.status(self._status(known))

    def _status(self, known: int) -> str:
        if self.degraded is not None:
            return f"ALARME : base illisible, lecture seule sur la dernière copie ({known} badges) — halfday restore"
        if self.unwritten:
            return f"ALARME : écriture impossible, {len(self.recorder.failed)} enregistrement(s) en mémoire"
        return f"{known} badges"

    def _watch_writes(self) -> None:
        """Raise the database alarm when the disk starts refusing writes, clear it once all that waited is
        written (saying how many records the full memory lost, if any)."""
        if self.degraded is not None:
            return  # the damaged ledger's own alarm and journal are at work
        refused = self.recorder.refused
        if refused is not None and not self.unwritten:
            self.unwritten = True
            log.critical(
                "ÉCRITURE IMPOSSIBLE SUR LE DISQUE (%s) : la porte décide sur ce qu'elle sait, garde les passages en "
                "mémoire et les écrira dès que le disque les accepte. Libérez de la place ou changez la carte SD.",
                refused,
            )
            detail = f"écriture impossible : {refused}"
            self._record(EventKind.ALARM, {"type": Alarm.DATABASE.value, "active": True, "detail": detail[:200]})
            self.notifier.status(self._status(len(self.cache.state.credentials)))
        elif refused is None and self.unwritten and not self.recorder.failed:
            self.unwritten = False
            data: dict[str, Any] = {"type": Alarm.DATABASE.value, "active": False}
            lost = self.recorder.dropped
            if lost:
                data["detail"] = f"{lost} enregistrement(s) perdu(s) : mémoire pleine pendant la panne du disque"
                log.critical("%d enregistrement(s) perdu(s) pendant la panne du disque (mémoire pleine)", lost)
            self.recorder.dropped = 0
            self._record(EventKind.ALARM, data)
            log.warning("le disque accepte à nouveau les écritures : fin de l'alarme")
            self.notifier.status(self._status(len(self.cache.state.credentials)))

    def stop(self) -> None:
        """Relock, commit what was decided, release the pins."""
        self.stopping.set()
        self.notifier.stopping()
        with self.lock:
            self.devices.lock.lock()
        self.reader.stop()
        while not self.inputs.empty():
            item = self.inputs.get_nowait()
            if item.kind == "record":
                self._commit([item.value])
        self._last_chance()
        if self.bus is not None:
            self.bus.stop()
        self.devices.close()
        self.db.dispose()

    def _last_chance(self) -> None:
        """Stopping with records the disk refused: one more try, then the rescue journal (which holds if only the
        ledger's file fails); what neither takes waits in the RAM copy for the next start, or, without one, is lost
        with the process, and the log says how much."""
        recorder = self.recorder
        if not recorder.failed or recorder.retry(force=True):
            return
        if recorder.journal is not None and not recorder.journaling:
            try:
                recorder.start_journal()
            except Exception:
                log.exception("journal de secours impossible à écrire")
        if recorder.failed and recorder.spare is not None and recorder.spare.path.exists():
            log.error(
                "arrêt avec %d enregistrement(s) que le disque refuse : gardés en mémoire vive (%s) pour le prochain "
                "démarrage",
                len(recorder.failed),
                recorder.spare.path,
            )
        elif recorder.failed:
            log.critical("ARRÊT AVEC %d ENREGISTREMENT(S) NON ÉCRITS : le disque les refuse", len(recorder.failed))

    def run(self) -> None:
        """The main loop, until `stopping` is set: inputs one at a time, then the passing of time."""
        t = self.tuning
        next_poll = next_publish = next_floor = next_watchdog = next_watch = next_site = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            deadlines = (next_poll, next_publish, self.machine.next_deadline(), self.indicator.next_deadline())
            wait = min(d for d in deadlines if d is not None) - now
            try:
                item: Input | None = self.inputs.get(timeout=max(0.0, min(wait, t.idle_wake_s)))
            except queue.Empty:
                item = None
            if item is not None and item.kind == "record":
                item = self._commit_batch(item)  # outside the lock: a slow disk never stalls the reader
            if item is not None:
                with self.lock:
                    self._handle(item)
            now = time.monotonic()
            with self.lock:
                self._drive(self.machine.tick(now, self._staffed()))
                self.indicator.tick(now)
            if now >= next_poll:
                next_poll = now + (t.recovery_poll_s if self.degraded else t.state_poll_s)
                self.synced = self.kernel_synced()
                if self.degraded:
                    self._try_recover()
                else:
                    self.cache.reload_if_changed()
            if self.recorder.failed:
                self.recorder.retry(now=now)
            if self.unwritten or self.recorder.refused is not None:
                self._watch_writes()
            refresh = now >= next_publish
            if refresh:
                next_publish = now + t.state_publish_s
            if self.bus is not None:
                self.bus.publish_state(self._state(), force=refresh)
            if now >= next_floor:
                next_floor = now + t.floor_persist_s
                if self.clock.floor is not None:
                    self.recorder.set_meta(TIME_FLOOR, self.clock.floor.isoformat())
            if now >= next_watch:
                next_watch = now + t.alarm_watch_s
                site = now >= next_site
                if site:
                    next_site = now + t.site_watch_s
                self._watch_alarms(now, site=site)
            interval = self.notifier.watchdog_interval_s
            if interval is not None and now >= next_watchdog:
                next_watchdog = now + interval
                self.notifier.watchdog()

    # ------------------------------------------------------------------------------------------ taps

    def _on_tap(self, tap: ReaderTap) -> None:
        self.handle_tap(tap.uid, tap.connected_ns)

    def handle_tap(self, uid: str, connected_ns: int | None, request: str | None = None) -> Decision | None:
        """Decide on a tap (or a pass the kiosk admits) and drive the relay at once; the commit is queued."""
        if uid not in self.cache.state.credentials:
            self.cache.reload_if_changed()  # a pass sold or a badge added a moment ago
        with self.lock:
            if self.enrol is not None and request is None and not self._members_badge(uid):
                # Enrol mode takes the next card nobody's badge; a member's badge is decided on as usual, so a
                # member arriving meanwhile comes in, and their badge's UID goes to no screen.
                enrol_request, until = self.enrol
                self.enrol = None
                if time.monotonic() <= until:
                    self.inputs.put(Input("enrolled", Enrolled(enrol_request, uid)))
                    return None
            wall = dt.datetime.now(dt.UTC)
            clock_ok = self.clock.check(wall, self.synced)
            decision = decide(uid, wall, self.cache.state, clock_ok=clock_ok)
            now = time.monotonic()
            out = self.machine.grant(now) if decision.granted else self.machine.deny(now)
            self._set_relay(out.unlocked)
            self.cache.acted(decision)
            pending = Pending(decision, Stamp(wall, time.monotonic_ns(), self.boot, clock_ok), connected_ns, request)
        self.inputs.put(Input("record", pending))
        return decision

    def _members_badge(self, uid: str) -> bool:
        info = self.cache.state.credentials.get(uid)
        return info is not None and info.member

    def _commit_batch(self, first: Input) -> Input | None:
        """Commit `first` and every decision queued behind it in one transaction (group commit under load).

        Returns the first queued input that is not a decision, for the caller to handle next.
        """
        batch: list[Pending] = [first.value]
        following = None
        while following is None:
            try:
                item = self.inputs.get_nowait()
            except queue.Empty:
                break
            if item.kind == "record":
                batch.append(item.value)
            else:
                following = item
        self._commit(batch)
        return following

    def _commit(self, batch: list[Pending]) -> None:
        committed = self.recorder.commit(batch)
        last = batch[-1].decision
        with self.lock:
            self.indicator.show(Signal.GRANT if last.granted else Signal.DENY, time.monotonic())
        for pending in batch:
            self._announce(pending, committed)

    def _announce(self, pending: Pending, committed: bool) -> None:
        decision = pending.decision
        if self.bus is not None and committed:
            self.bus.publish(tap_news(pending))
        if pending.request:
            self._reply(pending.request, decision.granted, decision.reason.value)
        verdict = "entrée" if decision.granted else "refus"
        name = decision.first_name or "inconnu"
        # The event's id names the record whether it is written now or waits in memory for the disk.
        kept = "" if committed else ", en attente du disque"
        log.info("%s %s : %s (%s) [%s%s]", verdict, decision.credential, name, decision.reason, pending.event_id, kept)

    # ------------------------------------------------------------------------------------------ other inputs

    def _handle(self, item: Input) -> None:
        now = time.monotonic()
        if item.kind == "exit":
            self._drive(self.machine.exit_button(now))
        elif item.kind == "door":
            self._drive(self.machine.door_changed(bool(item.value), now))
        elif item.kind == "command":
            self._command(item.value)
        elif item.kind == "broken":
            # A write or a read failed as a damaged file fails: if the file says so too, stop using it.
            if self.degraded is None and self._ledger_problem() is not None:
                self._degrade(str(item.value), from_snapshot=False)
        elif item.kind == "enrolled":
            enrolled: Enrolled = item.value
            # The UID goes to whoever asked for it (the kiosk, or the hub through sync), not into the log.
            log.info("badge présenté en mode enrôlement (demande %s)", enrolled.request)
            self._record(EventKind.ENROL, {"uid": enrolled.uid})
            if self.bus is not None:
                self.bus.publish(enrolled)

    def _command(self, command: Command) -> None:
        if isinstance(command, Unlock):
            self._drive(self.machine.remote_unlock(time.monotonic(), command.by, command.ref))
            self._reply(command.request, True, Reply.UNLOCKED)
        elif isinstance(command, Admit):
            self.handle_tap(command.credential, None, request=command.request)
        elif isinstance(command, Enrol):
            self.enrol = (command.request, time.monotonic() + command.timeout_s)
            self._reply(command.request, True, Reply.ENROL)
        elif isinstance(command, Reload):
            if self.degraded is not None:
                self._reply(command.request, False, Reply.DATABASE)
                return
            try:
                self.cache.reload()
            except DatabaseError as exc:
                log.exception("relecture impossible")
                self._reply(command.request, False, Reply.DATABASE)
                self._ledger_broken(str(exc))
                return
            self._reply(command.request, True, Reply.RELOADED)

    # ------------------------------------------------------------------------------------------ outputs

    def _set_relay(self, unlocked: bool) -> None:
        lock = self.devices.lock
        if unlocked and not lock.is_unlocked:
            lock.unlock()
        elif not unlocked and lock.is_unlocked:
            lock.lock()

    def _drive(self, out: Output) -> None:
        self._set_relay(out.unlocked)
        if out.indicator is not None:
            self.indicator.show(out.indicator, time.monotonic())
        for kind, data in out.events:
            self._record(kind, data)
            if kind == EventKind.ALARM and data.get("active"):
                log.warning("alarme %s", data["type"])

    def _resume_alarms(self) -> None:
        """Take up the alarms this door left raised in the ledger: a watched one stays raised until its fact has
        gone (then it is cleared, not forgotten); the state machine's, and a ledger now readable, are over, since the
        machine judges the door afresh."""
        try:
            with self.db.read() as session:
                raised = active_alarms(session, self.site.device)
        except DatabaseError:
            log.exception("alarmes en cours illisibles")
            return
        for alarm in raised:
            if alarm in DOOR_WATCHED:
                self.watch.active.add(alarm)
            elif alarm in DOOR_JUDGED:
                self._record(EventKind.ALARM, {"type": alarm.value, "active": False})

    def _place(self) -> str:
        """How an e-mail names this door: the site, and the room whose door it is."""
        room = self.config.door.resource
        return f"{self.site.name} ({room})" if room else self.site.name

    def _watch_alarms(self, now: float, *, site: bool) -> None:
        """Raise or clear the watched alarms whose fact changed long enough ago (access/alarms.py)."""
        wall = dt.datetime.now(dt.UTC)
        facts: dict[Alarm, bool | None] = {
            Alarm.READER: self.reader.health.state != "ok",
            Alarm.CLOCK: not self.clock.check(wall, self.synced),
        }
        detail: str | None = None
        if site and self.site_folder is not None:
            alarms = self.config.alarms
            disk = Path(alarms.disk_path) if alarms.disk_path else self.site_folder
            facts[Alarm.DISK] = disk_nearly_full(disk, alarms.disk_min_free_percent)
            max_age = dt.timedelta(hours=alarms.backup_max_age_h)
            detail = backup_trouble(self.site_folder / BACKUP_FOLDER, max_age, wall, alarms.expect_backups)
            facts[Alarm.BACKUP] = detail is not None
        with self.lock:
            changes = self.watch.observe(facts, now)
        for alarm, active in changes:
            data: dict[str, Any] = {"type": alarm.value, "active": active}
            if active and alarm == Alarm.BACKUP and detail:
                data["detail"] = detail[:200]
            if active:
                log.warning("alarme %s", alarm.value)
            else:
                log.info("fin de l'alarme %s", alarm.value)
            self._record(EventKind.ALARM, data)

    def _record(self, kind: EventKind, data: dict[str, Any]) -> None:
        wall = dt.datetime.now(dt.UTC)
        stamp = Stamp(wall, time.monotonic_ns(), self.boot, self.clock.check(wall, self.synced))
        self.recorder.record(kind, data, stamp)

    def _reply(self, request: str, ok: bool, reason: str) -> None:
        if self.bus is not None:
            self.bus.publish(Reply(request, ok, reason))

    def _state(self) -> DoorState:
        health = self.reader.health
        with self.lock:
            return DoorState(
                online=True,
                locked=not self.devices.lock.is_unlocked,
                open=self.machine.door_open,
                alarms=tuple(
                    sorted(
                        self.machine.alarms
                        | self.watch.active
                        | ({Alarm.DATABASE} if self.degraded or self.unwritten else set())
                    )
                ),
                staffed=self.machine.staffed,
                reader=ReaderHealth(health.state, health.detail, health.reopens),
                pending_writes=len(self.recorder.failed),
            )

    def _staffed(self) -> bool:
        staffed = self.config.door.staffed
        return bool(staffed.periods) and staffed.contains(dt.datetime.now(self.site.tz))


def tap_news(pending: Pending) -> Tap:
    """What the screens are told of a recorded decision: facts, no badge UID."""
    decision = pending.decision
    charge = decision.charge
    return Tap(
        event=pending.event_id,
        seq=pending.seq,
        at=pending.stamp.at,
        granted=decision.granted,
        reason=decision.reason,
        holder=decision.holder_id,
        first_name=decision.first_name,
        plan=decision.entitlement.kind if decision.entitlement else None,
        slot=decision.slot.slot if decision.slot else None,
        charged=charge is not None,
        spent=charge.spent if charge else 0,
        balance=decision.balance,
        clock_ok=decision.clock_ok,
        connected_ns=pending.connected_ns,
    )


def main(argv: list[str]) -> int:
    args = daemon_parser("halfday door", "le démon de la porte").parse_args(argv)
    start_logging(args.log_level)
    config = load_config(args.config)
    door = Door(config)
    signal.signal(signal.SIGTERM, lambda *_: door.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: door.stopping.set())
    try:
        door.start()
        door.run()
    finally:
        door.stop()
        log.info("porte arrêtée, verrou fermé")
    return 0
