"""The four passes at the touchscreen, through the kiosk's own pages on a sample site (slots 08:00-13:00-20:00,
Europe/Paris) whose clock the test sets: what each covers before payment, in French and English; the late rule
and closure days in the screen's words; a sale made only for the half-days shown; codes over a pass's span; the
counter's unpaid limit with passes over several days; and the config's checks."""

from __future__ import annotations

import datetime as dt
import html
import re
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from access.config import parse_config
from access.models import Closure, Event, Pass, Sale
from access.store import load_state
from common.config import ConfigError
from common.words import PlanKind
from halfday import sample
from kiosk.app import create_app
from kiosk.vouchers import voucher_book
from sync.payloads import event_data_problem
from tests.support.kiosk import TEST_TUNING
from tests.support.site import MANAGER_PASSWORD, Site

WEDNESDAY = dt.date(2026, 12, 2)


PARIS = zoneinfo.ZoneInfo("Europe/Paris")  # the sample site's


class Clock:
    """The kiosk's clock, set by the test to a local day and time."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)

    def set(self, day: dt.date, hour: int, minute: int = 0) -> None:
        self.now = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS).astimezone(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def shop_site(new_site: Callable[..., Site]) -> Site:
    return new_site(overrides={"kiosk": {"late_minutes": 60, "counter_unpaid_per_slot": 1}})


@pytest.fixture
def trusting_site(new_site: Callable[..., Site]) -> Site:
    """A site that lets week and month passes too be paid at the counter."""
    counter = {"counter_unpaid_per_slot": 1, "counter_passes": ["pass_halfday", "pass_day", "pass_week"]}
    return new_site("trusting", overrides={"kiosk": {"late_minutes": 60, **counter}})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shop(shop_site: Site, clock: Clock) -> Iterator[Flask]:
    app = create_app(shop_site.config, connect_bus=False, tuning=TEST_TUNING, clock=clock)
    yield app
    app.extensions["halfday.kiosk"].close()


@pytest.fixture
def screen(shop: Flask) -> FlaskClient:
    return shop.test_client()


def text(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text[:300]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def offers(client: FlaskClient) -> dict[str, str]:
    page = client.get("/buy").text
    found = re.findall(r'data-kind="(\w+)">\s*(.*?)</a>', page, re.S)
    return {kind: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split()) for kind, body in found}


def form(client: FlaskClient, kind: str) -> dict[str, str]:
    """What the buy page's form sends: its token and the offer shown (none when the pass is not on sale)."""
    page = client.get(f"/buy/{kind}").text
    fields = dict(re.findall(r'name="(csrf_token|offer)" value="([^"]*)"', page))
    if "csrf_token" not in fields:
        fields.update(re.findall(r'name="(csrf_token)" value="([^"]*)"', client.get("/code").text))
    return {**{k: html.unescape(v) for k, v in fields.items()}, "name": "Inès Martin", "email": "ines@example.org"}


def buy(client: FlaskClient, kind: str, **extra: str) -> Any:
    return client.post(f"/buy/{kind}", data={**form(client, kind), "provider": "counter", **extra})


def test_every_pass_says_before_payment_exactly_which_half_days_it_covers(screen: FlaskClient, clock: Clock) -> None:
    clock.set(WEDNESDAY, 10)
    assert offers(screen) == {
        "pass_halfday": "Demi-journée mercredi 2 décembre, matin 8,00 €",
        "pass_day": "Journée mercredi 2 décembre, matin et après-midi 14,00 €",
        "pass_week": "Semaine du mercredi 2 décembre, matin, au mardi 8 décembre, après-midi 50,00 €",
        "pass_month": "Mois du mercredi 2 décembre, matin, au vendredi 1 janvier, après-midi 150,00 €",
    }
    clock.set(WEDNESDAY, 15)
    assert offers(screen)["pass_day"] == "Journée mercredi 2 décembre, après-midi ; jeudi 3 décembre, matin 14,00 €"
    assert "Ce pass ouvre : du mercredi 2 décembre, après-midi, au mardi 8 décembre, après-midi." in text(
        screen, "/buy/pass_week"
    )
    with screen.session_transaction() as session:
        session["lang"] = "en"
    assert offers(screen)["pass_week"] == (
        "Week from Wednesday 2 December, afternoon, to Tuesday 8 December, afternoon €50.00"
    )
    assert "This pass opens: Wednesday 2 December, afternoon; Thursday 3 December, morning." in text(
        screen, "/buy/pass_day"
    )


