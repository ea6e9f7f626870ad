"""A member's account at the touchscreen, through the kiosk's pages: reached only by the link of the member's own
last tap, for a short while, from the touchscreen; refill and renewal recorded as the member's sales; guests."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from access.admin import set_guest_half_days
from access.guests import GuestRefused
from access.models import Balance, Closure, Event, Guest, Member, Notice, Sale, Subscription
from access.policy import Reason
from access.store import state_version
from common.periods import months_end, next_period
from halfday.sample import ALICE, BRUNO, CLARA, DENIS
from kiosk.account import account_link, register_guest
from kiosk.app import create_app
from sync.localbus import Tap
from sync.signing import generate_private_key, public_key_b64
from tests.support.broker import Mosquitto
from tests.support.kiosk import TEST_TUNING, record_taps
from tests.support.site import MANAGER_PASSWORD, Site

WIFI = {"REMOTE_ADDR": "192.168.1.50"}  # a laptop on the space's Wi-Fi, not the touchscreen


@pytest.fixture
def short_app(site: Site) -> Iterator[Flask]:
    """The kiosk with a tap's link alive for a second and a half only."""
    application = create_app(
        site.config, connect_bus=False, tuning=dataclasses.replace(TEST_TUNING, account_token_s=1.5)
    )
    yield application
    application.extensions["halfday.kiosk"].close()


def tap(app: Flask, site: Site, badge: str) -> str | None:
    """Tap `badge` as the door records it, then the link the touchscreen's event stream gives for that tap."""
    record_taps(site, [badge])
    with site.db.read() as s:
        event = s.scalars(select(Event).where(Event.kind == "entry").order_by(Event.seq.desc())).first()
    assert event is not None
    news = Tap(
        event=event.id,
        seq=event.seq,
        at=event.at,
        granted=event.data["granted"],
        reason=Reason(event.data["reason"]),
        holder=event.data["holder"],
        first_name=event.data["first_name"],
    )
    with app.test_request_context():
        return account_link(news)


def member_id(site: Site, first_name: str) -> str:
    with site.db.read() as s:
        return s.scalars(select(Member.id).where(Member.first_name == first_name)).one()


def token_of(link: str) -> str:
    found = re.search(r"[?&]t=([^&]+)", link)
    assert found is not None
    return found.group(1)


def form_token(client: FlaskClient, url: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)
    assert found is not None, f"no form on {url}"
    return found.group(1)


def test_a_members_tap_shows_their_account_and_nothing_of_anyone_else(app: Flask, site: Site) -> None:
    link = tap(app, site, BRUNO)
    assert link is not None and link.startswith("/account/?t=")
    page = app.test_client().get(link)
    assert page.status_code == 200
    assert "Bonjour Bruno" in page.text and "9 demi-journées restantes" in page.text
    assert "Ce mois-ci : 1 demi-journée" in page.text and "Recharger" in page.text
    for other in (BRUNO, "Petit", "bruno@example.org", "Alice", "Clara", member_id(site, "Bruno")):
        assert other not in page.text


def test_only_a_members_tap_gives_a_link(app: Flask, site: Site) -> None:
    assert tap(app, site, DENIS) is None  # a revoked badge: whoever holds it found it
    assert tap(app, site, "9A0B1C2D") is None  # nobody's badge
    # An empty carnet is refused at the door, and the account is where it is refilled.
    link = tap(app, site, CLARA)
    assert link is not None
    page = app.test_client().get(link).text
    assert "Clara, votre carnet est épuisé" in page and "0 demi-journées restantes" in page and "Recharger" in page


def test_a_link_from_another_tap_a_forged_or_an_old_one_is_refused(short_app: Flask, site: Site) -> None:
    client = short_app.test_client()
    bruno = tap(short_app, site, BRUNO)
    assert bruno is not None and client.get(bruno).status_code == 200
    # A token signed elsewhere, or Bruno's token with a letter changed, opens nothing.
    token = token_of(bruno)
    for forged in ("x", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), ""):
        refused = client.get("/account/", query_string={"t": forged})
        assert refused.status_code == 403 and "badgez de nouveau" in refused.text
    # Alice taps after Bruno: Bruno's link is dead, Alice's opens Alice's account only.
    alice = tap(short_app, site, ALICE)
    assert alice is not None
    assert client.get(bruno).status_code == 403
    assert "Bonjour Alice" in client.get(alice).text
    # An old link: past its lifetime even with no tap since.
    time.sleep(1.7)
    assert client.get(alice).status_code == 403
    # And no form takes it either.
    csrf = form_token(client, "/code")
    posted = client.post("/account/guest", data={"csrf_token": csrf, "t": token_of(alice), "name": "Eve"})
    assert posted.status_code == 403
    with site.db.read() as s:
        assert s.scalars(select(Guest)).all() == []


