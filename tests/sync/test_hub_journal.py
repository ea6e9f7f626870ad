"""The network's journal at the hub: a site manager downloads the journal of their sites only (another site's is
not found), the network admin the whole network's; each file balances and passes Paheko's import rules, and a bad
range is refused with its reason."""

from __future__ import annotations

import uuid
from typing import Any

from common.books import Books
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import Site
from sync.payloads import validate_batch
from tests.support import paheko
from tests.support.hub import add_admin, add_manager, hub_app, sign_in
from tests.sync.devicesim import make_event


def line(number: int, amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "sale": uuid.uuid4().hex,
        "book_kind": "refill",
        "kind": "carnet",
        "amount_cents": amount,
        "provider": "counter",
        "paid": True,
        "tender": "cash",
        "series": "A",
        "number": number,
        "label": f"Recharge {number}",
        **extra,
    }


def arrive(db: HubDatabase, site: str, lines: list[dict[str, Any]]) -> None:
    events = [make_event(site, "door-1", i + 1, "sale", data) for i, data in enumerate(lines)]
    Ingestor(db, gap_wait_s=0).ingest(validate_batch({"v": 1, "site": site, "device": "door-1", "events": events}))


def test_each_manager_downloads_the_journal_of_their_sites(hub_db: HubDatabase) -> None:
    with hub_db.write() as s:
        s.add_all(
            [
                Site(id="site-a", name="Cahors", timezone="Europe/Paris"),
                Site(id="site-b", name="Figeac", timezone="Europe/Paris"),
            ]
        )
    first = line(1, 9000)
    arrive(hub_db, "site-a", [first, line(2, -9000, book_kind="refund", refund_of=first["sale"])])
    by_voucher = {key: value for key, value in line(1, 4500, provider="voucher").items() if key != "tender"}
    arrive(hub_db, "site-b", [by_voucher])
    add_admin(hub_db)
    add_manager(hub_db, "camille", ["site-a"])
    app = hub_app(hub_db)
    chart = Books("HUB").accounts.all()

    theirs = app.test_client()
    sign_in(theirs, "camille")
    answer = theirs.get("/export/journal.csv?month=2026-11")
    assert (
        answer.status_code == 200
        and "journal-reseau-2026-11-01-2026-11-30.csv" in answer.headers["Content-Disposition"]
    )
    entries = paheko.check(answer.get_data(as_text=True), chart)
    assert {e.reference for e in entries} == {"A-000001", "A-000002"} and len(entries) == 4
    assert "site-b" not in answer.get_data(as_text=True)
    assert theirs.get("/export/journal.csv?month=2026-11&site=site-b").status_code == 404
    assert theirs.get("/export/journal.csv?from=2026-11-30&to=2026-11-01").status_code == 400
    assert theirs.get("/export/journal.csv?from=2026-11-01&to=nope").status_code == 400
    assert "Journal comptable" in theirs.get("/sales?month=2026-11").get_data(as_text=True)

    network = app.test_client()
    sign_in(network)
    whole = network.get("/export/journal.csv?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    entries = paheko.check(whole, chart)
    assert len(entries) == 5 and {"site-a", "site-b"} <= set(whole.replace(",", " ").split())
    only_b = paheko.check(network.get("/export/journal.csv?month=2026-11&site=site-b").get_data(as_text=True), chart)
    assert [(acc, d, c) for acc, d, c in only_b[0].lines] == [("4191", 4500, 0), ("706", 0, 4500)]
