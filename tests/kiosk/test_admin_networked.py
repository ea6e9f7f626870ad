"""The admin of a site linked to a hub asks the hub for its changes: a member added at the desk, a badge tapped at
the door, a carnet topped up. A real Mosquitto carries the local bus and plays the hub's broker; the real sync agent
sends what the desk kept in the ledger; the hub's side is a test client answering on the replies topic; the badge is
tapped on the real door daemon's virtual card. The Flask test client plays the manager's browser."""

from __future__ import annotations

import dataclasses
import html
import queue
import re
import threading
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from access.config import Config
from access.models import HubRequest, Member, Plan, Subscription
from common.words import PlanKind
from halfday import sample
from kiosk.admin.hub_requests import refusal
from kiosk.app import create_app
from sync.agent import AgentSettings, SyncAgent
from sync.mqtt import MqttClient, MqttSettings
from sync.payloads import make_reply, validate_request
from sync.protocol import REQUEST_ERRORS, Json, replies_topic, requests_topic
from sync.signing import generate_private_key, public_key_b64
from tests.support.broker import Mosquitto
from tests.support.door import DoorRig
from tests.support.kiosk import TEST_TUNING
from tests.support.site import MANAGER_PASSWORD, Site
from tests.support.wait import wait_until

SITE, DEVICE = sample.SITE, sample.DEVICE
PENDING = "Envoyé, en attente du hub"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class FakeHub:
    """The hub's side of the requests: receives them on its broker and answers on the replies topic."""

    def __init__(self, broker: Mosquitto) -> None:
        self.requests: queue.Queue[Json] = queue.Queue()
        self.client = MqttClient(
            MqttSettings(broker.host, broker.port),
            "fake-hub",
            clean_start=True,
            session_expiry_s=0,
            on_message=lambda m: self.requests.put(validate_request(m.payload, SITE, DEVICE)),
        )
        self.client.subscribe(requests_topic(SITE, DEVICE))
        self.client.start()
        assert self.client.wait_connected(10)

    def next(self, timeout: float = 10.0) -> Json:
        return self.requests.get(timeout=timeout)

    def answer(self, request: Json, error: str | None = None) -> None:
        reply = make_reply(request["id"], error is None, error, 12 if error is None else None)
        assert self.client.publish_confirmed(replies_topic(SITE, DEVICE), reply)


@pytest.fixture
def networked(site: Site, broker: Mosquitto) -> Config:
    """The kiosk's sample site linked to a hub whose broker is the test's Mosquitto."""
    hub = {"url": f"mqtt://127.0.0.1:{broker.port}", "public_key": public_key_b64(generate_private_key())}
    config = site.reconfigure({"hub": hub})
    site.set_password()
    return config


@pytest.fixture
def make_admin(networked: Config) -> Iterator[Callable[..., tuple[Flask, FlaskClient]]]:
    """Factory: the kiosk's app for the networked site (on the bus, unless told not to) and a logged-in client."""
    apps: list[Flask] = []

    def make(connect_bus: bool = True) -> tuple[Flask, FlaskClient]:
        app = create_app(networked, connect_bus=connect_bus, tuning=TEST_TUNING)
        apps.append(app)
        link = app.extensions["halfday.kiosk"].link
        assert link is None or wait_until(lambda: link.connected, 10), "the kiosk did not reach the bus"
        client = app.test_client()
        token = TOKEN_RE.search(client.get("/admin/login").text)
        assert token is not None
        client.post("/admin/login", data={"password": MANAGER_PASSWORD, "csrf_token": token.group(1)})
        return app, client

    yield make
    for app in apps:
        app.extensions["halfday.kiosk"].close()


@pytest.fixture
def make_agent(networked: Config, start_agent: Callable[..., SyncAgent]) -> Callable[[], SyncAgent]:
    def make() -> SyncAgent:
        settings = dataclasses.replace(
            AgentSettings.from_config(networked), status_interval_s=5.0, request_retry_s=1.0, request_poll_s=0.2
        )
        return start_agent(settings, kernel_synced=lambda: True)

    return make


@pytest.fixture
def hub(broker: Mosquitto) -> Iterator[FakeHub]:
    fake = FakeHub(broker)
    yield fake
    fake.client.stop()


def post(client: FlaskClient, page: str, action: str, form: dict[str, str]) -> TestResponse:
    """Submit a form of `page` as the browser does: with the page's CSRF token, following the redirect."""
    token = TOKEN_RE.search(client.get(page).text)
    assert token is not None
    return client.post(action, data={**form, "csrf_token": token.group(1)}, follow_redirects=True)


def text(response: TestResponse) -> str:
    return html.unescape(response.text)


