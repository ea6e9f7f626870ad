"""A new network run from the hub's pages alone, in Chromium, on the hub's own broker (as shipped: accounts and
ACL per device, TLS for the doors) and PostgreSQL, with a real appliance (door daemon on a virtual card, sync agent
on its local bus): a network admin creates a site, its door, a plan and a member; the member's badge is enrolled by
tapping at that door; the tap then opens it; a renewal and a top-up reach the door; a revocation is refused there;
a manager of another site sees nothing of the member; the audit log names the author of every step."""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select
from werkzeug.serving import make_server

from access.models import Balance as DoorBalance
from access.models import Credential as DoorCredential
from access.models import Subscription as DoorSubscription
from halfday.sample import ALL_DAY
from sync.agent import AgentSettings, SyncAgent, outbox
from sync.hub.broker_accounts import BrokerAccounts, device_username
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import Credential, Device, Member
from sync.hub.web import Installer, create_hub_app
from sync.hub.worker import HubWorker
from sync.signing import generate_private_key, public_key_b64, save_private_key
from tests.deploy.hub_broker import HubBroker, running_hub_broker
from tests.support.broker import Mosquitto
from tests.support.door import DoorRig
from tests.support.hub import PASSWORD, add_admin
from tests.support.kiosk import KIOSK_SITE
from tests.support.pg import fresh_database
from tests.support.site import Site
from tests.support.wait import wait_until

BADGE = "A1B2C3D4"
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def pg_hub() -> Iterator[HubDatabase]:
    with fresh_database("halfday_e2e") as url:
        db = HubDatabase(url)
        db.create_all()
        yield db
        db.dispose()


@pytest.fixture
def hub_broker(tmp_path: Path) -> Iterator[HubBroker]:
    with running_hub_broker(tmp_path / "hub-broker") as running:
        yield running


class Hub:
    """The hub: its keeper worker on the hub's broker, its pages served over HTTP."""

    def __init__(self, db: HubDatabase, broker: HubBroker, folder: Path) -> None:
        key = generate_private_key()
        save_private_key(key, folder / "hub.key")
        self.public_key = public_key_b64(key)
        settings = HubSettings(
            database_url=db.url, broker=broker.hub_settings(), private_key_file=str(folder / "hub.key")
        )
        self.worker = HubWorker(settings, db=db)
        self.worker.start()
        self.accounts = BrokerAccounts(broker.accounts_settings())
        app = create_hub_app(
            db,
            secret_key="e2e" * 11,
            broker=self.accounts,
            installer=Installer(broker.device_url, self.public_key, broker.ca_file.read_text()),
        )
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.worker.stop()
        self.accounts.close()


@pytest.fixture
def hub(pg_hub: HubDatabase, hub_broker: HubBroker, tmp_path: Path) -> Iterator[Hub]:
    add_admin(pg_hub, "admin")
    running = Hub(pg_hub, hub_broker, tmp_path)
    yield running
    running.close()


