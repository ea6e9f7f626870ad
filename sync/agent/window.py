"""The device side of the ack protocol as a pure core: what to send next, when to go back and resend.

No I/O and no clock: the caller passes `now` (monotonic seconds) and the highest seq it has in its outbox. The
agent, the benchmark and the tests' device simulator all drive this same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Without any ack for this long while events are in flight, the hub is gone or something was lost: resend.
ACK_TIMEOUT_S = 10.0
# An ack that does not advance while the batch just after it was sent this long ago means the hub dropped that
# batch (it came past a gap): resend without waiting for the full timeout.
FAST_RESEND_S = 1.0
# Events per message: big enough that a backlog is a few hundred messages, small enough to stay well under the
# broker's and the protocol's message size limits.
BATCH_EVENTS = 250
# Events sent but not yet acknowledged; with BATCH_EVENTS this is about a hundred messages in flight.
WINDOW_EVENTS = 25_000


@dataclass
class SendWindow:
    """Tracks acked and sent sequence numbers of one device's stream."""

    acked: int = 0
    batch_events: int = BATCH_EVENTS
    window_events: int = WINDOW_EVENTS
    ack_timeout_s: float = ACK_TIMEOUT_S
    fast_resend_s: float = FAST_RESEND_S
    next_seq: int = 0
    last_progress: float = 0.0
    rewinds: int = 0
    _sent_at: dict[int, float] = field(default_factory=dict)
    _rewound_at: float = float("-inf")

    def __post_init__(self) -> None:
        self.next_seq = max(self.next_seq, self.acked + 1)

    @property
    def in_flight(self) -> int:
        return self.next_seq - 1 - self.acked

    def next_batch(self, last_seq: int, now: float) -> tuple[int, int] | None:
        """The (first, last) seqs to send now, or None if nothing is ready or the window is full."""
        self.check_timeout(now)
        first = self.next_seq
        last = min(first + self.batch_events - 1, last_seq, self.acked + self.window_events)
        if last < first:
            return None
        return first, last

    def sent(self, first: int, last: int, now: float) -> None:
        """Record that seqs first..last were handed to the broker."""
        if self.in_flight == 0:
            self.last_progress = now
        self._sent_at[first] = now
        self.next_seq = max(self.next_seq, last + 1)

    def on_ack(self, seq: int, now: float) -> bool:
        """Take an ack from the hub; True if it moved the acknowledged mark (retire up to `acked`).

        An ack beyond what was sent (a stray or forged one, or a late one from before a restart) counts only up
        to the last seq sent: retiring events the hub may not have would lose them.
        """
        seq = min(seq, self.next_seq - 1)
        if seq > self.acked:
            self.acked = seq
            self.last_progress = now
            self.next_seq = max(self.next_seq, seq + 1)
            for first in [f for f in self._sent_at if f <= seq]:
                del self._sent_at[first]
            return True
        # Only an ack at the mark says the hub is stuck there. One below it is late: hub workers commit a device's
        # batches in turn but may publish their acks in any order.
        if seq == self.acked and self.in_flight > 0 and now - self._rewound_at >= self.fast_resend_s:
            sent_at = self._sent_at.get(self.acked + 1)
            if sent_at is None or now - sent_at >= self.fast_resend_s:
                self._rewind(now)
        return False

    def check_timeout(self, now: float) -> bool:
        """Go back to acked+1 if nothing was acknowledged for `ack_timeout_s` while events were in flight."""
        if self.in_flight > 0 and now - max(self.last_progress, self._rewound_at) >= self.ack_timeout_s:
            self._rewind(now)
            return True
        return False

    def _rewind(self, now: float) -> None:
        self.next_seq = self.acked + 1
        self._sent_at.clear()
        self._rewound_at = now
        self.rewinds += 1
