"""End to end: a walk-in buys a pass at the real kiosk, the manager marks it paid by card, then cancels it by a credit
note; the real sync agent carries the sale events through a real Mosquitto to a real hub worker, whose database
(SQLite and PostgreSQL) holds each line with its receipt number, tender and credit note, in a balanced journal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from access.models import Sale as ApplianceSale
from common.books import Books
from halfday.sample import ALL_DAY
from kiosk.app import create_app
from sync.hub.books import site_journal
from sync.hub.db import HubDatabase
from sync.hub.models import Sale
from tests.kiosk.test_attacks import form_token, sign_in
from tests.support.broker import Mosquitto
from tests.support.kiosk import KIOSK_SITE, TEST_TUNING
from tests.support.site import Site
from tests.support.wait import wait_until
from tests.sync.conftest import SITE, agent_settings


def test_a_kiosk_sale_its_payment_and_its_credit_note_reach_the_hub(
    new_site: Callable[..., Site],
    broker: Mosquitto,
    make_worker: Callable[..., Any],
    start_agent: Callable[..., Any],
    hub_settings: Any,
    hub_db: HubDatabase,
    tmp_path: Path,
) -> None:
    site = new_site(overrides={**ALL_DAY, **KIOSK_SITE})
    app = create_app(site.config, connect_bus=False, tuning=TEST_TUNING)
    try:
        client: FlaskClient = app.test_client()
        token = form_token(client, "/buy/pass_halfday")
        data = {"csrf_token": token, "name": "Zoé", "email": "zoe@example.org", "provider": "counter"}
        assert client.post("/buy/pass_halfday", data=data).status_code == 302
        with site.db.read() as s:
            sale = s.scalars(select(ApplianceSale)).one()
        manager = app.test_client()
        sign_in(manager, site)
        paid = manager.post(
            f"/admin/sales/{sale.id}/paid", data={"csrf_token": form_token(manager, "/admin/sales"), "tender": "card"}
        )
        assert paid.status_code == 302
        refund = f"/admin/sales/{sale.id}/refund"
        form = {"csrf_token": form_token(manager, refund), "tender": "cash", "confirm": "yes"}
        assert manager.post(refund, data=form).status_code == 302
    finally:
        app.extensions["halfday.kiosk"].close()

    make_worker(0)
    device = site.config.site.device
    start_agent(agent_settings(broker, site.db, hub_settings, tmp_path, device=device), site.db)

    def arrived() -> list[Sale]:
        with hub_db.read() as s:
            return list(s.scalars(select(Sale).order_by(Sale.number)))

    assert wait_until(lambda: len(arrived()) == 2 and arrived()[0].paid, 20)
    first, note = arrived()
    assert (first.site_id, first.receipt_no, first.book_kind, first.amount_cents, first.tender) == (
        SITE,
        "DOOR-1-000001",
        "pass",
        800,
        "card",
    )
    assert (note.receipt_no, note.book_kind, note.amount_cents, note.tender, note.refund_of) == (
        "DOOR-1-000002",
        "refund",
        -800,
        "cash",
        first.id,
    )
    with hub_db.read() as s:
        today = dt.datetime.now(dt.UTC).date()
        entries = site_journal(s, Books("HUB"), today - dt.timedelta(days=1), today + dt.timedelta(days=1))
    assert len(entries) == 4 and all(e.balanced for e in entries)
