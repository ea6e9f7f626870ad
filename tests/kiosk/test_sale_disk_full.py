"""A sale the ledger cannot write (its disk full): the touchscreen says so in plain words, in French and English,
charges nothing (the voucher stays unused) and records nothing; once space is back, the same voucher buys the
pass. Any other write the disk refuses gets a page in words too, never a server error."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from access.models import Event, Sale
from common.words import PlanKind
from halfday.sample import ALL_DAY
from kiosk.app import create_app
from kiosk.vouchers import voucher_book
from tests.support.disk import fill, small_disk
from tests.support.kiosk import KIOSK_SITE, TEST_TUNING
from tests.support.site import MANAGER_PASSWORD, Site

FRENCH = "La vente n'a pas pu être enregistrée : la borne ne peut pas écrire dans sa mémoire en ce moment. Rien n'a"
ENGLISH = "The sale could not be recorded: the kiosk cannot write to its memory right now. Nothing was paid"


@pytest.fixture
def disk_site(tmp_path: Path, new_site: Callable[..., Site]) -> Iterator[Site]:
    with small_disk(tmp_path / "disk", "4m"):
        site = new_site("disk", overrides={**ALL_DAY, **KIOSK_SITE})
        yield site
        site.db.dispose()


@pytest.fixture
def shop(disk_site: Site) -> Iterator[Flask]:
    app = create_app(disk_site.config, connect_bus=False, tuning=TEST_TUNING)
    yield app
    app.extensions["halfday.kiosk"].close()


def words(response_text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response_text)).split())


def form(client: FlaskClient, kind: str) -> dict[str, str]:
    page = client.get(f"/buy/{kind}").text
    fields = dict(re.findall(r'name="(csrf_token|offer)" value="([^"]*)"', page))
    return {**{k: html.unescape(v) for k, v in fields.items()}, "name": "Inès Martin", "email": ""}


def sales(site: Site) -> tuple[int, int]:
    with site.db.read() as s:
        made = s.scalar(select(func.count()).select_from(Sale)) or 0
        told = s.scalar(select(func.count()).select_from(Event).where(Event.kind == "sale")) or 0
    return made, told


@pytest.mark.parametrize(("language", "sentence"), [("fr", FRENCH), ("en", ENGLISH)])
def test_a_sale_the_full_disk_refuses_says_so_and_charges_nothing(
    shop: Flask, disk_site: Site, language: str, sentence: str
) -> None:
    client = shop.test_client()
    client.get(f"/lang/{language}")
    voucher = voucher_book(disk_site.config).mint(PlanKind.PASS_HALFDAY, 1)
    fields = {**form(client, "pass_halfday"), "provider": "voucher", "voucher": voucher.printed}
    filler = fill(disk_site.folder)
    refused = client.post("/buy/pass_halfday", data=fields)
    assert refused.status_code == 503
    assert sentence in words(refused.text)
    assert 'name="voucher"' in refused.text  # the form again, to try once more
    assert sales(disk_site) == (0, 0)  # nothing sold, nothing for the door or the hub

    filler.unlink()  # space is back: the same voucher, never spent, buys the pass
    bought = client.post("/buy/pass_halfday", data={**form(client, "pass_halfday"), **fields})
    assert bought.status_code == 302, words(bought.text)[:300]
    assert sales(disk_site) == (1, 1)


def token(client: FlaskClient, url: str) -> str:
    return html.unescape(re.findall(r'name="csrf_token" value="([^"]*)"', client.get(url).text)[0])


def test_any_write_the_disk_refuses_gets_a_page_in_words(shop: Flask, disk_site: Site) -> None:
    disk_site.set_password()
    client = shop.test_client()
    logged = client.post(
        "/admin/login", data={"csrf_token": token(client, "/admin/login"), "password": MANAGER_PASSWORD}
    )
    assert logged.status_code == 302
    day = dt.date.today() + dt.timedelta(days=7)
    closing = {"csrf_token": token(client, "/admin/closures"), "first": day.isoformat(), "label": "Pont"}
    filler = fill(disk_site.folder)
    answer = client.post("/admin/closures", data=closing)
    assert answer.status_code == 503
    assert "Cela n'a pas pu être enregistré" in words(answer.text)
    filler.unlink()
    assert client.post("/admin/closures", data=closing).status_code == 302
