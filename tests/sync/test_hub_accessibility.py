"""Every page of the hub's back office passes axe-core's WCAG 2.1 AA audit on a laptop (1366x768) and on a phone
(390x844), and none scrolls sideways: the login, the doors and a door, the sites and a site, the members (two pages
of them, and a search), a member, the plans and a plan, the accounts and an account, the manager's own account, the
journal, the month's usage and sales, the overdrafts, a door just registered, a page that does not exist, and the
plan a site manager may read but not change. French everywhere, English too.

The hub is served by waitress (as `halfday hub web` serves it) on a free port, over a network seeded with the
hub's own functions: two sites with long names, their doors (one online with alarms, one offline, one never seen),
a plan of each kind (some for weekday mornings, some for one site, one retired), 60 members with long names and
long e-mails, their plans, badges and top-ups, entries and kiosk sales that the doors report, and a carnet spent
beyond its credit by two sites at once. Each page at each size is saved under artifacts/accessibility/hub/
(git-ignored) for review.

The database is SQLite only: what the audit reads is the markup and the style sheet, which the pages produce the
same from either database (tests/sync/test_hub_web.py runs the pages' queries on both), so PostgreSQL would double
the run for nothing the audit can see."""

from __future__ import annotations

import datetime as dt
import threading
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update
from waitress.server import create_server

from common.db import utcnow
from common.web.login import LoginRules
from common.words import PlanKind
from sync.hub import accounts, admin
from sync.hub.audit import SYSTEM
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import Device, DeviceIncarnation
from sync.hub.web import create_hub_app
from sync.payloads import validate_batch
from tests.support.axe import SIZES, assert_accessible, assert_no_horizontal_scroll, keep_picture
from tests.support.hub import PASSWORD, add_admin, add_manager
from tests.sync.devicesim import make_event

# The hub's managers work on a laptop at the desk and on a phone in the corridor.
HUB_SIZES = ["laptop", "phone"]
MEMBERS = 60
STOP_TIMEOUT_S = 5

# Long names as people have them in the villages the network serves: compound first names, particles, double
# barrels; the e-mails are longer still, on an association's long domain name.
FIRST_NAMES = (
    "Marie-Ange-Bénédicte",
    "Jean-Baptiste-Emmanuel",
    "Anne-Laure",
    "Pierre-Alexandre",
    "Éléonore",
    "Maximilien",
    "Marie-Thérèse",
    "François-Xavier",
    "Clémentine",
    "Charles-Henri",
)
LAST_NAMES = (
    "de La Rochefoucauld-Montbel",
    "Vandenbroucke-Delacroix",
    "Lefèvre-Saint-Hilaire",
    "D'Estienne d'Orves",
    "Bourguignon-Chateaubriand",
    "Pérez-Villeneuve",
)
DOMAIN = "cooperative-des-tiers-lieux-du-haut-quercy.example.org"
# An address with nowhere to break but its dots: a table must wrap it, not widen the page.
UNBROKEN_EMAIL = f"{'x' * 60}@{'tiers-lieu' * 6}.example.org"


@dataclass(frozen=True)
class Network:
    """The seeded hub, served: its address and the ids of the pages the tests open."""

    url: str
    site: str
    door: str
    member: str
    searched: str
    plan: str
    network_plan: str
    manager_account: str


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c if c.isalnum() or c in ".-" else "-" for c in plain.lower())


def _entry(site: str, seq: int, member: str, sub: str, day: dt.date, slot: str, spent: int) -> Any:
    """What a site's entrance reports when a member's badge lets them in (the use of a half-day with it)."""
    use = {"date": day.isoformat(), "slot": slot, "spent": spent, "subscription": sub, "pass": None}
    data = {"uid": f"{seq:08X}", "holder": member, "granted": True, "reason": "ok", "plan": None, "use": use}
    return make_event(site, "entree", seq, "entry", data)


