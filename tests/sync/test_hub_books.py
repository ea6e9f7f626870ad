"""The books at the hub, on SQLite and PostgreSQL: two doors of one site sell at once, each numbering its own series;
their events reach the hub at once; every series runs 1..N without gap or repeat, the network's journal balances
per entry and passes Paheko's import rules, and a payload that breaks the books' rules is refused."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from sqlalchemy import select

from access import books
from access.db import Database, migrate
from access.models import Sale as ApplianceSale
from access.store import Stamp
from common.books import Books, paheko_csv
from common.words import BookKind
from sync.agent.outbox import last_seq, read_batch
from sync.hub.books import site_journal
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import Sale, Site
from sync.payloads import event_data_problem, validate_batch
from tests.support import paheko

SALES_PER_SELLER = 12
NOON = dt.datetime(2026, 11, 3, 11, 0, tzinfo=dt.UTC)


def door_db(tmp_path: Path, name: str) -> Database:
    url = f"sqlite:///{tmp_path / name}.db"
    migrate(url)
    return Database(url)


def seller(db: Database, device: str, series: str, offset: int) -> None:
    """One till of a door: a mix of what a site sells, a payment and a credit note among them."""
    ledger = Books(series)
    for i in range(SALES_PER_SELLER):
        stamp = Stamp(NOON + dt.timedelta(minutes=offset + i), i, "boot", True)
        with db.write() as s:
            kind = (BookKind.SUBSCRIPTION, BookKind.REFILL, BookKind.BOOKING, BookKind.VOUCHER)[i % 4]
            sale = books.record(
                s,
                ledger,
                stamp,
                kind=kind,
                plan_kind="carnet" if kind == BookKind.REFILL else "room",
                amount_cents=1000 + i,
                label=f"vente {i}",
                provider="voucher" if i % 3 == 0 else "counter",
                paid=i % 3 == 0,
                member_id="a" * 32 if kind == BookKind.REFILL else None,
            )
            books.announce(s, device, sale, stamp)
        if i % 3 == 1:
            with db.write() as s:
                books.mark_paid(s, sale.id, ("cash", "card", "cheque")[i % 3], device, stamp)
        if i % 5 == 2:
            with db.write() as s:
                books.credit_note(s, ledger, sale.id, "cash", device, stamp)  # (unpaid: nothing goes back)


def test_two_doors_selling_at_once_reach_the_hub_with_every_series_whole(tmp_path: Path, hub_db: HubDatabase) -> None:
    doors = {"door-1": ("CAH-A", door_db(tmp_path, "a")), "door-2": ("CAH-B", door_db(tmp_path, "b"))}
    with hub_db.write() as s:
        s.add(Site(id="cahors", name="Cahors", timezone="Europe/Paris"))
    tills = [
        threading.Thread(target=seller, args=(db, device, series, offset))
        for device, (series, db) in doors.items()
        for offset in (0, 100)  # two tills per door, one ledger each door
    ]
    for t in tills:
        t.start()
    for t in tills:
        t.join(60)
    failures: list[BaseException] = []

    def send(device: str, db: Database) -> None:
        try:
            ingestor = Ingestor(hub_db, gap_wait_s=0)
            last = last_seq(db, device)
            for first in range(1, last + 1, 10):
                body, _count = read_batch(db, "cahors", device, first, min(last, first + 9))
                ingestor.ingest(validate_batch(body, "cahors", device))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    senders = [threading.Thread(target=send, args=(device, db)) for device, (_series, db) in doors.items()]
    for t in senders:
        t.start()
    for t in senders:
        t.join(60)
    assert failures == []
    with hub_db.read() as s:
        for series, db in doors.values():
            numbers = sorted(n or 0 for n in s.scalars(select(Sale.number).where(Sale.series == series)))
            with db.read() as local:
                sent = len(local.scalars(select(ApplianceSale.id)).all())
            assert numbers == list(range(1, sent + 1)) and sent > 2 * SALES_PER_SELLER
        refunds = s.scalars(select(Sale).where(Sale.book_kind == "refund")).all()
        assert refunds and all(r.amount_cents < 0 and r.refund_of for r in refunds)
        assert all(r.name is None for r in refunds)
        entries = site_journal(s, Books("HUB"), dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert entries and all(e.balanced for e in entries)
    assert {e.notes for e in entries} == {"cahors"}
    imported = paheko.check(paheko_csv(entries), Books("HUB").accounts.all())
    debits = sum(d for i in imported for _, d, _ in i.lines)
    assert debits == sum(c for i in imported for _, _, c in i.lines) > 0


def test_the_books_rules_are_checked_at_the_boundary() -> None:
    base = {
        "sale": "b" * 32,
        "book_kind": "refill",
        "kind": "carnet",
        "amount_cents": 9000,
        "provider": "counter",
        "paid": True,
        "tender": "cash",
        "series": "CAH-A",
        "number": 7,
        "member": "a" * 32,
    }
    assert event_data_problem("sale", base) is None
    for bad in (
        {**base, "amount_cents": -9000},  # only a credit note is negative
        {**base, "book_kind": "refund", "amount_cents": -9000},  # a credit note names what it cancels
        {**base, "refund_of": "c" * 32},  # and only a credit note does
        {**base, "number": 0},
        {key: value for key, value in base.items() if key != "number"},  # series and number go together
        {**base, "series": "cah a"},
        {**base, "tender": "bitcoin"},
        {**base, "book_kind": "gift"},
    ):
        assert event_data_problem("sale", bad) is not None, bad
    assert (
        event_data_problem("sale", {**base, "book_kind": "refund", "amount_cents": -9000, "refund_of": "c" * 32})
        is None
    )
    assert event_data_problem("sale_paid", {"sale": "b" * 32, "tender": "cheque"}) is None
    assert event_data_problem("sale_paid", {"sale": "b" * 32, "tender": "gold"}) is not None
