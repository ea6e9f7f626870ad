"""The door's writes to the ledger: taps' decisions committed together (group commit), other events one by one,
and whatever the disk refused kept in memory, in order, and written first at the next chance. When the ledger is
damaged (not merely busy), records go to the rescue journal instead, durably, until a sound ledger is back."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from access.alarms import mail_alarm
from access.config_alarms import AlarmsConfig
from access.daemon.rescue import RescueJournal
from access.db import Database
from access.policy import Decision
from access.store import Rescued, Stamp, append_event, entry_data, record_entries, set_meta
from common.db import is_corruption, new_id
from common.words import Alarm, EventKind

log = logging.getLogger("halfday.door")

# The last commits kept for benchmarks and diagnostics.
RECENT = 100

T = TypeVar("T")


@dataclass
class Pending:
    """A decision taken and acted on (relay, indicator), waiting for its durable commit."""

    decision: Decision
    stamp: Stamp
    connected_ns: int | None  # when the reader saw the badge (None: a pass admitted from the kiosk)
    request: str | None  # the bus command that asked for it, to answer once recorded
    committed_ns: int = 0
    event_id: str = ""
    seq: int = 0


@dataclass(frozen=True)
class Record:
    """An event waiting for the disk: an entry keeps its decision, so its half-day use is written with it."""

    kind: EventKind
    data: dict[str, Any]
    stamp: Stamp
    decision: Decision | None = None


def _nobody(_decisions: list[Decision]) -> None:
    return None


def _ignore(_problem: str) -> None:
    return None


@dataclass
class Recorder:
    db: Database
    site_id: str
    device_id: str
    # Told which decisions each commit made durable (the state cache, so that a reload reads them).
    on_settled: Callable[[list[Decision]], None] = _nobody
    # Where records go while the ledger is damaged (None: memory only), and who is told the ledger broke.
    journal: RescueJournal | None = None
    on_broken: Callable[[str], None] = _ignore
    # The mail config's low-carnet threshold: an entry that leaves a carnet there queues a notice (None: mail off).
    low_carnet: int | None = None
    # Who is mailed when an alarm is raised (None: mail off), and how the e-mail names this door and its time zone.
    alarm_mail: AlarmsConfig | None = None
    place: str = ""
    tz: dt.tzinfo = dt.UTC
    journaling: bool = False
    failed: list[Record] = field(default_factory=list)
    recent: list[Pending] = field(default_factory=list)
    taps_recorded: int = 0

    def commit(self, batch: list[Pending]) -> bool:
        """Record taps' decisions, their uses and outbox rows in one transaction; False if they wait in memory."""
        entries = [(p.decision, p.stamp) for p in batch]
        records = [Record(EventKind.ENTRY, entry_data(p.decision), p.stamp, p.decision) for p in batch]
        try:
            if self.journaling:
                ids = [(r.event_id, 0) for r in self._to_journal(records)]
            else:
                ids = self._write(
                    lambda session: record_entries(session, self.site_id, self.device_id, entries, self.low_carnet)
                )
        except Exception as exc:
            # The door keeps working: the records wait in memory until the disk takes them.
            log.exception("écriture impossible : les entrées sont gardées en mémoire et seront réessayées")
            self.failed.extend(records)
            self._broken(exc)
            return False
        committed_ns = time.monotonic_ns()
        self.on_settled([p.decision for p in batch])
        for pending, (event_id, seq) in zip(batch, ids, strict=True):
            pending.committed_ns, pending.event_id, pending.seq = committed_ns, event_id, seq
        self.taps_recorded += len(batch)
        self.recent = [*self.recent, *batch][-RECENT:]
        return True

    def record(self, kind: EventKind, data: dict[str, Any], stamp: Stamp) -> None:
        """Record one event (door, alarm, exit...) durably, or keep it in memory if the disk refuses."""
        try:
            if self.journaling:
                self._to_journal([Record(kind, data, stamp)])
            else:
                self._write(lambda session: self._append(session, kind, data, stamp))
        except Exception as exc:
            log.exception("écriture impossible : événement %s gardé en mémoire", kind)
            self.failed.append(Record(kind, data, stamp))
            self._broken(exc)

    def _append(self, session: Session, kind: EventKind, data: dict[str, Any], stamp: Stamp) -> None:
        append_event(session, self.device_id, kind, data, stamp)
        if kind == EventKind.ALARM and data.get("active") is True and self.alarm_mail is not None:
            # In the event's transaction: an alarm is never recorded without its e-mail, nor mailed unrecorded.
            mail_alarm(session, Alarm(data["type"]), stamp.at, self.alarm_mail, self.place, self.tz, data.get("detail"))

    def retry(self) -> None:
        """Write what the disk refused before, if anything (the main loop calls this now and then)."""
        if not self.failed:
            return
        try:
            if self.journaling:
                self._to_journal([])
            else:
                self._write(lambda session: None)
        except Exception as exc:
            log.exception("écriture toujours impossible : %d enregistrement(s) en mémoire", len(self.failed))
            self._broken(exc)

    def set_meta(self, key: str, value: str) -> None:
        if self.journaling:
            return  # the time floor waits for a sound ledger; the door keeps it in memory meanwhile
        try:
            self._write(lambda session: set_meta(session, key, value))
        except Exception:
            log.exception("« %s » non enregistré", key)

    def start_journal(self) -> None:
        """From now on, records go to the rescue journal (the ledger is damaged); those waiting in memory first."""
        if self.journal is None:
            raise RuntimeError("no rescue journal to write to")
        self.journaling = True
        self.retry()

    def _broken(self, exc: Exception) -> None:
        """A write failed: if the ledger is damaged rather than busy, say so (the door turns to its journal)."""
        if not self.journaling and self.journal is not None and is_corruption(exc):
            self.on_broken(str(exc))

    def _to_journal(self, records: list[Record]) -> list[Rescued]:
        """Append what waits in memory, then `records`, to the journal, in order; they leave memory once synced.
        The waiting decisions are settled here; the caller settles its own `records`, as after a commit."""
        waiting = list(self.failed)
        if self.journal is None or not (waiting or records):
            return []
        rescued = [Rescued(new_id(), r.kind, r.data, r.stamp) for r in [*waiting, *records]]
        self.journal.append(rescued)
        del self.failed[: len(waiting)]
        settled = [r.decision for r in waiting if r.decision is not None]
        if settled:
            self.on_settled(settled)
        return rescued[len(waiting) :]

    def _write(self, work: Callable[[Session], T]) -> T:
        """`work` in one write transaction, after what the disk refused before, in the order it happened (so
        sequence numbers follow time). Records leave memory only once the transaction that writes them commits."""
        waiting = list(self.failed)
        with self.db.write() as session:
            for record in waiting:
                if record.decision is not None:
                    entry = [(record.decision, record.stamp)]
                    record_entries(session, self.site_id, self.device_id, entry, self.low_carnet)
                else:
                    append_event(session, self.device_id, record.kind, record.data, record.stamp)
            result = work(session)
        del self.failed[: len(waiting)]
        flushed = [r.decision for r in waiting if r.decision is not None]
        if flushed:
            self.on_settled(flushed)
        return result