def state_of(page: str, request_id: str) -> str:
    """What the requests table says of one request: "<what> | <state>"."""
    row = re.search(rf'<tr data-request="{request_id}">(.*?)</tr>', page, re.S)
    assert row is not None, f"request {request_id} not listed"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    return f"{cells[1]} | {cells[2]}"


def member_id(site: Site, first_name: str) -> str:
    with site.db.read() as s:
        return str(s.scalars(select(Member.id).where(Member.first_name == first_name)).one())


def subscription_of(site: Site, first_name: str) -> str:
    with site.db.read() as s:
        return str(
            s.scalars(
                select(Subscription.id).join(Member).where(Member.first_name == first_name).order_by(Subscription.id)
            ).first()
        )


def kept(site: Site) -> int:
    with site.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(HubRequest)) or 0)


def answered(site: Site, request_id: str) -> bool:
    with site.db.read() as s:
        row = s.get(HubRequest, request_id)
        return row is not None and row.answered_at is not None


def tapping(door: DoorRig, uid: str, submit: Callable[[], TestResponse]) -> TestResponse:
    """Submit a form that waits for a badge (in a thread, as the browser waits), and tap `uid` once the door asks."""
    done: list[TestResponse] = []
    thread = threading.Thread(target=lambda: done.append(submit()))
    thread.start()
    assert wait_until(lambda: door.daemon.enrol is not None, 10), "the door never went into enrol mode"
    door.tap(uid)
    thread.join(15)
    assert done, "the form never came back"
    return done[0]


def test_each_change_is_asked_of_the_hub_and_shows_pending_then_the_hubs_answer(
    site: Site,
    make_admin: Callable[..., tuple[Flask, FlaskClient]],
    make_agent: Callable[[], SyncAgent],
    hub: FakeHub,
    door: DoorRig,
) -> None:
    _app, client = make_admin()
    make_agent()

    # A member added at the desk, without a badge: pending, then accepted.
    page = text(post(client, "/admin/members", "/admin/members", {"first_name": "Eve", "last_name": "Durand"}))
    assert "Ajout de Eve Durand demandé au hub" in page
    added = hub.next()
    assert added["kind"] == "add_member"
    assert added["data"] == {
        "member_id": added["data"]["member_id"],
        "first_name": "Eve",
        "last_name": "Durand",
        "email": None,
        "uid": None,
    }
    assert re.fullmatch(r"[0-9a-f]{32}", added["data"]["member_id"])
    assert state_of(text(client.get("/admin/members")), added["id"]) == f"Nouveau membre : Eve Durand | {PENDING}"
    hub.answer(added)
    assert wait_until(lambda: answered(site, added["id"]), 10)
    assert state_of(text(client.get("/admin/members")), added["id"]) == "Nouveau membre : Eve Durand | Accepté"

    # A member added with a badge tapped at the door: the UID goes to the hub, and nowhere on the pages.
    card = "0A1B2C3D"
    form = {"first_name": "Farid", "last_name": "Benali", "email": "farid@example.org", "tap_badge": "1"}
    page = text(tapping(door, card, lambda: post(client, "/admin/members", "/admin/members", form)))
    assert "Ajout de Farid Benali demandé au hub" in page and card not in page
    with_badge = hub.next()
    assert (with_badge["data"]["uid"], with_badge["data"]["email"]) == (card, "farid@example.org")
    hub.answer(with_badge, "member_exists")
    assert wait_until(lambda: answered(site, with_badge["id"]), 10)
    page = text(client.get("/admin/members"))
    assert state_of(page, with_badge["id"]) == (
        "Nouveau membre : Farid Benali, avec un badge | "
        "Refusé : ce membre existe déjà au hub avec d'autres informations."
    )
    assert card not in page

    # A badge for a member the roster carries, tapped at the door: refused, the badge is someone else's.
    emma = member_id(site, "Emma")
    page = text(
        tapping(
            door, sample.NEW_BADGE, lambda: post(client, f"/admin/members/{emma}", f"/admin/members/{emma}/enrol", {})
        )
    )
    assert "Badge lu : demande envoyée au hub" in page and sample.NEW_BADGE not in page
    enrolled = hub.next()
    assert (enrolled["kind"], enrolled["data"]) == ("enrol_badge", {"member_id": emma, "uid": sample.NEW_BADGE})
    assert state_of(page, enrolled["id"]) == f"Badge de Emma Garcia, présenté au lecteur | {PENDING}"
    hub.answer(enrolled, "uid_in_use")
    assert wait_until(lambda: answered(site, enrolled["id"]), 10)
    page = text(client.get(f"/admin/members/{emma}"))
    assert state_of(page, enrolled["id"]) == (
        "Badge de Emma Garcia, présenté au lecteur | "
        "Refusé : ce badge est déjà celui d'un autre membre du réseau. Présentez un autre badge."
    )
    assert sample.NEW_BADGE not in page
    assert not [e for e in door.events("entry") if e.data["uid"] in (card, sample.NEW_BADGE)]

    # A carnet topped up and paid at the counter: pending, then refused by the hub's rules for this site.
    bruno, carnet = member_id(site, "Bruno"), subscription_of(site, "Bruno")
    form = {"subscription_id": carnet, "half_days": "10", "amount": "90,50", "provider": "counter"}
    page = text(post(client, f"/admin/members/{bruno}", f"/admin/members/{bruno}/topup", form))
    assert "Recharge demandée au hub" in page
    top_up = hub.next()
    assert (top_up["kind"], top_up["data"]) == (
        "top_up",
        {"subscription_id": carnet, "half_days": 10, "amount_cents": 9050, "provider": "counter"},
    )
    what = "Recharge du carnet de Bruno Petit : 10 demi-journées, 90,50\xa0€, payé au comptoir"
    assert state_of(page, top_up["id"]) == f"{what} | {PENDING}"
    hub.answer(top_up, "forbidden_site")
    assert wait_until(lambda: answered(site, top_up["id"]), 10)
    assert state_of(text(client.get(f"/admin/members/{bruno}")), top_up["id"]) == (
        f"{what} | Refusé : ce membre n'est pas un membre de ce lieu : aucune formule valable ici, et il n'a pas été "
        "inscrit ici. Voyez avec le réseau."
    )
    # Each member's page lists that member's requests only.
    assert top_up["id"] not in text(client.get(f"/admin/members/{emma}"))


