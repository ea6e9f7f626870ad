"""The wall display's mail line: one plain sentence when e-mails do not go out (the server fails, or nobody sends
them), nothing when all is well, nothing on a site without mail; audited by axe in Chromium."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import update

from access import notice_texts, notices
from access.mailer import FAILING_SINCE, Mailer, MailTuning
from access.models import Notice
from access.store import get_meta, set_meta
from kiosk.serve import KioskServer
from tests.support.axe import SIZES, assert_accessible, assert_no_horizontal_scroll
from tests.support.kiosk import TEST_TUNING
from tests.support.site import Site
from tests.support.smtp import SmtpServer

FAST = MailTuning(poll_s=0.05, first_retry_s=0.1, max_retry_s=0.2)
QUICK_WALL = dataclasses.replace(TEST_TUNING, display_refresh_s=0.5)


def with_mail(site: Site, port: int, language: str = "fr") -> Site:
    mail = {"host": "127.0.0.1", "port": port, "security": "none", "from": "Le Local <accueil@lelocal.example>"}
    site.reconfigure({"mail": mail, "kiosk": {"language": language}})
    return site


def queue(site: Site, created: dt.datetime | None = None) -> None:
    with site.db.write() as session:
        text = notice_texts.Text("Votre reçu", "Merci")
        now = created or dt.datetime.now(dt.UTC)
        notice = notices.enqueue(session, notices.NoticeKind.RECEIPT, f"k:{now}", "zoe@example.org", "fr", text, now)
        assert notice is not None


def panel(app: Flask) -> str:
    return html.unescape(app.test_client().get("/display/panel").text)


@pytest.mark.parametrize("name", ["tv", "laptop", "touchscreen", "phone"])
def test_the_wall_says_when_mail_fails_and_goes_quiet_when_it_works(
    name: str, site: Site, start_kiosk: Callable[..., KioskServer], open_page: Callable[..., Page]
) -> None:
    smtp = SmtpServer()  # not started: the server is down
    with_mail(site, smtp.port)
    kiosk = start_kiosk(config=site.config, tuning=QUICK_WALL)
    queue(site)
    mailer = Mailer(site.config, site.db, None, FAST, clock_trusted=lambda: True)
    mailer.step()
    with site.db.read() as session:
        failing = get_meta(session, FAILING_SINCE)
    assert failing
    since = dt.datetime.fromisoformat(failing).astimezone(site.config.site.tz)
    width, height = SIZES[name]
    wall = open_page({"width": width, "height": height})
    wall.goto(kiosk.url + "/display/")
    line = wall.locator("#mail-state")
    # The day is named when the wall is read on a later day than the failure: a test run crossing midnight.
    said = rf"^Les e-mails ne partent plus depuis (le {since:%d/%m} à )?{since.hour} h {since.minute:02d} : vérifiez"
    expect(line).to_have_text(re.compile(said + " le serveur de messagerie$"))
    what = f"wall display with the mail line at {width}x{height}"
    assert_no_horizontal_scroll(wall, what)
    assert_accessible(wall, what)
    smtp.start()
    try:
        mailer.server_retry_at = None
        assert mailer.step() == 1
        smtp.inbox.wait_for("zoe@example.org")
        expect(line).to_have_count(0)  # all is well: the wall says nothing about mail
    finally:
        smtp.stop()


def test_notices_waiting_with_nobody_to_send_them(site: Site, make_app: Callable[[Site], Flask]) -> None:
    with_mail(site, 1)
    app = make_app(site)
    assert 'id="mail-state"' not in panel(app)
    queue(site, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    assert 'id="mail-state"' not in panel(app)  # ten minutes is the worker's business, not the wall's
    queue(site, dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    with site.db.write() as session:  # the worker tried it: the server put it off (a full mailbox), no one is down
        session.execute(update(Notice).values(attempts=1))
    assert 'id="mail-state"' not in panel(app)
    queue(site, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    text = panel(app)
    assert "Des e-mails attendent depuis" in text and "le service d'envoi (halfday-mail) ne tourne pas" in text


def test_the_mail_line_in_english_and_on_an_earlier_day(site: Site, make_app: Callable[[Site], Flask]) -> None:
    with_mail(site, 1, language="en")
    app = make_app(site)
    yesterday = dt.datetime.now(site.config.site.tz).replace(hour=14, minute=5) - dt.timedelta(days=1)
    with site.db.write() as session:
        set_meta(session, FAILING_SINCE, yesterday.astimezone(dt.UTC).isoformat())
    text = panel(app)
    assert f"E-mails have not been going out since {yesterday:%d/%m} at 14:05: check the mail server" in text


def test_a_site_without_mail_shows_no_mail_line(site: Site, make_app: Callable[[Site], Flask]) -> None:
    app = make_app(site)
    queue(site, dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    with site.db.read() as session:
        assert session.query(Notice).count() == 1
    assert 'id="mail-state"' not in panel(app)
