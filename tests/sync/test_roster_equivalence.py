"""A door that applies a snapshot and then every delta holds exactly what a door applying today's snapshot would hold
(sync/PROTOCOL.md, "What a site's roster holds"). Checked over random sequences of what managers do at the hub:
members added, subscribed, moved between plans, deactivated; badges enrolled, revoked, given again; plans moved
between sites, retired, offered again; carnets refilled; doors asking for a snapshot midway."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from access.db import Database, migrate
from access.models import Balance, Credential, Member, Plan, Subscription
from common.db import utcnow
from sync.agent import outbox
from sync.hub import admin, roster
from sync.hub.audit import SYSTEM
from sync.hub.db import HubDatabase
from sync.hub.models import Subscription as HubSubscription
from sync.hub.roster import RosterKeeper, load_network, site_roster_body
from sync.protocol import MAX_ROSTER_BYTES, parse_json
from sync.signing import generate_private_key, verify_delta, verify_roster
from sync.snapshots import SnapshotParts
from tests.support.rosters import doors_ask

SITES = ("site-a", "site-b")
UIDS = ("A1A1A1A1", "B2B2B2B2", "C3C3C3C3", "D4D4D4D4")
PLACES = {"a": ("site-a",), "b": ("site-b",), "ab": ("site-a", "site-b"), "all": ()}

operations = st.lists(
    st.one_of(
        st.tuples(st.just("member"), st.sampled_from(["site-a", "site-b", None])),
        st.tuples(st.just("subscribe"), st.integers(0, 5), st.integers(0, 3)),
        st.tuples(st.just("enrol"), st.integers(0, 5), st.sampled_from(UIDS)),
        st.tuples(st.just("revoke"), st.sampled_from(UIDS)),
        st.tuples(st.just("change_plan"), st.integers(0, 7), st.integers(0, 3)),
        st.tuples(st.just("active"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("plan_sites"), st.integers(0, 3), st.sampled_from(sorted(PLACES))),
        st.tuples(st.just("plan_offered"), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("top_up"), st.integers(0, 7), st.integers(1, 5)),
        st.tuples(st.just("snapshot"), st.sampled_from(SITES)),
    ),
    min_size=3,
    max_size=16,
)


class Door:
    """A site's ledger fed with every message the keeper publishes for the site, in order, as the agent does."""

    def __init__(self, folder: Path, site: str, key: Ed25519PrivateKey) -> None:
        self.site, self.key = site, key
        url = f"sqlite:///{folder / f'{site}.sqlite'}"
        migrate(url)
        self.db = Database(url)
        self.parts = SnapshotParts()

    def receive(self, topic: str, payload: bytes) -> None:
        held = outbox.roster_version(self.db)
        if topic.endswith("/delta"):
            delta = verify_delta(payload, self.key.public_key(), site=self.site)
            if held is not None and delta["version"] <= held:
                return
            assert delta["base"] == held, "a delta skipped a version: the keeper lost one"
            outbox.apply_delta(self.db, delta, "door-1")
            return
        if not payload:
            return
        obj = parse_json(payload)
        whole = self.parts.add(obj) if "part" in obj else payload
        if whole is not None:
            outbox.apply_roster(
                self.db, verify_roster(whole, self.key.public_key(), held, self.site, limit=MAX_ROSTER_BYTES), "door-1"
            )

    def holds(self) -> dict[str, Any]:
        with self.db.read() as session:

            def rows(query: Any) -> list[tuple[Any, ...]]:
                return sorted(tuple(row) for row in session.execute(query))

            return {
                "members": rows(select(Member.id, Member.first_name, Member.active)),
                "plans": rows(select(Plan.id, Plan.name, Plan.kind, Plan.half_days, Plan.weekdays)),
                "subscriptions": rows(
                    select(Subscription.id, Subscription.member_id, Subscription.plan_id, Subscription.valid_until)
                ),
                "badges": rows(
                    select(Credential.id, Credential.member_id, Credential.value, Credential.status).where(
                        Credential.pass_id.is_(None)
                    )
                ),
                "balances": rows(select(Balance.subscription_id, Balance.amount)),
            }

    def dispose(self) -> None:
        self.db.dispose()


