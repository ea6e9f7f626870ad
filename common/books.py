"""The books, as the appliance and the hub both keep them: the `[books]` config (receipt series, accounts, VAT), the
journal entries each sale makes, and the journal as a CSV that Paheko imports (docs/books.md describes it).

Each sale makes two entries, so that a counter sale paid days later, a voucher spent, or a credit note all balance
without knowing who bought (the buyer's name may be pseudonymised after its retention time):
- the sale, on its receipt's date: debit what the buyer owes (customers 411), or, when a prepaid voucher paid it,
  the customer advances (4191); credit the revenue (706, split with the collected VAT when the site charges VAT).
  A sale of vouchers credits the customer advances instead of revenue: the revenue comes when one is spent, once.
- its payment, on the day the money came in, by its tender: debit cash (530), bank (512, cards and transfers) or
  cheques to cash (5112); credit customers (411).
A credit note (a negative amount) makes the same entries with debit and credit swapped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from common.config import Table
from common.words import BookKind, Tender

# The French mention for a small business under the VAT threshold (franchise en base, art. 293 B of the CGI): what
# most small tiers-lieux are. An association whose only lucrative activity is accessory and small writes instead
# "TVA non applicable, art. 261-7-1° b du CGI" in `[books] vat_mention`; one that charges VAT sets `vat_rate`.
DEFAULT_VAT_MENTION = "TVA non applicable, art. 293 B du CGI"
SERIES_PATTERN = r"[A-Z0-9][A-Z0-9-]{0,23}"
ACCOUNT_PATTERN = r"[0-9]{2,10}[A-Z0-9]{0,6}"
# Digits of a receipt's number after its series: "CAH-A-000123".
NUMBER_DIGITS = 6


@dataclass(frozen=True)
class Accounts:
    """The chart of accounts' numbers the journal uses (French plan comptable des associations by default)."""

    revenue: str = "706"  # prestations de services
    advances: str = "4191"  # clients, avances et acomptes reçus (prepaid vouchers not yet spent)
    customers: str = "411"  # clients (what a buyer owes until paid)
    vat: str = "44571"  # TVA collectée
    cash: str = "530"  # caisse
    bank: str = "512"  # banque (cards and transfers)
    cheques: str = "5112"  # chèques à encaisser

    def tender(self, tender: str) -> str:
        """The account money paid by `tender` goes to."""
        if tender == Tender.CASH:
            return self.cash
        return self.cheques if tender == Tender.CHEQUE else self.bank

    def all(self) -> tuple[str, ...]:
        return (self.revenue, self.advances, self.customers, self.vat, self.cash, self.bank, self.cheques)


@dataclass(frozen=True)
class Books:
    """`[books]`: this device's receipt series, the accounts, and the VAT (a rate in basis points, or a mention)."""

    series: str
    accounts: Accounts = field(default_factory=Accounts)
    vat_rate_bp: int = 0  # 2000 = 20 %; 0: no VAT charged, `vat_mention` says why
    vat_mention: str = DEFAULT_VAT_MENTION

    def receipt_no(self, number: int) -> str:
        return f"{self.series}-{number:0{NUMBER_DIGITS}d}"

    def split(self, amount_cents: int) -> tuple[int, int]:
        """(excluding VAT, VAT) of an amount including VAT; the VAT is what rounding leaves, so both add up."""
        if not self.vat_rate_bp:
            return amount_cents, 0
        sign = -1 if amount_cents < 0 else 1
        base = (abs(amount_cents) * 10_000 * 2 + (10_000 + self.vat_rate_bp)) // (2 * (10_000 + self.vat_rate_bp))
        return sign * base, sign * (abs(amount_cents) - base)


def default_series(device_id: str) -> str:
    """A series from the device's id, when `[books] series` is not set: upper case, letters, digits and dashes."""
    cleaned = re.sub(r"[^A-Z0-9-]+", "-", device_id.upper()).strip("-")[:24]
    return cleaned or "CAISSE"


def read_books(table: Table, series_default: str) -> Books:
    """The `[books]` table; every key has a default, so a site without one still numbers its receipts."""
    accounts_table = table.table("accounts")
    defaults = Accounts()
    accounts = Accounts(
        **{
            name: accounts_table.text(name, getattr(defaults, name), pattern=ACCOUNT_PATTERN, max_len=16)
            for name in ("revenue", "advances", "customers", "vat", "cash", "bank", "cheques")
        }
    )
    accounts_table.done()
    rate = table.number("vat_rate", 0.0, low=0.0, high=30.0, unit="un pourcentage")
    books = Books(
        series=table.text("series", series_default, pattern=SERIES_PATTERN, max_len=24),
        accounts=accounts,
        vat_rate_bp=round(rate * 100),
        vat_mention=table.text("vat_mention", DEFAULT_VAT_MENTION, max_len=200),
    )
    table.done()
    return books


# ---------------------------------------------------------------------------------------------- journal entries


