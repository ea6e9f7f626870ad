"""`halfday door`: the only process that touches the reader and the GPIO pins.

A thin shell around the pure core: read an input (tap, exit button, door sensor, bus command, time), ask the
policy and the door state machine, drive the relay, record the outcome durably, tell the bus. It needs nothing
else running: with the bus down it still decides, opens and records.

A tap is decided on the reader's thread, and the relay energised there at once; the durable commit follows on the
main thread within a millisecond. If the process dies in between, the GPIO line is released and a fail-secure
lock relocks: the door cannot be opened in that millisecond, so no visit happens without its record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from access.clock import ClockGuard, kernel_synchronised
from access.config import Config, load_config
from access.daemon.notify import Notifier
from access.db import Database
from access.door import DoorMachine, DoorTiming, Output, staffed_at
from access.ledger import SlotRules
from access.policy import AccessState, Decision, apply, decide
from access.store import (
    Stamp,
    append_event,
    boot_id,
    entry_data,
    get_meta,
    load_state,
    record_entries,
    set_meta,
    state_version,
)
from sync import localbus as bus

log = logging.getLogger("halfday.door")

# How often the door looks for changes written by the kiosk or sync (new pass, roster): the bus says "reload"
# at once, this catches what the bus missed.
STATE_POLL_S = 1.0
# The retained door state is refreshed this often even without change, so a display can tell it is fresh.
STATE_PUBLISH_S = 30.0
# The time floor is written to the database at most this often.
FLOOR_PERSIST_S = 60.0
# How long enrol mode waits for a badge when the command does not say.
ENROL_TIMEOUT_S = 30.0
# Indicator: how long the green/red light shows a decision, and the buzzer: a short beep says yes, a long one no.
INDICATOR_S = 1.0
BEEP_GRANT_S = 0.1
BEEP_DENY_S = 0.5
# How long a busy thread may keep the interpreter before the reader's thread gets it (Python's default is 5 ms):
# a tap arriving while the main thread writes to the database must not wait for it.
SWITCH_INTERVAL_S = 0.0005


@dataclass
class Input:
    kind: str  # tap | record | exit | door | cmd | reload
    value: Any = None
    at_ns: int = field(default_factory=time.monotonic_ns)


@dataclass
class Pending:
    """A decision taken and acted on, waiting for its durable commit."""

    decision: Decision
    stamp: Stamp
    connected_ns: int | None
    request: str | None
    committed_ns: int = 0


class Door:
    """The door daemon's parts and its loop. `pin_factory` lets tests drive gpiozero's MockFactory."""

    def __init__(
        self, config: Config, *, pin_factory: Any = None, use_bus: bool = True, kernel_synced: Any = kernel_synchronised
    ) -> None:
        from hardware.devices import build_devices, build_reader

        self.config = config
        self.site = config.site
        # The lock first: it is built locked, before the database, the reader or the bus exist.
        self.devices = build_devices(config.hardware, pin_factory)
        self.lock = threading.RLock()  # guards the state, the machine and the relay (reader and main threads)
        self.inputs: queue.Queue[Input] = queue.Queue()
        self.machine = DoorMachine(DoorTiming(config.door.unlock_s, config.door.held_open_s))
        self.db = Database(config.database_url)
        self.boot = boot_id()
        self.kernel_synced = kernel_synced
        # The kernel's answer, refreshed by the main loop: asking it costs a foreign call, which hands the
        # interpreter to other threads in the middle of a tap.
        self.synced = False
        self.clock = ClockGuard(trust_always=config.door.trust_clock)
        slots = self.site.slots
        self.rules = SlotRules(self.site.tz, slots.morning_start, slots.noon, slots.afternoon_end)
        self.state = AccessState(rules=self.rules)
        self.version = -1
        self.enrol: tuple[str, float] | None = None  # (request id, monotonic deadline)
        self.uncommitted: list[Pending] = []  # acted on, not yet durable (re-applied after a reload)
        self.failed: list[tuple[str, dict[str, Any], Stamp]] = []  # writes that failed, retried
        self.notifier = Notifier()
        self.stopping = threading.Event()
        self.reader = build_reader(config.hardware.reader, self._on_tap)
        self.bus = None
        if use_bus:
            from access.daemon.bus import DoorBus

            self.bus = DoorBus(config, lambda payload: self.inputs.put(Input("cmd", payload)))
        self.schedule = tuple(
            (day, start.hour * 60 + start.minute, end.hour * 60 + end.minute) for day, start, end in config.door.staffed
        )
        self.light_off_at: float | None = None
        self.buzzer_off_at: float | None = None
        self.recorded: list[Pending] = []  # the last few commits, for benchmarks and diagnostics
        self.taps_recorded = 0

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        sensor = self.devices.door_sensor
        with self.lock:
            self._drive(self.machine.start(sensor.is_open if sensor else False, time.monotonic()))
        if sensor is not None:
            sensor.on_change = lambda is_open: self.inputs.put(Input("door", is_open))
        if self.devices.exit_button is not None:
            self.devices.exit_button.on_press = lambda: self.inputs.put(Input("exit"))
        self.synced = self.kernel_synced()
        with self.db.read() as session:
            floor = get_meta(session, "time_floor")
        if floor:
            self.clock.floor = dt.datetime.fromisoformat(floor)
        self._reload()
        if self.bus is not None:
            self.bus.start()
        self.reader.start()
        log.info("porte prête : %d badges connus, lecteur %s", len(self.state.credentials), self.reader.path)
        self.notifier.ready(f"{len(self.state.credentials)} badges")

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
        if self.bus is not None:
            self.bus.stop()
        self.devices.close()
        self.db.dispose()

    def run(self) -> None:
        """The main loop, until `stopping` is set: inputs one at a time, then the passing of time."""
        next_poll = next_publish = next_floor = next_watchdog = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            deadline = min(
                next_poll,
                next_publish,
                self.machine.next_deadline() or next_poll,
                self.buzzer_off_at or next_poll,
                self.light_off_at or next_poll,
            )
            try:
                item: Input | None = self.inputs.get(timeout=max(0.0, min(deadline - now, 0.5)))
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
                self._indicator_tick(now)
            if now >= next_poll:
                next_poll = now + STATE_POLL_S
                self.synced = self.kernel_synced()
                self._poll_changes()
            refresh = now >= next_publish
            if refresh:
                next_publish = now + STATE_PUBLISH_S
            if self.bus is not None:
                self.bus.publish_state(self._state_payload(), force=refresh)
            if now >= next_floor:
                next_floor = now + FLOOR_PERSIST_S
                self._persist_floor()
            interval = self.notifier.watchdog_interval_s
            if interval is not None and now >= next_watchdog:
                next_watchdog = now + interval
                self.notifier.watchdog()

    # ------------------------------------------------------------------------------------------ taps

    def _on_tap(self, tap: Any) -> None:
        self.handle_tap(tap.uid, tap.connected_ns)

    def handle_tap(self, uid: str, connected_ns: int | None, request: str | None = None) -> Decision | None:
        """Decide on a tap (or a pass the kiosk admits) and drive the relay at once; the commit is queued."""
        if uid not in self.state.credentials:
            self._poll_changes()  # a pass sold or a badge added a moment ago
        with self.lock:
            if self.enrol is not None and request is None:
                enrol_request, until = self.enrol
                self.enrol = None
                if time.monotonic() <= until:
                    self.inputs.put(Input("cmd", {"name": "_enrolled", "uid": uid, "request": enrol_request}))
                    return None
            wall = dt.datetime.now(dt.UTC)
            clock_ok = self.clock.check(wall, self.synced)
            decision = decide(uid, wall, self.state, clock_ok=clock_ok)
            now = time.monotonic()
            out = self.machine.grant(now) if decision.granted else self.machine.deny(now)
            self._set_relay(out.unlocked)
            apply(decision, self.state)
            pending = Pending(decision, Stamp(wall, time.monotonic_ns(), self.boot, clock_ok), connected_ns, request)
            self.uncommitted.append(pending)
        self.inputs.put(Input("record", pending))
        return decision

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
        ids: list[tuple[str, int]] = [("", 0)] * len(batch)
        try:
            with self.db.write() as session:
                self._flush_failed(session)
                entries = [(p.decision, p.stamp) for p in batch]
                ids = record_entries(session, self.site.id, self.site.device, entries)
            committed_ns = time.monotonic_ns()
            for pending in batch:
                pending.committed_ns = committed_ns
            self.taps_recorded += len(batch)
        except Exception:
            # The door keeps working: the records wait in memory until the disk takes them.
            log.exception("écriture impossible : les entrées sont gardées en mémoire et seront réessayées")
            self.failed.extend(("entry", entry_data(p.decision), p.stamp) for p in batch)
        with self.lock:
            for pending in batch:
                if pending in self.uncommitted:
                    self.uncommitted.remove(pending)
            last = batch[-1].decision
            self._indicate("grant" if last.granted else "deny")
        self.recorded = [*self.recorded[-(100 - len(batch)) :], *batch][-100:]
        for pending, (event_id, seq) in zip(batch, ids, strict=True):
            self._announce(pending, event_id, seq)

    def _announce(self, pending: Pending, event_id: str, seq: int) -> None:
        decision = pending.decision
        if self.bus is not None and event_id:
            at = pending.stamp.at.isoformat()
            self.bus.publish(bus.TAP, bus.tap_payload(decision, event_id, seq, at, pending.connected_ns))
        if pending.request:
            self._reply(pending.request, decision.granted, decision.reason.value, decision.message("fr"))
        verdict = "entrée" if decision.granted else "refus"
        log.info("%s %s : %s (%s)", verdict, decision.credential, decision.first_name or "inconnu", decision.reason)

    # ------------------------------------------------------------------------------------------ other inputs

    def _handle(self, item: Input) -> None:
        now = time.monotonic()
        if item.kind == "exit":
            self._drive(self.machine.exit_button(now))
        elif item.kind == "door":
            self._drive(self.machine.door_changed(bool(item.value), now))
        elif item.kind == "cmd":
            self._command(item.value)
        elif item.kind == "reload":
            self._reload()

    def _command(self, payload: dict[str, Any]) -> None:
        name = payload.get("name")
        request = str(payload.get("request") or "")
        if name == "_enrolled":
            log.info("badge %s présenté en mode enrôlement", payload["uid"])
            self._record("enrol", {"uid": payload["uid"]})
            if self.bus is not None:
                self.bus.publish(bus.ENROLLED, bus.encode({"uid": payload["uid"], "request": payload["request"]}))
        elif name == "unlock":
            by = str(payload.get("by") or "manager")
            self._drive(self.machine.remote_unlock(time.monotonic(), by, payload.get("ref")))
            self._reply(request, True, "unlocked", "Porte ouverte")
        elif name == "admit":
            self.handle_tap(str(payload.get("credential") or ""), None, request=request or "admit")
        elif name == "enrol":
            timeout = payload.get("timeout_s")
            seconds = float(timeout) if isinstance(timeout, (int, float)) and 0 < timeout <= 300 else ENROL_TIMEOUT_S
            self.enrol = (request, time.monotonic() + seconds)
            self._reply(request, True, "enrol", "Présentez le badge au lecteur")
        elif name == "reload":
            self._reload()
            self._reply(request, True, "reloaded", "")
        else:
            log.warning("commande inconnue ignorée : %r", name)
            self._reply(request, False, "unknown_command", "Commande inconnue")

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
            self._indicate(out.indicator)
        for kind, data in out.events:
            self._record(kind, data)
            if kind == "alarm" and data.get("active"):
                log.warning("alarme %s", data["type"])

    def _indicate(self, what: str) -> None:
        # Switched on here and off by the main loop's clock: no thread per decision.
        indicator = self.devices.indicator
        granted = what == "grant"
        indicator.off("red" if granted else "green")
        indicator.on("green" if granted else "red")
        indicator.on("buzzer")
        now = time.monotonic()
        self.light_off_at = now + INDICATOR_S
        self.buzzer_off_at = now + (BEEP_GRANT_S if granted else BEEP_DENY_S)

    def _indicator_tick(self, now: float) -> None:
        indicator = self.devices.indicator
        if self.buzzer_off_at is not None and now >= self.buzzer_off_at:
            self.buzzer_off_at = None
            indicator.off("buzzer")
        if self.light_off_at is not None and now >= self.light_off_at:
            self.light_off_at = None
            indicator.off("green")
            indicator.off("red")

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        wall = dt.datetime.now(dt.UTC)
        stamp = Stamp(wall, time.monotonic_ns(), self.boot, self.clock.check(wall, self.synced))
        try:
            with self.db.write() as session:
                self._flush_failed(session)
                append_event(session, self.site.device, kind, data, stamp)
        except Exception:
            log.exception("écriture impossible : événement %s gardé en mémoire", kind)
            self.failed.append((kind, data, stamp))

    def _flush_failed(self, session: Any) -> None:
        while self.failed:
            kind, data, stamp = self.failed[0]
            append_event(session, self.site.device, kind, data, stamp)
            self.failed.pop(0)

    def _reply(self, request: str, ok: bool, reason: str, message: str) -> None:
        if self.bus is not None:
            payload = {"request": request, "ok": ok, "reason": reason, "message": message}
            self.bus.publish(bus.DOOR_REPLY, bus.encode(payload))

    def _state_payload(self) -> bytes:
        health = self.reader.health
        with self.lock:
            return bus.encode(
                {
                    "online": True,
                    "locked": not self.devices.lock.is_unlocked,
                    "open": self.machine.door_open,
                    "alarms": sorted(self.machine.alarms),
                    "staffed": self.machine.staffed,
                    "reader": {"state": health.state, "detail": health.detail, "reopens": health.reopens},
                    "pending_writes": len(self.failed),
                }
            )

    # ------------------------------------------------------------------------------------------ state

    def _reload(self) -> None:
        today = dt.datetime.now(self.site.tz).date()
        with self.db.read() as session:
            version = state_version(session)
            state = load_state(
                session, self.rules, self.site.id, self.site.device, today, self.config.door.clock_unsure
            )
        with self.lock:
            # Decisions acted on but not yet committed are not in the database: carry them over.
            for pending in self.uncommitted:
                if pending.decision.holder_id in state.holders:
                    _reapply(pending.decision, state)
            self.state, self.version = state, version

    def _poll_changes(self) -> None:
        try:
            with self.db.read() as session:
                version = state_version(session)
            if version != self.version:
                self._reload()
            if self.failed:
                with self.db.write() as session:
                    self._flush_failed(session)
        except Exception:
            log.exception("lecture de la base impossible ; la porte décide sur ce qu'elle sait")

    def _persist_floor(self) -> None:
        if self.clock.floor is None:
            return
        try:
            with self.db.write() as session:
                set_meta(session, "time_floor", self.clock.floor.isoformat())
        except Exception:
            log.exception("plancher horaire non enregistré")

    def _staffed(self) -> bool:
        if not self.schedule:
            return False
        local = dt.datetime.now(self.site.tz)
        return staffed_at(local.weekday(), local.hour * 60 + local.minute, self.schedule)


def _reapply(decision: Decision, state: AccessState) -> None:
    """Apply a decision taken on an older state to a freshly loaded one (same holder and right, new objects)."""
    charge = decision.charge
    if charge is None or decision.holder_id is None:
        return
    holder = state.holders[decision.holder_id]
    entitlement = next((e for e in holder.entitlements if e.id == charge.entitlement_id), None)
    if entitlement is not None and not state.uses.has(decision.holder_id, decision.slot):  # type: ignore[arg-type]
        state.uses.add(decision.holder_id, charge.date, charge.slot)
        if entitlement.balance is not None:
            entitlement.balance -= charge.spent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="halfday door", description="le démon de la porte")
    parser.add_argument("--config", default=os.environ.get("HALFDAY_CONFIG", "/etc/halfday/halfday.toml"))
    parser.add_argument("--log-level", default=os.environ.get("HALFDAY_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
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
