"""A small typed MQTT 5 client over paho-mqtt 2.x, shared by the hub and the appliance's sync agent.

What it adds to paho: settings from a URL, subscriptions restored on every reconnect, reconnect with backoff,
callbacks that can never kill paho's network thread, and a bounded publish window. paho keeps every unacknowledged
QoS 1 message in memory and slows to a crawl with thousands queued at once, so `publish` waits while
`max_in_flight` messages are unacknowledged; the caller's durable outbox holds the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from common.config import BrokerConfig
from sync.protocol import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

# Reconnect backoff: start fast (a broker restart takes about a second), double up to half a minute so a long
# outage does not hammer the broker.
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
# Keepalive: a dead TCP connection is noticed within 1.5 x this.
KEEPALIVE_S = 30
# How long the broker keeps a persistent session (subscriptions and queued QoS 1 messages) after a disconnect:
# a day covers a weekend-long outage of a site's link without keeping dead sessions for ever.
SESSION_EXPIRY_S = 24 * 3600
# Unacknowledged QoS 1 publishes allowed at once (see module docstring).
MAX_IN_FLIGHT = 100
# The largest packet we accept, announced to the broker at connect (MQTT 5 Maximum Packet Size): a bigger one is
# dropped by the broker instead of being read whole into our memory. The protocol's largest payload plus room for
# the topic and the properties.
MAX_PACKET_BYTES = MAX_MESSAGE_BYTES + 16 * 1024


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to connect: `mqtt://host:port` or `mqtts://host:port`, credentials, TLS files."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: int = KEEPALIVE_S
    max_packet_bytes: int = MAX_PACKET_BYTES

    @classmethod
    def from_config(cls, broker: BrokerConfig, **overrides: Any) -> MqttSettings:
        """The one way from a config's broker section to settings: its URL, user, password file and TLS files (the
        password is read from its file, so it stays out of the config)."""
        parts = urlsplit(broker.url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(
                f"l'adresse du broker {broker.url!r} doit être de la forme mqtt://hôte:1883 ou mqtts://hôte:8883"
            )
        tls = parts.scheme == "mqtts"
        password = Path(broker.password_file).read_text().strip() if broker.password_file else parts.password
        settings = cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=broker.username or parts.username,
            password=password,
            ca_file=broker.ca_file,
            cert_file=broker.cert_file,
            key_file=broker.key_file,
        )
        return dataclasses.replace(settings, **overrides) if overrides else settings

    @classmethod
    def from_url(cls, url: str) -> MqttSettings:
        """Settings for a broker that needs nothing but its address."""
        return cls.from_config(BrokerConfig(url))


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True)
class Will:
    """The message the broker publishes for us when our connection dies without a clean disconnect."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass
class _Window:
    limit: int
    cond: threading.Condition = field(default_factory=threading.Condition)
    pending: set[int] = field(default_factory=set)
    # PUBACKs that arrived before publish() had recorded their mid (the network thread can be that quick).
    early: set[int] = field(default_factory=set)
    # Publishes that bypass the window, so their PUBACKs are not taken for early ones.
    bypass: set[int] = field(default_factory=set)
    reserved: int = 0