@dataclass(frozen=True)
class BookLine:
    """What the journal needs of one sale: never the buyer's name."""

    receipt_no: str
    day: dt.date  # the receipt's local date
    kind: str  # BookKind
    label: str  # what was bought, in words ("Pass journée", "Avoir sur CAH-A-000012")
    amount_cents: int  # negative for a credit note
    by_voucher: bool  # paid (or, for a credit note, refunded) against customer advances
    tender: str | None = None  # how the money came in or went back (None: not yet paid, or nothing to pay)
    paid_day: dt.date | None = None
    # The kind of the line a credit note cancels (a voucher sale's credit note takes back advances, not revenue).
    refunds_kind: str | None = None


@dataclass(frozen=True)
class Posting:
    account: str
    debit_cents: int
    credit_cents: int
    label: str


@dataclass(frozen=True)
class Entry:
    day: dt.date
    label: str
    reference: str  # the receipt's number
    postings: tuple[Posting, ...]
    notes: str = ""  # the site, in the network's journal

    @property
    def balanced(self) -> bool:
        return sum(p.debit_cents for p in self.postings) == sum(p.credit_cents for p in self.postings)


def _posting(account: str, cents: int, side: str, label: str) -> Posting:
    """A debit (`side` "D") or credit of `cents`; a negative amount goes to the other side, as accountants write."""
    if cents < 0:
        cents, side = -cents, "C" if side == "D" else "D"
    return Posting(account, cents if side == "D" else 0, cents if side == "C" else 0, label)


def entries_of(line: BookLine, books: Books) -> list[Entry]:
    """The journal entries of one sale: the sale itself, then its payment if money moved."""
    acc = books.accounts
    if line.amount_cents == 0:
        return []
    owed = acc.advances if line.by_voucher else acc.customers
    advance = line.kind == BookKind.VOUCHER or line.refunds_kind == BookKind.VOUCHER
    postings = [_posting(owed, line.amount_cents, "D", line.label)]
    if advance:
        postings.append(_posting(acc.advances, line.amount_cents, "C", line.label))
    else:
        base, vat = books.split(line.amount_cents)
        postings.append(_posting(acc.revenue, base, "C", line.label))
        if vat:
            postings.append(_posting(acc.vat, vat, "C", line.label))
    entries = [
        Entry(line.day, line.label, line.receipt_no, tuple(p for p in postings if p.debit_cents or p.credit_cents))
    ]
    if line.tender is not None and line.paid_day is not None:
        label = f"Règlement {line.receipt_no}" if line.amount_cents > 0 else f"Remboursement {line.receipt_no}"
        entries.append(
            Entry(
                line.paid_day,
                label,
                line.receipt_no,
                (
                    _posting(acc.tender(line.tender), line.amount_cents, "D", label),
                    _posting(owed, line.amount_cents, "C", label),
                ),
            )
        )
    return entries


def journal(lines: Iterable[BookLine], books: Books, first: dt.date, last: dt.date, notes: str = "") -> list[Entry]:
    """The entries dated from `first` to `last` (inclusive), by date then receipt: a payment falls in the month the
    money came in, even for a sale of the month before. `notes` goes with each entry (the network names the site)."""
    found = [
        replace(e, notes=notes) if notes else e
        for line in lines
        for e in entries_of(line, books)
        if first <= e.day <= last
    ]
    return sorted(found, key=lambda e: (e.day, e.notes, e.reference, e.label))


# ---------------------------------------------------------------------------------------------- Paheko's CSV

# Paheko's "Groupé" import format (Comptabilité > Import > Format groupé): the entry's columns on its first line
# only, each following line of the entry with them empty; the line's columns on every line. Amounts with a decimal
# comma and no thousands separator; dates day/month/year. No "Numéro d'écriture": Paheko would look for an
# existing entry of that number to replace, and these entries are new.
PAHEKO_COLUMNS = (
    "Libellé",
    "Date",
    "Numéro pièce comptable",
    "Remarques",
    "Numéro compte",
    "Débit",
    "Crédit",
    "Référence ligne",
    "Libellé ligne",
)
ENTRY_COLUMNS = ("Libellé", "Date", "Numéro pièce comptable", "Remarques")


def money(cents: int) -> str:
    """12,50 (Paheko's amounts: a decimal comma, no thousands separator); 0 as "0"."""
    if cents == 0:
        return "0"
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


def paheko_csv(entries: Iterable[Entry]) -> str:
    """The journal in Paheko's grouped CSV format, UTF-8 text with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PAHEKO_COLUMNS)
    for entry in entries:
        if not entry.balanced:
            raise ValueError(f"écriture déséquilibrée : {entry.reference}")
        for index, p in enumerate(entry.postings):
            head = (
                (entry.label, entry.day.strftime("%d/%m/%Y"), entry.reference, entry.notes) if index == 0 else ("",) * 4
            )
            debit = money(p.debit_cents) if p.debit_cents else ""
            credit = money(p.credit_cents) if p.credit_cents else ""
            writer.writerow((*head, p.account, debit, credit, entry.reference, p.label))
    return out.getvalue()
