"""Walk-in sales as pure rules and one write transaction: offers by the hour, the buyer's details, the sale,
its pass and event, marking paid, and re-entry codes."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from sqlalchemy import func, select

from access.ledger import SlotRules, slot_at
from access.models import Credential, Event, Meta, Outbox, Pass, Sale
from access.store import Stamp, state_version
from common.words import SLOTS, PlanKind
from halfday.sample import ALICE
from kiosk.sales import (
    Offer,
    Payment,
    SaleRefused,
    WalkIn,
    check_walk_in,
    counter_at,
    mark_paid,
    pass_for_code,
    record_sale,
)
from sync.payloads import event_data_problem
from tests.support.site import Site

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
RULES = SlotRules(PARIS)  # 08:00-13:00-20:00


def at(hour: int, minute: int = 0, day: int = 23) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=PARIS).astimezone(dt.UTC)


PRICES = {PlanKind.PASS_HALFDAY: 800, PlanKind.PASS_DAY: 1400, PlanKind.PASS_WEEK: 5000, PlanKind.PASS_MONTH: 15000}


def test_the_four_passes_are_on_sale_each_with_the_half_days_it_covers() -> None:
    morning = counter_at(at(9, 30), RULES, PRICES)  # Monday 23 November
    assert [(o.kind, o.date, o.slots, o.until, o.until_slots, o.price_cents) for o in morning.offers] == [
        ("pass_halfday", dt.date(2026, 11, 23), ("morning",), None, (), 800),
        ("pass_day", dt.date(2026, 11, 23), ("morning", "afternoon"), None, (), 1400),
        ("pass_week", dt.date(2026, 11, 23), ("morning", "afternoon"), dt.date(2026, 11, 29), SLOTS, 5000),
        ("pass_month", dt.date(2026, 11, 23), ("morning", "afternoon"), dt.date(2026, 12, 22), SLOTS, 15000),
    ]
    afternoon = counter_at(at(15), RULES, PRICES)
    day = afternoon.offer("pass_day")
    assert day is not None and (day.date, day.slots, day.until, day.until_slots) == (
        dt.date(2026, 11, 23),
        ("afternoon",),
        dt.date(2026, 11, 24),
        ("morning",),
    )
    assert not afternoon.late


def test_only_the_passes_the_site_sells_are_offered() -> None:
    counter = counter_at(at(9), RULES, {PlanKind.PASS_WEEK: 4500})
    assert [(o.kind, o.price_cents) for o in counter.offers] == [("pass_week", 4500)]
    assert counter_at(at(9), RULES, {}).closed == "none"


def test_a_closed_day_sells_nothing_and_a_pass_skips_closed_days() -> None:
    assert counter_at(at(9), RULES, PRICES, closures={dt.date(2026, 11, 23)}).closed == "closure"
    counter = counter_at(at(15), RULES, PRICES, closures={dt.date(2026, 11, 24)})
    day = counter.offer("pass_day")
    assert day is not None and (day.until, day.until_slots) == (dt.date(2026, 11, 25), ("morning",))
    week = counter.offer("pass_week")
    assert week is not None and week.until == dt.date(2026, 11, 30)  # one closed day given back


@pytest.mark.parametrize(
    ("when", "clock_ok", "closed"), [(at(7, 59), True, "hours"), (at(20), True, "hours"), (at(10), False, "clock")]
)
def test_nothing_on_sale_outside_hours_or_with_an_unsure_clock(when: dt.datetime, clock_ok: bool, closed: str) -> None:
    counter = counter_at(when, RULES, PRICES, clock_ok=clock_ok)
    assert counter.offers == () and counter.closed == closed


def test_walk_in_details_are_checked() -> None:
    assert check_walk_in("  Zoé   Lemoine ", " zoe@example.org ", "a1:b2:c3:d4") == WalkIn(
        "Zoé Lemoine", "zoe@example.org", "A1B2C3D4"
    )
    for name, email, reason in [
        ("", "z@example.org", "name_missing"),
        ("   ", "z@example.org", "name_missing"),
        ("Z" * 161, "z@example.org", "name_long"),
        ("Zoé", "zoe@", "email_invalid"),
    ]:
        with pytest.raises(SaleRefused) as refused:
            check_walk_in(name, email)
        assert refused.value.reason == reason
    with pytest.raises(SaleRefused, match="card_invalid"):
        check_walk_in("Zoé", "z@example.org", "XYZ")
    # The e-mail only brings the receipt by mail: none is asked of a walk-in who does not want one.
    assert check_walk_in("Zoé", "  ") == WalkIn("Zoé", None)


def stamp(when: dt.datetime) -> Stamp:
    return Stamp(when, 1, "boot", True)


def sell(site: Site, when: dt.datetime, walk_in: WalkIn, payment: Payment, kind: str = "pass_halfday") -> str:
    offer = counter_at(when, RULES, PRICES).offer(kind)
    assert offer is not None
    with site.db.write() as s:
        return record_sale(s, "door-1", offer, walk_in, payment, stamp(when))[1].id


def test_a_sale_writes_sale_pass_event_outbox_and_bumps_the_state_version(site: Site) -> None:
    with site.db.read() as s:
        version = state_version(s)
    pass_id = sell(site, at(9), WalkIn("Zoé Lemoine", "zoe@example.org"), Payment("counter", False), "pass_day")
    with site.db.read() as s:
        sale = s.scalars(select(Sale)).one()
        pass_ = s.get(Pass, pass_id)
        event = s.scalars(select(Event).where(Event.kind == "sale")).one()
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.event_id == event.id)) == 1
        assert state_version(s) == version + 1
    assert pass_ is not None and pass_.sale_id == sale.id
    assert len(pass_.code) == 6 and pass_.code.isdigit()
    assert (pass_.valid_date, pass_.slots) == (dt.date(2026, 11, 23), "morning,afternoon")
    assert not sale.paid and sale.amount_cents == 1400
    assert event.data == {
        "sale": sale.id,
        "kind": "pass_day",
        "book_kind": "pass",
        "series": "DOOR-1",
        "number": 1,
        "label": "Pass journée",
        "amount_cents": 1400,
        "provider": "counter",
        "paid": False,
        "pass": pass_id,
        "date": "2026-11-23",
        "slots": ["morning", "afternoon"],
        "name": "Zoé Lemoine",
        "email": "zoe@example.org",
    }
    assert event_data_problem("sale", event.data) is None  # what the hub will accept


def test_nothing_is_written_when_the_transaction_fails(site: Site) -> None:
    offer = Offer("pass_halfday", dt.date(2026, 11, 23), ("morning",), 800)
    with pytest.raises(SaleRefused), site.db.write() as s:
        record_sale(s, "door-1", offer, WalkIn("Zoé", "z@example.org", ALICE), Payment("counter", False), stamp(at(9)))
    with site.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Sale)) == 0
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "sale")) == 0


def test_a_card_moves_from_an_old_pass_to_the_new_one(site: Site) -> None:
    first = sell(site, at(9, day=20), WalkIn("Zoé", "z@example.org", "D1D2D3D4"), Payment("counter", False))
    second = sell(site, at(9), WalkIn("Zoé", "z@example.org", "D1D2D3D4"), Payment("counter", False))
    with site.db.read() as s:
        card = s.scalars(select(Credential).where(Credential.value == "D1D2D3D4")).one()
    assert card.pass_id == second != first and card.member_id is None


def test_marking_paid_records_sale_paid_once(site: Site) -> None:
    sell(site, at(9), WalkIn("Zoé", "z@example.org"), Payment("counter", False))
    with site.db.read() as s:
        sale_id = s.scalars(select(Sale.id)).one()
    with site.db.write() as s:
        mark_paid(s, sale_id, "door-1", stamp(at(10)), "cash")
    with pytest.raises(SaleRefused, match="sale_already_paid"), site.db.write() as s:
        mark_paid(s, sale_id, "door-1", stamp(at(11)), "cash")
    with site.db.read() as s:
        sale = s.get(Sale, sale_id)
        events = s.scalars(select(Event).where(Event.kind == "sale_paid")).all()
    assert sale is not None and sale.paid and sale.paid_at == at(10)
    assert [e.data for e in events] == [{"sale": sale_id, "tender": "cash"}]
    assert event_data_problem("sale_paid", events[0].data) is None


def test_a_code_admits_only_in_its_slots(site: Site) -> None:
    pass_id = sell(site, at(9), WalkIn("Zoé", "z@example.org"), Payment("counter", False))
    with site.db.read() as s:
        code = s.get(Pass, pass_id).code  # type: ignore[union-attr]
        assert pass_for_code(s, f"{code[:3]} {code[3:]}", slot_at(at(12), RULES)).id == pass_id
        for raw, when, reason in [
            (code, at(14), "code_unknown"),  # out of its slot: answered like a wrong code
            (code, at(9, day=24), "code_unknown"),
            ("12345", at(9), "code_format"),
        ]:
            with pytest.raises(SaleRefused) as refused:
                pass_for_code(s, raw, slot_at(when, RULES))
            assert refused.value.reason == reason
        assert s.get(Meta, "state_version") is not None