def test_the_sites_wifi_never_reaches_an_account(app: Flask, site: Site) -> None:
    link = tap(app, site, BRUNO)
    assert link is not None
    laptop = app.test_client()
    laptop.environ_base.update(WIFI)
    for path in (link, link.replace("/account/", "/account/guest"), link.replace("/account/", "/account/buy")):
        refused = laptop.get(path)
        assert refused.status_code == 403 and "Bruno" not in refused.text


def test_a_refill_is_a_members_sale_and_raises_the_balance_at_once(app: Flask, site: Site) -> None:
    client = app.test_client()
    link = tap(app, site, BRUNO)
    assert link is not None
    token = token_of(link)
    bruno = member_id(site, "Bruno")
    with site.db.read() as s:
        carnet = s.scalars(select(Subscription).where(Subscription.member_id == bruno)).one()
        version = state_version(s)
    form = client.get("/account/buy", query_string={"t": token, "what": "refill", "sub": carnet.id})
    assert form.status_code == 200 and "10 demi-journées de plus" in form.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    data = {"csrf_token": csrf.group(1), "t": token, "what": "refill", "sub": carnet.id, "provider": "counter"}
    done = client.post("/account/buy", data=data)
    assert done.status_code == 200 and "Carnet rechargé" in done.text and "19 demi-journées restantes" in done.text
    with site.db.read() as s:
        sale = s.scalars(select(Sale)).one()
        assert (sale.member_id, sale.subscription_id, sale.provider, sale.paid) == (bruno, carnet.id, "counter", False)
        assert sale.amount_cents > 0 and sale.plan_kind == "carnet"
        assert state_version(s) == version + 1  # the door reloads on it
        # The member gave an e-mail: their receipt waits in the mail queue, written with the sale.
        receipt = s.scalars(select(Notice).where(Notice.key == f"receipt:{sale.id}")).one()
        assert receipt.to_address == "bruno@example.org" and receipt.member_id == bruno
        assert (sale.book_kind, sale.number) == ("refill", 1) and sale.receipt_no in receipt.body
    # The account links to the member's own receipt, which says what was bought.
    link_to_receipt = re.search(r'id="receipt-link" href="([^"]+)"', done.text)
    assert link_to_receipt is not None
    mine = client.get(link_to_receipt.group(1))
    assert mine.status_code == 200 and sale.receipt_no in mine.text and "Recharge" in mine.text
    # One unpaid purchase at a time: the next waits until the desk is paid.
    again = client.post("/account/buy", data=data)
    assert again.status_code == 422 and "reste à régler" in again.text
    # A voucher is for walk-ins' passes: the form offers none, and a posted one is refused.
    assert 'value="voucher"' not in form.text
    voucher = client.post("/account/buy", data={**data, "provider": "voucher"})
    assert voucher.status_code == 422
    with site.db.read() as s:
        assert len(s.scalars(select(Sale)).all()) == 1
        assert s.get(Balance, carnet.id) is not None


