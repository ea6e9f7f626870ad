"""The door's writes to the ledger: taps' decisions committed together (group commit), other events one by one,
and whatever the disk refused kept in memory, in order, and written first at the next chance. When the ledger is
damaged (not merely busy), records go to the rescue journal instead, durably, until a sound ledger is back.

A disk that refuses writes (full, or failing with I/O errors) does not stop the door: it goes on deciding from what
it holds in memory, keeps each record with the event id it was given when it happened, tries again with a growing
delay, and writes them all, in order, once the disk takes them; an event the ledger already holds (a commit whose
answer was lost) is not written twice. Memory is bounded: past `MEMORY_LIMIT` records the oldest are kept and the
newest dropped (a contiguous start of the door's history, with the first, charging, entry of each half-day), and
the count of those lost is written with the alarm's end. What waits in memory is copied to RAM (`spare`, under
/run), which outlives the process: the next start takes it back (`adopt`) if the door is stopped or killed first."""

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
from access.ledger import Charge
from access.policy import Decision, Reason
from access.store import (
    Rescued,
    Stamp,
    append_events,
    entry_data,
    known_events,
    record_entries,
    recorded_use,
    replay_events,
    set_meta,
)
from common.db import is_corruption, new_id
from common.words import Alarm, EventKind, Slot

log = logging.getLogger("halfday.door")

# The last commits kept for benchmarks and diagnostics.
RECENT = 100
# Records kept in memory while the disk refuses them: a busy day's taps and door events many times over (a few
# hundred bytes each, a few MB in all on a Pi that has hundreds).
MEMORY_LIMIT = 20_000
# After a refused write, the next try waits this long, doubled at each refusal up to the most: a full disk is not
# hammered on every tap, and writes resume within seconds of space coming back.
RETRY_FIRST_S = 0.5
RETRY_MOST_S = 8.0

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
    event_id: str = field(default_factory=new_id)  # given when it happens: written once, however often retried
    # Taken back from the RAM copy by a new process: written as a rescue journal's record (an entry with the
    # half-day use its data describes); an entry's `decision` is then the use rebuilt for the door's memory.
    adopted: bool = False

    def rescued(self) -> Rescued:
        return Rescued(self.event_id, self.kind, self.data, self.stamp)


