"""`halfday homeassistant`: the bridge to the site's own home automation. It reads the local bus (the door's state,
live taps) and the ledger (counts, alarms), and publishes Home Assistant's MQTT discovery and the states on the
site's own broker: a second connection, never the local bus (the config refuses it).

Remote unlock only with `[homeassistant] allow_unlock = true`: then, and only then, a button is advertised and its
command topic subscribed; a press is passed to the door over the local bus as the kiosk's unlock is, and the door
records it as an "unlock" event (by "manager", ref "homeassistant").
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.exc import DatabaseError

from access.alarms import active_alarms
from access.config import Config, ConfigError, load_config
from access.counts import site_counts
from access.db import Database
from common.daemons import daemon_parser, start_logging
from common.words import Alarm
from sync.homeassistant.discovery import AVAILABLE, NOT_AVAILABLE, PRESS, Discovery, SiteView
from sync.localbus import DOOR_STATE, MAX_PACKET_BYTES, TAP, BusError, DoorState, Unlock
from sync.mqtt import Message, MqttClient, MqttSettings, Will

log = logging.getLogger("halfday.homeassistant")

# The counts and the alarms are read again this often without news: a slot's change at noon, an alarm the sync
# agent raised (it is not on the bus), a day's turn.
REFRESH_S = 60.0
# Presses closer than this are one press: a double tap in Home Assistant's app opens the door once.
PRESS_GAP_S = 3.0
# The loop looks whether it is asked to stop this often.
STOP_POLL_S = 0.5


@dataclass(frozen=True)
class BridgeTuning:
    refresh_s: float = REFRESH_S
    press_gap_s: float = PRESS_GAP_S


class Bridge:
    """The bridge's loop: messages from both brokers go through one queue to one thread, which alone publishes."""

    def __init__(
        self,
        config: Config,
        db: Database | None = None,
        tuning: BridgeTuning | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if config.homeassistant is None:
            raise ConfigError("homeassistant", "est absente : sans elle, rien n'est publié pour Home Assistant")
        self.config = config
        self.ha = config.homeassistant
        self.db = db or Database(config.database_url)
        self.tuning = tuning or BridgeTuning()
        self.now = now
        self.discovery = Discovery(
            self.ha.discovery_prefix,
            self.ha.node_id,
            config.site.name,
            allow_unlock=self.ha.allow_unlock,
            language=self.ha.language,
        )
        self.view = SiteView()
        self._door_alarms: frozenset[Alarm] = frozenset()
        self._published: dict[str, bytes] = {}
        self._last_press = float("-inf")
        self.inbox: queue.Queue[tuple[str, Message | None]] = queue.Queue()
        self.stopping = threading.Event()
        self.unlocks = 0
        d = self.discovery
        self.site_broker = MqttClient(
            MqttSettings.from_config(self.ha.broker),
            f"halfday-ha-{self.ha.node_id}-{uuid.uuid4().hex[:6]}",
            clean_start=True,
            session_expiry_s=0,
            will=Will(d.availability_topic, NOT_AVAILABLE.encode(), retain=True),
            on_message=lambda m: self.inbox.put(("site", m)),
            on_connect=lambda _present: self.inbox.put(("connected", None)),
        )
        self.site_broker.subscribe(d.birth_topic)
        if self.ha.allow_unlock:
            self.site_broker.subscribe(d.command_topic)
        self.bus = MqttClient(
            MqttSettings.from_config(config.bus, max_packet_bytes=MAX_PACKET_BYTES),
            f"halfday-ha-{config.site.id}-{uuid.uuid4().hex[:6]}",
            clean_start=True,
            session_expiry_s=0,
            on_message=lambda m: self.inbox.put(("bus", m)),
        )
        for topic in (DOOR_STATE, TAP):
            self.bus.subscribe(topic)

    def start(self) -> None:
        self.site_broker.start()
        self.bus.start()

    def stop(self) -> None:
        self.stopping.set()
        offline = Message(self.discovery.availability_topic, NOT_AVAILABLE.encode(), retain=True)
        self.site_broker.stop(final=offline)
        self.bus.stop(timeout=1.0)
        self.db.dispose()

    def run(self) -> None:
        self.refresh()
        next_refresh = time.monotonic() + self.tuning.refresh_s
        while not self.stopping.is_set():
            try:
                source, message = self.inbox.get(timeout=STOP_POLL_S)
            except queue.Empty:
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + self.tuning.refresh_s
                    self.refresh()
                    self.publish_states()
                continue
            try:
                self.handle(source, message)
            except Exception:
                log.exception("message de %s non traité", source)

    # ------------------------------------------------------------------------------------------ inputs

    def handle(self, source: str, message: Message | None) -> None:
        d = self.discovery
        if source == "connected":
            log.info("relié au courtier de Home Assistant : annonce de %d entités", len(d.entities()))
            self.announce()
        elif source == "site" and message is not None:
            if message.topic == d.birth_topic and message.payload == AVAILABLE.encode():
                # Home Assistant restarted and forgot what is not retained: tell it everything again.
                self.announce()
            elif message.topic == d.command_topic and self.ha.allow_unlock:
                self.press(message.payload)
        elif source == "bus" and message is not None:
            if message.topic == DOOR_STATE:
                try:
                    self.door_news(DoorState.decode(message.payload))
                except BusError as exc:
                    log.warning("état de la porte illisible : %s", exc)
                    return
            self.refresh()
            self.publish_states()

    def door_news(self, state: DoorState) -> None:
        if not state.online:
            self.view = replace(self.view, door_open=None, locked=None, reader_ok=None)
            self._door_alarms = frozenset()
            return
        reader = state.reader.state == "ok" if state.reader is not None else None
        self.view = replace(self.view, door_open=state.open, locked=state.locked, reader_ok=reader)
        self._door_alarms = frozenset(state.alarms)

    def press(self, payload: bytes) -> None:
        """A press of the unlock button: one unlock pulse, asked of the door over the local bus."""
        if payload != PRESS.encode():
            log.warning("commande d'ouverture inattendue ignorée")
            return
        moment = self.now().timestamp()
        if moment - self._last_press < self.tuning.press_gap_s:
            return
        self._last_press = moment
        if not self.bus.connected:
            # Never queued: an unlock delivered late would open the door for nobody.
            log.warning("ouverture demandée par Home Assistant, mais le bus local est injoignable")
            return
        unlock = Unlock(uuid.uuid4().hex, by="manager", ref="homeassistant")
        self.bus.publish(unlock.topic, unlock.encode(), windowed=False)
        self.unlocks += 1
        log.info("ouverture demandée par Home Assistant")

    # ------------------------------------------------------------------------------------------ outputs

    def refresh(self) -> None:
        """Read the counts and the raised alarms from the ledger; the door's own alarms from the bus join them."""
        site = self.config.site
        view = self.view
        raised: set[Alarm] = set()
        try:
            with self.db.read() as session:
                counts = site_counts(session, site.id, self.now(), site.rules)
                raised = set(active_alarms(session))
            view = replace(view, present=counts.present, today=counts.today, month=counts.month)
        except DatabaseError:
            # The door says so itself (its "database" alarm, on the bus): the counts stay those read last.
            log.exception("registre illisible : les compteurs restent ceux d'avant")
        # The door's state is at most a moment ahead of its events: a forced door shows at once.
        self.view = replace(view, alarms=frozenset(raised | self._door_alarms))

    def announce(self) -> None:
        """Availability, every config (retained), then every state, whatever was published before."""
        d = self.discovery
        self.site_broker.publish(d.availability_topic, AVAILABLE.encode(), retain=True, windowed=False)
        for topic, payload in d.configs():
            self.site_broker.publish(topic, payload, retain=True, windowed=False)
        self._published.clear()
        self.refresh()
        self.publish_states()

    def publish_states(self) -> None:
        """The states that changed since last published (retained: Home Assistant reads them when it starts)."""
        if not self.site_broker.connected:
            return
        for topic, payload in self.view.states(self.discovery).items():
            if self._published.get(topic) == payload:
                continue
            if self.site_broker.publish(topic, payload, retain=True, windowed=False):
                self._published[topic] = payload


def main(argv: list[str]) -> int:
    args = daemon_parser("halfday homeassistant", "le pont vers Home Assistant (découverte MQTT)").parse_args(argv)
    start_logging(args.log_level)
    config = load_config(args.config)
    bridge = Bridge(config)
    signal.signal(signal.SIGTERM, lambda *_: bridge.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: bridge.stopping.set())
    bridge.start()
    try:
        bridge.run()
    finally:
        bridge.stop()
    return 0
