"""A member's year at a standalone site: edited, subscribed, renewed, moved to another plan, deactivated and back;
badges lost, re-issued and found again, with their history; the one rule for giving a badge, shared with the hub."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from access import admin
from access.config import Config, MailConfig, load_config
from access.db import Database
from access.models import BadgeHistory, Credential, Member, Subscription
from access.policy import Reason, decide
from access.store import Stamp, load_state, record_entry
from common.badges import BADGE_ALREADY_THEIRS, BADGE_IN_USE, assignment_refusal
from common.periods import months_end, next_period
from halfday.cli import main

NOV = dt.date(2026, 11, 1)


def _setup(db: Database) -> dict[str, str]:
    with db.write() as s:
        admin.add_plan(s, admin.PlanSpec("Mois", "unlimited"))
        admin.add_plan(s, admin.PlanSpec("Carnet 10", "carnet", half_days=10))
        alice = admin.add_member(
            s,
            admin.MemberSpec("Alice", "Martin", "alice@example.org", "Mois", "A1A1A1A1", "2026-10-01", "2026-10-31"),
            "door-1",
        )
        bob = admin.add_member(
            s, admin.MemberSpec("Bob", "Durand", "bob@example.org", "Carnet 10", "B2B2B2B2"), "door-1"
        )
        return {"alice": alice.id, "bob": bob.id}


def _tap(db: Database, config: Config, uid: str, when: dt.datetime) -> Reason:
    with db.write() as s:
        state = load_state(s, config.site.rules, config.site.id, "door-1", when.astimezone(config.site.tz).date())
        decision = decide(uid, when, state)
        if decision.granted:
            record_entry(s, config.site.id, "door-1", decision, Stamp(when, 1, "boot", True))
    return decision.reason


def _local(day: dt.date, hour: int, config: Config) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=config.site.tz)


def test_the_shared_rule_for_giving_a_badge() -> None:
    assert assignment_refusal(None, None, "m1") is None
    assert assignment_refusal("active", "m2", "m1") == BADGE_IN_USE
    assert assignment_refusal("active", None, "m1") is None  # a walk-in's card, for a pass
    assert assignment_refusal("active", "m1", "m1") == BADGE_ALREADY_THEIRS
    assert assignment_refusal("revoked", "m1", "m1") is None  # found again
    assert assignment_refusal("revoked", "m2", "m1") is None  # the space reuses it


def test_months_renew_to_the_day_before_or_the_months_last_day() -> None:
    assert months_end(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert months_end(dt.date(2028, 1, 30), 1) == dt.date(2028, 2, 29)
    assert months_end(dt.date(2026, 1, 28), 1) == dt.date(2026, 2, 27)
    assert months_end(dt.date(2026, 12, 15), 1) == dt.date(2027, 1, 14)
    # 31 January to 28 February is a month: it renews as March, whole.
    assert next_period(dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 2, 20)) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 31),
    )
    # Three months renew as three months; ten days as ten days; an ended plan from today.
    assert next_period(dt.date(2026, 1, 15), dt.date(2026, 4, 14), dt.date(2026, 4, 1)) == (
        dt.date(2026, 4, 15),
        dt.date(2026, 7, 14),
    )
    assert next_period(dt.date(2026, 3, 1), dt.date(2026, 3, 10), dt.date(2026, 3, 5))[1] == dt.date(2026, 3, 20)
    assert next_period(dt.date(2026, 3, 1), dt.date(2026, 3, 31), dt.date(2026, 5, 10)) == (
        dt.date(2026, 5, 10),
        dt.date(2026, 6, 9),
    )


@given(st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)), st.integers(1, 12))
def test_renewed_months_follow_each_other_without_gap_or_overlap(start: dt.date, months: int) -> None:
    end = months_end(start, months)
    following, until = next_period(start, end, start)
    assert following == end + dt.timedelta(days=1)
    assert until > following and (until - following).days <= 31 * months


def test_edit_a_member(db: Database) -> None:
    ids = _setup(db)
    edit = admin.MemberEdit("Alicia", "Martin", "ALICIA@example.org", staff=True, language="en", monthly_statement=True)
    with db.write() as s:
        admin.edit_member(s, ids["alice"], edit)
    with db.read() as s:
        m = s.get_one(Member, ids["alice"])
        assert (m.first_name, m.email, m.staff, m.language, m.monthly_statement) == (
            "Alicia",
            "ALICIA@example.org",
            True,
            "en",
            True,
        )
    refused = [
        (admin.MemberEdit("Bob", email="alicia@example.org"), "un autre membre a déjà l'adresse"),
        (admin.MemberEdit("Bob", language="de"), "langue « de » inconnue"),
        (admin.MemberEdit("Bob", email=None, monthly_statement=True), "indiquez une adresse"),
        (admin.MemberEdit(" "), "prénom"),
    ]
    for change, said in refused:
        with pytest.raises(admin.AdminError, match=said), db.write() as s:
            admin.edit_member(s, ids["bob"], change)
    with db.read() as s:
        assert s.get_one(Member, ids["bob"]).first_name == "Bob"


def test_subscribe_checks_dates_and_plan(db: Database) -> None:
    ids = _setup(db)
    with pytest.raises(admin.AdminError, match="la date de fin précède"), db.write() as s:
        admin.subscribe_member(s, ids["bob"], "Mois", "2026-11-10", "2026-11-01", "door-1")
    with pytest.raises(admin.AdminError, match="formule « Yoga » inconnue"), db.write() as s:
        admin.subscribe_member(s, ids["bob"], "Yoga", None, None, "door-1")
    with pytest.raises(admin.AdminError, match="n'est pas une date"), db.write() as s:
        admin.subscribe_member(s, ids["bob"], "Mois", "10/11/2026", None, "door-1")
    with db.write() as s:
        sub = admin.subscribe_member(s, ids["bob"], "Mois", "2026-11-01", "2026-11-30", "door-1")
        assert (sub.valid_from, sub.valid_until) == (NOV, dt.date(2026, 11, 30))


def test_renew_a_month_from_the_due_list_keeps_the_member_in(db: Database, config: Config) -> None:
    _setup(db)
    today = dt.date(2026, 10, 25)
    with db.read() as s:
        due = admin.due_for_renewal(s, today, "door-1", today)
    assert [(d.member_name, d.plan_name, d.valid_until) for d in due] == [
        ("Alice Martin", "Mois", dt.date(2026, 10, 31))
    ]
    assert _tap(db, config, "A1A1A1A1", _local(NOV, 9, config)) == Reason.EXPIRED
    with db.write() as s:
        renewed = admin.renew(s, due[0].subscription_id, "door-1", today)
        assert (renewed.valid_from, renewed.valid_until) == (NOV, dt.date(2026, 11, 30))
    assert _tap(db, config, "A1A1A1A1", _local(NOV, 9, config)) == Reason.GRANTED
    with db.read() as s:
        assert admin.due_for_renewal(s, today, "door-1", today) == []  # renewed: off the list
        # ... and on November's, as it ends then.
        assert [d.valid_until for d in admin.due_for_renewal(s, NOV, "door-1", today)] == [dt.date(2026, 11, 30)]
    # One click twice does not renew twice.
    with pytest.raises(admin.AdminError, match="déjà renouvelée jusqu'au 30/11/2026"), db.write() as s:
        admin.renew(s, due[0].subscription_id, "door-1", today)


def test_a_carnet_nearly_empty_is_due_and_renews_as_a_new_carnet(db: Database, config: Config) -> None:
    ids = _setup(db)
    with db.write() as s:
        admin.top_up(s, ids["bob"], -7, "door-1")  # 3 left: not yet due
    today = dt.date(2026, 11, 2)
    with db.read() as s:
        assert admin.due_for_renewal(s, today, "door-1", today) == []
        # A site that mails its members at 3 half-days left lists the carnet as due at that same threshold.
        mail = MailConfig(host="127.0.0.1", sender="a@b.fr", low_carnet_threshold=3)
        mailing = dataclasses.replace(config, mail=mail)
        assert admin.nearly_empty(mailing) == 3 and admin.nearly_empty(config) == admin.NEARLY_EMPTY
        soon = admin.due_for_renewal(s, today, "door-1", today, admin.nearly_empty(mailing))
        assert [(d.member_name, d.left) for d in soon] == [("Bob Durand", 3)]
    assert _tap(db, config, "B2B2B2B2", _local(today, 9, config)) == Reason.GRANTED  # 2 left
    with db.read() as s:
        due = admin.due_for_renewal(s, today, "door-1", today)
    assert [(d.member_name, d.left) for d in due] == [("Bob Durand", 2)]
    # It served at the door: it can be ended by its date, not taken back.
    with pytest.raises(admin.AdminError, match="a déjà servi"), db.write() as s:
        admin.remove_subscription(s, due[0].subscription_id)
    with db.write() as s:
        new = admin.renew(s, due[0].subscription_id, "door-1", today)
        assert new.balance is not None and new.balance.amount == 10 and new.valid_from == today
    with db.read() as s:
        assert admin.due_for_renewal(s, today, "door-1", today) == []


def test_change_plan_ends_the_current_one(db: Database) -> None:
    ids = _setup(db)
    today = dt.date(2026, 11, 12)
    with db.write() as s:
        current = admin.open_subscription(s, ids["bob"])
        new = admin.change_plan(s, current.id, "Mois", "door-1", today, "2026-12-11")
        assert (new.valid_from, new.valid_until) == (today, dt.date(2026, 12, 11))
        assert current.valid_until == dt.date(2026, 11, 11)
    with pytest.raises(admin.AdminError, match="déjà la formule « Mois »"), db.write() as s:
        admin.change_plan(s, new.id, "Mois", "door-1", today)
    with db.read() as s:
        assert admin.open_subscription(s, ids["bob"]).id == new.id
    # Given by mistake and never used: its dates corrected, or taken back whole.
    with db.write() as s:
        assert admin.correct_dates(s, new.id, "2026-11-12", "2026-11-30").valid_until == dt.date(2026, 11, 30)
        admin.remove_subscription(s, new.id)
    with db.read() as s:
        assert s.get(Subscription, new.id) is None


def test_deactivate_and_reactivate(db: Database, config: Config) -> None:
    ids = _setup(db)
    when = _local(dt.date(2026, 11, 3), 9, config)
    with db.write() as s:
        admin.deactivate_member(s, ids["bob"])
    assert _tap(db, config, "B2B2B2B2", when) == Reason.INACTIVE
    with db.write() as s:
        admin.reactivate_member(s, ids["bob"])
    with pytest.raises(admin.AdminError, match="déjà actif"), db.write() as s:
        admin.reactivate_member(s, ids["bob"])
    assert _tap(db, config, "B2B2B2B2", when) == Reason.GRANTED


def test_badges_lost_reissued_found_and_reused_with_history(db: Database, config: Config) -> None:
    ids = _setup(db)
    when = _local(dt.date(2026, 11, 3), 9, config)
    with db.write() as s:
        admin.reissue_badge(s, "B2B2B2B2", "C3C3C3C3", "perdu dans le train")
    assert _tap(db, config, "C3C3C3C3", when) == Reason.GRANTED
    assert _tap(db, config, "B2B2B2B2", when) == Reason.REVOKED
    # Another member's active badge is never taken; nor is the same badge given twice.
    for old, new, said in (
        ("C3C3C3C3", "A1A1A1A1", "déjà attribué à un autre membre"),
        ("C3C3C3C3", "c3:c3:c3:c3", "un autre badge"),
        ("D4D4D4D4", "E5E5E5E5", "n'est le badge d'aucun membre"),
    ):
        with pytest.raises(admin.AdminError, match=said), db.write() as s:
            admin.reissue_badge(s, old, new)
    # The lost badge is found: given back to Bob, it opens again.
    with db.write() as s:
        admin.give_back_badge(s, "B2B2B2B2")
    with pytest.raises(admin.AdminError, match="déjà actif"), db.write() as s:
        admin.give_back_badge(s, "B2B2B2B2")
    assert _tap(db, config, "B2B2B2B2", when + dt.timedelta(hours=5)) == Reason.GRANTED
    with pytest.raises(admin.AdminError, match="n'est pas celui de ce membre"), db.write() as s:
        admin.reissue_badge(s, "C3C3C3C3", "F6F6F6F6", of_member=ids["alice"])
    # A walk-in's card (for a pass) becomes the badge of the member they become.
    with db.write() as s:
        s.add(Credential(value="7A7A7A7A"))
        s.flush()
        assert admin.add_badge(s, s.get_one(Member, ids["bob"]), "7A7A7A7A").member_id == ids["bob"]
    # Later Bob hands it in and the space gives it to Alice: it is hers now.
    with db.write() as s:
        admin.revoke_badge(s, "B2B2B2B2", "rendu à l'accueil")
        admin.add_badge(s, s.get_one(Member, ids["alice"]), "B2B2B2B2")
    with db.read() as s:
        assert s.scalar(select(Credential.member_id).where(Credential.value == "B2B2B2B2")) == ids["alice"]
        lines = [(h.value, h.member_id, h.action, h.reason) for h in reversed(admin.badge_history(s, uid="b2b2b2b2"))]
        assert lines == [
            ("B2B2B2B2", ids["bob"], "given", None),
            ("B2B2B2B2", ids["bob"], "revoked", "perdu dans le train"),
            ("B2B2B2B2", ids["bob"], "given_back", None),
            ("B2B2B2B2", ids["bob"], "revoked", "rendu à l'accueil"),
            ("B2B2B2B2", ids["alice"], "given", None),
        ]
        bobs = {(h.value, h.action) for h in admin.badge_history(s, member_id=ids["bob"])}
        assert ("C3C3C3C3", "given") in bobs
        # The five lines of B2, and A1, C3 and the walk-in's card given.
        assert len(s.scalars(select(BadgeHistory)).all()) == 8


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "halfday.toml"
    assert main(["--config", str(path), "init", "--site-id", "le-local", "--name", "Le Local"]) == 0
    return path


def test_the_cli_runs_the_year(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--config", str(site), *args])
        out, err = capsys.readouterr()
        return code, out, err

    today = dt.datetime.now(load_config(site).site.tz).date()
    # A month: its renewal ends the month after, so whatever the day, the month it ends owes nothing once renewed.
    ends = months_end(today, 1)
    assert run("plan", "add", "Mois", "--kind", "unlimited")[0] == 0
    assert run("plan", "add", "Carnet 10", "--kind", "carnet", "--half-days", "10")[0] == 0
    assert run("member", "add", "Alice", "Martin", "--email", "alice@example.org", "--badge", "A1A1A1A1")[0] == 0
    code, out, _ = run("member", "subscribe", "alice@example.org", "Mois", "--from", f"{today}", "--until", f"{ends}")
    assert code == 0 and f"Formule Mois donnée à Alice Martin : {today} → {ends}" in out
    code, out, _ = run("member", "due", "--month", f"{ends:%Y-%m}")
    assert code == 0 and "Alice Martin" in out and f"fin le {ends:%d/%m/%Y}" in out
    code, out, _ = run("member", "renew", "alice@example.org")
    assert code == 0 and f"renouvelée : {ends + dt.timedelta(days=1)} →" in out
    code, out, _ = run("member", "due", "--month", f"{ends:%Y-%m}")
    assert "Alice" not in out and "0 formule(s)" in out
    code, _, err = run("member", "due", "--month", "novembre")
    assert code == 1 and "attendu AAAA-MM" in err and "Traceback" not in err
    code, out, _ = run("member", "change-plan", "alice@example.org", "Carnet 10")
    assert code == 0 and "passe de Mois à Carnet 10" in out
    code, out, _ = run("member", "edit", "alice@example.org", "--staff", "--language", "en", "--first-name", "Alicia")
    assert code == 0 and "Alicia Martin" in out
    code, out, _ = run("member", "show", "alice@example.org")
    assert "équipe : oui   langue : en   relevé mensuel : non" in out
    code, _, err = run("member", "edit", "alice@example.org", "--statement", "--email", "")
    assert code == 1 and "indiquez une adresse" in err
    assert run("member", "deactivate", "alice@example.org")[0] == 0
    code, out, _ = run("member", "reactivate", "alice@example.org")
    assert code == 0 and "réactivé" in out
    code, out, _ = run("badge", "reissue", "A1A1A1A1", "C3C3C3C3", "--reason", "perdu")
    assert code == 0 and "Badge A1A1A1A1 désactivé ; badge C3C3C3C3 attribué à Alicia Martin" in out
    code, out, _ = run("badge", "giveback", "a1:a1:a1:a1")
    assert code == 0 and "rendu à Alicia Martin" in out
    code, out, _ = run("badge", "history", "alice@example.org")
    assert code == 0 and "4 changement(s)" in out and "désactivé  Alicia" in out and ": perdu" in out
    code, _, err = run("badge", "history")
    assert code == 1 and "indiquez un membre" in err
    database = Database(load_config(site).database_url)
    try:
        with database.read() as s:
            member = s.scalars(select(Member)).one()
            assert (member.first_name, member.staff, member.language, member.active) == ("Alicia", True, "en", True)
            assert len(s.scalars(select(Subscription)).all()) == 3
    finally:
        database.dispose()