def test_a_request_made_while_the_agent_and_the_bus_are_away_leaves_when_the_agent_starts(
    site: Site,
    make_admin: Callable[..., tuple[Flask, FlaskClient]],
    make_agent: Callable[[], SyncAgent],
    hub: FakeHub,
) -> None:
    _app, client = make_admin(connect_bus=False)  # the kiosk cannot tell the agent: only the ledger can
    bruno, carnet = member_id(site, "Bruno"), subscription_of(site, "Bruno")
    form = {"subscription_id": carnet, "half_days": "5", "amount": "45", "provider": "voucher"}
    post(client, f"/admin/members/{bruno}", f"/admin/members/{bruno}/topup", form)
    with pytest.raises(queue.Empty):
        hub.next(1.0)
    # The kiosk restarts meanwhile: the request is still there, still waiting.
    _app, client = make_admin(connect_bus=False)
    with site.db.read() as s:
        request_id = s.scalars(select(HubRequest.id)).one()
    assert state_of(text(client.get(f"/admin/members/{bruno}")), request_id).endswith(PENDING)

    make_agent()
    sent = hub.next()
    assert (sent["id"], sent["data"]["amount_cents"], sent["data"]["provider"]) == (request_id, 4500, "voucher")
    hub.answer(sent)
    assert wait_until(lambda: answered(site, request_id), 10)
    assert state_of(text(client.get(f"/admin/members/{bruno}")), request_id).endswith("| Accepté")


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"first_name": "Eve", "last_name": ""}, "le nom est obligatoire"),
        ({"first_name": "", "last_name": "Durand"}, "le prénom est obligatoire"),
        ({"first_name": "Eve", "last_name": "D" * 81}, "le nom est trop long (80 caractères au plus)"),
        ({"first_name": "Eve", "last_name": "Durand", "email": "eve@"}, "« eve@ » n'est pas une adresse e-mail valide"),
    ],
)
def test_a_bad_new_member_is_refused_in_french_and_nothing_is_kept(
    site: Site, make_admin: Callable[..., tuple[Flask, FlaskClient]], form: dict[str, str], problem: str
) -> None:
    _app, client = make_admin(connect_bus=False)
    response = post(client, "/admin/members", "/admin/members", form)
    assert response.status_code == 422 and problem in text(response)
    assert f'value="{html.escape(form["first_name"], quote=True)}"' in response.text  # the form keeps what was typed
    assert kept(site) == 0


