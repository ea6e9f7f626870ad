"""Personal data at the hub, on SQLite and PostgreSQL: retention with the clock moved forward (the access log loses
names and badges, the uses their minute, walk-ins their names; the counts and the sales' sums stay), and a member's
erasure: gone from the hub, its audit log and exports, told to every door by the roster, their half-days counted."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from common.privacy import WALK_IN_PSEUDONYM, PrivacyConfig, export_json, months_before
from sync.hub import admin, reports, run
from sync.hub.audit import SYSTEM, Actor
from sync.hub.config import parse_hub_settings
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import AuditEntry, Credential, Event, Member, Sale, Use
from sync.hub.privacy import apply_retention, erase_member, half_day_time, member_export
from sync.hub.roster import RosterKeeper
from sync.protocol import ProtocolError, dumps
from sync.signing import generate_private_key, sign_roster, verify_delta, verify_roster
from tests.support.rosters import Published, doors_ask
from tests.sync.devicesim import make_event
from tests.sync.test_hub_ingest import batch_of

BADGE = "A1A1A1A1"
PASS = "f" * 32
SALE = "e" * 32
AT = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
LATER = months_before(AT, -3) + dt.timedelta(days=1)
YEAR_LATER = months_before(AT, -12) + dt.timedelta(days=1)
CONFIG = PrivacyConfig()


def _entry(member: str) -> dict[str, Any]:
    use = {"date": "2026-11-23", "slot": "morning", "spent": 0, "subscription": None, "pass": None}
    return {
        "uid": BADGE,
        "holder": member,
        "first_name": "Bruno",
        "granted": True,
        "reason": "granted",
        "plan": "unlimited",
        "balance": None,
        "use": use,
    }


def _sale() -> dict[str, Any]:
    return {
        "sale": SALE,
        "kind": "pass_day",
        "amount_cents": 1400,
        "provider": "counter",
        "paid": True,
        "pass": PASS,
        "date": "2026-11-23",
        "slots": ["morning", "afternoon"],
        "name": "Zoé Durand",
        "email": "zoe@example.org",
    }


def _network(db: HubDatabase) -> str:
    """Bruno, a member with a badge, came in; Zoé bought a day pass; site A's door sent both."""
    for site in ("site-a", "site-b"):
        admin.add_site(db, site, site)
    plan = admin.add_plan(db, "Réseau", "unlimited")
    member = admin.add_member(db, "Bruno", "Martin", "bruno@example.org")
    admin.add_subscription(db, member, plan)
    admin.enrol_badge(db, member, BADGE)
    events = [
        make_event("site-a", "door-1", 1, "entry", _entry(member)),
        make_event("site-a", "door-1", 2, "sale", _sale()),
        make_event("site-a", "door-1", 3, "door", {"open": True}),
    ]
    assert Ingestor(db, gap_wait_s=0).ingest(batch_of(events)).acked == 3
    return member


def _counts(db: HubDatabase) -> tuple[int, int, int, dict[str, int]]:
    with db.read() as s:
        uses = int(s.scalar(select(func.count()).select_from(Use)) or 0)
        total = int(s.scalar(select(func.sum(Sale.amount_cents))) or 0)
        sales = int(s.scalar(select(func.count()).select_from(Sale)) or 0)
        by_member = {u.member_id: sum(u.by_site.values()) for u in reports.monthly_usage_by_member(s, 2026, 11, None)}
    return uses, total, sales, by_member


def _events_text(db: HubDatabase) -> str:
    with db.read() as s:
        return json.dumps(list(s.scalars(select(Event.data))), ensure_ascii=False)


def test_after_three_months_no_hub_event_names_anyone_and_the_counts_stay(hub_db: HubDatabase) -> None:
    _network(hub_db)
    before = _counts(hub_db)
    assert apply_retention(hub_db, AT + dt.timedelta(days=1), CONFIG) == {}
    done = apply_retention(hub_db, LATER, CONFIG, batch=2)
    assert done["events"] == 3
    text = _events_text(hub_db)
    assert BADGE not in text and "Bruno" not in text and "Zoé" not in text and "zoe@" not in text
    with hub_db.read() as s:
        for data in s.scalars(select(Event.data).where(Event.kind == "entry")):
            assert data["holder"] is None and data["use"]["slot"] == "morning"
        use = s.scalars(select(Use)).one()
        assert use.at == half_day_time(use.local_date, use.slot)
        # The sales table keeps the walk-in's name for their year; the access log did not.
        assert s.scalar(select(Sale.name)) == "Zoé Durand"
    assert _counts(hub_db) == before
    assert apply_retention(hub_db, LATER, CONFIG) == {}  # idempotent
    assert apply_retention(hub_db, YEAR_LATER, CONFIG) == {"sales": 1}
    with hub_db.read() as s:
        assert s.execute(select(Sale.name, Sale.email)).one() == (WALK_IN_PSEUDONYM, "")
    assert _counts(hub_db) == before