def sign_in(page: Page, hub: Hub, login: str, password: str = PASSWORD) -> None:
    page.goto(hub.url + "/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("main button")
    expect(page.locator("nav .who")).to_contain_text(re.compile(login, re.IGNORECASE))


def flash(page: Page, text: str) -> None:
    expect(page.locator(".flash").first).to_contain_text(text)


def test_a_network_is_run_from_the_hubs_pages_down_to_the_door(
    browser: Browser,
    hub: Hub,
    hub_broker: HubBroker,
    pg_hub: HubDatabase,
    broker: Mosquitto,
    new_site: Callable[..., Site],
    door_rig: Callable[..., DoorRig],
    start_agent: Callable[..., SyncAgent],
    tmp_path: Path,
) -> None:
    site = new_site(bus_url=f"mqtt://127.0.0.1:{broker.port}", overrides={**ALL_DAY, **KIOSK_SITE})
    site_id, device_id = site.config.site.id, site.config.site.device
    page = browser.new_context(viewport=LAPTOP).new_page()  # type: ignore[arg-type]
    sign_in(page, hub, "admin")

    # A site, its door (its broker account made by the hub, the installer's lines shown once).
    page.goto(hub.url + "/sites")
    page.fill("input[name=site_id]", site_id)
    page.fill("input[name=name]", "Le Local")
    page.fill("input[name=monthly_target]", "200")
    page.click("text=Créer le site")
    flash(page, "Site créé.")
    page.goto(hub.url + "/")
    page.select_option("select[name=site_id]", site_id)
    page.fill("input[name=device_id]", device_id)
    page.fill("input[name=label]", "Entrée")
    page.click("text=Enregistrer la porte")
    lines = page.locator("pre.commands").inner_text()
    found = re.search(r"printf '%s\\n' (\S+) >", lines)
    assert found and f"--hub-username {device_username(site_id, device_id)}" in lines
    password = shlex.split(found.group(1))[0]

    # The Pi installed with those lines: its hub section, its account's password in a private file.
    secret = tmp_path / "hub-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    config = site.reconfigure(
        {
            "hub": {
                "url": hub_broker.device_url,
                "username": device_username(site_id, device_id),
                "password_file": str(secret),
                "ca_file": str(hub_broker.ca_file),
                "public_key": hub.public_key,
            }
        }
    )
    rig = door_rig(site, use_bus=True)
    rig.start()
    # start_agent waits until the door joined the hub's broker with the account the page made.
    start_agent(AgentSettings.from_config(config), kernel_synced=lambda: True)
    assert wait_until(lambda: _online(pg_hub, site_id, device_id), 15), "the hub never heard the door's status"
    page.goto(hub.url + "/")
    expect(page.locator("table")).to_contain_text("En ligne")

    # A carnet of two half-days valid at this site, a member of this site subscribed to it.
    page.goto(hub.url + "/plans")
    page.fill("input[name=name]", "Carnet 2")
    page.select_option("select[name=kind]", "carnet")
    page.fill("input[name=half_days]", "2")
    page.fill("input[name=price]", "25,00")
    page.check(f"input[name=sites][value={site_id}]")
    page.click("text=Créer la formule")
    flash(page, "Formule créée.")
    page.goto(hub.url + "/members")
    page.fill("input[name=first_name]", "Zoé")
    page.fill("input[name=last_name]", "Martin")
    page.select_option("select[name=home_site]", site_id)
    page.click("main form.stack button")
    flash(page, "Membre ajouté.")
    member_url = page.url
    member_id = member_url.rsplit("/", 1)[1]
    page.select_option("select[name=plan_id] >> nth=-1", label="Carnet 2")
    page.click("text=Ajouter la formule")
    flash(page, "Formule ajoutée.")

    # The badge enrolled by tapping at the door: the hub asks the door, the tap comes back as a request.
    page.select_option("select[name=door]", f"{site_id}/{device_id}")
    page.click("text=Attendre le badge à cette porte")
    flash(page, "Demande envoyée à la porte")
    assert wait_until(lambda: rig.daemon.enrol is not None, 15), "the door never went into enrol mode"
    rig.tap(BADGE)
    assert wait_until(lambda: _badge_status(pg_hub, BADGE) == "active", 15), "the hub never got the tapped badge"
    assert wait_until(lambda: _door_badge(site, BADGE) == "active", 15), "the roster never brought the badge"
    page.reload()
    expect(page.locator("#badges + ul")).to_contain_text("…C3D4")

    # The member's tap opens the door.
    entries = len(rig.events("entry"))
    rig.tap(BADGE)
    opened = rig.wait_events(entries + 1, "entry")[-1]
    assert (opened.data["uid"], opened.data["granted"]) == (BADGE, True)
    assert wait_until(lambda: True in rig.relay_states(), 3)

    # A renewal and a top-up reach the door.
    page.click("text=Renouveler")
    flash(page, "Abonnement renouvelé.")
    assert wait_until(lambda: _door_subscriptions(site, member_id) == 2, 15), "the renewal never reached the door"
    page.locator("form.row", has=page.locator("input[name=half_days]")).first.locator("input[name=half_days]").fill("5")
    page.locator("text=Recharger").first.click()
    flash(page, "Carnet rechargé")
    # One half-day spent of the first carnet, none of the renewed one, topped up by five: 1 + 7 at the door.
    assert wait_until(lambda: _door_balance_total(site, member_id) >= 8, 15), "the top-up never reached the door"

    # The door opened from the hub (a signed command through the hub's broker and the door's bus).
    page.goto(f"{hub.url}/doors/{site_id}/{device_id}")
    pulses = rig.relay_states().count(True)
    page.click("text=Ouvrir la porte à distance")
    flash(page, "Ouverture envoyée")
    assert wait_until(lambda: rig.relay_states().count(True) > pulses, 15), "the door did not open from the hub"
    # The whole list sent again on the manager's word: the door takes a newer snapshot, the member still in it.
    held = _door_roster_version(site)
    page.click("text=Renvoyer la liste complète des membres")
    flash(page, "La liste complète des membres part vers les portes")
    assert wait_until(lambda: _door_roster_version(site) > held, 15), "the snapshot asked for never came"
    assert _door_badge(site, BADGE) == "active"
    page.goto(member_url)

    # A revocation at the hub is refused at the door.
    page.click("button.danger >> text=Révoquer")
    flash(page, "Badge révoqué")
    assert wait_until(lambda: _door_badge(site, BADGE) != "active", 15), "the revocation never reached the door"
    # The door decides from memory: it reads the change at its next poll of the ledger's version.
    assert wait_until(lambda: _door_remembers(rig, BADGE) is not True, 5), "the door kept the old roster"
    entries = len(rig.events("entry"))
    rig.tap(BADGE)
    refused = rig.wait_events(entries + 1, "entry")[-1]
    assert (refused.data["uid"], refused.data["granted"]) == (BADGE, False), refused.data

    # A manager of another site can neither see nor change that member.
    page.goto(hub.url + "/sites")
    page.fill("input[name=site_id]", "autre-site")
    page.fill("input[name=name]", "La Fabrique")
    page.click("text=Créer le site")
    page.goto(hub.url + "/accounts")
    page.fill("input[name=login]", "camille")
    page.fill("input[name=password]", PASSWORD)
    page.check("input[name=role][value=site_manager]")
    page.check("input[name=sites][value=autre-site]")
    page.click("main form.stack button")
    flash(page, "Compte créé")
    other = browser.new_context(viewport=LAPTOP).new_page()  # type: ignore[arg-type]
    sign_in(other, hub, "camille")
    other.goto(hub.url + "/members")
    expect(other.locator("main")).not_to_contain_text("Zoé")
    other.goto(member_url)
    expect(other.locator("main")).to_contain_text("Cette page n'existe pas.")
    token = re.search(r'name="csrf_token" value="([^"]+)"', other.content())
    assert token is not None
    changed = other.request.post(member_url + "/active", form={"active": "0", "csrf_token": token.group(1)})
    assert changed.status == 404
    with pg_hub.read() as s:
        assert s.get(Member, member_id).active  # type: ignore[union-attr]

    # The audit log lists every step with its author.
    page.goto(hub.url + "/audit")
    log = page.locator("table").inner_text()
    for step in (
        "site créé",
        "porte enregistrée",
        "formule créée",
        "membre ajouté",
        "formule ajoutée",
        "badge attendu à la porte",
        "abonnement renouvelé",
        "carnet rechargé",
        "badge révoqué",
        "ouverture à distance",
        "liste complète renvoyée aux portes",
        "compte créé",
    ):
        assert re.search(rf"compte admin\s+{step}", log), f"the audit log lacks « {step} » by the admin"
    assert re.search(rf"appareil {site_id}/{device_id}\s+badge donné", log), "the door's enrolment is not logged"


