"""The hub's rules for who changes what: a site manager acts within their sites, a network admin everywhere; every
change is in the audit log with its author; renewals, plan changes, top-ups and re-issued badges keep the member's
history. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from common.periods import next_period
from common.words import CredentialStatus
from halfday.cli import main
from sync.hub import accounts, admin, audit
from sync.hub.admin import HubError, MemberFields, PlanFields, SiteFields
from sync.hub.audit import SYSTEM, Actor, Role
from sync.hub.db import HubDatabase
from sync.hub.models import AuditEntry, Credential, Member, Subscription, TopUp
from tests.support.hub import PASSWORD

SITES = ("site-a", "site-b")


@pytest.fixture
def network(hub_db: HubDatabase) -> dict[str, str]:
    for site in SITES:
        admin.add_site(hub_db, site, site.upper())
    ids = {
        "carnet_a": admin.add_plan(hub_db, "Carnet A", "carnet", half_days=10, sites=["site-a"]),
        "network": admin.add_plan(hub_db, "Réseau", "unlimited"),
        "pass": admin.add_plan(hub_db, "Pass", "pass_day"),
    }
    ids["zoe"] = admin.add_member(hub_db, "Zoé", "Martin", home_site="site-a")
    ids["zoe_carnet"] = admin.add_subscription(hub_db, ids["zoe"], ids["carnet_a"])
    ids["leo"] = admin.add_member(hub_db, "Léo", "Petit")
    admin.add_subscription(hub_db, ids["leo"], ids["network"])
    ids["manager_b"] = accounts.add_account(hub_db, "manager-b", PASSWORD, Role.SITE_MANAGER, sites=["site-b"])
    return ids


def manager(hub_db: HubDatabase, account_id: str) -> Actor:
    found = accounts.load(hub_db, account_id)
    assert found is not None
    return found.actor


def test_a_site_manager_acts_only_within_their_sites(hub_db: HubDatabase, network: dict[str, str]) -> None:
    b = manager(hub_db, network["manager_b"])
    with hub_db.read() as s:
        assert not admin.member_visible(s, b, network["zoe"])  # a member of site A only
        assert admin.member_visible(s, b, network["leo"])  # a plan valid everywhere: everybody's
        visible = admin.visible_members(b)
        assert visible is not None
        names = set(s.execute(select(Member.first_name).where(visible)).scalars())
        assert names == {"Léo"}
    refusals: list[Callable[[], object]] = [
        lambda: admin.edit_member(hub_db, network["zoe"], MemberFields("Zoë"), actor=b),
        lambda: admin.set_member_active(hub_db, network["zoe"], False, actor=b),
        lambda: admin.enrol_badge(hub_db, network["zoe"], "A1B2C3D4", actor=b),
        lambda: admin.top_up(hub_db, network["zoe_carnet"], 5, actor=b),
        lambda: admin.renew(hub_db, network["zoe_carnet"], actor=b),
        lambda: admin.edit_site(hub_db, "site-a", SiteFields("Pris"), actor=b),
        lambda: admin.edit_plan(hub_db, network["carnet_a"], PlanFields("Carnet A", "carnet", 20), actor=b),
        lambda: admin.set_plan_active(hub_db, network["network"], False, actor=b),
        lambda: admin.create_plan(hub_db, PlanFields("Partout", "unlimited"), actor=b),
        lambda: admin.add_site(hub_db, "site-c", "C", actor=b),
        lambda: admin.unlock(hub_db, "site-a", "door-1", actor=b),
    ]
    for attempt in refusals:
        with pytest.raises(HubError) as refused:
            attempt()
        assert refused.value.code == "forbidden"
    with hub_db.read() as s:
        zoe = s.get(Member, network["zoe"])
        assert zoe is not None and zoe.first_name == "Zoé" and zoe.active
        assert s.execute(select(Credential)).first() is None
        assert s.get(Subscription, network["zoe_carnet"]).credited == 10  # type: ignore[union-attr]
    # Within site B: a plan of theirs, a member of theirs, and a roaming member's badge.
    plan_b = admin.create_plan(hub_db, PlanFields("Carnet B", "carnet", 5, sites=("site-b",)), actor=b)
    mine = admin.add_member(hub_db, "Ana", actor=b)
    admin.add_subscription(hub_db, mine, plan_b, actor=b)
    admin.enrol_badge(hub_db, network["leo"], "B1B2C3D4", actor=b)
    with hub_db.read() as s:
        assert s.get(Member, mine).home_site_id == "site-b"  # type: ignore[union-attr]
        log = audit.entries(s, b)
        assert {e.action for e in log} >= {"plan.add", "member.add", "subscription.add", "badge.enrol"}
        assert all(e.actor == "compte manager-b" for e in log if e.account_id == network["manager_b"])
        # The network admin's changes to site A are not site B's manager's to read.
        assert not [e for e in log if e.site_id == "site-a"]


def test_accounts_need_a_network_admin_and_keep_one(hub_db: HubDatabase, network: dict[str, str]) -> None:
    b = manager(hub_db, network["manager_b"])
    with pytest.raises(accounts.AccountError, match="administrateur du réseau"):
        accounts.add_account(hub_db, "intrus", PASSWORD, Role.NETWORK_ADMIN, actor=b)
    with pytest.raises(accounts.AccountError, match="12 caractères"):
        accounts.add_account(hub_db, "court", "short", Role.NETWORK_ADMIN)
    with pytest.raises(accounts.AccountError, match="au moins un site"):
        accounts.add_account(hub_db, "sans-site", PASSWORD, Role.SITE_MANAGER)
    with pytest.raises(accounts.AccountError, match="déjà pris"):
        accounts.add_account(hub_db, "Manager-B", PASSWORD, Role.SITE_MANAGER, sites=["site-a"])
    first = accounts.add_account(hub_db, "admin", PASSWORD, Role.NETWORK_ADMIN)
    boss = manager(hub_db, first)
    with pytest.raises(accounts.AccountError, match="vos propres droits"):
        accounts.edit_account(hub_db, first, name="", role=Role.SITE_MANAGER, sites=["site-a"], active=True, actor=boss)
    # The hash is scrypt; an unknown login and a wrong password both get nothing.
    assert accounts.load(hub_db, first).password_hash.startswith("scrypt:")  # type: ignore[union-attr]
    assert accounts.authenticate(hub_db, "admin", PASSWORD) is not None
    assert accounts.authenticate(hub_db, "admin", PASSWORD + "x") is None
    assert accounts.authenticate(hub_db, "personne", PASSWORD) is None
    with hub_db.read() as s:
        added = s.execute(select(AuditEntry).where(AuditEntry.action == "account.add")).scalars().all()
        assert {e.target for e in added} == {"account:manager-b", "account:admin"}
        assert all("password" not in (e.after or {}) for e in added)


def test_renewals_follow_the_period_and_keep_the_history(hub_db: HubDatabase, network: dict[str, str]) -> None:
    nov = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
    assert next_period(*nov, dt.date(2026, 11, 20)) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert next_period(*nov, dt.date(2027, 1, 10)) == (dt.date(2027, 1, 10), dt.date(2027, 2, 9))
    assert next_period(dt.date(2026, 1, 1), dt.date(2026, 1, 31), dt.date(2026, 1, 5)) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 28),
    )
    assert next_period(dt.date(2026, 11, 10), dt.date(2026, 11, 16), dt.date(2026, 11, 12)) == (
        dt.date(2026, 11, 17),
        dt.date(2026, 11, 23),
    )
    monthly = admin.add_subscription(hub_db, network["leo"], network["network"], valid_from=nov[0], valid_until=nov[1])
    renewed = admin.renew(hub_db, monthly, actor=SYSTEM, today=dt.date(2026, 11, 25))
    with hub_db.read() as s:
        new = s.get(Subscription, renewed)
        assert new is not None and (new.valid_from, new.valid_until) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    with pytest.raises(HubError, match="ne se renouvelle pas"):
        admin.renew(hub_db, admin.add_subscription(hub_db, network["leo"], network["pass"]), actor=SYSTEM)
    # A change of plan ends the current one yesterday and starts the new one today.
    changed = admin.change_plan(hub_db, monthly, network["carnet_a"], actor=SYSTEM, today=dt.date(2026, 11, 20))
    with hub_db.read() as s:
        old, new = s.get(Subscription, monthly), s.get(Subscription, changed)
        assert old is not None and old.valid_until == dt.date(2026, 11, 19)
        assert new is not None and new.valid_from == dt.date(2026, 11, 20) and new.credited == 10


def test_top_ups_and_badges(hub_db: HubDatabase, network: dict[str, str]) -> None:
    with pytest.raises(HubError, match="seul un carnet"):
        monthly = admin.add_subscription(hub_db, network["leo"], network["network"])
        admin.top_up(hub_db, monthly, 5)
    with pytest.raises(HubError, match="recharge invalide"):
        admin.top_up(hub_db, network["zoe_carnet"], 0)
    admin.top_up(hub_db, network["zoe_carnet"], 5, amount_cents=2500)
    first = admin.enrol_badge(hub_db, network["zoe"], "a1b2c3d4")
    with pytest.raises(HubError) as taken:
        admin.enrol_badge(hub_db, network["leo"], "A1B2C3D4")
    assert taken.value.code == "uid_in_use"
    second = admin.reissue_badge(hub_db, first, "C1C2C3C4", actor=SYSTEM)
    with hub_db.read() as s:
        assert s.get(Subscription, network["zoe_carnet"]).credited == 15  # type: ignore[union-attr]
        assert s.execute(select(TopUp.amount_cents)).scalars().all() == [2500]
        statuses = dict(s.execute(select(Credential.value, Credential.status)).all())
        assert statuses == {"A1B2C3D4": CredentialStatus.REVOKED, "C1C2C3C4": CredentialStatus.ACTIVE}
        assert s.get(Credential, second).member_id == network["zoe"]  # type: ignore[union-attr]
        # The audit log names a badge by its last digits only.
        logged = [e.after or e.before for e in s.execute(select(AuditEntry)).scalars() if e.action.startswith("badge")]
        assert logged and all(v["badge"].startswith("…") and len(v["badge"]) == 5 for v in logged if v)
    # The revoked badge, found again, can be given back.
    admin.enrol_badge(hub_db, network["leo"], "A1B2C3D4")


def test_bad_input_is_refused_in_french(hub_db: HubDatabase, network: dict[str, str]) -> None:
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: admin.add_site(hub_db, "Bad Id", "X"), "identifiant"),
        (lambda: admin.add_site(hub_db, "site-c", "C", fields=SiteFields("C", "Mars/Base")), "fuseau"),
        (
            lambda: admin.add_site(hub_db, "site-c", "C", fields=SiteFields("C", noon=dt.time(7, 0))),
            "les heures doivent se suivre",
        ),
        (lambda: admin.add_plan(hub_db, "Vide", "carnet"), "de 1 à 1000"),
        (lambda: admin.add_plan(hub_db, "Réseau", "unlimited"), "s'appelle déjà"),
        (lambda: admin.add_plan(hub_db, "Ailleurs", "unlimited", sites=["nulle-part"]), "site inconnu"),
        (lambda: admin.add_member(hub_db, " "), "prénom est obligatoire"),
        (lambda: admin.add_member(hub_db, "Zoé", email="x" * 250 + "@a.fr"), "adresse"),
        (lambda: admin.enrol_badge(hub_db, network["zoe"], "nothex"), "badge invalide"),
    ]
    for attempt, words in cases:
        with pytest.raises(HubError, match=words):
            attempt()


def test_the_first_admin_is_made_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    HubDatabase(url).create_all()
    key = tmp_path / "hub.key"
    from sync.signing import generate_private_key, save_private_key

    save_private_key(generate_private_key(), key)
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * 32)
    secret.chmod(0o600)
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[hub]\ndatabase_url = "{url}"\nprivate_key = "{key}"\n[hub.web]\nsecret_key_file = "{secret}"\n',
        encoding="utf-8",
    )
    # No account yet: the pages refuse to start, saying how to make the first one.
    assert main(["hub", "--config", str(config), "web"]) == 1
    assert "halfday hub account add" in capsys.readouterr().err
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n", encoding="utf-8")
    assert main(["hub", "--config", str(config), "account", "add", "Admin", "--password-file", str(password)]) == 0
    assert "Compte admin créé." in capsys.readouterr().out
    password.write_text("short\n", encoding="utf-8")
    assert main(["hub", "--config", str(config), "account", "password", "admin", "--password-file", str(password)]) == 1
    assert "12 caractères" in capsys.readouterr().err
    assert main(["hub", "--config", str(config), "account", "list"]) == 0
    assert "admin\tnetwork_admin\ttous les sites\tactif" in capsys.readouterr().out
    db = HubDatabase(url)
    assert accounts.authenticate(db, "admin", PASSWORD) is not None
    with db.read() as s:
        assert s.execute(select(AuditEntry.actor)).scalars().all() == ["ligne de commande du serveur"]
    db.dispose()