def expected(hub: HubDatabase, site: str) -> dict[str, Any]:
    """What a door applying a snapshot made now would hold, from the hub's own snapshot body."""
    with hub.snapshot() as session:
        body = site_roster_body(load_network(session, utcnow()), site)
    badges: dict[str, dict[str, Any]] = {}
    for c in body["credentials"]:  # one row per UID, the badge in force first (as a door keeps them)
        if c["value"] not in badges or badges[c["value"]]["status"] != "active":
            badges[c["value"]] = c
    return {
        "members": sorted((m["id"], m["first_name"], m["active"]) for m in body["members"]),
        "plans": sorted((p["id"], p["name"], p["kind"], p["half_days"], p["weekdays"]) for p in body["plans"]),
        "subscriptions": sorted(
            (
                s["id"],
                s["member_id"],
                s["plan_id"],
                dt.date.fromisoformat(s["valid_until"]) if s["valid_until"] else None,
            )
            for s in body["subscriptions"]
        ),
        "badges": sorted((c["id"], c["member_id"], c["value"], c["status"]) for c in badges.values()),
        "balances": sorted((s["id"], s["balance"]) for s in body["subscriptions"] if s["balance"] is not None),
    }


@contextmanager
def a_network() -> Iterator[tuple[HubDatabase, list[str], dict[str, Door], RosterKeeper]]:
    with tempfile.TemporaryDirectory() as folder:
        hub = HubDatabase(f"sqlite:///{Path(folder) / 'hub.sqlite'}")
        hub.create_all()
        for site in SITES:
            admin.add_site(hub, site, site)
        plans = [
            admin.add_plan(hub, "Carnet A", "carnet", half_days=10, sites=["site-a"]),
            admin.add_plan(hub, "Mois B", "unlimited", sites=["site-b"]),
            admin.add_plan(hub, "Réseau", "unlimited", weekdays="12345"),
            admin.add_plan(hub, "Carnet A+B", "carnet", half_days=5, sites=["site-a", "site-b"]),
        ]
        key = generate_private_key()
        doors = {site: Door(Path(folder), site, key) for site in SITES}

        def publish(messages: Sequence[tuple[str, bytes]], _retain: bool) -> bool:
            for topic, payload in messages:
                site = topic.split("/")[2]
                doors[site].receive(topic, payload)
            return True

        keeper = RosterKeeper(hub, key, publish)
        doors_ask(hub, *SITES)
        keeper.refresh()
        try:
            yield hub, plans, doors, keeper
        finally:
            for door in doors.values():
                door.dispose()
            hub.dispose()


def run(hub: HubDatabase, plans: list[str], members: list[str], operation: tuple[Any, ...]) -> None:
    kind, *args = operation

    def pick(items: list[str], index: int) -> str:
        return items[index % len(items)]

    try:
        if kind == "member":
            members.append(admin.add_member(hub, f"Membre{len(members)}", home_site=args[0]))
        elif kind == "subscribe" and members:
            admin.add_subscription(hub, pick(members, args[0]), plans[args[1]])
        elif kind == "enrol" and members:
            admin.enrol_badge(hub, pick(members, args[0]), args[1])
        elif kind == "revoke":
            admin.revoke_badge(hub, args[0])
        elif kind in ("change_plan", "top_up"):
            with hub.read() as session:
                subscriptions = list(session.execute(select(HubSubscription.id).order_by(HubSubscription.id)).scalars())
            if subscriptions and kind == "change_plan":
                admin.change_plan(hub, pick(subscriptions, args[0]), plans[args[1]], actor=SYSTEM)
            elif subscriptions:
                admin.top_up(hub, pick(subscriptions, args[0]), args[1])
        elif kind == "active" and members:
            admin.set_member_active(hub, pick(members, args[0]), args[1])
        elif kind == "plan_sites":
            with hub.read() as session:
                fields = admin.plan_fields(session, plans[args[0]])
            admin.edit_plan(hub, plans[args[0]], dataclasses.replace(fields, sites=PLACES[args[1]]), actor=SYSTEM)
        elif kind == "plan_offered":
            admin.set_plan_active(hub, plans[args[0]], args[1], actor=SYSTEM)
        elif kind == "snapshot":
            with hub.write() as session:
                roster.ask_snapshot(session, args[0], utcnow())
    except admin.HubError:
        pass  # refused by the hub (a retired plan, a badge in use, not a carnet): nothing changed


@pytest.fixture(autouse=True)
def quick_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster, "SNAPSHOT_MIN_GAP", dt.timedelta(0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_a_snapshot_and_the_deltas_after_it_make_todays_snapshot(ops: list[tuple[Any, ...]]) -> None:
    with a_network() as (hub, plans, doors, keeper):
        # Members to act on from the first step: one of each site's desk, one of the network's.
        members = [
            admin.add_member(hub, f"Membre{i}", home_site=home) for i, home in enumerate(("site-a", "site-b", None))
        ]
        for operation in ops:
            run(hub, plans, members, operation)
            keeper.refresh(balances_due=True)
            for site, door in doors.items():
                assert door.holds() == expected(hub, site), f"after {operation}"