def _online(db: HubDatabase, site_id: str, device_id: str) -> bool:
    with db.read() as s:
        device = s.get(Device, (site_id, device_id))
        return device is not None and device.online


def _badge_status(db: HubDatabase, uid: str) -> str | None:
    with db.read() as s:
        return s.execute(select(Credential.status).where(Credential.value == uid)).scalar_one_or_none()


def _door_badge(site: Site, uid: str) -> str | None:
    with site.db.read() as s:
        return s.execute(select(DoorCredential.status).where(DoorCredential.value == uid)).scalar_one_or_none()


def _door_roster_version(site: Site) -> int:
    return outbox.roster_version(site.db) or 0


def _door_subscriptions(site: Site, member_id: str) -> int:
    with site.db.read() as s:
        query = select(func.count()).select_from(DoorSubscription).where(DoorSubscription.member_id == member_id)
        return int(s.execute(query).scalar_one())


def _door_balance_total(site: Site, member_id: str) -> int:
    with site.db.read() as s:
        query = (
            select(func.coalesce(func.sum(DoorBalance.amount), 0))
            .join(DoorSubscription, DoorSubscription.id == DoorBalance.subscription_id)
            .where(DoorSubscription.member_id == member_id)
        )
        return int(s.execute(query).scalar_one())


def _door_remembers(rig: DoorRig, uid: str) -> bool | None:
    """Whether the door's memory holds the badge as active (None when it holds no such badge)."""
    credential = rig.daemon.cache.state.credentials.get(uid)
    return None if credential is None else credential.active
