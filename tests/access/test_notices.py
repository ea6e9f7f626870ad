"""The notices queue: each cause writes its notice once, in its own transaction, in the member's language."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, update

from access import admin, notices
from access.models import Balance, Closure, Member, Notice, Sale, Subscription
from access.policy import apply, decide
from access.store import Stamp, load_state, record_entries, spent_since_balances
from common.words import PlanKind
from halfday.sample import ALL_DAY, BRUNO
from kiosk.sales import Payment, WalkIn, counter_at, record_sale
from tests.support.site import Site

PARIS = dt.timezone(dt.timedelta(hours=1))
MONDAY = dt.datetime(2026, 11, 23, 9, 30, tzinfo=PARIS)
MAIL = {"mail": {"host": "127.0.0.1", "security": "none", "from": "Le Local <accueil@lelocal.example>"}}


@pytest.fixture
def site(new_site: Callable[..., Site]) -> Site:
    return new_site(overrides=MAIL)


def tap(site: Site, uid: str, when: dt.datetime, threshold: int | None) -> int | None:
    """The door's decision and record for a tap at `when`; returns the carnet's balance after it."""
    config = site.config
    with site.db.write() as session:
        state = load_state(session, config.site.rules, config.site.id, config.site.device, when.date())
        decision = decide(uid, when.astimezone(dt.UTC), state)
        assert decision.granted, decision.reason
        record_entries(session, config.site.id, config.site.device, [(decision, Stamp(when, 1, "b", True))], threshold)
        apply(decision, state)
    return decision.balance


def queued(site: Site, kind: str | None = None) -> list[Notice]:
    with site.db.read() as session:
        query = select(Notice).order_by(Notice.created_at)
        if kind is not None:
            query = query.where(Notice.kind == kind)
        return list(session.scalars(query))


def slots(first: dt.datetime, count: int) -> list[dt.datetime]:
    """`count` half-days in a row from `first` (a morning): morning, afternoon, next morning..."""
    return [first + dt.timedelta(days=i // 2, hours=5 * (i % 2)) for i in range(count)]


def test_a_low_carnet_is_told_once_per_refill_not_once_per_entry(site: Site) -> None:
    balances = [tap(site, BRUNO, when, threshold=8) for when in slots(MONDAY, 5)]
    assert balances == [9, 8, 7, 6, 5]
    low = queued(site, "low_carnet")
    assert len(low) == 1  # written when it reached 8, not again at 7, 6 and 5
    assert low[0].to_address == "bruno@example.org"
    assert low[0].subject == "Votre carnet : plus que 8 demi-journées"
    assert "Bonjour Bruno" in low[0].body and "« Carnet 10 »" in low[0].body
    with site.db.write() as session:
        admin.top_up(session, "bruno@example.org", 5, site.config.site.device)  # refilled: 10
    later = MONDAY + dt.timedelta(days=5)
    assert [tap(site, BRUNO, when, threshold=8) for when in slots(later, 3)] == [9, 8, 7]
    assert [n.subject for n in queued(site, "low_carnet")] == [low[0].subject] * 2


def test_a_roster_that_resets_the_balance_does_not_tell_again(site: Site) -> None:
    """On a networked site every roster sets the balance afresh (the hub's count, `as_of_seq` moved on): that is
    not a refill, and must not write a notice per entry."""
    device = site.config.site.device
    for i, when in enumerate(slots(MONDAY, 4)):
        left = tap(site, BRUNO, when, threshold=8)
        with site.db.write() as session:  # the hub acknowledged the entry: its roster says the same balance
            sub = session.scalars(select(Subscription).join(Member).where(Member.first_name == "Bruno")).one()
            balance = session.get(Balance, sub.id)
            assert balance is not None and left == 9 - i
            balance.amount, balance.as_of_seq = left, admin.current_seq(session, device)
    assert len(queued(site, "low_carnet")) == 1


def test_no_notice_without_mail_nor_above_the_threshold(site: Site) -> None:
    tap(site, BRUNO, MONDAY, threshold=None)
    tap(site, BRUNO, MONDAY + dt.timedelta(hours=5), threshold=2)
    assert queued(site) == []


def test_a_carnet_already_low_after_a_refill_is_not_told_again(site: Site) -> None:
    with site.db.write() as session:
        admin.top_up(session, "bruno@example.org", -9, site.config.site.device)  # 1 left
    assert tap(site, BRUNO, MONDAY, threshold=2) == 0
    assert queued(site) == []  # it did not cross the threshold here: the member was told when it did


def test_the_notice_goes_with_its_entry_when_the_transaction_fails(site: Site) -> None:
    config = site.config
    with pytest.raises(RuntimeError), site.db.write() as session:
        state = load_state(session, config.site.rules, config.site.id, config.site.device, MONDAY.date())
        decision = decide(BRUNO, MONDAY.astimezone(dt.UTC), state)
        record_entries(session, config.site.id, config.site.device, [(decision, Stamp(MONDAY, 1, "b", True))], 9)
        raise RuntimeError("power cut before the commit")
    assert queued(site) == []


def test_a_member_who_chose_english_is_told_in_english(site: Site) -> None:
    with site.db.write() as session:
        session.execute(update(Member).where(Member.email == "bruno@example.org").values(language="en"))
    tap(site, BRUNO, MONDAY, threshold=9)
    (notice,) = queued(site)
    assert (notice.language, notice.subject) == ("en", "Your carnet: 9 half-days left")
    assert notice.body.startswith("Hello Bruno,")


def test_a_walk_in_gets_a_receipt_in_french_then_english(new_site: Callable[..., Site]) -> None:
    site = new_site(overrides={**MAIL, **ALL_DAY})
    offer = counter_at(
        MONDAY.astimezone(dt.UTC), site.config.site.rules, {PlanKind.PASS_HALFDAY: 800, PlanKind.PASS_DAY: 1400}
    ).offer("pass_day")
    assert offer is not None
    with site.db.write() as session:
        stamp = Stamp(MONDAY.astimezone(dt.UTC), 1, "b", True)
        sale, _pass = record_sale(
            session, "door-1", offer, WalkIn("Zoé Lemoine", "zoe@example.org"), Payment("counter", False), stamp
        )
        sale_id = sale.id
    (notice,) = queued(site, "receipt")
    assert notice.key == f"receipt:{sale_id}" and notice.to_address == "zoe@example.org"
    assert notice.subject == "Votre reçu / Your receipt (Pass journée)"
    assert "Pass journée : 14,00 €" in notice.body and "Day pass: €14.00" in notice.body
    assert "lundi 23 novembre 2026 (journée entière)" in notice.body
    assert "À régler à l'accueil." in notice.body and "To be paid at the desk." in notice.body
    assert "Zoé" in notice.body and "Lemoine" not in notice.body  # the first name is enough


def test_a_members_purchase_is_receipted_in_their_language(site: Site) -> None:
    with site.db.write() as session:
        member = session.scalars(select(Member).where(Member.email == "emma@example.org")).one()
        member.language = "en"
        sale = Sale(
            plan_kind="carnet",
            amount_cents=8000,
            provider="voucher",
            paid=True,
            buyer_name=member.full_name,
            buyer_email=member.email,
            member_id=member.id,
            created_at=MONDAY.astimezone(dt.UTC),
        )
        session.add(sale)
        session.flush()
        notices.receipt(session, sale, None)
        notices.receipt(session, sale, None)  # the same sale never writes two receipts
    (notice,) = queued(site, "receipt")
    assert notice.subject == "Your receipt (Carnet)"
    assert "Carnet: €80.00" in notice.body and "Paid." in notice.body


def end_plan(site: Site, email: str, until: dt.date, since: dt.date | None = None) -> str:
    with site.db.write() as session:
        sub = session.scalars(select(Subscription).join(Member).where(Member.email == email)).one()
        sub.valid_from, sub.valid_until = since, until
        return sub.id


def ending(site: Site, today: dt.date, days: int = 3) -> int:
    with site.db.write() as session:
        return notices.plans_ending(session, today, days, dt.datetime.now(dt.UTC))


def test_a_plan_ending_is_told_once_days_before(site: Site) -> None:
    today = MONDAY.date()
    end_plan(site, "alice@example.org", today + dt.timedelta(days=3))
    end_plan(site, "farid@example.org", today + dt.timedelta(days=4))  # not yet
    end_plan(site, "hugo@example.org", today - dt.timedelta(days=1))  # already over
    assert ending(site, today) == 1
    assert ending(site, today) == 0
    (notice,) = queued(site, "plan_ending")
    assert notice.to_address == "alice@example.org"
    assert notice.subject == "Votre formule se termine le jeudi 26 novembre 2026"
    assert ending(site, today + dt.timedelta(days=1)) == 1  # Farid's, the next day


def test_a_renewed_plan_is_not_told(site: Site) -> None:
    today = MONDAY.date()
    end = today + dt.timedelta(days=2)
    end_plan(site, "alice@example.org", end)
    with site.db.write() as session:
        alice = session.scalars(select(Member).where(Member.email == "alice@example.org")).one()
        plan = admin.find_plan(session, "Illimité")
        admin.subscribe(session, alice, plan, end + dt.timedelta(days=1), end + dt.timedelta(days=31), "door-1")
    assert ending(site, today) == 0


def test_closed_days_move_the_end_that_is_told(site: Site) -> None:
    today = MONDAY.date()
    start = today - dt.timedelta(days=20)
    end_plan(site, "alice@example.org", today + dt.timedelta(days=1), since=start)
    with site.db.write() as session:
        session.add_all([Closure(date=start + dt.timedelta(days=d), label="Fermé") for d in (1, 2)])
    assert ending(site, today, days=2) == 0  # the last day moved from Tuesday to Thursday, 3 days away
    assert ending(site, today) == 1
    (notice,) = queued(site, "plan_ending")
    assert notice.subject == "Votre formule se termine le jeudi 26 novembre 2026"
    assert notice.key is not None and notice.key.endswith(":2026-11-26")


def test_statements_on_the_first_days_of_a_month_once(site: Site) -> None:
    with site.db.write() as session:
        session.execute(
            update(Member)
            .where(Member.email.in_(["bruno@example.org", "clara@example.org"]))
            .values(monthly_statement=True)
        )
    for when in slots(dt.datetime(2026, 10, 29, 9, 0, tzinfo=PARIS), 3):
        tap(site, BRUNO, when, threshold=None)

    def statements(today: dt.date) -> int:
        with site.db.write() as session:
            spent = spent_since_balances(session, site.config.site.device)
            return notices.monthly_statements(session, today, spent, dt.datetime.now(dt.UTC))

    assert statements(dt.date(2026, 11, 8)) == 0  # too late in the month for last month's
    assert statements(dt.date(2026, 11, 1)) == 2
    assert statements(dt.date(2026, 11, 2)) == 0
    bruno = next(n for n in queued(site, "statement") if n.to_address == "bruno@example.org")
    assert bruno.subject == "Vos demi-journées de octobre 2026"
    assert "vous êtes venu·e 3 demi-journées" in bruno.body
    assert "jeudi 29 octobre 2026 : journée entière" in bruno.body
    assert "vendredi 30 octobre 2026 : matin" in bruno.body
    assert "Il reste 7 demi-journées sur votre carnet « Carnet 10 »." in bruno.body
    clara = next(n for n in queued(site, "statement") if n.to_address == "clara@example.org")
    assert "vous êtes venu·e 0 demi-journée." in clara.body


def test_an_inactive_member_or_one_without_address_gets_nothing(site: Site) -> None:
    with site.db.write() as session:
        session.execute(update(Member).where(Member.email == "bruno@example.org").values(active=False))
        session.execute(update(Member).where(Member.email == "alice@example.org").values(email=None))
    end_plan(site, "gaelle@example.org", MONDAY.date() + dt.timedelta(days=1))
    with site.db.write() as session:
        alice = session.scalars(select(Member).where(Member.first_name == "Alice")).one()
        sub = session.scalars(select(Subscription).where(Subscription.member_id == alice.id)).one()
        sub.valid_until = MONDAY.date()
        bruno_sub = session.scalars(select(Subscription).join(Member).where(Member.first_name == "Bruno")).one()
        assert notices.low_carnet(session, bruno_sub.id, 1, dt.datetime.now(dt.UTC), "entry-1") is None
    assert ending(site, MONDAY.date()) == 1  # Gaëlle's only
    with site.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == 1
