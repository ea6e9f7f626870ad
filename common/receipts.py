"""A receipt, as the appliance's pages and the hub show it and as a PDF (common/pdf.py): the association's letterhead,
the receipt's number, date, what was bought, the amount (excluding VAT and the VAT when the site charges it), how it
was paid, and the VAT mention. Never the buyer's name: the receipt stays whole when personal data is erased."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from common.books import Books, money
from common.config import Association
from common.words import Tender

TENDER_WORDS = {
    Tender.CASH: "espèces",
    Tender.CARD: "carte bancaire",
    Tender.CHEQUE: "chèque",
    Tender.TRANSFER: "virement",
}


@dataclass(frozen=True)
class Receipt:
    number: str
    at: dt.datetime  # local time of the sale
    label: str
    amount_cents: int
    paid: bool
    by_voucher: bool
    tender: str | None
    paid_on: dt.date | None = None
    refunds: str | None = None  # a credit note: the number of the receipt it cancels

    @property
    def credit_note(self) -> bool:
        return self.amount_cents < 0


def payment_words(receipt: Receipt) -> str:
    """How it was paid, in French: "espèces, le 02/11/2026", "bon prépayé", "à régler"."""
    if receipt.by_voucher:
        return "bon prépayé"
    if receipt.tender is not None:
        day = f", le {receipt.paid_on.strftime('%d/%m/%Y')}" if receipt.paid_on else ""
        return TENDER_WORDS.get(Tender(receipt.tender), receipt.tender) + day
    if receipt.credit_note:
        return "annulation, rien à rendre"
    return "à régler à l'accueil" if not receipt.paid else "réglé"


def receipt_rows(receipt: Receipt, books: Books) -> list[tuple[str, str]]:
    """The receipt's facts, label then value, in French (the PDF's table; the page translates its own)."""
    rows = [
        ("Numéro", receipt.number),
        ("Date", receipt.at.strftime("%d/%m/%Y %H:%M")),
        ("Désignation", receipt.label),
    ]
    if receipt.refunds:
        rows.append(("Avoir sur le reçu", receipt.refunds))
    base, vat = books.split(receipt.amount_cents)
    if books.vat_rate_bp:
        rows.append(("Montant HT", f"{money(base)} €"))
        rows.append((f"TVA {books.vat_rate_bp / 100:g} %", f"{money(vat)} €"))
        rows.append(("Montant TTC", f"{money(receipt.amount_cents)} €"))
    else:
        rows.append(("Montant", f"{money(receipt.amount_cents)} €"))
    rows.append(("Paiement", payment_words(receipt)))
    return rows


def receipt_pdf(receipt: Receipt, books: Books, association: Association) -> bytes:
    title = f"Avoir n° {receipt.number}" if receipt.credit_note else f"Reçu n° {receipt.number}"
    # fpdf2 and fontTools weigh 23 MB: only a process that makes a PDF loads them, not every kiosk at rest.
    from common.pdf import Document

    doc = Document(title, association, created=receipt.at)
    doc.table(["", ""], receipt_rows(receipt, books), widths=[60, 120])
    if not books.vat_rate_bp:
        doc.paragraph(books.vat_mention)
    return doc.bytes()
