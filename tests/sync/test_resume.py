"""Resuming a restored ledger (sync/PROTOCOL.md, "A restored or new ledger"): the request and the signed answer
checked at both ends, the hub's answer in pages from its own database (SQLite and PostgreSQL), and the ledger's side:
its own events moved above the hub's cursor, the hub's events written as acknowledged with their uses."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from access import incarnation
from access.db import Database
from access.models import Balance, Event, Member, Outbox, Plan, Subscription, Use
from access.store import Stamp, append_event, spent_since_balances
from sync.agent import SyncAgent, outbox
from sync.hub import admin
from sync.hub import resume as hub_resume
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import DeviceIncarnation
from sync.hub.resume import make_resumed
from sync.hub.roster import RosterKeeper
from sync.hub.worker import HubWorker
from sync.payloads import validate_batch
from sync.protocol import Json, ProtocolError, dumps, parse_json
from sync.resume import RESUME_PAGE_EVENTS, check_resumed, validate_resume_request
from sync.signing import generate_private_key, load_private_key, public_key_b64
from tests.support.broker import Mosquitto
from tests.support.listener import Listener
from tests.support.rosters import Published, doors_ask
from tests.support.site import Site
from tests.support.wait import wait_until
from tests.sync.conftest import DEVICE, SITE
from tests.sync.devicesim import make_event

LIFE = "ab" * 16
KEY = generate_private_key()
NOW = dt.datetime(2026, 11, 29, 9, tzinfo=dt.UTC)
SUB = "5" * 32
HOLDER = "6" * 32


def request(base: int = 10, first: int = 11, **changes: Any) -> Json:
    body = {"v": 1, "site": SITE, "device": DEVICE, "incarnation": LIFE, "base": base, "from": first}
    body.update(changes)
    return body


def entry(seq: int, date: str = "2026-11-29", slot: str = "morning") -> Json:
    use = {"date": date, "slot": slot, "spent": 1, "subscription": SUB, "pass": None}
    data = {"uid": "B2B2B2B2", "holder": HOLDER, "granted": True, "reason": "ok", "plan": "carnet", "use": use}
    return make_event(SITE, DEVICE, seq, "entry", data)


# ---------------------------------------------------------------------------------------------- the contract


def test_a_good_request_passes_and_bad_ones_are_refused() -> None:
    assert validate_resume_request(dumps(request()), SITE, DEVICE)["from"] == 11
    for bad in (
        request(site="site-b"),  # not the topic's site
        request(device="door-2"),
        request(first=10),  # from must be above base
        request(incarnation="not-hex"),
        request(v=2),
        request(base=-1),
        request(extra=True),
    ):
        with pytest.raises(ProtocolError):
            validate_resume_request(dumps(bad), SITE, DEVICE)
    with pytest.raises(ProtocolError):
        validate_resume_request(b"not json", SITE, DEVICE)


def answer(events: list[Json], cursor: int = 12, more: bool = False, key: Any = KEY, **changes: Any) -> bytes:
    body = request()
    body.update(changes)
    return make_resumed(body, cursor, events, more, key)


def test_a_signed_answer_for_this_page_passes_and_any_other_is_refused() -> None:
    public = KEY.public_key()
    events = [entry(11), make_event(SITE, DEVICE, 12)]
    assert check_resumed(answer(events), public, SITE, DEVICE, LIFE, 11)["cursor"] == 12
    refused = {
        "forged": answer(events, key=generate_private_key()),
        "other life": answer(events, incarnation="cd" * 16),
        "other device": answer(events, device="door-2"),
        "not the page asked": answer([make_event(SITE, DEVICE, 12)]),
        "a hole": answer([entry(11), make_event(SITE, DEVICE, 13)], cursor=13),
        "past the cursor": answer(events, cursor=11),
        "another door's event": answer([make_event(SITE, "door-2", 11)], cursor=11),
        "more without events": answer([], more=True),
        "too many": answer([make_event(SITE, DEVICE, 11 + i) for i in range(RESUME_PAGE_EVENTS + 1)], cursor=999),
        "a malformed event": answer([{**entry(11), "id": "x"}]),
    }
    for why, payload in refused.items():
        with pytest.raises(ProtocolError):
            check_resumed(payload, public, SITE, DEVICE, LIFE, 11)
            pytest.fail(why)
    # Altered after signing: the cursor moved.
    tampered = parse_json(answer(events))
    tampered["cursor"] = 13
    with pytest.raises(ProtocolError, match="signature"):
        check_resumed(dumps(tampered), public, SITE, DEVICE, LIFE, 11)


# ---------------------------------------------------------------------------------------------- the hub's side


def test_the_hub_answers_in_pages_up_to_its_cursor_and_records_the_door(hub_db: HubDatabase) -> None:
    stored = [make_event(SITE, DEVICE, seq) for seq in range(1, 451)]
    ingestor = Ingestor(hub_db)
    for start in range(0, 450, 150):
        ingestor.ingest(
            validate_batch(dumps({"v": 1, "site": SITE, "device": DEVICE, "events": stored[start : start + 150]}))
        )
    ingestor.close()
    public = KEY.public_key()
    first, pages = 11, []
    while True:
        asked = validate_resume_request(dumps(request(base=10, first=first)), SITE, DEVICE)
        page = check_resumed(hub_resume.answer(hub_db, asked, KEY), public, SITE, DEVICE, LIFE, first)
        pages.append(len(page["events"]))
        assert page["cursor"] == 450
        if not page["more"]:
            break
        first = page["events"][-1]["seq"] + 1
    assert pages == [200, 200, 40]
    # The events as the door sent them, field for field.
    again = check_resumed(
        hub_resume.answer(hub_db, validate_resume_request(dumps(request(first=11)), SITE, DEVICE), KEY),
        public,
        SITE,
        DEVICE,
        LIFE,
        11,
    )
    assert again["events"][0] == stored[10]
    with hub_db.read() as session:
        row = session.scalars(select(DeviceIncarnation)).one()
    assert (row.incarnation, row.base_seq, row.cursor, row.sent_to) == (LIFE, 10, 450, 450)
    # A door the hub never heard of: cursor 0, nothing to send back.
    stranger = validate_resume_request(dumps(request(base=0, first=1, device="door-9")), SITE, "door-9")
    empty = check_resumed(hub_resume.answer(hub_db, stranger, KEY), public, SITE, "door-9", LIFE, 1)
    assert (empty["cursor"], empty["events"], empty["more"]) == (0, [], False)


# ---------------------------------------------------------------------------------------------- the ledger's side


@pytest.fixture
def ledger(door_db: Database) -> Iterator[Database]:
    """A ledger holding events 1..10 of the door, as last night's backup had them, restored: a new life begins."""
    with door_db.write() as session:
        for _ in range(10):
            append_event(session, DEVICE, "door", {"open": True}, Stamp.now("boot"))
        session.add(Member(id=HOLDER, first_name="Bruno"))
        session.add(Plan(id="7" * 32, name="Carnet 10", kind="carnet", half_days=10))
        session.flush()
        session.add(Subscription(id=SUB, member_id=HOLDER, plan_id="7" * 32))
        session.flush()
        session.add(Balance(subscription_id=SUB, amount=10, as_of_seq=10))
    with door_db.write() as session:
        session.execute(delete(Outbox))  # the hub had them all
        life = incarnation.begin(session, incarnation.RESTORED)
        life.id = LIFE
    yield door_db


