"""Personal data at the door: each retention rule with the clock moved forward (passed as `now`), the unsent
outbox left alone, a member's erasure, and their export."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from sqlalchemy import delete, func, select, update

from access.admin import (
    AdminError,
    MemberEdit,
    MemberSpec,
    PlanSpec,
    add_badge,
    add_member,
    add_plan,
    edit_member,
)
from access.config import Config, parse_config
from access.db import Database
from access.models import (
    BadgeHistory,
    Booking,
    Credential,
    Event,
    Guest,
    HubRequest,
    Member,
    Notice,
    Outbox,
    Pass,
    Resource,
    Sale,
    Use,
)
from access.policy import Reason, apply, decide
from access.privacy import EraseRefused, apply_retention, erase_member
from access.privacy_export import member_export
from access.store import Stamp, load_state, record_entry
from common.config import ConfigError
from common.privacy import (
    WALK_IN_PSEUDONYM,
    PrivacyConfig,
    export_json,
    export_zip,
    months_before,
    scrubbed_data,
)
from halfday import sample
from kiosk.sales import Offer, Payment, WalkIn, record_sale

# Monday 23 November 2026, 09:30 in Paris.
MORNING = dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC)
BADGE = "2B3C4D5E"
CONFIG = PrivacyConfig()
LATER = months_before(MORNING, -3) + dt.timedelta(days=1)
YEAR_LATER = months_before(MORNING, -12) + dt.timedelta(days=1)


def _enter(config: Config, db: Database, credential: str, at: dt.datetime, mono: int) -> Reason:
    site = config.site
    with db.write() as s:
        state = load_state(s, site.rules, site.id, site.device, at.astimezone(site.tz).date())
        decision = decide(credential, at, state)
        if decision.granted:
            record_entry(s, site.id, site.device, decision, Stamp(at, mono, "boot", True))
            apply(decision, state)
    return decision.reason


def _activity(config: Config, db: Database) -> str:
    """A member who badges in, a walk-in who buys a pass with a receipt by mail; all of it acknowledged by the hub."""
    with db.write() as s:
        add_plan(s, PlanSpec("Carnet 10", "carnet", 10))
        member_id = add_member(
            s, MemberSpec("Bruno", "Martin", "bruno@example.org", plan="Carnet 10", badge=BADGE), config.site.device
        ).id
    assert _enter(config, db, BADGE, MORNING, 1) == Reason.GRANTED
    with db.write() as s:
        offer = Offer("pass_day", MORNING.date(), ("morning", "afternoon"), 1400)
        record_sale(
            s,
            config.site.device,
            offer,
            WalkIn("Zoé Durand", "zoe@example.org"),
            Payment("counter", False),
            Stamp(MORNING, 2, "boot", True),
        )
        s.execute(update(Notice).values(sent_at=MORNING))
        s.execute(delete(Outbox))
    return member_id


def _counts(db: Database) -> tuple[int, int, int]:
    with db.read() as s:
        uses = s.scalar(select(func.count()).select_from(Use).where(Use.local_date >= MORNING.date().replace(day=1)))
        total = s.scalar(select(func.sum(Sale.amount_cents)))
        sales = s.scalar(select(func.count()).select_from(Sale))
    return int(uses or 0), int(total or 0), int(sales or 0)


def _personal(data: dict[str, object]) -> list[object]:
    return [data.get(k) for k in ("uid", "holder", "first_name", "email") if data.get(k)] + [
        data["name"] for k in ("name",) if data.get(k) and data[k] != WALK_IN_PSEUDONYM
    ]


def test_after_three_months_no_access_log_row_names_anyone_and_the_counts_stay(config: Config, db: Database) -> None:
    _activity(config, db)
    before = _counts(db)
    # Retention on the day: nothing has had its time yet.
    assert apply_retention(db, MORNING + dt.timedelta(hours=1), CONFIG).total == 0
    done = apply_retention(db, LATER, CONFIG, batch=1)
    assert done.counts["events"] >= 2
    with db.read() as s:
        for kind, data in s.execute(select(Event.kind, Event.data)):
            assert _personal(data) == [], (kind, data)
        entry = s.scalars(select(Event.data).where(Event.kind == "entry")).one()
        assert entry["granted"] is True and entry["use"]["slot"] == "morning"
        # The sale keeps its buyer for the walk-in's time (a year), the access log does not.
        assert s.scalar(select(Sale.buyer_name)) == "Zoé Durand"
    assert _counts(db) == before
    # Again: nothing left to do.
    assert apply_retention(db, LATER, CONFIG).total == 0


def test_after_the_walk_ins_time_sales_and_passes_are_pseudonymised_and_still_add_up(
    config: Config, db: Database
) -> None:
    _activity(config, db)
    before = _counts(db)
    done = apply_retention(db, YEAR_LATER, CONFIG)
    assert done.counts["sales"] == 1 and done.counts["passes"] == 1 and done.counts["notices"] >= 1
    with db.read() as s:
        assert s.execute(select(Sale.buyer_name, Sale.buyer_email)).one() == (WALK_IN_PSEUDONYM, None)
        assert s.scalar(select(Pass.holder_name)) == WALK_IN_PSEUDONYM
        assert s.scalar(select(func.count()).select_from(Notice)) == 0
    assert _counts(db) == before


def test_sent_notices_go_after_their_days_and_unsent_ones_stay(config: Config, db: Database) -> None:
    _activity(config, db)
    with db.write() as s:
        s.add(Notice(kind="test", to_address="x@example.org", subject="s", body="b", created_at=MORNING))
    apply_retention(db, MORNING + dt.timedelta(days=31), CONFIG)
    with db.read() as s:
        assert s.scalars(select(Notice.sent_at)).all() == [None]


def test_events_the_hub_has_not_acknowledged_are_left_as_they_are(config: Config, db: Database) -> None:
    _activity(config, db)
    assert _enter(config, db, BADGE, MORNING + dt.timedelta(hours=5), 3) == Reason.GRANTED
    with db.read() as s:
        unsent = s.execute(select(Event.id, Event.data).join(Outbox, Outbox.event_id == Event.id)).one()
    assert unsent.data["uid"] == BADGE
    apply_retention(db, LATER, CONFIG)
    with db.read() as s:
        assert s.scalar(select(Event.data).where(Event.id == unsent.id)) == unsent.data
    # Once the hub has it, the next run scrubs it.
    with db.write() as s:
        s.execute(delete(Outbox))
    apply_retention(db, LATER, CONFIG)
    with db.read() as s:
        assert s.scalars(select(Event.data).where(Event.id == unsent.id)).one()["uid"] == ""


def test_an_erased_member_is_gone_but_their_half_days_count(config: Config, db: Database) -> None:
    member_id = _activity(config, db)
    assert _enter(config, db, BADGE, MORNING + dt.timedelta(hours=5), 3) == Reason.GRANTED  # unsent
    before = _counts(db)
    with db.write() as s:
        assert erase_member(s, member_id, MORNING + dt.timedelta(days=1), "desk")
    with db.write() as s:
        assert not erase_member(s, member_id, MORNING + dt.timedelta(days=2), "desk")  # once
    with db.read() as s:
        member = s.get(Member, member_id)
        assert member is not None and member.first_name.startswith("Membre effacé") and member.email is None
        assert s.scalar(select(func.count()).select_from(Credential).where(Credential.value == BADGE)) == 0
        assert s.scalar(select(func.count()).select_from(BadgeHistory)) == 0
        rows = [(data, unsent) for data, unsent in s.execute(select(Event.data, Outbox.seq).outerjoin(Outbox))]
        text = json.dumps([r[0] for r in rows])
        assert BADGE not in text and "Bruno" not in text and "bruno@" not in text
        # The unsent entry keeps the member's id and half-day, for the hub to count.
        assert any(unsent and data.get("holder") == member_id and data["use"] for data, unsent in rows)
        exported = member_export(s, member_id)
    assert exported is not None
    assert BADGE not in export_json(exported).decode() and "Bruno" not in export_json(exported).decode()
    assert len(exported["uses"]) == 2
    assert _counts(db) == before
    # The door no longer opens for the badge, and nobody names them or gives them a badge again by mistake.
    assert _enter(config, db, BADGE, MORNING + dt.timedelta(days=1), 4) != Reason.GRANTED
    with pytest.raises(AdminError, match="effacé"), db.write() as s:
        edit_member(s, member_id, MemberEdit("Bruno", "Martin", None))
    with pytest.raises(AdminError, match="effacé"), db.write() as s:
        member = s.get(Member, member_id)
        assert member is not None
        add_badge(s, member, "3C4D5E6F")


def test_erasing_an_unknown_member_at_the_desk_is_refused(db: Database) -> None:
    with pytest.raises(EraseRefused), db.write() as s:
        erase_member(s, "0" * 32, MORNING, "desk")


def test_a_members_export_holds_everything_about_them(config: Config, db: Database) -> None:
    member_id = _activity(config, db)
    with db.read() as s:
        exported = member_export(s, member_id)
        assert member_export(s, "0" * 32) is None
    assert exported is not None
    assert exported["member"][0]["email"] == "bruno@example.org"
    assert [b["value"] for b in exported["badges"]] == [BADGE]
    assert exported["subscriptions"][0]["plan"] == "Carnet 10" and exported["subscriptions"][0]["balance"] == 10
    assert [a["badge"] for a in exported["access_log"]] == [BADGE]
    assert len(exported["uses"]) == 1 and len(exported["badge_history"]) == 1
    body = json.loads(export_json(exported))
    assert body["member"][0]["first_name"] == "Bruno"
    with zipfile.ZipFile(io.BytesIO(export_zip(exported))) as archive:
        assert "member.csv" in archive.namelist()
        assert "Bruno" in archive.read("member.csv").decode("utf-8-sig")


def test_scrubbed_events_keep_their_wire_types() -> None:
    entry = {"uid": BADGE, "holder": "a" * 32, "first_name": "Bruno", "granted": True, "use": None}
    assert scrubbed_data("entry", entry) == {
        "uid": "",
        "holder": None,
        "first_name": None,
        "granted": True,
        "use": None,
        "scrubbed": True,
    }
    assert scrubbed_data("door", {"open": True}) is None
    assert scrubbed_data("entry", {"uid": "", "scrubbed": True}) is None


def test_privacy_config_is_checked(tmp_path: object) -> None:
    data = sample.site_config(tmp_path / "x.db", "udp:127.0.0.1:9")  # type: ignore[operator]
    assert parse_config(data).privacy == PrivacyConfig()
    for bad, key in (
        ({"access_log_months": 0}, "access_log_months"),
        ({"access_log_months": 6, "walk_in_months": 3}, "walk_in_months"),
        ({"sent_notices_days": "x"}, "sent_notices_days"),
        ({"forever": True}, "forever"),
    ):
        with pytest.raises(ConfigError) as error:
            parse_config(sample.merged(data, {"privacy": bad}))
        assert error.value.key == f"privacy.{key}"
    assert (
        parse_config(sample.merged(data, {"privacy": {"contact": " bureau@x.org "}})).privacy.contact == "bureau@x.org"
    )


def test_months_before_keeps_to_the_calendar() -> None:
    at = dt.datetime(2026, 5, 31, 12, tzinfo=dt.UTC)
    assert months_before(at, 3) == dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC)
    assert months_before(at, 12) == dt.datetime(2025, 5, 31, 12, tzinfo=dt.UTC)
    assert months_before(at, -1) == dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)


def test_each_remaining_rule_cards_guests_bookings_and_requests(config: Config, db: Database) -> None:
    member_id = _activity(config, db)
    old_day = MORNING.date()
    with db.write() as s:
        pass_id = s.scalars(select(Pass.id)).one()
        s.add(Credential(pass_id=pass_id, value="C0C0C0C0"))
        s.add(Guest(member_id=member_id, name="Léa Invitée", code="123456", valid_date=old_day, charge="carnet"))
        room = Resource(name="Salle", kind="meeting_room", feed_secret="x")
        s.add(room)
        s.flush()
        for holder, name in (("walk_in", "Paul Passant"), ("member", "Bruno Martin")):
            s.add(
                Booking(
                    group_id="g" * 32,
                    resource_id=room.id,
                    local_date=old_day,
                    slot="morning" if holder == "walk_in" else "afternoon",
                    holder_kind=holder,
                    member_id=member_id if holder == "member" else None,
                    name=name,
                    email="paul@example.org" if holder == "walk_in" else None,
                    guests="Léa, Max",
                    paid_by="counter",
                    origin="kiosk",
                )
            )
        s.add(
            HubRequest(
                kind="add_member",
                member_id=member_id,
                data={"first_name": "Bruno"},
                origin="desk",
                created_at=MORNING,
                answered_at=MORNING,
                ok=True,
            )
        )
        s.add(
            HubRequest(
                kind="add_member", member_id=member_id, data={"first_name": "Bruno"}, origin="desk", created_at=MORNING
            )
        )  # never answered: still the hub's to receive
    # After three months: the pass's card and the answered request go; the names stay for the walk-in's year.
    done = apply_retention(db, LATER, CONFIG)
    assert done.counts.get("pass_cards") == 1 and done.counts.get("hub_requests") == 1
    assert "guests" not in done.counts and "bookings" not in done.counts
    # After the year: guests and walk-ins' bookings lose their names, every booking its guests' first names.
    done = apply_retention(db, YEAR_LATER, CONFIG)
    assert done.counts.get("guests") == 1 and done.counts.get("bookings") == 2
    with db.read() as s:
        assert s.scalar(select(Credential.id).where(Credential.value == "C0C0C0C0")) is None
        assert s.scalars(select(Guest.name)).all() == ["Invité·e"]
        bookings = {b.holder_kind: (b.name, b.email, b.guests) for b in s.scalars(select(Booking))}
        assert bookings == {"walk_in": (WALK_IN_PSEUDONYM, None, None), "member": ("Bruno Martin", None, None)}
        assert s.scalars(select(HubRequest.answered_at)).all() == [None]
    assert apply_retention(db, YEAR_LATER, CONFIG).total == 0
