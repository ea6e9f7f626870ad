"""The access state the door decides on: loaded from the database, reloaded when the kiosk or sync changed what it
holds (the state version moved), with the decisions acted on but not yet committed carried into every reload."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from access.db import Database
from access.ledger import SlotRules
from access.policy import AccessState, Decision, apply
from access.snapshot import save_snapshot, state_data
from access.store import load_state, state_version
from common.db import is_corruption
from common.words import ClockPolicy

log = logging.getLogger("halfday.door")


@dataclass
class _Acted:
    decision: Decision
    settled_at: float | None = None  # monotonic time of its commit


class StateCache:
    """`state` is what `decide` reads; `lock` (the door's) guards it against the reader's thread."""

    def __init__(
        self,
        db: Database,
        rules: SlotRules,
        site_id: str,
        device_id: str,
        clock_policy: ClockPolicy,
        lock: threading.RLock,
        snapshot: Path | None = None,
        on_broken: Callable[[str], None] = lambda _problem: None,
        room: str | None = None,
    ) -> None:
        self.db = db
        self.rules = rules
        self.site_id = site_id
        self.device_id = device_id
        self.clock_policy = clock_policy
        self.lock = lock
        # Where each state read is kept, for the day the ledger cannot be read (access/snapshot.py).
        self.snapshot = snapshot
        self.on_broken = on_broken
        self.room = room  # the resource whose own door this is (its name), None: the entrance
        self.state = AccessState(rules=rules, clock_policy=clock_policy)
        self.version = -1
        # Decisions acted on, and not known to be in what a reload reads: a reload must not forget the half-days
        # they spent. One stays until a reload that started after its commit.
        self._acted: list[_Acted] = []

    @property
    def tz(self) -> ZoneInfo:
        return self.rules.tz

    def reload(self, *, keep: bool = True) -> None:
        """Read the state afresh (outside the lock: the reader keeps deciding meanwhile), then swap it in; with
        `keep`, write it to the snapshot too."""
        started = time.monotonic()
        today = dt.datetime.now(self.tz).date()
        with self.db.read() as session:
            version = state_version(session)
            state = load_state(session, self.rules, self.site_id, self.device_id, today, self.clock_policy, self.room)
        with self.lock:
            for acted in self._acted:
                apply(acted.decision, state)  # no change for one the database already held
            self._acted = [a for a in self._acted if a.settled_at is None or a.settled_at >= started]
            self.state, self.version = state, version
            if state.room == "":
                log.critical("la salle « %s » (door.resource) n'existe pas : seule l'équipe entre", self.room)
            # Taken before the reader's thread can change it; written outside the lock.
            data = state_data(state) if self.snapshot is not None and keep else None
        if data is not None:
            self._save(data, version)

    def keep(self) -> None:
        """Write the state in use to the snapshot (the door's start does it once READY: 10,000 members' snapshot
        takes longer to write than to read, and the previous one stands until then)."""
        if self.snapshot is None:
            return
        with self.lock:
            data, version = state_data(self.state), self.version
        self._save(data, version)

    def _save(self, data: dict[str, Any], version: int) -> None:
        assert self.snapshot is not None
        try:
            save_snapshot(self.snapshot, data, version, self.site_id, self.device_id)
        except OSError:
            log.exception("copie de secours des droits d'accès non écrite (%s)", self.snapshot)

    def replace(self, state: AccessState, version: int) -> None:
        """Decide on `state` from now on (the snapshot, when the ledger cannot be read)."""
        with self.lock:
            self.state, self.version = state, version

    def reload_if_changed(self) -> None:
        """Reload when another process changed members, badges or passes; log and go on when the disk fails."""
        try:
            with self.db.read() as session:
                version = state_version(session)
            if version != self.version:
                self.reload()
        except Exception as exc:
            log.exception("lecture de la base impossible ; la porte décide sur ce qu'elle sait")
            if is_corruption(exc):
                self.on_broken(str(exc))

    def acted(self, decision: Decision) -> None:
        """A decision was acted on (under the lock): it spends its half-day now, in memory."""
        apply(decision, self.state)
        self._acted.append(_Acted(decision))

    def settled(self, decisions: Iterable[Decision]) -> None:
        """These decisions were just committed: the next reload that starts from now reads them."""
        now = time.monotonic()
        done = {id(d) for d in decisions}
        with self.lock:
            for acted in self._acted:
                if id(acted.decision) in done and acted.settled_at is None:
                    acted.settled_at = now

    @property
    def waiting(self) -> int:
        """Decisions acted on whose commit was not yet seen by a reload (for diagnostics)."""
        with self.lock:
            return len(self._acted)