def test_late_in_a_half_day_the_rest_is_given_and_the_screen_says_so(screen: FlaskClient, clock: Clock) -> None:
    clock.set(WEDNESDAY, 12, 0)  # an hour left: on time
    assert offers(screen)["pass_halfday"] == "Demi-journée mercredi 2 décembre, matin 8,00 €"
    assert 'id="late"' not in screen.get("/buy").text
    clock.set(WEDNESDAY, 12, 1)
    assert offers(screen)["pass_halfday"] == "Demi-journée mercredi 2 décembre, matin et après-midi 8,00 €"
    assert "Moins de 60 minutes restent de cette demi-journée : elles vous sont offertes" in text(screen, "/buy")
    assert "La fin de cette demi-journée vous est offerte." in text(screen, "/buy/pass_halfday")
    clock.set(WEDNESDAY, 19, 30)
    assert (
        offers(screen)["pass_day"]
        == "Journée mercredi 2 décembre, après-midi ; jeudi 3 décembre, matin et après-midi 14,00 €"
    )


def test_a_closed_day_sells_nothing_and_passes_give_closed_days_back(
    screen: FlaskClient, clock: Clock, shop_site: Site
) -> None:
    with shop_site.db.write() as s:
        s.add(Closure(date=WEDNESDAY, label="Fermeture"))
        s.add(Closure(date=dt.date(2026, 12, 4), label="Inventaire"))
    clock.set(WEDNESDAY, 10)
    assert "L'espace est fermé aujourd'hui : aucun pass n'est en vente." in text(screen, "/buy")
    assert buy(screen, "pass_halfday").status_code == 409
    clock.set(dt.date(2026, 12, 3), 15)  # Thursday afternoon; Friday closed
    assert offers(screen)["pass_day"] == "Journée jeudi 3 décembre, après-midi ; samedi 5 décembre, matin 14,00 €"
    week = text(screen, "/buy/pass_week")
    assert "du jeudi 3 décembre, après-midi, au jeudi 10 décembre, après-midi." in week
    assert "Fermé le vendredi 4 décembre : ces jours sont rendus en fin de pass." in week


def test_the_sale_is_made_only_for_the_half_days_the_buyer_saw(
    screen: FlaskClient, clock: Clock, shop_site: Site
) -> None:
    clock.set(WEDNESDAY, 11, 59)
    shown = form(screen, "pass_halfday")
    assert shown["offer"].startswith("2026-12-02|morning||")
    clock.set(WEDNESDAY, 12, 2)  # late now: the pass would cover the afternoon too
    refused = screen.post("/buy/pass_halfday", data={**shown, "provider": "counter"})
    assert refused.status_code == 409
    assert "les demi-journées de ce pass ont changé" in html.unescape(refused.text)
    assert "matin et après-midi" in html.unescape(refused.text)  # the new span, shown to be confirmed
    with shop_site.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Sale)) == 0
    again = re.search(r'name="offer" value="([^"]*)"', refused.text)
    assert again is not None
    bought = screen.post(
        "/buy/pass_halfday", data={**shown, "offer": html.unescape(again.group(1)), "provider": "counter"}
    )
    assert bought.status_code == 302
    with shop_site.db.read() as s:
        pass_ = s.scalars(select(Pass)).one()
    assert (pass_.valid_date, pass_.slots, pass_.valid_until) == (WEDNESDAY, "morning,afternoon", None)