def test_a_dated_plan_is_renewed_for_the_next_month(app: Flask, site: Site) -> None:
    alice = member_id(site, "Alice")
    today = dt.datetime.now(site.config.site.tz).date()
    first = today.replace(day=1)
    end = months_end(first, 1)
    with site.db.write() as s:
        sub = s.scalars(select(Subscription).where(Subscription.member_id == alice)).one()
        sub.valid_from, sub.valid_until = first, end
        sub_id = sub.id
    client = app.test_client()
    link = tap(app, site, ALICE)
    assert link is not None
    page = client.get(link)
    assert "Renouveler" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/code").text)
    assert csrf is not None
    data = {"csrf_token": csrf.group(1), "t": token_of(link), "what": "renew", "sub": sub_id, "provider": "counter"}
    assert "Formule renouvelée" in client.post("/account/buy", data=data).text
    with site.db.read() as s:
        subs = s.scalars(select(Subscription).where(Subscription.member_id == alice).order_by(Subscription.valid_from))
        assert [(x.valid_from, x.valid_until) for x in subs] == [
            (first, end),
            (end + dt.timedelta(days=1), months_end(first, 2)),
        ]
        sale = s.scalars(select(Sale)).one()
        assert sale.member_id == alice and sale.subscription_id != sub_id


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "today", "period"),
    [
        # A calendar month follows a calendar month, February included.
        ("2027-01-01", "2027-01-31", "2027-01-20", ("2027-02-01", "2027-02-28")),
        ("2028-01-01", "2028-01-31", "2028-01-31", ("2028-02-01", "2028-02-29")),
        ("2026-12-01", "2026-12-31", "2026-12-01", ("2027-01-01", "2027-01-31")),
        # A month from the 15th stays a month from the 15th; a quarter stays a quarter.
        ("2026-11-15", "2026-12-14", "2026-12-01", ("2026-12-15", "2027-01-14")),
        ("2026-01-01", "2026-03-31", "2026-03-30", ("2026-04-01", "2026-06-30")),
        # A plan that ended already starts again today, for as long.
        ("2026-10-01", "2026-10-31", "2026-11-10", ("2026-11-10", "2026-12-09")),
        # Ten days stay ten days.
        ("2026-11-01", "2026-11-10", "2026-11-05", ("2026-11-11", "2026-11-20")),
    ],
)
def test_a_renewal_buys_the_next_period(valid_from: str, valid_until: str, today: str, period: tuple[str, str]) -> None:
    d = dt.date.fromisoformat
    assert next_period(d(valid_from), d(valid_until), d(today)) == (d(period[0]), d(period[1]))


def test_a_members_guest_is_registered_and_comes_in_with_the_code(app: Flask, site: Site) -> None:
    with site.db.write() as s:
        set_guest_half_days(s, "Illimité", 1)
    client = app.test_client()
    link = tap(app, site, ALICE)
    assert link is not None
    token = token_of(link)
    assert "Demi-journées d'invités ce mois-ci : 1 sur 1" in html.unescape(client.get(link).text)
    form = client.get("/account/guest", query_string={"t": token})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert form.status_code == 200 and csrf is not None
    empty = client.post("/account/guest", data={"csrf_token": csrf.group(1), "t": token, "name": "  "})
    assert empty.status_code == 422 and "prénom de votre invité" in empty.text
    done = client.post("/account/guest", data={"csrf_token": csrf.group(1), "t": token, "name": "Jeanne"})
    assert done.status_code == 200 and "Compris dans votre formule" in done.text
    with site.db.read() as s:
        guest = s.scalars(select(Guest)).one()
    assert guest.charge == "included" and f"{guest.code[:3]} {guest.code[3:]}" in done.text
    # The plan's one guest half-day a month is promised to Jeanne: a second guest is refused, in words.
    refused = client.post("/account/guest", data={"csrf_token": csrf.group(1), "t": token, "name": "Paul"})
    assert refused.status_code == 422 and "utilisées ce mois-ci" in refused.text
    assert "Demi-journées d'invités ce mois-ci : 0 sur 1" in html.unescape(client.get(link).text)
    # Jeanne's code at the touchscreen: the kiosk asks the door (not running here) and greets her by name.
    entered = client.post("/code", data={"csrf_token": csrf.group(1), "code": guest.code})
    assert entered.status_code == 200 and "Bon retour Jeanne" in entered.text


