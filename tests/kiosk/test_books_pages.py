"""The books in Chromium: the manager marks a sale paid by its tender, cancels one by a credit note after confirming,
opens the receipts and downloads the month's journal (which Paheko's rules accept); a plan sold at the desk; a
walk-in opens their own receipt from their pass, and no other."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.sync_api import Page, expect
from sqlalchemy import select

from access.models import Event, Member, Pass, Plan, Sale
from kiosk.receipts import RECEIPT_LINK_S, SALT
from kiosk.serve import KioskServer
from tests.kiosk.test_admin import counter_sale, log_in
from tests.kiosk.test_touchscreen import start_purchase
from tests.support import paheko
from tests.support.kiosk import WALL
from tests.support.site import Site


def test_paid_by_card_then_a_credit_note_after_confirming(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer
) -> None:
    paid = counter_sale(site, kiosk, "Yann")
    cancelled = counter_sale(site, kiosk, "Inès")
    page = open_page(WALL)
    log_in(page, kiosk, site, "/admin/sales")
    row = page.locator(f'tr[data-sale="{paid}"]')
    row.locator('select[name="tender"]').select_option("card")
    row.get_by_role("button", name="Marquer réglée").click()
    expect(page.locator(".alert-ok")).to_have_text("Vente de Yann marquée réglée.")

    page.goto(kiosk.url + "/admin/sales?show=all")
    page.locator(f'tr[data-sale="{paid}"] a.refund').click()
    expect(page.locator("h1")).to_have_text("Avoir sur la vente DOOR-1-000001")
    # Without the confirmation, nothing is written (the browser asks; the server refuses too).
    refused = page.request.post(
        page.url, form={"csrf_token": page.locator('#refund input[name="csrf_token"]').input_value(), "tender": "cash"}
    )
    assert refused.status == 422
    page.locator('#refund select[name="tender"]').select_option("cash")
    page.locator('#refund input[name="confirm"]').check()
    page.locator("#refund button").click()
    expect(page.locator(".alert-ok")).to_have_text("Avoir DOOR-1-000003 enregistré.")
    expect(page.locator(f'tr[data-sale="{paid}"]')).to_contain_text("annulée par un avoir")
    page.goto(kiosk.url + f"/admin/sales/{cancelled}/refund")
    page.locator('#refund input[name="confirm"]').check()
    page.locator("#refund button").click()
    expect(page.locator(".alert-ok")).to_have_text("Avoir DOOR-1-000004 enregistré.")
    page.goto(kiosk.url + "/admin/sales")
    expect(page.locator("#sales")).to_contain_text("Aucune vente à régler.")  # the cancelled sale waits no more
    with site.db.read() as s:
        original = s.get(Sale, paid)
        notes = s.scalars(select(Sale).where(Sale.refund_of.is_not(None)).order_by(Sale.number)).all()
        stopped = s.scalars(select(Pass.stopped_at).where(Pass.sale_id.in_([paid, cancelled]))).all()
    assert original is not None and (original.amount_cents, original.paid, original.tender) == (800, True, "card")
    assert [(n.amount_cents, n.tender, n.paid) for n in notes] == [(-800, "cash", True), (-800, None, True)]
    assert all(at is not None for at in stopped)  # a refunded pass no longer opens the door

    # The receipt of the credit note, as a page and as a PDF.
    page.goto(kiosk.url + "/admin/sales?show=all")
    page.locator("a.receipt", has_text="DOOR-1-000003").click()
    expect(page.locator("h1")).to_have_text("Avoir n° DOOR-1-000003")
    expect(page.locator("#receipt")).to_contain_text("DOOR-1-000001")
    expect(page.locator("#vat-mention")).to_have_text("TVA non applicable, art. 293 B du CGI")
    pdf = page.request.get(kiosk.url + page.locator("#receipt-pdf").get_attribute("href"))  # type: ignore[operator]
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")

    # The month's journal: balanced, in Paheko's format.
    page.goto(kiosk.url + "/admin/exports")
    journal = page.request.get(kiosk.url + page.locator("#journal-csv").get_attribute("href"))  # type: ignore[operator]
    assert journal.ok and "journal-" in journal.headers["content-disposition"]
    entries = paheko.check(journal.text(), site.config.books.accounts.all())
    assert {e.reference for e in entries} == {f"DOOR-1-00000{n}" for n in range(1, 5)}


def test_a_plan_sold_at_the_desk_is_in_the_books(page: Page, site: Site, kiosk: KioskServer) -> None:
    with site.db.read() as s:
        bruno = s.scalars(select(Member.id).where(Member.first_name == "Bruno")).one()
    log_in(page, kiosk, site, f"/admin/members/{bruno}")
    form = page.locator("#subscribe")
    form.locator('select[name="plan"]').select_option("Carnet 10")
    form.locator('select[name="tender"]').select_option("cheque")
    form.locator('input[name="amount"]').fill("abc")
    form.locator("button").click()
    expect(page.locator("#subscribe-error")).to_contain_text("écrivez-le en euros")
    form.locator('select[name="tender"]').select_option("cheque")
    form.locator('input[name="amount"]').fill("85,50")
    form.locator("button").click()
    expect(page.locator(".alert-ok")).to_have_text("Formule donnée.")
    with site.db.read() as s:
        sale = s.scalars(select(Sale)).one()
        event = s.scalars(select(Event).where(Event.kind == "sale")).one()
    assert (sale.book_kind, sale.amount_cents, sale.tender, sale.paid, sale.member_id) == (
        "subscription",
        8550,
        "cheque",
        True,
        bruno,
    )
    assert sale.receipt_no == "DOOR-1-000001" and event.data["member"] == bruno and "name" not in event.data


def test_a_member_added_with_a_plan_is_in_the_books(page: Page, site: Site, kiosk: KioskServer) -> None:
    log_in(page, kiosk, site, "/admin/members")
    form = page.locator("#add-member")
    form.locator('input[name="first_name"]').fill("Inès")
    form.locator('select[name="plan"]').select_option("Carnet 10")
    form.locator('select[name="tender"]').select_option("card")
    form.locator('input[name="amount"]').fill("90")
    form.locator("button").click()
    expect(page.locator(".alert-ok")).to_contain_text("Membre ajouté")
    # With no tender chosen, the plan's sale waits on the sales page, unpaid, at the plan's price.
    page.goto(kiosk.url + "/admin/members")
    form.locator('input[name="first_name"]').fill("Jules")
    form.locator('select[name="plan"]').select_option("Carnet 10")
    form.locator("button").click()
    expect(page.locator(".alert-ok")).to_contain_text("Membre ajouté")
    with site.db.read() as s:
        ines = s.scalars(select(Member.id).where(Member.first_name == "Inès")).one()
        jules = s.scalars(select(Member.id).where(Member.first_name == "Jules")).one()
        price = s.scalars(select(Plan.price_cents).where(Plan.name == "Carnet 10")).one()
        sales = {sale.member_id: sale for sale in s.scalars(select(Sale))}
    assert (sales[ines].book_kind, sales[ines].amount_cents, sales[ines].tender, sales[ines].paid) == (
        "subscription",
        9000,
        "card",
        True,
    )
    assert (sales[jules].amount_cents, sales[jules].paid) == (price, False)
    assert sorted(sale.receipt_no for sale in sales.values()) == ["DOOR-1-000001", "DOOR-1-000002"]


def test_a_walk_in_opens_their_own_receipt_and_no_other(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer
) -> None:
    other = counter_sale(site, kiosk, "Yann")
    page = open_page()
    start_purchase(page, kiosk, "Zoé", "zoe@example.org")
    page.click("#pay-counter")
    page.click("#pay")
    expect(page.locator("#receipt-link")).to_have_text("Votre reçu n° DOOR-1-000002")
    link = page.locator("#receipt-link").get_attribute("href") or ""
    page.click("#receipt-link")
    expect(page.locator("h1")).to_have_text("Reçu n° DOOR-1-000002")
    expect(page.locator("#receipt-amount")).to_have_text(re.compile(r"8,00"))
    expect(page.locator("body")).not_to_contain_text("Zoé")
    pdf = page.request.get(kiosk.url + (page.locator("#receipt-pdf").get_attribute("href") or ""))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    # Someone else's sale: its id in place of the token, a token altered, the manager's copy without the login.
    token = link.rsplit("/", 1)[1]
    for path in (f"/receipt/{other}", f"/receipt/{token[:-2]}xx", f"/receipt/{other}.pdf"):
        assert page.request.get(kiosk.url + path).status == 404
    admin_copy = page.request.get(kiosk.url + f"/admin/sales/{other}/receipt", max_redirects=0)
    assert admin_copy.status == 302 and "/admin/login" in admin_copy.headers["location"]
    # A link left behind dies: the same sale's link, signed longer ago than a link lives, opens nothing.
    with site.db.read() as s:
        mine = s.scalars(select(Sale.id).where(Sale.buyer_name == "Zoé")).one()

    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - RECEIPT_LINK_S - 5

    stale = URLSafeTimedSerializer(kiosk.app.secret_key or b"", salt=SALT, signer=Earlier).dumps(mine)
    assert page.request.get(kiosk.url + f"/receipt/{stale}").status == 404
    fresh = URLSafeTimedSerializer(kiosk.app.secret_key or b"", salt=SALT).dumps(mine)
    assert page.request.get(kiosk.url + f"/receipt/{fresh}").ok
