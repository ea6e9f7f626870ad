"""What the door keeps while its disk refuses writes: its memory is bounded (the oldest records kept, the newest
dropped and counted, the count written with the alarm's end), and a record the ledger already holds is never
written twice, however often it is retried."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from access.daemon.recorder import Pending, Record, Recorder
from access.daemon.rescue import RescueJournal
from access.models import Event, Use
from access.policy import apply, decide
from access.store import Stamp, entry_data, load_state
from common.words import Alarm, EventKind
from halfday.sample import ALICE, ALL_DAY, BRUNO, CLARA, DENIS, UNKNOWN
from tests.support.disk import fill, small_disk
from tests.support.door import FAST, DoorRig
from tests.support.site import Site
from tests.support.wait import wait_until

# Six different badges: the reader's per-badge debounce hides none of them.
TAPS = (ALICE, BRUNO, CLARA, DENIS, UNKNOWN, "7A7B7C7D")
QUICK_RETRY = dataclasses.replace(FAST, write_retry_s=0.1, write_retry_most_s=0.3)


def test_a_full_memory_keeps_the_oldest_records_and_says_how_many_were_lost(
    tmp_path: Path, new_site: Callable[..., Site], door_rig: Callable[..., DoorRig]
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        site = new_site("disk", overrides=ALL_DAY)
        rig = door_rig(site, tuning=QUICK_RETRY)
        door = rig.start()
        door.recorder.memory_limit = 4  # a day's worth in production; four here
        filler = fill(disk)
        for uid in TAPS:
            rig.tap(uid)
        assert door.unwritten and Alarm.DATABASE in door._state().alarms
        assert len(door.recorder.failed) == 4
        lost = door.recorder.dropped
        assert lost >= 2  # the door went on deciding: each tap was decided, the last ones not kept
        assert [e.data["uid"] for e in rig.events("entry")] == []
        filler.unlink()
        assert wait_until(lambda: not door.unwritten, 10)
        rig.stop()
        entries = [e.data["uid"] for e in rig.events("entry")]
        alarms = [e.data for e in rig.events("alarm") if e.data["type"] == Alarm.DATABASE.value]
    # The oldest kept, in order; the newest dropped; the alarm's end says how many records were lost.
    assert 1 <= len(entries) < len(TAPS) and entries == list(TAPS[: len(entries)])
    assert [a["active"] for a in alarms] == [True, False]
    assert alarms[0]["detail"].startswith("écriture impossible : disque plein")
    assert alarms[1]["detail"].startswith(f"{lost} enregistrement(s) perdu(s)")


def test_a_record_the_ledger_already_holds_is_not_written_twice(new_site: Callable[..., Site]) -> None:
    site = new_site(overrides=ALL_DAY)
    ids = site.config.site
    now = dt.datetime.now(dt.UTC)
    with site.db.read() as session:
        state = load_state(session, ids.rules, ids.id, ids.device, now.astimezone(ids.tz).date())
    decision = decide(BRUNO, now, state)  # a carnet: the entry charges a half-day
    assert decision.granted and decision.charge is not None
    recorder = Recorder(site.db, ids.id, ids.device)
    pending = Pending(decision, Stamp.now("boot"), None, None)
    assert recorder.commit([pending])
    # The commit reached the disk but its answer was lost: the door keeps the record, and writes it again later,
    # before a newer event.
    recorder.failed.append(Record(EventKind.ENTRY, entry_data(decision), pending.stamp, decision, pending.event_id))
    refused = decide(CLARA, now, state)
    assert recorder.commit([Pending(refused, Stamp.now("boot"), None, None)])
    assert recorder.failed == []
    with site.db.read() as session:
        assert session.scalar(select(func.count()).where(Event.id == pending.event_id)) == 1
        assert session.scalar(select(func.count()).select_from(Use).where(Use.event_id == pending.event_id)) == 1
        seqs = list(session.scalars(select(Event.seq).order_by(Event.seq)))
    assert seqs == list(range(1, len(seqs) + 1))


def test_what_waits_for_the_disk_outlives_the_process_and_a_new_one_writes_it_once(
    tmp_path: Path, new_site: Callable[..., Site]
) -> None:
    """The RAM copy (the unit's runtime folder): a door stopped or killed while the disk refuses writes leaves what
    waited there; the next process takes it back, spends its half-days in its own state, and writes it once."""
    spare = RescueJournal(tmp_path / "run" / "door-waiting.jsonl")
    spare.path.parent.mkdir()
    with small_disk(tmp_path / "disk") as disk:
        site = new_site("disk", overrides=ALL_DAY)
        ids = site.config.site
        now = dt.datetime.now(dt.UTC)
        with site.db.read() as session:
            state = load_state(session, ids.rules, ids.id, ids.device, now.astimezone(ids.tz).date())
        first = Recorder(site.db, ids.id, ids.device, spare=spare)
        filler = fill(disk)
        decisions = [decide(uid, now, state) for uid in (ALICE, BRUNO, UNKNOWN)]
        assert not first.commit([Pending(d, Stamp.now("boot"), None, None) for d in decisions])
        first.record(EventKind.DOOR, {"open": True}, Stamp.now("boot"))
        waiting = [r.event_id for r in first.failed]
        assert len(waiting) == 4 and [r.event_id for r in spare.read()] == waiting
        # The process dies here; a new one starts on the same ledger, the disk still full.
        site.db.dispose()
        second = Recorder(site.db, ids.id, ids.device, spare=spare)
        taken = second.adopt("disque plein")
        assert [r.event_id for r in taken] == waiting and second.refused == "disque plein"
        with site.db.read() as session:
            fresh = load_state(session, ids.rules, ids.id, ids.device, now.astimezone(ids.tz).date())
        bruno = decide(BRUNO, now, fresh)
        assert bruno.charge is not None and bruno.charge.spent == 1  # the ledger alone does not know
        for record in taken:
            if record.decision is not None:
                apply(record.decision, fresh)
        again = decide(BRUNO, now, fresh)
        assert again.granted and again.charge is None  # a re-entry in the same half-day: nothing to charge
        second.commit([Pending(again, Stamp.now("boot"), None, None)])  # kept until the next try is due
        filler.unlink()
        assert second.retry(force=True)
        assert second.failed == [] and not spare.path.exists()
        with site.db.read() as session:
            written = list(session.scalars(select(Event.id).where(Event.kind != "alarm").order_by(Event.seq)))
            uses = session.execute(select(Use.holder_id, Use.spent).order_by(Use.seq)).all()
    assert written[-5:-1] == waiting and len(set(written)) == len(written)
    assert sorted(uses) == sorted([(decisions[0].holder_id, 0), (decisions[1].holder_id, 1)])