def carnet_form(site: Site, **change: str) -> dict[str, str]:
    return {"subscription_id": subscription_of(site, "Bruno"), "half_days": "10", "amount": "90", **change}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"half_days": "0"}, "Indiquez un nombre de demi-journées de 1 à 1000."),
        ({"half_days": "1001"}, "Indiquez un nombre de demi-journées de 1 à 1000."),
        ({"half_days": "-5"}, "Indiquez un nombre de demi-journées de 1 à 1000."),
        ({"half_days": "dix"}, "Indiquez un nombre de demi-journées de 1 à 1000."),
        ({"amount": "-3"}, "Indiquez le montant payé en euros, par exemple 90 ou 90,50."),
        ({"amount": "1e5"}, "Indiquez le montant payé en euros, par exemple 90 ou 90,50."),
        ({"amount": "90,505"}, "Indiquez le montant payé en euros, par exemple 90 ou 90,50."),
        ({"amount": ""}, "Indiquez le montant payé en euros, par exemple 90 ou 90,50."),
        ({"amount": "999999"}, "Ce montant est trop élevé pour une recharge : vérifiez la saisie."),
        ({"provider": "cash"}, "Indiquez comment la recharge a été payée : au comptoir ou par bon."),
        ({"subscription_id": "f" * 32}, "Ce membre n'a pas ce carnet"),
    ],
)
def test_a_bad_top_up_is_refused_in_french_and_nothing_is_kept(
    site: Site, make_admin: Callable[..., tuple[Flask, FlaskClient]], change: dict[str, str], problem: str
) -> None:
    _app, client = make_admin(connect_bus=False)
    bruno = member_id(site, "Bruno")
    form = {"provider": "counter", **carnet_form(site, **change)}
    page = text(post(client, f"/admin/members/{bruno}", f"/admin/members/{bruno}/topup", form))
    assert problem in page
    assert kept(site) == 0


def test_only_the_members_own_carnet_tops_up(site: Site, make_admin: Callable[..., tuple[Flask, FlaskClient]]) -> None:
    _app, client = make_admin(connect_bus=False)
    alice, bruno = member_id(site, "Alice"), member_id(site, "Bruno")
    page = text(client.get(f"/admin/members/{bruno}"))
    assert "Demander la recharge au hub" in page and "Demander au hub un badge" in page
    # Alice's plan is unlimited: no top-up is offered, and one forced through is refused.
    assert "Demander la recharge au hub" not in text(client.get(f"/admin/members/{alice}"))
    with site.db.read() as s:
        unlimited = s.scalars(
            select(Subscription.id).join(Plan).where(Subscription.member_id == alice, Plan.kind == PlanKind.UNLIMITED)
        ).one()
    form = {"subscription_id": unlimited, "half_days": "10", "amount": "90", "provider": "counter"}
    assert "Ce membre n'a pas ce carnet" in text(
        post(client, f"/admin/members/{alice}", f"/admin/members/{alice}/topup", form)
    )
    # Bruno's carnet asked from Alice's page: not hers.
    form = {**form, "subscription_id": subscription_of(site, "Bruno")}
    assert "Ce membre n'a pas ce carnet" in text(
        post(client, f"/admin/members/{alice}", f"/admin/members/{alice}/topup", form)
    )
    token = TOKEN_RE.search(client.get("/admin/members").text)
    assert token is not None
    nobody = {**form, "csrf_token": token.group(1)}
    assert client.post(f"/admin/members/{'0' * 32}/topup", data=nobody).status_code == 404
    assert kept(site) == 0


def test_with_the_door_silent_no_badge_is_asked_for(
    site: Site, make_admin: Callable[..., tuple[Flask, FlaskClient]]
) -> None:
    _app, client = make_admin()  # on the bus, but no door daemon answers
    emma = member_id(site, "Emma")
    page = text(post(client, f"/admin/members/{emma}", f"/admin/members/{emma}/enrol", {}))
    assert "La porte ne répond pas : aucun badge n'a pu être lu. Rien n'a été envoyé au hub." in page
    form = {"first_name": "Gil", "last_name": "Roy", "tap_badge": "1"}
    page = text(post(client, "/admin/members", "/admin/members", form))
    assert "La porte ne répond pas" in page
    assert kept(site) == 0


def test_every_refusal_of_the_hub_has_its_own_sentence(app: Flask) -> None:
    with app.test_request_context():
        sentences = {code: refusal(code) for code in REQUEST_ERRORS}
        unknown = refusal("new_rule")
    assert len(set(sentences.values())) == len(REQUEST_ERRORS)
    assert unknown == "le hub a refusé la demande (code « new_rule »)."
    assert unknown not in sentences.values()


def test_the_standalone_admin_still_changes_members_itself(site: Site, app: Flask, client: FlaskClient) -> None:
    site.set_password()
    token = TOKEN_RE.search(client.get("/admin/login").text)
    assert token is not None
    client.post("/admin/login", data={"password": MANAGER_PASSWORD, "csrf_token": token.group(1)})
    page = text(post(client, "/admin/members", "/admin/members", {"first_name": "Eve", "last_name": "Durand"}))
    assert "Membre ajouté : Eve" in page and "Demandes au hub" not in page
    assert member_id(site, "Eve") and kept(site) == 0