def test_an_erased_member_is_gone_from_the_hub_and_every_door_hears_it(hub_db: HubDatabase) -> None:
    member = _network(hub_db)
    published = Published()
    keeper = RosterKeeper(hub_db, generate_private_key(), published)
    doors_ask(hub_db, "site-a")
    doors_ask(hub_db, "site-b")
    keeper.refresh()
    versions = {site: v for site, v in keeper.refresh()}
    before = _counts(hub_db)
    # A site manager sees a member of the whole network but may not erase them for every site.
    manager = Actor.account("m" * 32, "camille", "site_manager", ["site-b"])
    with pytest.raises(admin.HubError, match="administrateur du réseau"):
        erase_member(hub_db, member, actor=manager)
    assert erase_member(hub_db, member, actor=SYSTEM).startswith("Membre effacé")
    with pytest.raises(admin.HubError, match="déjà effacé"):
        erase_member(hub_db, member, actor=SYSTEM)
    # Nobody names them again by mistake: no new name, no new badge.
    with pytest.raises(admin.HubError, match="déjà effacé"):
        admin.edit_member(hub_db, member, admin.MemberFields("Bruno"), actor=SYSTEM)
    with pytest.raises(admin.HubError, match="déjà effacé"):
        admin.enrol_badge(hub_db, member, "B2B2B2B2")
    with hub_db.read() as s:
        row = s.get(Member, member)
        assert row is not None and row.email is None and row.last_name == "" and row.erased_at is not None
        assert s.scalar(select(func.count()).select_from(Credential)) == 0
        audit = json.dumps([(a.before, a.after) for a in s.scalars(select(AuditEntry))], ensure_ascii=False)
        assert "Bruno" not in audit and "bruno@" not in audit and BADGE[-4:] not in audit
        assert s.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc())).first() == "member.erase"
        exported = member_export(s, member, SYSTEM)
    assert "Bruno" not in export_json(exported).decode() and BADGE not in export_json(exported).decode()
    assert len(exported["uses"]) == 1
    assert BADGE not in _events_text(hub_db) and "Bruno" not in _events_text(hub_db)
    assert _counts(hub_db) == before
    # A door offline at the erasure sends a later tap of theirs before its roster tells it: the day's run scrubs it.
    late = make_event("site-a", "door-1", 4, "entry", {**_entry(member), "use": None})
    assert Ingestor(hub_db, gap_wait_s=0).ingest(batch_of([late])).acked == 4
    assert BADGE in _events_text(hub_db)
    assert apply_retention(hub_db, dt.datetime.now(dt.UTC), CONFIG) == {"late_events": 1}
    assert BADGE not in _events_text(hub_db) and "Bruno" not in _events_text(hub_db)
    # Both sites get a delta naming the erased member (site B's roster never held them).
    issued = dict(keeper.refresh())
    assert set(issued) == {"site-a", "site-b"}
    deltas = {topic.split("/")[2]: payload for topic, payload in published[-2:]}
    for site, payload in deltas.items():
        delta = verify_delta(payload, keeper.key.public_key(), site=site)
        assert delta["erased_members"] == [member] and delta["version"] == versions.get(site, 1) + 1
    # A door that missed it learns it from its next snapshot.
    doors_ask(hub_db, "site-b")
    keeper.refresh()
    roster = verify_roster(published[-1][1], keeper.key.public_key(), None, site="site-b")
    assert roster["erased_members"] == [member]


def test_a_members_export_at_the_hub_holds_what_the_hub_keeps(hub_db: HubDatabase) -> None:
    member = _network(hub_db)
    with hub_db.read() as s:
        exported = member_export(s, member, SYSTEM)
    assert exported["member"][0]["email"] == "bruno@example.org"
    assert [b["value"] for b in exported["badges"]] == [BADGE]
    assert [a["badge"] for a in exported["access_log"]] == [BADGE]
    assert exported["subscriptions"][0]["plan"] == "Réseau"
    assert {a["action"] for a in exported["audit"]} >= {"member.add", "badge.enrol"}


def test_the_hubs_privacy_settings_are_checked() -> None:
    base = {"hub": {"database_url": "sqlite:///x.db", "private_key": "k"}}
    assert parse_hub_settings(base).privacy == PrivacyConfig()
    settings = parse_hub_settings({**base, "privacy": {"access_log_months": 2, "contact": "rgpd@x.org"}})
    assert (settings.privacy.access_log_months, settings.privacy.contact) == (2, "rgpd@x.org")
    with pytest.raises(Exception, match=r"privacy\.access_log_months"):
        parse_hub_settings({**base, "privacy": {"access_log_months": 40}})


def test_the_hubs_privacy_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    db = HubDatabase(url)
    db.create_all()
    member = _network(db)
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\ndatabase_url = "{url}"\nprivate_key = "{tmp_path / "k"}"\n', encoding="utf-8")
    hub = ["--config", str(config)]
    assert run.main([*hub, "privacy", "apply"]) == 0
    assert "rien à faire" in capsys.readouterr().out  # nothing is three months old yet
    assert run.main([*hub, "privacy", "export", member, "--out-dir", str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / f"membre-{member}.json").read_text())["member"][0]["first_name"] == "Bruno"
    assert run.main([*hub, "privacy", "erase", member]) == 1  # not confirmed
    assert "--yes" in capsys.readouterr().out
    with db.read() as s:
        assert s.get(Member, member).erased_at is None  # type: ignore[union-attr]
    assert run.main([*hub, "privacy", "erase", member, "--yes"]) == 0
    assert run.main([*hub, "privacy", "erase", member, "--yes"]) == 1
    assert "déjà effacé" in capsys.readouterr().out
    db.dispose()


@pytest.mark.parametrize("erased", [["nope"], "a" * 32, [None], [1]])
def test_a_door_refuses_a_roster_whose_erased_members_are_not_ids(erased: Any) -> None:
    key = generate_private_key()
    body = {
        "v": 1,
        "site": "site-a",
        "version": 3,
        "issued_at": "2026-11-23T08:00:00Z",
        "seen": {},
        "members": [],
        "credentials": [],
        "plans": [],
        "subscriptions": [],
    }
    good = verify_roster(dumps(sign_roster({**body, "erased_members": ["a" * 32]}, key)), key.public_key(), 2)
    assert good["erased_members"] == ["a" * 32]
    with pytest.raises(ProtocolError, match="erased_members"):
        verify_roster(dumps(sign_roster({**body, "erased_members": erased}, key)), key.public_key(), 2)
