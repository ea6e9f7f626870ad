"""Fan-out of live news to the browsers' server-sent event streams.

Each stream has its own bounded queue: a slow or dead browser loses its oldest news, never blocks the bus thread
nor the other screens. The news itself is the hint; every stream re-reads what it shows from the database or the
bus client's latest retained state, so a dropped message costs nothing but a moment's delay.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# News a browser may fall behind by before the oldest is dropped: far more than taps in a second.
QUEUE_SIZE = 100


@dataclass(frozen=True)
class News:
    kind: str  # tap | door | sync | refresh | bus | closing
    data: Any = None


class StreamsFull(Exception):
    """No stream for this client now: it holds its share already, or every stream is taken."""


@dataclass
class Subscription:
    """One stream's queue, held until `close()` (called when the browser's response ends)."""

    live: Live
    client: str
    news: queue.Queue[News]

    def close(self) -> None:
        self.live.release(self)

    def __enter__(self) -> queue.Queue[News]:
        return self.news

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Live:
    """The kiosk's live news: the bus client publishes, each SSE stream subscribes.

    Every stream holds one of the server's threads for as long as its browser listens. So a client gets only a few
    (`per_client`), and all of them together `total`, leaving threads for the pages: a clear refusal beyond, never
    a kiosk that stops answering."""

    total: int = 12
    per_client: int = 4
    _subscriptions: list[Subscription] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def subscribe(self, client: str = "") -> Subscription:
        """A queue receiving every piece of news until the subscription is closed; StreamsFull when none is left."""
        with self._lock:
            held = sum(1 for s in self._subscriptions if s.client == client)
            if len(self._subscriptions) >= self.total or held >= self.per_client:
                raise StreamsFull(client)
            subscription = Subscription(self, client, queue.Queue(QUEUE_SIZE))
            self._subscriptions.append(subscription)
        return subscription

    def release(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def publish(self, kind: str, data: Any = None) -> None:
        news = News(kind, data)
        with self._lock:
            queues = [s.news for s in self._subscriptions]
        for q in queues:
            while True:
                try:
                    q.put_nowait(news)
                    break
                except queue.Full:
                    # A slow screen loses its oldest news, never the newest; it may have emptied meanwhile.
                    with contextlib.suppress(queue.Empty):
                        q.get_nowait()

    def close(self) -> None:
        """Tell every stream to end (the server is stopping)."""
        self.closed = True
        self.publish("closing")


def sse(event: str, data: str, event_id: str | None = None) -> str:
    """One server-sent event; multi-line data is split over several data: lines, as the format requires."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return "\n".join(lines) + "\n\n"


def follow(live: Live, news_queue: queue.Queue[News], poll_s: float, gone: Callable[[], bool]) -> Iterator[News | None]:
    """Each piece of news from `news_queue`, or None after `poll_s` without any (a tick for the caller's timers).

    Ends when the kiosk closes or when `gone()` says the browser went away: a page left behind frees its server
    thread within `poll_s` instead of holding it until the next write fails.
    """
    while not live.closed and not gone():
        try:
            news = news_queue.get(timeout=poll_s)
        except queue.Empty:
            yield None
            continue
        if news.kind == "closing":
            return
        yield news


class Keepalive:
    """Says when a stream should send a comment line to stay open (nothing else was sent for `every_s`)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.last = time.monotonic()

    def sent(self) -> None:
        self.last = time.monotonic()

    def due(self) -> bool:
        if time.monotonic() - self.last >= self.every_s:
            self.sent()
            return True
        return False