def local_entry(db: Database, slot: str = "morning") -> int:
    """An entry the door records after the restore, before sync is back: a half-day charged to the carnet."""
    with db.write() as session:
        event_id, seq = append_event(session, DEVICE, "entry", entry(0, slot=slot)["data"], Stamp.now("boot"))
        session.add(
            Use(
                holder_id=HOLDER,
                site_id=SITE,
                local_date=dt.date(2026, 11, 29),
                slot=slot,
                spent=1,
                subscription_id=SUB,
                event_id=event_id,
                seq=seq,
            )
        )
    return seq


def usable(_kind: str, _data: dict[str, Any]) -> bool:
    return True


def test_the_doors_own_events_move_above_the_hubs_and_the_hubs_come_back_acknowledged(ledger: Database) -> None:
    mine = local_entry(ledger, "afternoon")
    assert mine == 11
    with ledger.write() as session:
        assert incarnation.settle(session, DEVICE, LIFE, 14, NOW) == 4
        done = incarnation.fill(
            session,
            SITE,
            DEVICE,
            LIFE,
            [entry(11), *(make_event(SITE, DEVICE, s) for s in (12, 13, 14))],
            False,
            NOW,
            usable,
        )
    assert done
    with ledger.read() as session:
        seqs = sorted(session.scalars(select(Event.seq)))
        outbox = sorted(session.scalars(select(Outbox.seq)))
        uses = sorted((u.slot, u.seq) for u in session.scalars(select(Use)))
        assert incarnation.pending(session) is None
        # The morning the hub counted after the backup, and this afternoon: two half-days off the carnet's 10.
        assert spent_since_balances(session, DEVICE) == {SUB: 2}
    assert seqs == list(range(1, 16))
    assert outbox == [15]  # only the door's own new event waits to be sent, under its new number
    assert uses == [("afternoon", 15), ("morning", 11)]


def test_the_hubs_use_replaces_the_one_the_door_recorded_for_the_same_half_day(ledger: Database) -> None:
    local_entry(ledger, "morning")  # re-charged here before sync was back: the hub will skip this use
    with ledger.write() as session:
        incarnation.settle(session, DEVICE, LIFE, 11, NOW)
        incarnation.fill(session, SITE, DEVICE, LIFE, [entry(11)], False, NOW, usable)
    with ledger.read() as session:
        uses = [(u.slot, u.seq) for u in session.scalars(select(Use))]
        assert spent_since_balances(session, DEVICE) == {SUB: 1}  # once, not twice
    assert uses == [("morning", 11)]


