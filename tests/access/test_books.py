"""The appliance's books on SQLite: receipt numbers without gap under concurrent sales, a journal that balances and
that Paheko's import rules accept, credit notes that are new lines, and the receipt's PDF read back."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import subprocess
import zoneinfo
from pathlib import Path

import pytest
from sqlalchemy import select

from access import books
from access.config import Config
from access.db import Database
from access.models import Event, Sale
from access.store import Stamp
from common.books import Books, money, paheko_csv, read_books
from common.config import Association, ConfigError, Table
from common.receipts import receipt_pdf
from common.words import BookKind
from tests.support import paheko

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
BOOKS = Books("CAH-A")
NOON = dt.datetime(2026, 11, 3, 11, 0, tzinfo=dt.UTC)


def stamp(at: dt.datetime = NOON) -> Stamp:
    return Stamp(at, 1, "boot", True)


def sell(
    db: Database,
    amount: int = 1200,
    *,
    provider: str = "counter",
    paid: bool = False,
    tender: str | None = None,
    kind: BookKind = BookKind.PASS,
    at: dt.datetime = NOON,
) -> str:
    with db.write() as s:
        sale = books.record(
            s,
            BOOKS,
            stamp(at),
            kind=kind,
            plan_kind="pass_day",
            amount_cents=amount,
            label="Pass journée",
            provider=provider,
            paid=paid,
            tender=tender,
            buyer_name="Léa Roux",
        )
        books.announce(s, "door-1", sale, stamp(at))
        return sale.id


def _sell_many(url: str, count: int, series: str) -> None:
    # A long busy timeout: on a loaded test machine a writer may wait its turn for seconds; what is checked is the
    # numbering, not the speed.
    db = Database(url, busy_timeout_ms=60_000)
    try:
        for _ in range(count):
            with db.write() as s:
                books.record(
                    s,
                    Books(series),
                    stamp(),
                    kind=BookKind.PASS,
                    plan_kind="pass_halfday",
                    amount_cents=800,
                    label="Pass demi-journée",
                    provider="voucher",
                    paid=True,
                )
    finally:
        db.dispose()


def test_concurrent_sellers_on_one_ledger_number_every_series_without_gap(db: Database, config: Config) -> None:
    # Four processes at once: two selling in the series of one door, two in the other's (each write transaction
    # takes SQLite's write lock at BEGIN IMMEDIATE, where the counter is raised).
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_sell_many, args=(config.database_url, 15, series))
        for series in ("CAH-A", "CAH-A", "CAH-B", "CAH-B")
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(180)
        assert w.exitcode == 0
    with db.read() as s:
        for series in ("CAH-A", "CAH-B"):
            numbers = sorted(n or 0 for n in s.scalars(select(Sale.number).where(Sale.series == series)))
            assert numbers == list(range(1, 31))


def test_a_sale_rolled_back_gives_its_number_back(db: Database) -> None:
    sell(db)
    with pytest.raises(RuntimeError), db.write() as s:
        books.record(
            s,
            BOOKS,
            stamp(),
            kind=BookKind.PASS,
            plan_kind="pass_day",
            amount_cents=1,
            label="x",
            provider="counter",
            paid=False,
        )
        raise RuntimeError("the pass could not be made")
    sell(db)
    with db.read() as s:
        assert sorted(n or 0 for n in s.scalars(select(Sale.number))) == [1, 2]


def test_a_counter_sale_paid_at_the_desk_must_say_its_tender(db: Database) -> None:
    with pytest.raises(books.BooksRefused) as refused, db.write() as s:
        books.record(
            s,
            BOOKS,
            stamp(),
            kind=BookKind.SUBSCRIPTION,
            plan_kind="carnet",
            amount_cents=9000,
            label="Formule",
            provider="counter",
            paid=True,
        )
    assert refused.value.reason == "tender_missing"
    with db.read() as s:
        assert s.scalar(select(Sale.id)) is None


def test_a_credit_note_is_a_new_line_and_the_journal_balances(db: Database) -> None:
    unpaid = sell(db, 800)
    cash = sell(db, 1400)
    voucher = sell(db, 1400, provider="voucher", paid=True)
    sell(db, 5000, kind=BookKind.VOUCHER, paid=True, tender="cheque")
    later = NOON + dt.timedelta(hours=2)
    with db.write() as s:
        books.mark_paid(s, cash, "cash", "door-1", stamp(later))
    with db.write() as s:
        before = {c: getattr(s.get(Sale, cash), c) for c in ("amount_cents", "paid", "tender", "number", "label")}
        with pytest.raises(books.BooksRefused) as refused:
            books.credit_note(s, BOOKS, cash, None, "door-1", stamp(later))
        assert refused.value.reason == "tender_missing"
        note = books.credit_note(s, BOOKS, cash, "cash", "door-1", stamp(later))
        books.credit_note(s, BOOKS, unpaid, None, "door-1", stamp(later))
        books.credit_note(s, BOOKS, voucher, None, "door-1", stamp(later))
        assert note.amount_cents == -1400 and note.refund_of == cash and note.receipt_no == "CAH-A-000005"
        with pytest.raises(books.BooksRefused):
            books.credit_note(s, BOOKS, cash, "cash", "door-1", stamp(later))
        with pytest.raises(books.BooksRefused):
            books.mark_paid(s, unpaid, "cash", "door-1", stamp(later))
    with db.read() as s:
        after = {c: getattr(s.get(Sale, cash), c) for c in ("amount_cents", "paid", "tender", "number", "label")}
        assert after == before
        entries = books.period_entries(s, BOOKS, PARIS, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
        events = s.scalars(select(Event).where(Event.kind == "sale").order_by(Event.seq)).all()
    assert all(e.balanced for e in entries)
    postings = [p for e in entries for p in e.postings]
    assert sum(p.debit_cents for p in postings) == sum(p.credit_cents for p in postings)

    # Revenue: the cash pass and the voucher pass, each cancelled; the unpaid pass, cancelled: nothing left. The
    # vouchers sold are an advance (4191), never revenue; the voucher pass's refund gives its value back there.
    def balance(account: str) -> int:
        return sum(p.credit_cents - p.debit_cents for p in postings if p.account == account)

    assert balance("706") == 0
    assert balance("4191") == 5000
    assert balance("411") == 0
    assert balance("530") == 0 and balance("5112") == -5000
    assert [e.data["book_kind"] for e in events][-3:] == ["refund"] * 3
    assert events[-3].data["refund_of"] == cash
    assert "name" not in events[0].data
    imported = paheko.check(paheko_csv(entries), BOOKS.accounts.all())
    assert len(imported) == len(entries)
    assert {i.reference for i in imported} >= {"CAH-A-000001", "CAH-A-000005"}


def test_the_journal_splits_vat_when_the_site_charges_it(db: Database) -> None:
    sell(db, 1000, provider="voucher", paid=True)
    charged = Books("CAH-A", vat_rate_bp=2000)
    with db.read() as s:
        entries = books.period_entries(s, charged, PARIS, dt.date(2026, 11, 3), dt.date(2026, 11, 3))
    (entry,) = entries
    assert [(p.account, p.debit_cents, p.credit_cents) for p in entry.postings] == [
        ("4191", 1000, 0),
        ("706", 0, 833),
        ("44571", 0, 167),
    ]
    paheko.check(paheko_csv(entries), charged.accounts.all())


def test_a_payment_falls_in_the_month_the_money_came_in(db: Database) -> None:
    sale = sell(db, 800, at=dt.datetime(2026, 10, 31, 15, 0, tzinfo=dt.UTC))
    with db.write() as s:
        books.mark_paid(s, sale, "transfer", "door-1", stamp(NOON))
    with db.read() as s:
        october = books.period_entries(s, BOOKS, PARIS, dt.date(2026, 10, 1), dt.date(2026, 10, 31))
        november = books.period_entries(s, BOOKS, PARIS, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert [p.account for e in october for p in e.postings] == ["411", "706"]
    assert [p.account for e in november for p in e.postings] == ["512", "411"]


def test_paheko_refuses_what_it_would_refuse() -> None:
    good = 'Libellé,Date,Numéro compte,Débit,Crédit\r\nPass,03/11/2026,411,"8,00",\r\n,,706,,"8,00"\r\n'
    paheko.check(good, ("411", "706"))
    for bad in (
        good.replace("03/11/2026", "2026-11-03"),
        good.replace('"8,00",\r\n,,706', '"8.00",\r\n,,706'),
        good.replace(',,706,,"8,00"', ',,706,,"7,00"'),
        good.replace("706", "999"),
        ',,411,"8,00",\r\n'.join(good.split("\r\n", 1)),
    ):
        with pytest.raises(AssertionError):
            paheko.check(bad, ("411", "706"))


def test_the_receipt_pdf_reads_back_with_number_amount_and_vat_mention(db: Database, tmp_path: Path) -> None:
    sale_id = sell(db, 1250, provider="voucher", paid=True)
    with db.read() as s:
        sale = s.get(Sale, sale_id)
        assert sale is not None
        receipt = books.receipt_of(s, sale, PARIS)
    pdf = tmp_path / "recu.pdf"
    pdf.write_bytes(receipt_pdf(receipt, BOOKS, Association("La Fabrique", ("2 rue Haute, 46000 Cahors",))))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    for expected in (
        "La Fabrique",
        "Reçu n° CAH-A-000001",
        "12,50 €",
        "TVA non applicable, art. 293 B du CGI",
        "bon prépayé",
        "Pass journée",
    ):
        assert expected in text
    assert "Léa" not in text


def test_books_config_names_the_bad_key() -> None:
    books_ = read_books(Table({"series": "CAH-B", "vat_rate": 5.5, "accounts": {"cash": "531"}}, "books"), "X")
    assert (books_.series, books_.vat_rate_bp, books_.accounts.cash, books_.accounts.bank) == (
        "CAH-B",
        550,
        "531",
        "512",
    )
    assert books_.receipt_no(123) == "CAH-B-000123"
    assert money(-1250) == "-12,50" and money(5) == "0,05"
    with pytest.raises(ConfigError, match=r"books\.series"):
        read_books(Table({"series": "cah a"}, "books"), "X")
    with pytest.raises(ConfigError, match=r"books\.accounts\.bank"):
        read_books(Table({"accounts": {"bank": "banque"}}, "books"), "X")
    with pytest.raises(ConfigError, match=r"books\.vat_rate"):
        read_books(Table({"vat_rate": 60}, "books"), "X")
