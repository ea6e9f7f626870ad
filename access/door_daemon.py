"""`halfday door`: the only process that touches the reader and the GPIO pins.

A thin shell around the pure core: read an input (tap, exit button, door sensor, bus command, time), ask the
policy and the door state machine, record the outcome durably, drive the relay, tell the bus. It needs nothing
else running: with the bus down it still decides, opens and records.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from access import bus
from access.clock import ClockGuard, kernel_synchronised
from access.config import Config, load_config
from access.db import Database
from access.door import DoorMachine, DoorTiming, Output, staffed_at
from access.ledger import SlotRules
from access.notify import Notifier
from access.policy import AccessState, Decision, apply, decide
from access.store import (
    Stamp,
    append_event,
    boot_id,
    entry_data,
    get_meta,
    load_state,
    record_entry,
    set_meta,
    state_version,
)

log = logging.getLogger("halfday.door")

# How often the door looks for changes written by the kiosk or sync (new pass, roster): the bus says "reload"
# at once, this catches what the bus missed.
STATE_POLL_S = 1.0
# The retained door state is refreshed this often even without change, so a display can tell it is fresh.
STATE_PUBLISH_S = 30.0
# The time floor is written to the database at most this often (plus at every recorded event).
FLOOR_PERSIST_S = 60.0
# How long enrol mode waits for a badge when the command does not say.
ENROL_TIMEOUT_S = 30.0
# A failed write (disk full, database locked too long) is retried this often; the door keeps working meanwhile.
RETRY_S = 2.0
# Indicator: how long the green/red light and the buzzer show a decision.
INDICATOR_S = 1.0


@dataclass
class Input:
    kind: str  # tap | exit | door | cmd | reload
    value: Any = None
    at_ns: int = field(default_factory=time.monotonic_ns)


class Door:
    """The door daemon's parts and its loop. `pin_factory` lets tests drive gpiozero's MockFactory."""

    def __init__(
        self,
        config: Config,
        *,
        pin_factory: Any = None,
        use_bus: bool = True,
        kernel_synced: Any = kernel_synchronised,
    ) -> None:
        from hardware.devices import build_devices, build_reader

        self.config = config
        self.site = config.site
        # The lock first: it is built locked, before the database, the reader or the bus exist.
        self.devices = build_devices(config.hardware, pin_factory)
        self.inputs: queue.Queue[Input] = queue.Queue()
        self.machine = DoorMachine(DoorTiming(config.door.unlock_s, config.door.held_open_s))
        self.db = Database(config.database_url)
        self.boot = boot_id()
        self.kernel_synced = kernel_synced
        self.clock = ClockGuard(trust_always=config.door.trust_clock)
        self.rules = SlotRules(
            self.site.tz, self.site.slots.morning_start, self.site.slots.noon, self.site.slots.afternoon_end
        )
        self.state: AccessState = AccessState(rules=self.rules)
        self.version = -1
        self.enrol: tuple[str, float] | None = None  # (request id, monotonic deadline)
        self.pending: list[tuple[str, dict[str, Any], Stamp]] = []  # events whose write failed, retried
        self.notifier = Notifier()
        self.stopping = threading.Event()
        self.reader = build_reader(config.hardware.reader, lambda tap: self.inputs.put(Input("tap", tap)))
        self.bus = self._make_bus() if use_bus else None
        self.last_state_payload: bytes | None = None
        self.taps_recorded = 0
        schedule = tuple(
            (day, start.hour * 60 + start.minute, end.hour * 60 + end.minute) for day, start, end in config.door.staffed
        )
        self.schedule = schedule

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        sensor = self.devices.door_sensor
        opened = self.machine.start(sensor.is_open if sensor else False, time.monotonic())
        self._drive(opened)
        if sensor is not None:
            sensor.on_change = lambda is_open: self.inputs.put(Input("door", is_open))
        if self.devices.exit_button is not None:
            self.devices.exit_button.on_press = lambda: self.inputs.put(Input("exit"))
        with self.db.read() as session:
            floor = get_meta(session, "time_floor")
        if floor:
            self.clock.floor = dt.datetime.fromisoformat(floor)
        self._reload()
        if self.bus is not None:
            self.bus.subscribe(bus.DOOR_CMD)
            self.bus.start()
        self.reader.start()
        log.info("porte prête : %d badges connus, lecteur %s", len(self.state.credentials), self.reader.path)
        self.notifier.ready(f"{len(self.state.credentials)} badges")

    def stop(self) -> None:
        """Relock, record nothing half-done, release the pins."""
        self.stopping.set()
        self.notifier.stopping()
        self.devices.lock.lock()
        self.reader.stop()
        if self.bus is not None:
            self.bus.stop(final=self._state_message(offline=True))
        self.devices.close()
        self.db.dispose()

    def run(self) -> None:
        """The main loop, until `stopping` is set. Every input is handled here, one at a time."""
        next_poll = next_publish = next_floor = next_watchdog = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            deadline = min(next_poll, next_publish, self.machine.next_deadline() or next_poll)
            try:
                item = self.inputs.get(timeout=max(0.0, min(deadline - now, 0.5)))
            except queue.Empty:
                item = None
            if item is not None:
                self._handle(item)
            now = time.monotonic()
            self._drive(self.machine.tick(now, self._staffed()))
            if now >= next_poll:
                next_poll = now + STATE_POLL_S
                self._poll_changes()
            if now >= next_publish:
                next_publish = now + STATE_PUBLISH_S
                self.last_state_payload = None
            self._publish_state()
            if now >= next_floor:
                next_floor = now + FLOOR_PERSIST_S
                self._persist_floor()
            interval = self.notifier.watchdog_interval_s
            if interval is not None and now >= next_watchdog:
                next_watchdog = now + interval
                self.notifier.watchdog()

    # ------------------------------------------------------------------------------------------ inputs

    def _handle(self, item: Input) -> None:
        now = time.monotonic()
        if item.kind == "tap":
            self._tap(item.value.uid, item.value.connected_ns)
        elif item.kind == "exit":
            self._drive(self.machine.exit_button(now))
        elif item.kind == "door":
            self._drive(self.machine.door_changed(bool(item.value), now))
        elif item.kind == "cmd":
            self._command(item.value)
        elif item.kind == "reload":
            self._reload()

    def _tap(self, uid: str, connected_ns: int | None, request: str | None = None) -> Decision | None:
        if self.enrol is not None and request is None:
            enrol_request, until = self.enrol
            self.enrol = None
            if time.monotonic() <= until:
                log.info("badge %s présenté en mode enrôlement", uid)
                self._record("enrol", {"uid": uid})
                self._publish(bus.ENROLLED, bus.encode({"uid": uid, "request": enrol_request}))
                return None
        if uid not in self.state.credentials:
            self._poll_changes()  # a pass sold or a badge added a moment ago
        wall = dt.datetime.now(dt.UTC)
        clock_ok = self.clock.check(wall, self.kernel_synced())
        decision = decide(uid, wall, self.state, clock_ok=clock_ok)
        stamp = Stamp(wall, time.monotonic_ns(), self.boot, clock_ok)
        event_id, seq = self._record_entry(decision, stamp)
        # Committed first, then the relay: every opening has its record, even if the process dies right here.
        apply(decision, self.state)
        now = time.monotonic()
        self._drive(self.machine.grant(now) if decision.granted else self.machine.deny(now))
        self._publish(bus.TAP, bus.tap_payload(decision, event_id, seq, wall.isoformat(), connected_ns))
        log.info(
            "%s %s : %s (%s)",
            "entrée" if decision.granted else "refus",
            uid,
            decision.first_name or "inconnu",
            decision.reason.value,
        )
        return decision

    def _record_entry(self, decision: Decision, stamp: Stamp) -> tuple[str, int]:
        try:
            with self.db.write() as session:
                event_id, seq = record_entry(session, self.site.id, self.site.device, decision, stamp)
            self.taps_recorded += 1
            return event_id, seq
        except Exception:
            # The door must keep working: decide and open, and keep the record in memory until the disk is back.
            log.exception("écriture impossible : l'entrée est gardée en mémoire et sera réessayée")
            self.pending.append(("entry", entry_data(decision), stamp))
            return "", 0

    def _command(self, payload: dict[str, Any]) -> None:
        name = payload.get("name")
        request = str(payload.get("request") or "")
        if name == "unlock":
            by = str(payload.get("by") or "manager")
            self._drive(self.machine.remote_unlock(time.monotonic(), by, payload.get("ref")))
            self._reply(request, True, "unlocked", "Porte ouverte")
        elif name == "admit":
            credential = str(payload.get("credential") or "")
            decision = self._tap(credential, None, request=request or "admit")
            if decision is not None:
                self._reply(request, decision.granted, decision.reason.value, decision.message("fr"))
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

    def _drive(self, out: Output) -> None:
        lock = self.devices.lock
        if out.unlocked and not lock.is_unlocked:
            lock.unlock()
        elif not out.unlocked and lock.is_unlocked:
            lock.lock()
        if out.indicator is not None:
            self._indicate(out.indicator)
        for kind, data in out.events:
            self._record(kind, data)
            if kind == "alarm" and data.get("active"):
                log.warning("alarme %s", data["type"])

    def _indicate(self, what: str) -> None:
        indicator = self.devices.indicator
        if what == "grant":
            indicator.blink("green", on_s=INDICATOR_S, off_s=0.0, times=1)
            indicator.blink("buzzer", on_s=0.1, off_s=0.0, times=1)
        else:
            indicator.blink("red", on_s=INDICATOR_S, off_s=0.0, times=1)
            indicator.blink("buzzer", on_s=0.1, off_s=0.1, times=2)

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        wall = dt.datetime.now(dt.UTC)
        stamp = Stamp(wall, time.monotonic_ns(), self.boot, self.clock.check(wall, self.kernel_synced()))
        try:
            with self.db.write() as session:
                self._flush_pending(session)
                append_event(session, self.site.device, kind, data, stamp)
        except Exception:
            log.exception("écriture impossible : événement %s gardé en mémoire", kind)
            self.pending.append((kind, data, stamp))

    def _flush_pending(self, session: Any) -> None:
        while self.pending:
            kind, data, stamp = self.pending[0]
            append_event(session, self.site.device, kind, data, stamp)
            self.pending.pop(0)

    def _publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        # Live news only: when the bus is down the kiosk catches up from the database, so nothing is queued.
        if self.bus is not None and self.bus.connected:
            self.bus.publish(topic, payload, qos=1, retain=retain, windowed=False)

    def _reply(self, request: str, ok: bool, reason: str, message: str) -> None:
        self._publish(bus.DOOR_REPLY, bus.encode({"request": request, "ok": ok, "reason": reason, "message": message}))

    def _state_message(self, offline: bool = False) -> Any:
        from sync.mqtt import Message

        return Message(bus.DOOR_STATE, self._state_payload(offline), qos=1, retain=True)

    def _state_payload(self, offline: bool = False) -> bytes:
        if offline:
            return bus.encode({"online": False})
        health = self.reader.health
        return bus.encode(
            {
                "online": True,
                "locked": not self.devices.lock.is_unlocked,
                "open": self.machine.door_open,
                "alarms": sorted(self.machine.alarms),
                "staffed": self.machine.staffed,
                "reader": {"state": health.state, "detail": health.detail, "reopens": health.reopens},
                "pending_writes": len(self.pending),
            }
        )

    def _publish_state(self) -> None:
        payload = self._state_payload()
        if payload != self.last_state_payload and self.bus is not None and self.bus.connected:
            self.last_state_payload = payload
            self._publish(bus.DOOR_STATE, payload, retain=True)

    # ------------------------------------------------------------------------------------------ state

    def _reload(self) -> None:
        today = dt.datetime.now(self.site.tz).date()
        with self.db.read() as session:
            self.version = state_version(session)
            self.state = load_state(
                session, self.rules, self.site.id, self.site.device, today, self.config.door.clock_unsure
            )

    def _poll_changes(self) -> None:
        try:
            with self.db.read() as session:
                version = state_version(session)
            if version != self.version:
                self._reload()
            if self.pending:
                with self.db.write() as session:
                    self._flush_pending(session)
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

    def _make_bus(self) -> Any:
        from sync.mqtt import MqttClient, MqttSettings, Will

        broker = self.config.bus
        settings = MqttSettings.from_url(
            broker.url, username=broker.username, password_file=broker.password_file, ca_file=broker.ca_file
        )

        def on_message(message: Any) -> None:
            payload = bus.decode(message.payload)
            if payload is None or payload.get("name") not in bus.COMMANDS:
                log.warning("message ignoré sur %s : charge utile invalide", message.topic)
                return
            self.inputs.put(Input("cmd", payload))

        def on_connect(_session_present: bool) -> None:
            self.last_state_payload = None  # publish the state again on every (re)connection

        return MqttClient(
            settings,
            f"halfday-door-{self.site.id}-{self.site.device}-{os.getpid()}",
            clean_start=True,
            session_expiry_s=0,
            will=Will(bus.DOOR_STATE, bus.encode({"online": False})),
            on_message=on_message,
            on_connect=on_connect,
        )


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