def test_a_week_pass_code_lets_in_every_day_of_its_span_and_not_after(
    screen: FlaskClient, clock: Clock, shop_site: Site
) -> None:
    clock.set(WEDNESDAY, 10)
    voucher = voucher_book(shop_site.config).mint(PlanKind.PASS_WEEK, 1)
    assert buy(screen, "pass_week", provider="voucher", voucher=voucher.printed).status_code == 302
    with shop_site.db.read() as s:
        pass_, sale = s.execute(select(Pass, Sale).join(Sale, Sale.id == Pass.sale_id)).one()
        event = s.scalars(select(Event).where(Event.kind == "sale")).one()
    assert (sale.plan_kind, sale.amount_cents, sale.paid, pass_.valid_until, pass_.until_slots) == (
        "pass_week",
        5000,
        True,
        dt.date(2026, 12, 8),
        "morning,afternoon",
    )
    assert (event.data["until"], event.data["until_slots"]) == ("2026-12-08", ["morning", "afternoon"])
    page = text(screen, f"/pass/{pass_.id}")
    assert "Votre code pour revenir (du mercredi 2 décembre, matin, au mardi 8 décembre, après-midi)" in page
    for day, hour, status in [
        (dt.date(2026, 12, 5), 9, 200),  # Saturday, a day between
        (dt.date(2026, 12, 8), 19, 200),  # the last evening
        (dt.date(2026, 12, 8), 21, 422),  # after hours
        (dt.date(2026, 12, 9), 9, 422),  # the Wednesday after
    ]:
        clock.set(day, hour)
        token = re.search(r'name="csrf_token" value="([^"]+)"', screen.get("/code").text)
        assert token is not None
        answer = screen.post("/code", data={"csrf_token": token.group(1), "code": pass_.code})
        assert answer.status_code == status, (day, hour)


def test_week_and_month_passes_are_paid_ahead_not_on_trust_at_the_counter(
    screen: FlaskClient, clock: Clock, shop_site: Site
) -> None:
    clock.set(WEDNESDAY, 10)
    assert 'id="pay-counter"' in screen.get("/buy/pass_day").text
    page = screen.get("/buy/pass_month").text
    assert 'id="pay-counter"' not in page and 'id="pay-voucher"' in page
    refused = buy(screen, "pass_month")  # a forged form asking for the counter all the same
    assert refused.status_code == 422
    assert "Un pass « Mois » se paie d'avance, avec un bon prépayé vendu à l'accueil" in html.unescape(refused.text)
    with shop_site.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Sale)) == 0


def test_an_unpaid_week_pass_counts_at_the_counter_while_it_opens_and_not_after(
    new_site: Callable[..., Site], trusting_site: Site, clock: Clock
) -> None:
    app = create_app(trusting_site.config, connect_bus=False, tuning=TEST_TUNING, clock=clock)
    try:
        screen = app.test_client()
        clock.set(dt.date(2026, 11, 30), 10)  # Monday: one unpaid week pass, the site allows one per half-day
        assert buy(screen, "pass_week").status_code == 302
        clock.set(WEDNESDAY, 15)
        full = buy(screen, "pass_halfday")
        assert full.status_code == 422 and "Trop de pass restent à régler" in html.unescape(full.text)
        clock.set(dt.date(2026, 12, 7), 10)  # the Monday after: the week is over (Sunday was its last day)
        assert buy(screen, "pass_halfday").status_code == 302
    finally:
        app.extensions["halfday.kiosk"].close()


