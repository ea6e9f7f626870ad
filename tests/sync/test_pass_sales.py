"""A week or month pass travels to the hub with its span: the appliance's sale event carries `until` and
`until_slots`, the hub checks them and keeps them on its sale, and a span that cannot be is refused."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from access.ledger import SlotRules
from access.models import Event as ApplianceEvent
from access.store import Stamp
from common.words import PlanKind
from kiosk.sales import Payment, WalkIn, counter_at, record_sale
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import Sale
from sync.payloads import event_data_problem, validate_batch
from tests.support.site import Site
from tests.sync.devicesim import make_event

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
RULES = SlotRules(PARIS)
WEDNESDAY_AFTERNOON = dt.datetime(2026, 12, 2, 15, 0, tzinfo=PARIS).astimezone(dt.UTC)
PRICES = {PlanKind.PASS_WEEK: 5000, PlanKind.PASS_DAY: 1400}


def sold_event(site: Site, kind: PlanKind) -> dict[str, Any]:
    offer = counter_at(WEDNESDAY_AFTERNOON, RULES, PRICES).offer(kind)
    assert offer is not None
    with site.db.write() as s:
        record_sale(s, "door-1", offer, WalkIn("Léa Roux", "lea@example.org"), Payment("counter", False), stamp())
    with site.db.read() as s:
        return dict(s.scalars(select(ApplianceEvent.data).where(ApplianceEvent.kind == "sale")).one())


def stamp() -> Stamp:
    return Stamp(WEDNESDAY_AFTERNOON, 1, "boot", True)


def test_a_week_pass_reaches_the_hub_with_its_last_day(new_site: Callable[..., Site], hub_db: HubDatabase) -> None:
    data = sold_event(new_site(), PlanKind.PASS_WEEK)
    assert (data["date"], data["slots"], data["until"], data["until_slots"]) == (
        "2026-12-02",
        ["afternoon"],
        "2026-12-08",
        ["morning", "afternoon"],
    )
    assert event_data_problem("sale", data) is None
    event = make_event("site-a", "door-1", 1, "sale", data)
    Ingestor(hub_db, gap_wait_s=0).ingest(
        validate_batch({"v": 1, "site": "site-a", "device": "door-1", "events": [event]})
    )
    with hub_db.read() as session:
        sale = session.execute(select(Sale)).scalar_one()
    assert (sale.kind, sale.local_date, sale.slots, sale.valid_until, sale.until_slots) == (
        "pass_week",
        dt.date(2026, 12, 2),
        "afternoon",
        dt.date(2026, 12, 8),
        "morning,afternoon",
    )


def test_a_pass_the_manager_stopped_is_marked_at_the_hub(hub_db: HubDatabase) -> None:
    sale = {**BASE, "until": "2026-12-08", "until_slots": ["morning", "afternoon"]}
    stop = {"sale": BASE["sale"], "pass": BASE["pass"]}
    events = [make_event("site-a", "door-1", 1, "sale", sale), make_event("site-a", "door-1", 2, "pass_stopped", stop)]
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    ingestor.ingest(validate_batch({"v": 1, "site": "site-a", "device": "door-1", "events": events}))
    with hub_db.read() as session:
        stored = session.execute(select(Sale)).scalar_one()
    assert stored.stopped_at is not None and stored.stopped_at.replace(tzinfo=dt.UTC) == dt.datetime(
        2026, 11, 23, 8, 0, 2, tzinfo=dt.UTC
    )
    assert event_data_problem("pass_stopped", {"sale": "x"}) is not None


def test_a_day_pass_over_midnight_carries_its_span_and_a_one_day_pass_none(new_site: Callable[..., Site]) -> None:
    data = sold_event(new_site(), PlanKind.PASS_DAY)  # this afternoon and tomorrow morning
    assert (data["until"], data["until_slots"]) == ("2026-12-03", ["morning"])
    assert event_data_problem("sale", data) is None


BASE = {
    "sale": "5" * 32,
    "kind": "pass_week",
    "amount_cents": 5000,
    "provider": "counter",
    "paid": False,
    "pass": "6" * 32,
    "date": "2026-12-02",
    "slots": ["morning", "afternoon"],
    "name": "Léa",
    "email": "lea@example.org",
}


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"until": "2026-12-08"}, "until_slots est absent"),
        ({"until_slots": ["morning"]}, "until est absent"),
        ({"until": "2026-12-02", "until_slots": ["morning"]}, "until doit suivre date"),
        ({"until": "2026-12-01", "until_slots": ["morning"]}, "until doit suivre date"),
        ({"until": "2027-06-30", "until_slots": ["morning"]}, "until doit suivre date"),
        ({"until": "2026-12-08", "until_slots": ["afternoon"]}, "until_slots commencer le matin"),
        ({"until": "2026-12-08", "until_slots": ["afternoon", "morning"]}, "until_slots doit lister"),
        ({"until": "2026-12-08", "until_slots": []}, "until_slots doit lister"),
        ({"until": "2026-02-30", "until_slots": ["morning"]}, "date qui existe"),
        ({"slots": ["morning"], "until": "2026-12-08", "until_slots": ["morning"]}, "slots doit finir"),
    ],
)
def test_a_span_that_cannot_be_is_refused(extra: dict[str, Any], problem: str) -> None:
    found = event_data_problem("sale", {**BASE, **extra})
    assert found is not None and problem in found
    assert event_data_problem("sale", {**BASE, "until": "2026-12-08", "until_slots": ["morning", "afternoon"]}) is None
    assert event_data_problem("sale", {**BASE, "kind": "pass_year"}) is not None
