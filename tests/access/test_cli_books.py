"""The books from the command line: a plan given, renewed and a carnet refilled record their sales with receipt
numbers (paid by a tender, later, or no sale at all), and the month's journal is written in Paheko's format."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from access.config import load_config
from access.db import Database
from access.models import Sale
from halfday.cli import main
from tests.support import paheko


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "halfday.toml"
    assert main(["--config", str(path), "init", "--site-id", "le-local", "--name", "Le Local"]) == 0
    return path


def test_desk_sales_and_the_journal_from_the_cli(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--config", str(site), *args])
        out, err = capsys.readouterr()
        return code, out, err

    assert run("plan", "add", "Carnet 10", "--kind", "carnet", "--half-days", "10", "--price", "90")[0] == 0
    assert run("member", "add", "Alice", "Martin", "--email", "alice@example.org")[0] == 0
    code, out, _ = run("member", "subscribe", "alice@example.org", "Carnet 10", "--paid", "cheque")
    assert code == 0 and "Reçu " in out and "90,00 € (chèque)" in out
    code, out, _ = run("member", "topup", "alice@example.org", "5", "--paid", "later")
    assert code == 0 and "45,00 € (à régler)" in out
    code, out, _ = run("member", "topup", "alice@example.org", "5", "--paid", "none")
    assert code == 0 and "Reçu" not in out
    code, _, err = run("member", "topup", "alice@example.org", "5", "--amount", "beaucoup")
    assert code == 1 and "--amount" in err
    config = load_config(site)
    database = Database(config.database_url)
    try:
        with database.read() as s:
            sales = s.scalars(select(Sale).order_by(Sale.number)).all()
    finally:
        database.dispose()
    assert [(x.number, x.book_kind, x.amount_cents, x.tender, x.paid) for x in sales] == [
        (1, "subscription", 9000, "cheque", True),
        (2, "refill", 4500, None, False),
    ]
    month = dt.datetime.now(config.site.tz).strftime("%Y-%m")
    out_file = tmp_path / "journal.csv"
    code, out, _ = run("books", "journal", "--month", month, "--out", str(out_file))
    assert code == 0 and "3 écriture(s)" in out
    entries = paheko.check(out_file.read_text(encoding="utf-8"), config.books.accounts.all())
    assert [e.reference for e in entries].count(sales[0].receipt_no) == 2
    code, _, err = run("books", "journal", "--from", "2026-11-30", "--to", "2026-11-01")
    assert code == 1 and "précède" in err
