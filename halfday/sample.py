"""The sample network: the same invented members, plans and badges for the demo, the tests and the benchmarks,
one case each that the door must handle, and sites' configurations built from data.

Badges never start with 04: nfcpy would probe an NXP product the virtual card is not.
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from access import admin
from access.config import Config, parse_config
from access.db import Database, migrate
from access.default_config import render
from common.words import PlanKind

SITE = "la-filature"
SITE_NAME = "La Filature"
OTHER_SITE = "le-moulin"
OTHER_SITE_NAME = "Le Moulin"
DEVICE = "door-1"
# The sample machine's clock is right (a test or demo machine need not run NTP), and its counter takes payment
# whenever the demo or a test runs.
SAMPLE_SITE: dict[str, Any] = {"door": {"trust_clock": True}, "kiosk": {"counter_hours": ["mon-sun 00:00-23:59"]}}
# Slots that cover the whole day, so what depends on being inside them (passes) works at any hour of a test run.
ALL_DAY: dict[str, Any] = {"slots": {"morning_start": "00:00", "noon": "12:00", "afternoon_end": "23:59"}}
# Members may come in at any hour, whatever the slots.
OPEN_ALL_DAY = "00:00-23:59"


@dataclass(frozen=True)
class SamplePlan:
    name: str
    kind: PlanKind
    half_days: int | None
    price_cents: int


UNLIMITED = SamplePlan("Illimité", PlanKind.UNLIMITED, None, 6000)
CARNET = SamplePlan("Carnet 10", PlanKind.CARNET, 10, 8000)
PLANS = (UNLIMITED, CARNET)


@dataclass(frozen=True)
class SampleMember:
    first_name: str
    last_name: str
    email: str
    plan: SamplePlan
    badge: str | None  # None: no badge yet (the manager enrols one at the door)
    used: int = 0  # half-days of a carnet already used up before the story starts
    revoked: bool = False  # the badge was lost and switched off

    @property
    def label(self) -> str:
        return f"{self.first_name} ({self.plan.name})"


MEMBERS = (
    SampleMember("Alice", "Martin", "alice@example.org", UNLIMITED, "1A2B3C4D"),
    SampleMember("Bruno", "Petit", "bruno@example.org", CARNET, "2B3C4D5E"),
    SampleMember("Clara", "Roux", "clara@example.org", CARNET, "3C4D5E6F", used=10),
    SampleMember("Denis", "Blanc", "denis@example.org", UNLIMITED, "5E6F7A8B", revoked=True),
    SampleMember("Emma", "Garcia", "emma@example.org", CARNET, None),
    SampleMember("Farid", "Benali", "farid@example.org", UNLIMITED, "6F708192"),
    SampleMember("Gaëlle", "Moreau", "gaelle@example.org", CARNET, "708192A3"),
    SampleMember("Hugo", "Fontaine", "hugo@example.org", UNLIMITED, "8192A3B4"),
)
ALICE = "1A2B3C4D"  # unlimited plan
BRUNO = "2B3C4D5E"  # carnet, 10 half-days left
CLARA = "3C4D5E6F"  # carnet used up, no overdraft
DENIS = "5E6F7A8B"  # badge revoked
UNKNOWN = "9A0B1C2D"  # nobody's badge
NEW_BADGE = "D5E6F7A8"  # nobody's yet: the manager gives it to Emma, who has none


def extra_badge(index: int) -> str:
    """The badge of extra member `index` (benchmarks add many): 10000000, 10000001, ..."""
    return f"{0x10000000 + index:08X}"


# ---------------------------------------------------------------------------------------------- configuration


def merged(base: Mapping[str, Any], *overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with each override laid over it, table by table (a value replaces, a table merges)."""
    out = copy.deepcopy(dict(base))
    for override in overrides:
        for key, value in override.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def site_config(
    database: Path,
    reader_path: str,
    *,
    site_id: str = SITE,
    name: str = SITE_NAME,
    bus_url: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A site's configuration as data: what `halfday init` writes, the sample's own settings, then `overrides`."""
    defaults = tomllib.loads(render(site_id, name, str(database), "mock", reader_path))
    bus = {"bus": {"url": bus_url}} if bus_url else {}
    return merged(defaults, SAMPLE_SITE, bus, overrides or {})


def write_config(path: Path, data: Mapping[str, Any]) -> Config:
    """Write a configuration file; what is written must itself pass validation (the config is returned)."""
    config = parse_config(dict(data), path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(dict(data)), encoding="utf-8")
    return config


# ---------------------------------------------------------------------------------------------- a standalone site


def seed_site(db: Database, device: str = DEVICE, *, extra_members: int = 0) -> None:
    """The sample plans and members in a site's database, as its manager would add them (access/admin.py).

    `extra_members` adds that many members on the unlimited plan with the badges `extra_badge(0)`, ...
    """
    with db.write() as session:
        for p in PLANS:
            plan = admin.PlanSpec(p.name, p.kind, p.half_days, hours=OPEN_ALL_DAY, price_cents=p.price_cents)
            admin.add_plan(session, plan)
        for m in MEMBERS:
            person = admin.MemberSpec(m.first_name, m.last_name, m.email, m.plan.name, m.badge)
            member = admin.add_member(session, person, device)
            if m.used:
                admin.top_up(session, member.id, -m.used, device)
            if m.revoked and m.badge:
                admin.revoke_badge(session, m.badge)
        for i in range(extra_members):
            admin.add_member(session, admin.MemberSpec(f"Membre{i}", plan=UNLIMITED.name, badge=extra_badge(i)), device)


def make_site(
    folder: Path,
    reader_path: str,
    *,
    bus_url: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    extra_members: int = 0,
) -> Path:
    """A standalone site in `folder`: its config (reader on `reader_path`), its migrated database and the sample
    members. Returns the config's path."""
    path = folder / "halfday.toml"
    data = site_config(folder / "halfday.db", reader_path, bus_url=bus_url, overrides=overrides)
    config = write_config(path, data)
    migrate(config.database_url)
    db = Database(config.database_url)
    try:
        seed_site(db, config.site.device, extra_members=extra_members)
    finally:
        db.dispose()
    return path


# ---------------------------------------------------------------------------------------------- the network's hub


def seed_hub(database_url: str, *, carnet_top_up: int = 0) -> dict[str, str]:
    """The same network at the hub: two sites, the plans, the members and their badges. Returns badge -> member id.

    `carnet_top_up` adds half-days to every carnet (the demo's members bought more than one over the month).
    """
    from sync.hub import admin as hub
    from sync.hub.db import HubDatabase

    db = HubDatabase(database_url)
    db.create_all()
    try:
        hub.add_site(db, SITE, SITE_NAME)
        hub.add_site(db, OTHER_SITE, OTHER_SITE_NAME)
        start, end = (dt.time.fromisoformat(t) for t in OPEN_ALL_DAY.split("-"))
        plans = {
            p.name: hub.add_plan(
                db, p.name, p.kind, half_days=p.half_days, price_cents=p.price_cents, hours_start=start, hours_end=end
            )
            for p in PLANS
        }
        ids = {}
        for m in MEMBERS:
            member_id = hub.add_member(db, m.first_name, m.last_name, m.email)
            subscription = hub.add_subscription(db, member_id, plans[m.plan.name])
            if m.plan.kind == PlanKind.CARNET and carnet_top_up - m.used:
                hub.top_up(db, subscription, carnet_top_up - m.used)
            if m.badge:
                hub.enrol_badge(db, member_id, m.badge)
                ids[m.badge] = member_id
                if m.revoked:
                    hub.revoke_badge(db, m.badge)
        return ids
    finally:
        db.dispose()
