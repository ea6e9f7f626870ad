"""The kiosk's shared parts for one app: config, database, bus link, live news, clock and timing constants."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from access.clock import ClockGuard
from access.config import Config
from access.db import Database
from access.ledger import slot_at
from access.models import Closure
from access.store import Stamp, boot_id
from common.web.app import context
from common.web.login import LoginRules, ManagerLogin
from common.web.throttle import Limits, Throttle
from kiosk.doorlink import DoorLink
from kiosk.live import Live
from kiosk.payment import PaymentProvider
from kiosk.sales import Counter, closures_from, counter_at, prices_on_sale

# Why nothing is on sale on a closed day (Counter.closed; kiosk/words.py words it).
CLOSURE = "closure"

EXTENSION = "halfday.kiosk"


@dataclass(frozen=True)
class Tuning:
    """Timing constants, each with its reason; tests make them small instead of sleeping through them."""

    # How long a tap's message stays on the touchscreen: two lines read at a glance, then the next in the queue.
    tap_show_s: float = 5.0
    # A comment line this often keeps an idle event stream open (waitress drops a channel silent for 120 s).
    sse_keepalive_s: float = 15.0
    # An event stream looks this often whether its browser went away (a page left, a screen switched off), so
    # the server thread it holds is free again within a second.
    stream_poll_s: float = 1.0
    # The wall display re-reads its figures this often even with no tap: the slot turns at noon and at midnight.
    display_refresh_s: float = 60.0
    # The door answers a command within tens of milliseconds; past this it is stopped or the bus is down.
    command_timeout_s: float = 3.0
    # How long the manager has to walk to the door and tap the badge being enrolled.
    enrol_timeout_s: float = 30.0
    # How long a walk-in has to tap the card to link to a pass. Short: meanwhile the door takes the next unknown
    # card as that walk-in's (a member's badge is decided as usual, never linked).
    card_timeout_s: float = 15.0
    # Live streams (touchscreen, wall displays, admin tabs) each hold one of the server's 16 threads: a client gets
    # a few, all of them together leave four threads for the pages.
    streams_total: int = 12
    streams_per_client: int = 4
    # The touchscreen returns to the attract screen after this long without a touch.
    idle_return_s: float = 60.0
    # The manager's login: failures allowed before a pause, and how long a session lives without a request.
    login: LoginRules = field(default_factory=LoginRules)
    # Vouchers and re-entry codes at the touchscreen, against guessing (common/web/throttle.py): failures decay over
    # the window (forgiving honest typos), and a client makes at most so many attempts a minute.
    guesses: Limits = field(default_factory=lambda: Limits(max_failures=6, window_s=120.0, max_per_minute=20))
    # Linking a card: each press puts the door in enrol mode for `card_timeout_s`, so fewer of them.
    card_links: Limits = field(default_factory=lambda: Limits(max_failures=4, window_s=300.0, max_per_minute=4))
    # A linked card waits this long for its sale (the walk-in fills the form meanwhile).
    card_token_s: float = 600.0
    # The walk-in's page with the re-entry code can be shown again for this long after the sale.
    pass_page_s: float = 600.0
    # A member's account opens at the touchscreen for this long after their tap (the link the tap gave is signed
    # and dies with it): time to refill, renew or register a guest, not for the next person at the screen. 0: a
    # member's tap shows the welcome only (bench.kiosk measures that welcome).
    account_token_s: float = 180.0
    # The account, shown after a tap, goes back to the attract screen after this long without a touch.
    account_show_s: float = 20.0


@dataclass
class Kiosk:
    config: Config
    db: Database
    live: Live
    link: DoorLink | None
    tuning: Tuning
    providers: dict[str, PaymentProvider]
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    kernel_synced: Callable[[], bool] = field(default=lambda: True)
    owns_db: bool = False
    boot: str = field(default_factory=boot_id)
    # The SHA-256 fingerprint of the certificate the site's network gets (shown on the wall display and the admin,
    # for the manager to compare with the browser's); None when the kiosk serves no HTTPS.
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        self.rules = self.config.site.rules
        self.guard = ClockGuard(trust_always=self.config.door.trust_clock)
        self._guard_lock = threading.Lock()
        t = self.tuning
        self.login = ManagerLogin(t.login)
        self.guesses = Throttle(t.guesses)
        self.card_links = Throttle(t.card_links)
        self.cards = LinkedCards(t.card_token_s)

    def now(self) -> dt.datetime:
        return self.clock()

    def clock_ok(self, now: dt.datetime | None = None) -> bool:
        """Whether the wall clock can be trusted now (same judgement as the door's, see access/clock.py)."""
        with self._guard_lock:
            return self.guard.check(now or self.now(), self.kernel_synced())

    def stamp(self) -> Stamp:
        now = self.now()
        return Stamp(now, time.monotonic_ns(), self.boot, self.clock_ok(now))

    def counter(self) -> Counter:
        """What is on sale at this moment, each pass with the half-days it covers."""
        now = self.now()
        k = self.config.kiosk
        with self.db.read() as session:
            closures = closures_from(session, slot_at(now, self.rules).date)
        counter = counter_at(
            now,
            self.rules,
            prices_on_sale(k),
            closures=closures,
            late_minutes=k.late_minutes,
            clock_ok=self.clock_ok(now),
        )
        # On a day the site is closed the door refuses every pass: none is sold, rather than one paid for nothing.
        if counter.offers and counter.slot.date in closures:
            return Counter((), counter.slot, CLOSURE)
        return counter

    def closed_on(self, day: dt.date) -> bool:
        """Whether the local date `day` is in the site's holiday calendar."""
        with self.db.read() as s:
            return s.get(Closure, day) is not None

    def close(self) -> None:
        """Stop the bus link, end the event streams, release the database (if the kiosk opened it)."""
        self.live.close()
        if self.link is not None:
            self.link.stop()
        if self.owns_db:
            self.db.dispose()


def current_kiosk() -> Kiosk:
    """The kiosk of the app handling this request."""
    return context(EXTENSION, Kiosk)


class LinkedCards:
    """Cards tapped at the reader for a walk-in's pass, kept here while the walk-in fills the form: the browser only
    ever holds an opaque token, never the card's UID (a UID is all it takes to clone a card)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._cards: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def keep(self, uid: str) -> str:
        """A token that stands for `uid` for `ttl_s`."""
        token = secrets.token_urlsafe(24)
        now = self.clock()
        with self._lock:
            self._cards = {t: (u, until) for t, (u, until) in self._cards.items() if until > now}
            self._cards[token] = (uid, now + self.ttl_s)
        return token

    def get(self, token: str) -> str | None:
        """The UID `token` stands for (None if unknown or too old)."""
        with self._lock:
            found = self._cards.get(token)
        if found is None or found[1] <= self.clock():
            return None
        return found[0]

    def forget(self, token: str) -> None:
        with self._lock:
            self._cards.pop(token, None)