def _sale(site: str, seq: int, kind: str, day: dt.date, name: str, email: str, paid: bool) -> Any:
    """What a site's entrance reports when a walk-in buys a pass at its touchscreen."""
    sale = {
        "sale": uuid.uuid4().hex,
        "kind": kind,
        "amount_cents": 900 if kind == PlanKind.PASS_HALFDAY else 1500,
        "provider": "counter",
        "paid": paid,
        "pass": uuid.uuid4().hex,
        "date": day.isoformat(),
        "slots": ["morning"] if kind == PlanKind.PASS_HALFDAY else ["morning", "afternoon"],
        "name": name,
        "email": email,
    }
    return make_event(site, "entree", seq, "sale", sale)


def seed(db: HubDatabase) -> dict[str, str]:
    """A representative network, made as the hub's pages and doors make it."""
    admin_id = add_admin(db)
    boss = accounts.load(db, admin_id)
    assert boss is not None
    me = boss.actor
    admin.add_site(db, "marcillac", "Le Tiers-Lieu coopératif de Marcillac-la-Croisille")
    admin.add_site(db, "saint-affrique", "La Coopérative des travailleurs indépendants de Saint-Affrique")
    admin.edit_site(
        db,
        "marcillac",
        admin.SiteFields("Le Tiers-Lieu coopératif de Marcillac-la-Croisille", capacity=24, monthly_target=400),
        actor=me,
    )
    admin.register_device(db, "marcillac", "entree", "Entrée principale (rue de la Fontaine)", actor=SYSTEM)
    admin.register_device(db, "marcillac", "atelier", "Porte de l'atelier, côté jardin", actor=SYSTEM)
    admin.register_device(db, "saint-affrique", "entree", "Entrée", actor=SYSTEM)
    # The health the doors' retained statuses left (what the hub's worker writes when a status arrives): one door
    # online with alarms and an old roster, one offline since yesterday, the third never seen.
    with db.write() as session:
        session.execute(
            update(Device)
            .where(Device.site_id == "marcillac", Device.id == "entree")
            .values(
                online=True,
                last_seen=utcnow(),
                backlog=12,
                roster_version=1,
                oldest_unsent_at=utcnow() - dt.timedelta(minutes=7),
                clock_ok=False,
                door="open",
                alarms=["held_open", "reader", "backlog", "disk", "backup"],
                reader="absent",
            )
        )
        session.execute(
            update(Device)
            .where(Device.site_id == "saint-affrique", Device.id == "entree")
            .values(online=False, last_seen=utcnow() - dt.timedelta(days=1), backlog=0, clock_ok=True, door="closed")
        )
        # The entrance's ledger was restored from a backup last week: its page says what the hub gave back.
        session.add(
            DeviceIncarnation(
                site_id="marcillac",
                device_id="entree",
                incarnation="ab" * 16,
                base_seq=1200,
                cursor=1250,
                asked_at=utcnow() - dt.timedelta(days=6),
                sent_to=1250,
            )
        )

    unlimited = admin.add_plan(db, "Illimité au mois, tout le réseau", PlanKind.UNLIMITED, price_cents=12000)
    mornings = admin.add_plan(
        db,
        "Matinées en semaine à Saint-Affrique",
        PlanKind.UNLIMITED,
        hours_start=dt.time(8, 0),
        hours_end=dt.time(13, 0),
        weekdays="12345",
        price_cents=6000,
        sites=["saint-affrique"],
        actor=me,
    )
    carnet = admin.add_plan(
        db, "Carnet de 10 demi-journées", PlanKind.CARNET, half_days=10, price_cents=9000, sites=["marcillac"]
    )
    tiny = admin.add_plan(
        db,
        "Carnet découverte, une demi-journée",
        PlanKind.CARNET,
        half_days=1,
        allow_overdraft=True,
        price_cents=1000,
        weekdays="136",
        sites=["marcillac", "saint-affrique"],
    )
    admin.add_plan(db, "Pass demi-journée", PlanKind.PASS_HALFDAY, price_cents=900)
    admin.add_plan(db, "Pass journée", PlanKind.PASS_DAY, price_cents=1500)
    old = admin.add_plan(db, "Ancien tarif solidaire (2024)", PlanKind.UNLIMITED, price_cents=5000)
    admin.set_plan_active(db, old, False, actor=me)

    today = dt.date.today()
    month_start = today.replace(day=1)
    month_end = (month_start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    plans = (unlimited, carnet, mornings, tiny)
    members: list[str] = []
    subs: list[str] = []
    for i in range(MEMBERS):
        first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[i % len(LAST_NAMES)]
        email = f"{_ascii(first)}.{_ascii(last)}.{i}@{DOMAIN}"
        home = ("marcillac", "saint-affrique", None)[i % 3]
        member = admin.add_member(db, first, last, email, home_site=home, actor=me)
        plan = plans[i % len(plans)]
        monthly = plan in (unlimited, mornings)
        subs.append(
            admin.add_subscription(
                db,
                member,
                plan,
                valid_from=month_start if monthly else None,
                valid_until=month_end if monthly else None,
                actor=me,
            )
        )
        admin.enrol_badge(db, member, f"{0xA1B20000 + i:08X}", actor=me)
        members.append(member)
    admin.edit_member(db, members[7], admin.MemberFields(FIRST_NAMES[7], LAST_NAMES[1], UNBROKEN_EMAIL), actor=me)
    admin.set_member_active(db, members[5], False, actor=me)

    # The member whose page is audited has a bit of everything: plans current and past, a top-up, a revoked badge.
    star = members[0]
    last_year = today - dt.timedelta(days=365)
    star_carnet = admin.add_subscription(db, star, carnet, actor=me)
    admin.add_subscription(db, star, unlimited, valid_from=last_year, valid_until=last_year, actor=me)
    admin.top_up(db, star_carnet, 10, amount_cents=9000, actor=me)
    admin.set_member_staff(db, star, True, actor=me)  # opens on closed days
    admin.enrol_badge(db, star, "04A1B2C3D4E5F6", actor=me)
    admin.revoke_badge(db, "04A1B2C3D4E5F6", actor=me)

    # What the doors report: entries over the first days of the month at both sites, kiosk sales, and carnets
    # spent beyond their credit (the one-half-day carnet, used at two sites that were offline at once).
    days = [month_start + dt.timedelta(days=d) for d in range(6)]
    events: dict[str, list[Any]] = {"marcillac": [], "saint-affrique": []}
    for n, day in enumerate(days):
        for i in range(12):
            plan = plans[i % len(plans)]
            site = {carnet: "marcillac", mornings: "saint-affrique", tiny: "saint-affrique"}.get(
                plan, ("marcillac", "saint-affrique")[n % 2]
            )
            spent = 1 if plan in (carnet, tiny) else 0
            seq = len(events[site]) + 1
            events[site].append(
                _entry(site, seq, members[i], subs[i], day, ("morning", "afternoon")[(i + n) % 2], spent)
            )
    events["marcillac"].append(
        _entry("marcillac", len(events["marcillac"]) + 1, members[3], subs[3], days[0], "morning", 1)
    )
    for n, day in enumerate(days[:4]):
        site = ("marcillac", "saint-affrique")[n % 2]
        name = f"{FIRST_NAMES[n]} {LAST_NAMES[n]}, de passage pour la semaine"
        kind = (PlanKind.PASS_HALFDAY, PlanKind.PASS_DAY)[n % 2]
        events[site].append(_sale(site, len(events[site]) + 1, kind, day, name, f"{_ascii(name)}@{DOMAIN}", n != 3))
    ingestor = Ingestor(db, gap_wait_s=0)
    for site, stream in events.items():
        ingestor.ingest(validate_batch({"v": 1, "site": site, "device": "entree", "events": stream}))

    add_manager(db, "camille", ["marcillac"])
    both = add_manager(db, "jean-baptiste.vandenbroucke", ["marcillac", "saint-affrique"])
    accounts.edit_account(
        db,
        both,
        name="Jean-Baptiste Vandenbroucke-Delacroix, coordinateur des deux sites",
        role="site_manager",
        sites=["marcillac", "saint-affrique"],
        active=True,
        actor=me,
    )
    gone = add_manager(db, "ancien.benevole", ["saint-affrique"])
    accounts.edit_account(db, gone, name="", role="site_manager", sites=["saint-affrique"], active=False, actor=me)
    return {
        "member": star,
        "searched": LAST_NAMES[1],
        "plan": tiny,
        "network_plan": unlimited,
        "manager_account": both,
    }


class HubServer:
    """The hub's pages served by waitress on a free port of the loopback, in a thread of this process."""

    def __init__(self, db: HubDatabase) -> None:
        # Each test signs in through the form; the throttle's default (10 attempts a minute from one address) is
        # for strangers, not for a run that signs in several times from the loopback.
        rules = LoginRules(max_per_minute=100)
        app = create_hub_app(db, secret_key="s" * 32, trusted_hosts=("localhost",), login=rules)
        self.server: Any = create_server(app, host="127.0.0.1", port=0, threads=4, ident="halfday-hub")
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, name="halfday-hub-http", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.task_dispatcher.shutdown(timeout=STOP_TIMEOUT_S)
        # Closed from inside the server's own loop (as kiosk/serve.py does), which then returns.
        self.server.trigger.pull_trigger(lambda: [d.close() for d in list(self.server._map.values())])
        self.thread.join(STOP_TIMEOUT_S)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    db = HubDatabase(f"sqlite:///{tmp_path_factory.mktemp('hub') / 'hub.sqlite'}")
    db.create_all()
    ids = seed(db)
    server = HubServer(db)
    yield Network(
        url=server.url,
        site="marcillac",
        door="marcillac/entree",
        member=ids["member"],
        searched=ids["searched"],
        plan=ids["plan"],
        network_plan=ids["network_plan"],
        manager_account=ids["manager_account"],
    )
    server.stop()
    db.dispose()


class Audit:
    """The pages seen in one browser context and what is wrong with them: every page is audited and saved before
    the test fails, so that one run tells all there is to fix."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []

    def check(self, name: str) -> None:
        """Audit the page as it is now, check that it does not scroll sideways, and save what it shows."""
        size = self.page.viewport_size
        assert size is not None
        what = f"hub {name} at {size['width']}x{size['height']}"
        keep_picture(self.page, name, "hub")
        for assertion in (assert_no_horizontal_scroll, assert_accessible):
            try:
                assertion(self.page, what)
            except AssertionError as failed:
                self.problems.append(str(failed))
        self.problems.extend(f"{what}: {row}" for row in rows_overflowing(self.page))
        # WCAG 2.4.2: a title says which page this is, not only whose site ("Membres — Réseau halfday").
        title = self.page.title()
        page_part, _sep, hub_part = title.rpartition(" — ")
        if not page_part or page_part == hub_part:
            self.problems.append(f"{what}: the title {title!r} does not name the page")

    def visit(self, url: str, name: str, status: int = 200) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == status, f"{url}: {response and response.status}"
        assert "/login" not in self.page.url, f"{url} sent the manager back to the login page"
        self.check(name)

    def passed(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def sign_in(page: Page, url: str, login: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button")
    expect(page.locator("main h1")).to_have_text("Portes")


def rows_overflowing(page: Page) -> list[str]:
    """The table rows (and cells) of the page that reach past the window's edges or whose text runs out of its
    box: on a phone, each row of a table must be read whole without scrolling sideways."""
    found: list[str] = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const out = [];
            for (const [i, row] of [...document.querySelectorAll('main table tbody tr')].entries()) {
                for (const box of [row, ...row.cells]) {
                    const r = box.getBoundingClientRect();
                    const where = box === row ? `row ${i + 1}` : `row ${i + 1}, cell ${box.cellIndex + 1}`;
                    if (r.width === 0 || r.height === 0) out.push(`${where} is not shown`);
                    else if (r.left < 0 || r.right > width) out.push(`${where} spans ${r.left}..${r.right}`);
                    else if (box.scrollWidth > box.clientWidth + 1)
                        out.push(`${where} holds ${box.scrollWidth} px of text in ${box.clientWidth} px`);
                }
            }
            return out;
        }"""
    )
    return found


