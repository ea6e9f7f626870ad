"""French by default, English available: the catalog covers every message and is compiled at start."""

from __future__ import annotations

import re
from typing import Any

from babel.messages.pofile import read_po
from flask import Flask

from common.catalogs import extract_messages
from common.i18n import TRANSLATIONS
from kiosk.app import create_app
from tests.support.kiosk import TEST_TUNING
from tests.support.site import Site


def test_every_message_has_an_english_translation() -> None:
    with (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        catalog: dict[Any, Any] = {
            m.id if isinstance(m.id, str) else tuple(m.id): m.string for m in read_po(po_file) if m.id
        }
    used = extract_messages()
    assert len(used) > 150
    missing = [m for m in used if not catalog.get(m) or (isinstance(catalog[m], tuple) and not all(catalog[m]))]
    assert missing == [], "run `python -m common.catalogs` and translate the new messages"
    for message in used:
        if isinstance(message, str) and "%(" in message:
            # A translation keeps the same placeholders, or formatting fails at run time.
            assert sorted(_placeholders(message)) == sorted(_placeholders(str(catalog[message]))), message


def _placeholders(text: str) -> list[str]:
    return re.findall(r"%\((\w+)\)", text)


def test_french_by_default_english_on_request(app: Flask) -> None:
    client = app.test_client()
    assert "Badgez ou achetez un pass" in client.get("/").text
    switched = client.get("/lang/en?next=/buy")
    assert switched.status_code == 302 and switched.headers["Location"] == "/buy"
    assert "Choose your pass" in client.get("/buy").text
    assert "Tap your badge or buy a pass" in client.get("/").text
    # Back on the attract screen after the idle delay, the next visitor gets the site's language again.
    assert "Badgez ou achetez un pass" in client.get("/?idle=1").text


def test_language_switch_is_no_open_redirect(app: Flask) -> None:
    client = app.test_client()
    for target in ("https://evil.example/", "//evil.example/", "evil"):
        assert client.get("/lang/en", query_string={"next": target}).headers["Location"] == "/"


def test_site_language_english(site: Site) -> None:
    app = create_app(site.reconfigure({"kiosk": {"language": "en"}}), connect_bus=False, tuning=TEST_TUNING)
    try:
        assert "Tap your badge or buy a pass" in app.test_client().get("/").text
    finally:
        app.extensions["halfday.kiosk"].close()
