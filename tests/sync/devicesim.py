"""A device for the hub's tests that speaks like the sync agent: outbox in memory, resend from the hub's ack.

It drives the same SendWindow core as the agent; only the outbox is a list instead of SQLite.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Any

from sync.agent.window import SendWindow
from sync.mqtt import Message, MqttClient, MqttSettings
from sync.payloads import make_batch, validate_ack
from sync.protocol import Json, ack_topic, events_topic, utc_iso

IDLE_POLL_S = 0.01


def make_event(site: str, device: str, seq: int, kind: str = "door", data: dict[str, Any] | None = None) -> Json:
    return {
        "v": 1,
        "id": uuid.uuid4().hex,
        "site": site,
        "device": device,
        "seq": seq,
        "kind": kind,
        "at": utc_iso(dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=seq)),
        "mono_ns": seq * 1000,
        "boot": "boot-1",
        "clock_ok": True,
        "data": {"open": seq % 2 == 0} if data is None else data,
    }


class SimDevice:
    """One simulated door: `produce()` events, `start()` sending, `wait_acked()` for the hub to have them."""

    def __init__(
        self,
        settings: MqttSettings,
        site: str = "site-a",
        device: str = "door-1",
        *,
        batch_events: int = 200,
        window_events: int = 4000,
        ack_timeout_s: float = 1.5,
        fast_resend_s: float = 0.5,
    ) -> None:
        self.site, self.device = site, device
        self.events: list[Json] = []
        self.window = SendWindow(
            batch_events=batch_events,
            window_events=window_events,
            ack_timeout_s=ack_timeout_s,
            fast_resend_s=fast_resend_s,
        )
        self.acks_received = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = MqttClient(
            settings,
            f"sim-{site}-{device}-{uuid.uuid4().hex[:6]}",
            clean_start=False,
            on_message=self._on_message,
            max_in_flight=max(1, window_events // batch_events + 1),
        )
        self.client.subscribe(ack_topic(site, device))

    def produce(self, count: int, kind: str = "door", data: dict[str, Any] | None = None) -> None:
        with self._lock:
            for _ in range(count):
                self.events.append(make_event(self.site, self.device, len(self.events) + 1, kind, data))

    def start(self) -> None:
        self.client.start()
        self._thread = threading.Thread(target=self._send_loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.client.stop()

    @property
    def acked(self) -> int:
        with self._lock:
            return self.window.acked

    def wait_acked(self, seq: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.acked >= seq:
                return True
            time.sleep(0.02)
        return False

    def _on_message(self, message: Message) -> None:
        seq = validate_ack(message.payload)
        with self._lock:
            self.acks_received += 1
            self.window.on_ack(seq, time.monotonic())

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                batch = self.window.next_batch(len(self.events), time.monotonic())
                if batch is not None:
                    first, last = batch
                    self.window.sent(first, last, time.monotonic())
                    payload = make_batch(self.site, self.device, self.events[first - 1 : last])
            if batch is None:
                time.sleep(IDLE_POLL_S)
                continue
            # Marked as sent before publishing: a rewind that happens meanwhile is then not undone.
            while not self._stop.is_set() and not self.client.publish(
                events_topic(self.site, self.device), payload, timeout=0.5
            ):
                pass
