"""A booking sold at the desk is a line of the books; cancelled before it is paid, its sale is cancelled by a credit
note in the same transaction (nothing waits on the sales page for money nobody owes); once paid, the manager
refunds it from the sales page."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import select

from access import resources
from access.models import Booking, Sale
from access.store import Stamp
from common.words import PlanKind
from kiosk.sales import Payment, WalkIn, counter_at, record_sale
from tests.kiosk.test_attacks import form_token, sign_in
from tests.support import paheko
from tests.support.site import Site


def stamp_now() -> Stamp:
    return Stamp(dt.datetime.now(dt.UTC), 1, "boot", True)


def book(client: FlaskClient, room_id: str, day: dt.date) -> None:
    token = form_token(client, f"/admin/rooms/{room_id}")
    form = {"csrf_token": token, "name": "Inès", "first": day.isoformat(), "slots": "both", "paid_by": "counter"}
    assert client.post(f"/admin/rooms/{room_id}/book", data=form).status_code == 302


def test_a_booking_cancelled_before_paid_cancels_its_sale(site: Site, client: FlaskClient) -> None:
    with site.db.write() as s:
        room_id = resources.add_resource(s, resources.ResourceSpec("Salle Lot", "meeting_room", 8, 2500, 4500)).id
    sign_in(client, site)
    day = dt.datetime.now(site.config.site.tz).date() + dt.timedelta(days=2)
    book(client, room_id, day)
    book(client, room_id, day + dt.timedelta(days=1))
    with site.db.read() as s:
        first, second = s.scalars(select(Sale).order_by(Sale.number)).all()
        groups = {b.sale_id: b.group_id for b in s.scalars(select(Booking))}
    assert (first.book_kind, first.amount_cents, first.label) == (
        "booking",
        4500,
        "Réservation « Salle Lot » (2 demi-journées)",
    )
    # The second is paid at the desk, then both bookings are cancelled from the room's page.
    sales = form_token(client, "/admin/sales")
    assert (
        client.post(f"/admin/sales/{second.id}/paid", data={"csrf_token": sales, "tender": "cash"}).status_code == 302
    )
    for sale in (first, second):
        token = form_token(client, f"/admin/rooms/{room_id}")
        cancel = {"csrf_token": token, "group": groups[sale.id]}
        assert client.post(f"/admin/rooms/{room_id}/cancel", data=cancel).status_code == 302
    with site.db.read() as s:
        notes = s.scalars(select(Sale).where(Sale.refund_of.is_not(None))).all()
    assert [(n.refund_of, n.amount_cents, n.tender) for n in notes] == [(first.id, -4500, None)]
    unpaid = client.get("/admin/sales").text
    assert "Aucune vente à régler." in unpaid  # the first's credit note settles it; the second was paid


def test_vouchers_sold_are_an_advance_until_spent(site: Site, client: FlaskClient) -> None:
    sign_in(client, site)
    token = form_token(client, "/admin/sales")
    refused = {"csrf_token": token, "count": "10", "kind": "pass_day", "amount": "", "tender": "cash"}
    client.post("/admin/sales/vouchers", data=refused)
    form = {**refused, "amount": "120", "tender": "later"}
    client.post("/admin/sales/vouchers", data=form)
    with site.db.read() as s:
        assert s.scalars(select(Sale)).all() == []  # no amount, or not paid: nothing recorded
    client.post("/admin/sales/vouchers", data={**form, "tender": "cash"})
    offer = counter_at(dt.datetime.now(dt.UTC), site.config.site.rules, {PlanKind.PASS_DAY: 1200}).offers[0]
    with site.db.write() as s:
        record_sale(s, "door-1", offer, WalkIn("Zoé", "z@example.org"), Payment("voucher", True, "2ABCD"), stamp_now())
    today = dt.datetime.now(site.config.site.tz).strftime("%Y-%m")
    journal = client.get(f"/admin/exports/journal.csv?month={today}").get_data(as_text=True)
    entries = paheko.check(journal, site.config.books.accounts.all())
    advances = sum(c - d for e in entries for account, d, c in e.lines if account == "4191")
    revenue = sum(c - d for e in entries for account, d, c in e.lines if account == "706")
    assert (advances, revenue) == (12000 - 1200, 1200)
    assert "10 bon(s) prépayé(s) : pass journée" in client.get("/admin/sales?show=all").text