class MqttClient:
    """One MQTT 5 connection, reconnecting by itself, with a bounded window of unacknowledged publishes."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        clean_start: bool = False,
        session_expiry_s: int = SESSION_EXPIRY_S,
        will: Will | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        on_message: Callable[[Message], None] | None = None,
        on_connect: Callable[[bool], None] | None = None,
        reconnect_min_s: int = RECONNECT_MIN_S,
        reconnect_max_s: int = RECONNECT_MAX_S,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.clean_start = clean_start
        self.session_expiry_s = session_expiry_s
        self.on_message = on_message
        self.on_connect = on_connect
        self._subscriptions: dict[str, int] = {}
        self._connected = threading.Event()
        # Set once the broker has acknowledged every subscription of this connection: before that, a message
        # published to one of them is not delivered here (another client's publish may overtake our SUBSCRIBE).
        self._subscribed = threading.Event()
        self._sub_lock = threading.Lock()
        self._sub_pending: set[int] = set()
        self._sub_early: set[int] = set()
        self._window = _Window(max_in_flight)
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
        )
        # paho's own limit would queue the rest in memory; our window already bounds what we hand it.
        self._client.max_inflight_messages_set(max(max_in_flight, 1))
        self._client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        if settings.username is not None:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls or settings.ca_file:
            self._client.tls_set(
                ca_certs=settings.ca_file,
                certfile=settings.cert_file,
                keyfile=settings.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        if will is not None:
            self._client.will_set(will.topic, will.payload, will.qos, will.retain)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        self._client.on_publish = self._handle_publish
        self._client.on_subscribe = self._handle_subscribe

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect in the background; paho's thread reconnects with backoff for as long as we run."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        props.MaximumPacketSize = self.settings.max_packet_bytes
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=self.clean_start,
            properties=props,
        )
        self._client.loop_start()

    def stop(self, *, final: Message | None = None, timeout: float = 5.0) -> None:
        """Publish `final` if given (e.g. an offline status), disconnect cleanly, stop the network thread."""
        if final is not None and self.connected:
            info = self._client.publish(final.topic, final.payload, final.qos, final.retain)
            info.wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Connected, and every subscription acknowledged by the broker: what is published from now on arrives."""
        deadline = time.monotonic() + timeout
        return self._connected.wait(timeout) and self._subscribed.wait(max(0.0, deadline - time.monotonic()))

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        self._subscriptions[topic_filter] = qos
        if self.connected:
            self._send_subscribe(self._client, topic_filter, qos)

    def _send_subscribe(self, client: paho.Client, topic_filter: str, qos: int) -> None:
        with self._sub_lock:
            self._subscribed.clear()
        _result, mid = client.subscribe(topic_filter, options=SubscribeOptions(qos=qos))
        with self._sub_lock:
            if mid is None:  # not sent (the connection just dropped): the next connect subscribes again
                return
            if mid in self._sub_early:  # acknowledged before we got here
                self._sub_early.discard(mid)
            else:
                self._sub_pending.add(mid)
            if not self._sub_pending:
                self._subscribed.set()

    # ------------------------------------------------------------------------------------------ publishing

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float | None = None,
        windowed: bool = True,
    ) -> bool:
        """Hand a message to paho, first waiting while the window is full. False if `timeout` passed first.

        `windowed=False` skips the wait: for small replies sent from a thread that paho's network thread may be
        waiting on, where waiting for a PUBACK would deadlock.
        """
        return self._send(topic, payload, qos, retain, timeout, windowed) is not None

    def publish_all(
        self, messages: Sequence[tuple[str, bytes]], *, retain: bool = False, timeout: float = 10.0
    ) -> bool:
        """Publish at QoS 1 and wait until the broker acknowledged every one; False if not connected, or not all
        confirmed within `timeout`. The window bounds how many are in flight (a thousand sites' deltas at once).
        Not from paho's network thread (it is the one that processes the PUBACKs)."""
        deadline = time.monotonic() + timeout
        infos = []
        for topic, payload in messages:
            if not self.connected:
                return False
            info = self._send(topic, payload, 1, retain, max(0.0, deadline - time.monotonic()), True)
            if info is None:
                return False
            infos.append(info)
        try:
            for info in infos:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (ValueError, RuntimeError):
            return False
        return all(info.is_published() for info in infos)

    def _send(
        self, topic: str, payload: bytes, qos: int, retain: bool, timeout: float | None, windowed: bool
    ) -> paho.MQTTMessageInfo | None:
        w = self._window
        if windowed and qos > 0:
            with w.cond:
                if not w.cond.wait_for(lambda: len(w.pending) + w.reserved < w.limit, timeout):
                    return None
                w.reserved += 1
        try:
            info = self._client.publish(topic, payload, qos, retain)
        finally:
            if windowed and qos > 0:
                with w.cond:
                    w.reserved -= 1
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"paho a refusé de publier sur {topic} : {paho.error_string(info.rc)}")
        if qos > 0:
            self._track(info.mid, windowed=windowed)
        return info

    def _track(self, mid: int, *, windowed: bool) -> None:
        w = self._window
        with w.cond:
            if mid in w.early:
                w.early.discard(mid)
                w.cond.notify_all()
            else:
                (w.pending if windowed else w.bypass).add(mid)

    def publish_confirmed(self, topic: str, payload: bytes, *, retain: bool = False, timeout: float = 5.0) -> bool:
        """Publish at QoS 1 and wait for the broker's PUBACK; False if not connected or not confirmed in time.

        Not from paho's network thread (it is the one that would process the PUBACK).
        """
        if not self.connected:
            return False
        info = self._client.publish(topic, payload, 1, retain)
        self._track(info.mid, windowed=False)
        try:
            info.wait_for_publish(timeout)
            return info.is_published()
        except (ValueError, RuntimeError):
            return False

    @property
    def in_flight(self) -> int:
        with self._window.cond:
            return len(self._window.pending)

    def wait_all_published(self, timeout: float) -> bool:
        """Wait until every windowed publish is acknowledged by the broker."""
        w = self._window
        with w.cond:
            return w.cond.wait_for(lambda: not w.pending and not w.reserved, timeout)

    # ------------------------------------------------------------------------------------------ paho callbacks

    def _handle_connect(self, client: paho.Client, _userdata: Any, flags: Any, reason: ReasonCode, _props: Any) -> None:
        if reason.is_failure:
            log.warning("connexion MQTT à %s refusée : %s", self.settings.host, reason)
            return
        with self._sub_lock:
            self._sub_pending.clear()
            self._sub_early.clear()
            self._subscribed.set()
        for topic_filter, qos in list(self._subscriptions.items()):
            self._send_subscribe(client, topic_filter, qos)
        self._connected.set()
        log.info("MQTT connecté à %s:%s en tant que %s", self.settings.host, self.settings.port, self.client_id)
        if self.on_connect is not None:
            self._guard(self.on_connect, bool(flags.session_present))

    def _handle_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: ReasonCode, _p: Any) -> None:
        if self._connected.is_set():
            log.info("MQTT déconnecté de %s : %s", self.settings.host, reason)
        self._connected.clear()
        self._subscribed.clear()

    def _handle_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        if self.on_message is not None:
            self._guard(self.on_message, Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))

    def _handle_publish(self, _client: Any, _userdata: Any, mid: int, _reason: Any, _props: Any) -> None:
        w = self._window
        with w.cond:
            if mid in w.pending:
                w.pending.discard(mid)
            elif mid in w.bypass:
                w.bypass.discard(mid)
            else:
                w.early.add(mid)
            w.cond.notify_all()

    def _handle_subscribe(self, _client: Any, _userdata: Any, mid: int, _codes: Any, _props: Any) -> None:
        with self._sub_lock:
            if mid in self._sub_pending:
                self._sub_pending.discard(mid)
            else:
                self._sub_early.add(mid)
            if not self._sub_pending:
                self._subscribed.set()

    @staticmethod
    def _guard(callback: Callable[[Any], None], arg: Any) -> None:
        # An exception escaping into paho would end its network thread and with it every reconnect.
        try:
            callback(arg)
        except Exception:
            log.exception("échec du rappel MQTT %r", callback)