def refusal(exc: Exception) -> str:
    """Why the disk refused a write, in a manager's words (the technical text follows, for whoever repairs)."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
    lowered = text.lower()
    if "full" in lowered or "no space" in lowered:
        return f"disque plein ({text})"[:200]
    if "i/o" in lowered or isinstance(exc, OSError):
        return f"le disque ne répond pas à l'écriture ({text})"[:200]
    return text[:200]


def entry_decision(kind: str, data: dict[str, Any]) -> Decision | None:
    """The half-day an entry's recorded data says it used, as a decision the door's state can apply (None for
    anything else): what a new process needs of an entry it did not decide."""
    found = recorded_use(kind, data)
    if found is None:
        return None
    holder, use = found
    held = use["subscription"] or use["pass"]
    charge = Charge(
        dt.date.fromisoformat(use["date"]), Slot(use["slot"]), int(use["spent"]), held, use["pass"] is not None, None
    )
    return Decision(True, Reason(data["reason"]), data["uid"], holder, data.get("first_name"), charge=charge)


def _run_kind(record: Record) -> str:
    """Records written together: entries with their decisions, adopted records, other events."""
    if record.adopted:
        return "adopted"
    return "entries" if record.decision is not None else "events"


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
    # The copy in RAM of what waits in memory (None: memory only).
    spare: RescueJournal | None = None
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
    retry_first_s: float = RETRY_FIRST_S
    retry_most_s: float = RETRY_MOST_S
    memory_limit: int = MEMORY_LIMIT
    # Why the last write was refused (None: the disk takes writes), when to try next, how long to wait after.
    refused: str | None = None
    next_try: float = 0.0
    delay_s: float = 0.0
    # Records dropped since the disk refused writes, the memory being full.
    dropped: int = 0

    def commit(self, batch: list[Pending]) -> bool:
        """Record taps' decisions, their uses and outbox rows in one transaction; False if they wait in memory."""
        entries = [(p.decision, p.stamp) for p in batch]
        records = [Record(EventKind.ENTRY, entry_data(p.decision), p.stamp, p.decision) for p in batch]
        for pending, record in zip(batch, records, strict=True):
            pending.event_id = record.event_id
        if self._waiting_for_disk():
            self._keep(records)
            return False
        try:
            if self.journaling:
                ids = [(r.event_id, 0) for r in self._to_journal(records)]
            else:
                given = [r.event_id for r in records]
                ids = self._write(
                    lambda session: record_entries(
                        session, self.site_id, self.device_id, entries, self.low_carnet, given
                    )
                )
        except Exception as exc:
            # The door keeps working: the records wait in memory until the disk takes them.
            log.exception("écriture impossible : les entrées sont gardées en mémoire et seront réessayées")
            self._keep(records)
            self._refused(exc)
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
        record = Record(kind, data, stamp)
        if self._waiting_for_disk():
            self._keep([record])
            return
        try:
            if self.journaling:
                self._to_journal([record])
            else:
                self._write(lambda session: self._append(session, [record]))
        except Exception as exc:
            log.exception("écriture impossible : événement %s gardé en mémoire", kind)
            self._keep([record])
            self._refused(exc)

    def _append(self, session: Session, records: list[Record]) -> None:
        """Events other than entries, with the ids they were given, in the caller's transaction."""
        items: list[tuple[str, dict[str, Any], Stamp]] = [(r.kind, r.data, r.stamp) for r in records]
        append_events(session, self.device_id, items, [r.event_id for r in records])
        for r in records:
            if r.kind == EventKind.ALARM and r.data.get("active") is True and self.alarm_mail is not None:
                # In the event's transaction: an alarm is never recorded without its e-mail, nor mailed unrecorded.
                detail = r.data.get("detail")
                mail_alarm(session, Alarm(r.data["type"]), r.stamp.at, self.alarm_mail, self.place, self.tz, detail)

    def retry(self, *, now: float | None = None, force: bool = False) -> bool:
        """Write what the disk refused before, once its delay is over (or at once with `force`); True when nothing
        waits any more. The main loop calls this on every turn: with nothing waiting it costs a comparison."""
        if not self.failed:
            return True
        if not force and self._waiting_for_disk(now):
            return False
        try:
            if self.journaling:
                self._to_journal([])
            else:
                self._write(lambda session: None)
        except Exception as exc:
            log.error("écriture toujours impossible (%s) : %d enregistrement(s) en mémoire", exc, len(self.failed))
            self._refused(exc)
            return False
        return True

    def _waiting_for_disk(self, now: float | None = None) -> bool:
        """Whether the disk refused the last write and its next try is not due yet."""
        return self.refused is not None and (time.monotonic() if now is None else now) < self.next_try

    def _keep(self, records: list[Record]) -> None:
        """Keep `records` in memory for the next write, up to the limit: past it, the newest are dropped."""
        room = max(0, self.memory_limit - len(self.failed))
        self.failed.extend(records[:room])
        self._copy(records[:room])
        lost = len(records) - room
        if lost > 0:
            if self.dropped == 0:
                log.critical(
                    "MÉMOIRE PLEINE : %d enregistrements attendent le disque ; la porte décide toujours, mais les "
                    "suivants ne seront pas enregistrés",
                    len(self.failed),
                )
            self.dropped += lost

    def _copy(self, records: list[Record]) -> None:
        """Add `records` to the RAM copy of what waits in memory."""
        if self.spare is None or not records:
            return
        try:
            self.spare.append([r.rescued() for r in records])
        except OSError:
            log.exception("copie en RAM impossible : %d enregistrement(s) dans ce seul processus", len(records))

    def _left(self) -> None:
        """What waited left memory (written or journaled): the RAM copy holds what still waits, if anything."""
        if self.spare is None:
            return
        try:
            self.spare.rewrite([r.rescued() for r in self.failed])
        except OSError:
            log.exception("copie en RAM impossible à mettre à jour")

    def adopt(self, reason: str) -> list[Record]:
        """At start, with a RAM copy the ledger could not take (`reason`: why): its records wait in memory, first,
        to be written with the next write, as if this process had kept them. Returns them: the caller spends in
        its state the half-days their entries used."""
        if self.spare is None:
            return []
        held = {r.event_id for r in self.failed}
        adopted = [
            Record(EventKind(r.kind), r.data, r.stamp, entry_decision(r.kind, r.data), r.event_id, adopted=True)
            for r in self.spare.read()
            if r.event_id not in held
        ]
        self.failed[:0] = adopted
        if adopted:
            self.refused = reason
            self.delay_s = self.retry_first_s
            self.next_try = time.monotonic() + self.delay_s
        return adopted

    def _refused(self, exc: Exception) -> None:
        """A write failed: try again later, later each time; and if the ledger is damaged rather than refusing
        writes, say so (the door turns to its journal)."""
        self.refused = refusal(exc)
        self.delay_s = min(self.retry_most_s, self.delay_s * 2) if self.delay_s else self.retry_first_s
        self.next_try = time.monotonic() + self.delay_s
        self._broken(exc)

    def _accepted(self) -> None:
        self.refused = None
        self.delay_s = 0.0

    def set_meta(self, key: str, value: str) -> None:
        if self.journaling or self._waiting_for_disk():
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
        self.retry(force=True)

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
        rescued = [r.rescued() for r in [*waiting, *records]]
        self.journal.append(rescued)
        self._accepted()
        del self.failed[: len(waiting)]
        if waiting:
            self._left()
        settled = [r.decision for r in waiting if r.decision is not None]
        if settled:
            self.on_settled(settled)
        return rescued[len(waiting) :]

    def _write(self, work: Callable[[Session], T]) -> T:
        """`work` in one write transaction, after what the disk refused before, in the order it happened (so
        sequence numbers follow time). Records leave memory only once the transaction that writes them commits."""
        waiting = list(self.failed)
        with self.db.write() as session:
            if waiting:
                self._write_waiting(session, waiting)
            result = work(session)
        if waiting or self.refused is not None:
            self._flushed(waiting)
        return result

    def _write_waiting(self, session: Session, waiting: list[Record]) -> None:
        """What waited in memory, each record once (one the ledger holds was committed by a write whose answer
        was lost), entries and other events in runs, in order."""
        known = known_events(session, [r.event_id for r in waiting])
        fresh = [r for r in waiting if r.event_id not in known]
        start = 0
        while start < len(fresh):
            kind = _run_kind(fresh[start])
            end = start
            while end < len(fresh) and _run_kind(fresh[end]) == kind:
                end += 1
            run = fresh[start:end]
            if kind == "adopted":
                replay_events(session, self.site_id, self.device_id, [r.rescued() for r in run])
            elif kind == "entries":
                entries = [(r.decision, r.stamp) for r in run if r.decision is not None]
                ids = [r.event_id for r in run]
                record_entries(session, self.site_id, self.device_id, entries, self.low_carnet, ids)
            else:
                self._append(session, run)
            start = end

    def _flushed(self, waiting: list[Record]) -> None:
        del self.failed[: len(waiting)]
        if waiting:
            self._left()
            log.warning("le disque accepte à nouveau les écritures : %d enregistrement(s) écrits", len(waiting))
        self._accepted()
        flushed = [r.decision for r in waiting if r.decision is not None]
        if flushed:
            self.on_settled(flushed)
