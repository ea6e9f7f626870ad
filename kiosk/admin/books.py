"""Sales to reconcile, the event log with filters, and the month's usage as CSV (access/reports.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import String, cast, select
from werkzeug.wrappers.response import Response as BaseResponse

from access import bookings, books, reports
from access.admin import AdminError
from access.models import Booking, Event, Pass, Sale
from common.books import paheko_csv
from common.i18n import _
from common.tables import parse_month
from common.web.app import csv_download
from common.words import BookKind, EventKind, PaymentMethod, Tender
from kiosk import receipts
from kiosk.admin import bp, desk
from kiosk.context import current_kiosk
from kiosk.sales import SaleRefused, mark_paid, stop_pass
from kiosk.words import kind_label

# One page of the event log: enough for a day at a busy door, small enough to render at once on a Pi.
EVENTS_PER_PAGE = 200
EVENT_KINDS = tuple(EventKind)
# A journal covers at most a year: an accounting year, whatever its first month.
MAX_JOURNAL_DAYS = 366


# What a voucher buys, in the books' words (kiosk/vouchers.py's kinds).
VOUCHER_WORDS = {
    "pass_halfday": "pass demi-journée",
    "pass_day": "pass journée",
    "pass_week": "pass semaine",
    "pass_month": "pass mois",
    "room_halfday": "demi-journée de salle",
}


def tender_choices() -> tuple[tuple[str, str], ...]:
    return (
        (Tender.CASH, _("espèces")),
        (Tender.CARD, _("carte")),
        (Tender.CHEQUE, _("chèque")),
        (Tender.TRANSFER, _("virement")),
    )


def books_refusal(reason: str) -> str:
    words = {
        "sale_unknown": _("Vente inconnue."),
        "sale_already_paid": _("Cette vente est déjà réglée."),
        "sale_refunded": _("Cette vente est annulée par un avoir."),
        "sale_already_refunded": _("Cette vente a déjà son avoir."),
        "sale_is_refund": _("Un avoir ne s'annule pas : faites une nouvelle vente."),
        "tender_missing": _("Dites comment l'argent est rendu ou reçu."),
        "tender_unknown": _("Moyen de paiement inconnu."),
        "pass_already_stopped": _("Ce pass est déjà arrêté."),
    }
    return words.get(reason, _("Vente inconnue."))


@bp.get("/sales")
def sales() -> str:
    show = request.args.get("show", "unpaid")
    query = select(Sale, Pass).outerjoin(Pass, Pass.sale_id == Sale.id).order_by(Sale.created_at.desc()).limit(500)
    if show == "unpaid":
        query = query.where(books.unpaid())
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        rows = s.execute(query).all()
        ids = [sale.id for sale, _pass in rows]
        refunded = dict(s.execute(select(Sale.refund_of, Sale.number).where(Sale.refund_of.in_(ids))).all())
    tz = kiosk.config.site.tz
    today = kiosk.now().astimezone(tz).date()
    return render_template(
        "admin/sales.html",
        rows=rows,
        show=show,
        tz=tz,
        kind_label=kind_label,
        today=today,
        refunded=refunded,
        tenders=tender_choices(),
        tender_label=dict(tender_choices()),
        voucher_kinds=(
            ("pass_halfday", kind_label("pass_halfday")),
            ("pass_day", kind_label("pass_day")),
            ("pass_week", kind_label("pass_week")),
            ("pass_month", kind_label("pass_month")),
            ("room_halfday", _("demi-journée de salle")),
        ),
    )


@bp.post("/sales/<sale_id>/paid")
def sale_paid(sale_id: str) -> BaseResponse:
    """The money of a counter sale is in, by the tender the manager chose: mark it paid, record "sale_paid"."""
    kiosk = current_kiosk()
    try:
        with kiosk.db.write() as s:
            sale = mark_paid(s, sale_id, kiosk.config.site.device, kiosk.stamp(), request.form.get("tender", ""))
            name = sale.buyer_name
    except SaleRefused as exc:
        flash(books_refusal(exc.reason), "error")
    else:
        flash(_("Vente de %(name)s marquée réglée.", name=name), "ok")
    return redirect(url_for("admin.sales"))


@bp.post("/sales/vouchers")
def sell_vouchers() -> BaseResponse:
    """Prepaid vouchers handed over for money: their sale is the cash in, an advance until each is spent (the
    spending sale turns it into revenue), so the books never count a voucher twice."""
    kiosk = current_kiosk()
    f = request.form
    try:
        payment = desk.desk_payment(f)
        count = int(f.get("count", ""))
        if payment is None or payment.tender is None or not payment.amount_cents or not 1 <= count <= 1000:
            raise AdminError(_("Indiquez le nombre de bons (1 à 1 000), le montant reçu et comment il a été payé."))
        words = VOUCHER_WORDS.get(f.get("kind", ""))
        if words is None:
            raise AdminError(_("Choisissez ce que les bons achètent."))
        stamp = kiosk.stamp()
        with kiosk.db.write() as s:
            sale = books.record(
                s,
                kiosk.config.books,
                stamp,
                kind=BookKind.VOUCHER,
                plan_kind=f.get("kind", ""),
                amount_cents=payment.amount_cents,
                label=f"{count} bon(s) prépayé(s) : {words}",
                provider=PaymentMethod.COUNTER,
                paid=True,
                tender=payment.tender,
                buyer_name=" ".join(f.get("name", "").split())[:160],
            )
            books.announce(s, kiosk.config.site.device, sale, stamp)
            number = sale.receipt_no
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.sales", show="all"))
    flash(_("Vente de bons enregistrée : reçu %(number)s.", number=number), "ok")
    return redirect(url_for("admin.sales", show="all"))


@bp.get("/sales/<sale_id>/refund")
def refund_form(sale_id: str, error: str | None = None, status: int = 200) -> tuple[str, int]:
    """What a credit note would cancel, and how the money goes back: the manager confirms."""
    kiosk = current_kiosk()
    with kiosk.db.read() as s:
        sale = s.get(Sale, sale_id)
        if sale is None:
            abort(404)
        note = books.refund_of(s, sale.id)
    return (
        render_template(
            "admin/refund.html",
            sale=sale,
            note=note,
            tz=kiosk.config.site.tz,
            tenders=tender_choices(),
            money_back=sale.paid and sale.provider != PaymentMethod.VOUCHER,
            error=error,
        ),
        status,
    )


@bp.post("/sales/<sale_id>/refund")
def refund(sale_id: str) -> BaseResponse | tuple[str, int]:
    """Cancel a sale by a credit note (a new line, its own receipt number); a pass refunded stops, a booking
    refunded is cancelled, in the same transaction."""
    kiosk = current_kiosk()
    if request.form.get("confirm") != "yes":
        return refund_form(sale_id, _("Cochez la case pour confirmer l'avoir."), 422)
    tender = request.form.get("tender") or None
    device, stamp = kiosk.config.site.device, kiosk.stamp()
    try:
        with kiosk.db.write() as s:
            note = books.credit_note(s, kiosk.config.books, sale_id, tender, device, stamp)
            pass_ = s.scalar(select(Pass).where(Pass.sale_id == sale_id, Pass.stopped_at.is_(None)))
            if pass_ is not None:
                stop_pass(s, sale_id, device, stamp)
            live = s.scalars(select(Booking).where(Booking.sale_id == sale_id, Booking.cancelled_at.is_(None))).all()
            if live:
                today = stamp.at.astimezone(kiosk.config.site.tz).date()
                rule = kiosk.config.rooms.cancel
                bookings.cancel(
                    s, live[0].group_id, device_id=device, stamp=stamp, today=today, by_manager=True, rule=rule
                )
            number = note.receipt_no
    except (books.BooksRefused, SaleRefused) as exc:
        return refund_form(sale_id, books_refusal(exc.reason), 422)
    flash(_("Avoir %(number)s enregistré.", number=number), "ok")
    return redirect(url_for("admin.sales", show="all"))


@bp.get("/sales/<sale_id>/receipt")
def receipt(sale_id: str) -> str:
    """The printable receipt of any sale of the site (the manager's copy)."""
    pdf_url = url_for("admin.receipt_pdf", sale_id=sale_id)
    return receipts.page(sale_id, pdf_url, url_for("admin.sales", show="all"))


@bp.get("/sales/<sale_id>/receipt.pdf")
def receipt_pdf(sale_id: str) -> Response:
    return receipts.pdf(sale_id)


@bp.post("/sales/<sale_id>/stop")
def stop_sale_pass(sale_id: str) -> BaseResponse:
    """Stop the pass of a sale (a wrong pass sold, one never paid): the door no longer opens for it."""
    kiosk = current_kiosk()
    try:
        with kiosk.db.write() as s:
            pass_ = stop_pass(s, sale_id, kiosk.config.site.device, kiosk.stamp())
            name = pass_.holder_name
    except SaleRefused as exc:
        flash(_("Ce pass est déjà arrêté.") if exc.reason == "pass_already_stopped" else _("Vente inconnue."), "error")
    else:
        flash(_("Pass de %(name)s arrêté : la porte ne s'ouvre plus pour lui.", name=name), "ok")
    return redirect(url_for("admin.sales", show=request.args.get("show", "all")))


def _local_day(raw: str | None) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


@bp.get("/events")
def events() -> str:
    kiosk = current_kiosk()
    tz = kiosk.config.site.tz
    kind = request.args.get("kind", "")
    day = _local_day(request.args.get("day"))
    text = request.args.get("q", "").strip()
    query = select(Event).order_by(Event.at.desc(), Event.seq.desc()).limit(EVENTS_PER_PAGE)
    if kind in EVENT_KINDS:
        query = query.where(Event.kind == kind)
    if day is not None:
        start = dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.UTC)
        query = query.where(Event.at >= start, Event.at < start + dt.timedelta(days=1))
    if text:
        # The data is JSON text in SQLite: a substring search finds a UID, a first name, a sale id.
        query = query.where(cast(Event.data, String).contains(text, autoescape=True))
    with kiosk.db.read() as s:
        rows = s.scalars(query).all()
    return render_template(
        "admin/events.html",
        events=rows,
        kinds=EVENT_KINDS,
        kind=kind,
        day=day.isoformat() if day else "",
        q=text,
        tz=tz,
        limit=EVENTS_PER_PAGE,
    )


