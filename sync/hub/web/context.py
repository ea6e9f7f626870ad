"""The hub pages' shared parts for one app: the database, the manager's password hash, the timing constants."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.web.app import context
from common.web.throttle import Throttle
from sync.hub.db import HubDatabase

EXTENSION = "halfday.hub"


@dataclass(frozen=True)
class HubTuning:
    """Timing constants, each with its reason; tests make them small instead of sleeping through them."""

    # Login: this many failures within the window lock logins out for a while (per client address).
    login_max_failures: int = 5
    login_window_s: float = 300.0
    login_lockout_s: float = 300.0
    # A manager's session ends after this long without a request (a back office left open on a shared computer).
    idle_s: float = 1800.0


@dataclass
class HubPages:
    db: HubDatabase
    password_hash: str
    tuning: HubTuning = field(default_factory=HubTuning)

    def __post_init__(self) -> None:
        t = self.tuning
        self.login_throttle = Throttle(t.login_max_failures, t.login_window_s, t.login_lockout_s)


def current_hub() -> HubPages:
    """The hub pages of the app handling this request."""
    return context(EXTENSION, HubPages)