def test_an_answer_that_does_not_fit_writes_nothing(ledger: Database) -> None:
    with ledger.write() as session:
        incarnation.settle(session, DEVICE, LIFE, 20, NOW)
        incarnation.fill(session, SITE, DEVICE, LIFE, [entry(11)], True, NOW, usable)
    attempts: list[Callable[[Session], object]] = [
        lambda s: incarnation.settle(s, DEVICE, LIFE, 21, NOW),  # the cursor moved: not the hub's first word
        lambda s: incarnation.fill(s, SITE, DEVICE, LIFE, [entry(11)], True, NOW, usable),  # a page again
        lambda s: incarnation.settle(s, DEVICE, "cd" * 16, 20, NOW),  # another life
    ]
    for attempt in attempts:
        with pytest.raises(incarnation.ResumeRefused), ledger.write() as session:
            attempt(session)
    with ledger.read() as session:
        pending = incarnation.pending(session)
        assert pending is not None and (pending.hub_seq, pending.first) == (20, 12)
        assert session.scalars(select(Event.seq).order_by(Event.seq.desc())).first() == 11


def test_a_backup_the_hub_had_not_passed_resumes_at_once_and_keeps_its_outbox(door_db: Database) -> None:
    with door_db.write() as session:
        for _ in range(10):
            append_event(session, DEVICE, "door", {"open": True}, Stamp.now("boot"))
        incarnation.begin(session, incarnation.RESTORED)
    with door_db.write() as session:
        life = incarnation.pending(session)
        assert life is not None
        assert incarnation.settle(session, DEVICE, life.incarnation, 7, NOW) == 0
        assert incarnation.pending(session) is None
    with door_db.read() as session:
        assert sorted(session.scalars(select(Outbox.seq))) == [8, 9, 10]  # still to send; 1..7 the hub has


def test_halfday_resume_begins_a_life_that_asks_the_hub_for_a_reinstalled_door(new_site: Callable[..., Site]) -> None:
    site = new_site()
    standalone = halfday(site, "resume")
    assert standalone.returncode == 1 and "pas relié au hub" in standalone.stderr
    site.reconfigure({"hub": {"url": "mqtt://127.0.0.1:1883", "public_key": public_key_b64(KEY)}})
    with site.db.read() as session:
        assert incarnation.pending(session) is None
        last = session.scalars(select(Event.seq).order_by(Event.seq.desc())).first() or 0
    done = halfday(site, "resume")
    assert done.returncode == 0, done.stderr
    with site.db.read() as session:
        pending = incarnation.pending(session)
    assert pending is not None and (pending.base, pending.first) == (last, last + 1)


def halfday(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "halfday.cli", "--config", str(site.config_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_roster_that_comes_before_the_hubs_first_answer_waits_for_it(
    broker: Mosquitto,
    hub_db: HubDatabase,
    hub_settings: HubSettings,
    door_db: Database,
    make_agent: Callable[..., SyncAgent],
    make_worker: Callable[..., HubWorker],
    listeners: Callable[..., Listener],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its balances count this door's events in the hub's numbers (seen = 6): applied before the door's own new
    events move above the hub's, its seen would have moved with them, and a carnet spent since given back."""
    monkeypatch.setattr("sync.agent.RESUME_RETRY_S", 0.5)
    admin.add_site(hub_db, SITE, "Le Local")
    carnet = admin.add_plan(hub_db, "Carnet 10", "carnet", half_days=10)
    member = admin.add_member(hub_db, "Bruno", home_site=SITE)
    admin.add_subscription(hub_db, member, carnet)
    admin.enrol_badge(hub_db, member, "B2B2B2B2")
    ingestor = Ingestor(hub_db)
    batch = {"v": 1, "site": SITE, "device": DEVICE, "events": [make_event(SITE, DEVICE, s) for s in range(1, 7)]}
    ingestor.ingest(validate_batch(dumps(batch)))
    ingestor.close()
    # Last night's backup held events 1..3; restored, the door records one more before sync is back.
    with door_db.write() as session:
        for _ in range(3):
            append_event(session, DEVICE, "door", {"open": True}, Stamp.now("boot"))
    with door_db.write() as session:
        incarnation.begin(session, incarnation.RESTORED)
        append_event(session, DEVICE, "door", {"open": False}, Stamp.now("boot"))
    published = Published()
    keeper = RosterKeeper(hub_db, load_private_key(hub_settings.private_key_file), published)
    doors_ask(hub_db, SITE)
    assert keeper.refresh() == [(SITE, 1)]
    make_agent()
    hub = listeners(broker, "nothing/#")
    assert hub.client.wait_connected(10)
    for topic, payload in published:
        assert hub.client.publish_confirmed(topic, payload)
    assert not wait_until(lambda: outbox.roster_version(door_db) is not None, 2)  # kept, not applied
    make_worker(0)  # the hub answers now
    assert wait_until(lambda: outbox.roster_version(door_db) == 1, 20)
    with door_db.read() as session:
        assert incarnation.pending(session) is None
        assert [b.as_of_seq for b in session.scalars(select(Balance))] == [6]
        assert sorted(session.scalars(select(Event.seq))) == [1, 2, 3, 4, 5, 6, 7]