@bp.get("/exports")
def exports() -> str:
    today = current_kiosk().now().astimezone(current_kiosk().config.site.tz).date()
    month = request.args.get("month") or today.strftime("%Y-%m")
    try:
        parse_month(month)
        error = None
    except ValueError as exc:
        error, month = str(exc), today.strftime("%Y-%m")
    return render_template("admin/exports.html", month=month, error=error)


@bp.get("/exports/journal.csv")
def export_journal() -> Response | tuple[str, int]:
    """The books of a month (`?month=`) or of a range (`?from=&to=`), in Paheko's grouped CSV (docs/books.md)."""
    kiosk = current_kiosk()
    try:
        first, last = journal_range(request.args)
    except ValueError as exc:
        today = kiosk.now().astimezone(kiosk.config.site.tz).date()
        return render_template("admin/exports.html", month=today.strftime("%Y-%m"), error=str(exc)), 422
    with kiosk.db.read() as s:
        entries = books.period_entries(s, kiosk.config.books, kiosk.config.site.tz, first, last)
    return csv_download(f"journal-{first.isoformat()}-{last.isoformat()}.csv", paheko_csv(entries))


def journal_range(args: Mapping[str, str]) -> tuple[dt.date, dt.date]:
    """The dates of `from` and `to`, or the whole of `month`; ValueError in words when they are not."""
    if args.get("from") or args.get("to"):
        first, last = _local_day(args.get("from")), _local_day(args.get("to"))
        if first is None or last is None:
            raise ValueError(_("Dates invalides : choisissez le premier et le dernier jour."))
        if last < first or (last - first).days > MAX_JOURNAL_DAYS:
            raise ValueError(_("La période va du premier jour au dernier, un an au plus."))
        return first, last
    year, month = parse_month(args.get("month", ""))
    first = dt.date(year, month, 1)
    return first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


@bp.get("/exports/<any(usage, summary):what>/<month>.csv")
def export_csv(what: str, month: str) -> Response:
    if what not in ("usage", "summary"):
        abort(404)
    try:
        with current_kiosk().db.read() as s:
            rows = reports.month_usage(s, month)
    except AdminError:
        abort(404)
    body = reports.usage_csv(rows) if what == "usage" else reports.summary_csv(rows)
    filename = f"usage-{month}.csv" if what == "usage" else f"usage-{month}-summary.csv"
    return csv_download(filename, body)