def test_the_manager_stops_a_pass_and_the_door_no_longer_opens_for_it(
    screen: FlaskClient, clock: Clock, shop_site: Site
) -> None:
    clock.set(WEDNESDAY, 10)
    voucher = voucher_book(shop_site.config).mint(PlanKind.PASS_MONTH, 2)
    assert buy(screen, "pass_month", provider="voucher", voucher=voucher.printed).status_code == 302
    with shop_site.db.read() as s:
        pass_ = s.scalars(select(Pass)).one()
    shop_site.set_password()
    login = re.search(r'name="csrf_token" value="([^"]+)"', screen.get("/admin/login").text)
    assert login is not None
    signed = screen.post("/admin/login", data={"csrf_token": login.group(1), "password": MANAGER_PASSWORD})
    assert signed.status_code == 302
    listed = screen.get("/admin/sales?show=all").text
    assert "Arrêter le pass" in listed and "2026-12-02 → 2027-01-01" in listed
    token = re.search(r'name="csrf_token" value="([^"]+)"', listed)
    assert token is not None
    stopped = screen.post(f"/admin/sales/{pass_.sale_id}/stop?show=all", data={"csrf_token": token.group(1)})
    assert stopped.status_code == 302
    page = screen.get("/admin/sales?show=all").text
    assert "pass arrêté le 02/12/2026" in page and "Arrêter le pass" not in page
    with shop_site.db.read() as s:
        event = s.scalars(select(Event).where(Event.kind == "pass_stopped")).one()
        state = load_state(s, shop_site.config.site.rules, shop_site.config.site.id, "door-1", WEDNESDAY)
    assert event.data == {"sale": pass_.sale_id, "pass": pass_.id}
    assert event_data_problem("pass_stopped", event.data) is None
    assert pass_.id not in state.holders  # the door's next reload drops it, code and card with it
    code = re.search(r'name="csrf_token" value="([^"]+)"', screen.get("/code").text)
    assert code is not None
    assert screen.post("/code", data={"csrf_token": code.group(1), "code": pass_.code}).status_code == 422
    again = screen.post(f"/admin/sales/{pass_.sale_id}/stop", data={"csrf_token": token.group(1)})
    assert again.status_code == 302
    assert "Ce pass est déjà arrêté." in html.unescape(screen.get("/admin/sales").text)


# A morning of three hours: the shortest half-day.
SHORT_MORNING = {"morning_start": "09:00", "noon": "12:00"}


def site_data(**kiosk: Any) -> dict[str, Any]:
    """A site's config as data, with these `[kiosk]` keys (parsed only: the database is never opened)."""
    overrides = {"kiosk": kiosk, "slots": SHORT_MORNING}
    return sample.site_config(Path("/var/lib/halfday/halfday.db"), "udp:127.0.0.1:54321", overrides=overrides)


@pytest.mark.parametrize(
    ("kiosk", "key", "words"),
    [
        ({"late_minutes": 300}, "kiosk.late_minutes", "entier"),
        ({"late_minutes": 180}, "kiosk.late_minutes", "plus court que la plus courte demi-journée (180 minutes)"),
        ({"late_minutes": -1}, "kiosk.late_minutes", "entier"),
        ({"passes": ["pass_year"]}, "kiosk.passes", "pass_year"),
        ({"passes": ["pass_week", "pass_week"]}, "kiosk.passes", "sans doublon"),
        ({"price_week_cents": -5}, "kiosk.price_week_cents", "entier"),
        ({"price_month_cents": "cent"}, "kiosk.price_month_cents", "entier"),
        ({"payment": ["counter"]}, "kiosk.passes", "« pass_week » ne pourrait pas être payé"),
        ({"counter_passes": ["pass_year"]}, "kiosk.counter_passes", "pass_year"),
    ],
)
def test_bad_pass_settings_are_refused_with_the_key_named(kiosk: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(site_data(**kiosk))
    assert refused.value.key == key and words in str(refused.value)


def test_the_site_chooses_its_passes_and_prices() -> None:
    config = parse_config(site_data(passes=["pass_week", "pass_month"], price_week_cents=4500, late_minutes=179))
    assert (config.kiosk.passes, config.kiosk.price_week_cents, config.kiosk.late_minutes) == (
        ("pass_week", "pass_month"),
        4500,
        179,
    )