def walk(audit: Audit, net: Network, lang: str) -> None:
    """Every page the navigation and the lists lead to, signed in as the network admin."""
    page, url = audit.page, net.url
    # Every page the navigation names, found on the page itself so that a page added to it is audited too.
    page.goto(url + "/")
    links = page.locator("header nav a:not([lang])").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert {"/", "/sites", "/members", "/plans", "/usage", "/sales", "/overdrafts", "/audit", "/accounts"} <= set(
        links
    ), links
    for href in links:
        audit.visit(url + href, f"{href.strip('/').replace('/', '-') or 'doors'}-{lang}")
    audit.visit(f"{url}/doors/{net.door}", f"door-{lang}")
    expect(page.locator("ul.restores li")).to_have_count(1)
    # The alarms a site's watchers raise (sync/PROTOCOL.md, status), in the manager's words.
    disk = "disque presque plein" if lang == "fr" else "disk nearly full"
    expect(page.locator("main")).to_contain_text(disk)
    audit.visit(f"{url}/sites/{net.site}", f"site-{lang}")
    audit.visit(f"{url}/members?page=2", f"members-page-2-{lang}")
    expect(page.locator("main table tbody tr")).to_have_count(MEMBERS - 50)
    audit.visit(f"{url}/members?q={net.searched}", f"members-search-{lang}")
    expect(page.locator("main table tbody tr")).to_have_count(MEMBERS // len(LAST_NAMES))
    audit.visit(f"{url}/members/{net.member}", f"member-{lang}")
    audit.visit(f"{url}/plans/{net.plan}", f"plan-{lang}")
    audit.visit(f"{url}/accounts/{net.manager_account}", f"account-edit-{lang}")
    audit.visit(f"{url}/no-such-page", f"not-found-{lang}", status=404)


@pytest.mark.parametrize("sized_page", HUB_SIZES, indirect=True)
def test_hub_pages(sized_page: Page, network: Network) -> None:
    page, url = sized_page, network.url
    audit = Audit(page)
    size = page.viewport_size
    assert size is not None
    page.goto(url + "/login")
    audit.check("login-fr")
    page.fill("input[name=login]", "admin")
    page.fill("input[name=password]", "not the password")
    page.click("main button")
    expect(page.locator(".flash")).to_have_text("Identifiant ou mot de passe incorrect.")
    audit.check("login-error-fr")
    sign_in(page, url, "admin")
    walk(audit, network, "fr")

    # A door registered from the doors page: the page that says how to install it.
    page.goto(url + "/")
    page.select_option("select[name=site_id]", "saint-affrique")
    page.fill("input[name=device_id]", f"salle-{size['width']}")
    page.fill("input[name=label]", "Salle de réunion du premier étage")
    page.click("text=Enregistrer la porte")
    expect(page.locator("main h1")).to_have_text(f"Installer la porte saint-affrique/salle-{size['width']}")
    audit.check("door-registered-fr")

    # The same pages in English, through the page's own language link.
    page.goto(url + "/")
    page.click("header nav a[lang='en']")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    walk(audit, network, "en")
    page.click("header nav a[lang='fr']")
    expect(page.locator("html")).to_have_attribute("lang", "fr")

    # A site manager reads a plan of the whole network without a form to change it.
    page.click("header nav button")
    expect(page.locator("main h1")).to_have_text("Connexion")
    sign_in(page, url, "camille")
    audit.visit(f"{url}/plans/{network.network_plan}", "plan-read-only-fr")
    expect(page.locator("main form")).to_have_count(0)
    audit.visit(url + "/members", "members-site-manager-fr")
    audit.passed()


def test_members_rows_fit_a_phone(browser: Browser, network: Network) -> None:
    """On a phone, the manager reads every member of both pages whole, the longest e-mail included, without
    scrolling sideways and without a cell's text running out of it."""
    width, height = SIZES["phone"]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, network.url, "admin")
        shown = ""
        for path, rows in (("/members", 50), ("/members?page=2", MEMBERS - 50)):
            page.goto(network.url + path)
            expect(page.locator("main table tbody tr")).to_have_count(rows)
            assert rows_overflowing(page) == [], path
            shown += page.locator("main table").inner_text()
        assert UNBROKEN_EMAIL in shown.replace("\n", "")
    finally:
        context.close()