def test_the_manager_sees_registers_and_cancels_guests(app: Flask, site: Site) -> None:
    site.set_password()
    client = app.test_client()
    csrf = form_token(client, "/admin/login")
    assert client.post("/admin/login", data={"csrf_token": csrf, "password": MANAGER_PASSWORD}).status_code == 302
    bruno = member_id(site, "Bruno")
    csrf = form_token(client, "/admin/guests")
    added = client.post("/admin/guests", data={"csrf_token": csrf, "member": bruno, "name": "Jeanne"})
    assert added.status_code == 302
    with site.db.read() as s:
        guest = s.scalars(select(Guest)).one()
        version = state_version(s)
    page = client.get("/admin/guests").text
    assert "Jeanne" in page and "Bruno Petit" in page and guest.code in page and "carnet" in page
    # Not come in yet: the manager cancels, and the door is told (its code opens nothing any more).
    cancelled = client.post(f"/admin/guests/{guest.id}/cancel", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Invitation de Jeanne annulée." in cancelled.text
    with site.db.read() as s:
        assert s.scalars(select(Guest)).all() == [] and state_version(s) == version + 1
    # A member with nothing to charge a guest to: refused in words, nothing written.
    clara = member_id(site, "Clara")
    refused = client.post("/admin/guests", data={"csrf_token": csrf, "member": clara, "name": "Paul"})
    assert refused.status_code == 422 and "Votre carnet est vide" in refused.text
    with site.db.read() as s:
        assert s.scalars(select(Guest)).all() == []


def test_the_account_speaks_the_members_language_and_the_next_visitor_gets_the_sites(app: Flask, site: Site) -> None:
    with site.db.write() as s:
        bruno = s.scalars(select(Member).where(Member.first_name == "Bruno")).one()
        bruno.language = "en"
    client = app.test_client()
    link = tap(app, site, BRUNO)
    assert link is not None
    page = client.get(link).text
    assert "Your account, Bruno" in page and "9 half-days left" in page
    assert 'id="finished" href="/?idle=1"' in page  # "Done" gives the screen back in the site's language
    assert "Badgez ou achetez un pass" in client.get("/?idle=1").text


def test_a_kiosk_without_accounts_gives_no_link(site: Site) -> None:
    app = create_app(site.config, connect_bus=False, tuning=dataclasses.replace(TEST_TUNING, account_token_s=0))
    try:
        assert tap(app, site, BRUNO) is None
    finally:
        app.extensions["halfday.kiosk"].close()


@given(
    start=st.dates(dt.date(2024, 1, 1), dt.date(2030, 12, 31)),
    months=st.integers(1, 12),
    late=st.integers(0, 40),
)
def test_a_renewal_of_whole_months_is_whole_months_from_the_day_after(start: dt.date, months: int, late: int) -> None:
    """Whatever the month's length (31st, February, leap years): the next period starts the day after the end (or
    today, when it ended already) and runs as many whole months, never overlapping nor leaving a day out."""
    end = months_end(start, months)
    today = end + dt.timedelta(days=late - 20)
    first, last = next_period(start, end, today)
    assert first == max(end + dt.timedelta(days=1), today)
    assert last == months_end(first, months)
    assert first <= last and (last - first).days >= 27 * months


def test_at_a_site_the_hub_runs_members_refill_at_the_desk(site: Site, broker: Mosquitto) -> None:
    hub = {"url": f"mqtt://127.0.0.1:{broker.port}", "public_key": public_key_b64(generate_private_key())}
    app = create_app(site.reconfigure({"hub": hub}), connect_bus=False, tuning=TEST_TUNING)
    try:
        client = app.test_client()
        link = tap(app, site, BRUNO)
        assert link is not None
        page = html.unescape(client.get(link).text)
        assert "9 demi-journées restantes" in page and "Pour recharger ou renouveler, adressez-vous à l'accueil" in page
        assert 'id="refill-1"' not in page
        with site.db.read() as s:
            carnet = s.scalars(select(Subscription.id).where(Subscription.member_id == member_id(site, "Bruno"))).one()
        csrf = form_token(client, "/code")
        data = {"csrf_token": csrf, "t": token_of(link), "what": "refill", "sub": carnet, "provider": "counter"}
        refused = client.post("/account/buy", data=data)
        assert refused.status_code == 409 and "relié au réseau" in html.unescape(refused.text)
        with site.db.read() as s:
            assert s.scalars(select(Sale)).all() == []
    finally:
        app.extensions["halfday.kiosk"].close()


def test_no_guest_is_registered_on_a_day_the_space_is_closed(site: Site) -> None:
    now = dt.datetime.now(dt.UTC)
    config = site.config
    bruno = member_id(site, "Bruno")
    today = now.astimezone(config.site.tz).date()
    with site.db.write() as s:
        s.add(Closure(date=today, label="Fermeture"))
    with site.db.write() as s, pytest.raises(GuestRefused) as refused:
        register_guest(s, bruno, "Jeanne", today, config.site.device, now)
    assert refused.value.reason == "closed"
    with site.db.read() as s:
        assert s.scalars(select(Guest)).all() == []


def test_a_guests_code_opens_nothing_at_the_touchscreen_the_next_day(site: Site) -> None:
    now = dt.datetime.now(dt.UTC)
    config = site.config
    bruno = member_id(site, "Bruno")
    with site.db.write() as s:
        today = now.astimezone(config.site.tz).date()
        code = register_guest(s, bruno, "Jeanne", today, config.site.device, now).code
    tomorrow = create_app(
        config, connect_bus=False, tuning=TEST_TUNING, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    try:
        client = tomorrow.test_client()
        csrf = form_token(client, "/code")
        refused = client.post("/code", data={"csrf_token": csrf, "code": code})
        assert refused.status_code == 422 and "Ce code n&#39;ouvre pas maintenant" in refused.text
        assert "Jeanne" not in refused.text
    finally:
        tomorrow.extensions["halfday.kiosk"].close()
