"""Receipts: the printable page and the PDF of a numbered sale (common/receipts.py), for the manager from the sales
page (kiosk/admin/books.py) and for the buyer through a link bound to their own sale.

The buyer's link is signed with the kiosk's key (salt of its own), names one sale, and dies after
`RECEIPT_LINK_S`: it is shown only on the pages of that sale (the new pass, the member's account after a purchase),
so a walk-in at the touchscreen can open their own receipt and no other (a sale's id alone opens nothing)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, url_for
from itsdangerous import BadData, URLSafeTimedSerializer

from access import books
from access.models import Sale
from common.i18n import _
from common.pdf_error import PdfError
from common.receipts import Receipt, receipt_pdf
from common.words import Tender
from kiosk.context import current_kiosk

bp = Blueprint("receipt", __name__, url_prefix="/receipt")

SALT = "halfday-receipt-v1"
# Long enough to read, print or save it at the touchscreen or on a phone; short enough that a link left on a screen
# or in a browser's history is dead by the next visitor.
RECEIPT_LINK_S = 15 * 60


def tender_words() -> dict[str, str]:
    return {
        Tender.CASH: _("espèces"),
        Tender.CARD: _("carte"),
        Tender.CHEQUE: _("chèque"),
        Tender.TRANSFER: _("virement"),
    }


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or b"", salt=SALT)


def receipt_link(sale: Sale) -> str | None:
    """The buyer's link to the receipt of `sale` (None for a sale without a number)."""
    if not sale.number:
        return None
    return url_for("receipt.show", token=_signer().dumps(sale.id))


def load(sale_id: str) -> tuple[Sale, Receipt]:
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        sale = s.get(Sale, sale_id)
        if sale is None or not sale.number:
            abort(404)
        return sale, books.receipt_of(s, sale, kiosk.config.site.tz)


def page(sale_id: str, pdf_url: str, back_url: str | None) -> str:
    kiosk = current_kiosk()
    _sale, receipt = load(sale_id)
    base, vat = kiosk.config.books.split(receipt.amount_cents)
    return render_template(
        "receipt.html",
        receipt=receipt,
        base=base,
        vat=vat,
        tenders=tender_words(),
        books=kiosk.config.books,
        association=kiosk.config.association,
        pdf_url=pdf_url,
        back_url=back_url,
    )


def pdf(sale_id: str) -> Response:
    kiosk = current_kiosk()
    _sale, receipt = load(sale_id)
    try:
        body = receipt_pdf(receipt, kiosk.config.books, kiosk.config.association)
    except PdfError as exc:
        return Response(str(exc), status=503, mimetype="text/plain")
    name = f"recu-{receipt.number}.pdf"
    return Response(body, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


def _sale_of(token: str) -> str:
    try:
        sale_id = _signer().loads(token, max_age=RECEIPT_LINK_S)
    except BadData:
        abort(404)
    if not isinstance(sale_id, str):
        abort(404)
    return sale_id


@bp.get("/<token>")
def show(token: str) -> str:
    return page(_sale_of(token), url_for("receipt.show_pdf", token=token), None)


@bp.get("/<token>.pdf")
def show_pdf(token: str) -> Response:
    return pdf(_sale_of(token))
