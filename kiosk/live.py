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
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# News a browser may fall behind by before the oldest is dropped: far more than taps in a second.
QUEUE_SIZE = 100


@dataclass(frozen=True)
class News:
    kind: str  # tap | door | sync | refresh | bus | closing
    data: Any = None


@dataclass
class Live:
    """The kiosk's live news: the bus client publishes, each SSE stream subscribes."""

    _queues: set[queue.Queue[News]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    @contextmanager
    def subscribe(self) -> Iterator[queue.Queue[News]]:
        """A queue receiving every piece of news until the block ends."""
        q: queue.Queue[News] = queue.Queue(QUEUE_SIZE)
        with self._lock:
            self._queues.add(q)
        try:
            yield q
        finally:
            with self._lock:
                self._queues.discard(q)

    @property
    def listeners(self) -> int:
        with self._lock:
            return len(self._queues)

    def publish(self, kind: str, data: Any = None) -> None:
        news = News(kind, data)
        with self._lock:
            queues = list(self._queues)
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
