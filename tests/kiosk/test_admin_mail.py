"""The manager's e-mail page: mail off is said plainly; with mail on, each notice shows what became of it, a waiting
one can be cancelled and a sent or abandoned one sent again, which the worker then does. Audited by axe."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from access import notice_texts, notices
from access.mailer import Mailer, MailTuning
from access.models import Notice
from kiosk.serve import KioskServer
from tests.kiosk.test_admin import log_in
from tests.support.axe import SIZES, assert_accessible, assert_no_horizontal_scroll
from tests.support.site import Site
from tests.support.smtp import SmtpServer

FAST = MailTuning(poll_s=0.05, first_retry_s=0.1, max_retry_s=0.2)


def queue(site: Site, to: str, subject: str) -> str:
    with site.db.write() as session:
        now = dt.datetime.now(dt.UTC)
        text = notice_texts.Text(subject, "Merci")
        notice = notices.enqueue(session, notices.NoticeKind.RECEIPT, f"k:{to}", to, "fr", text, now)
        assert notice is not None
        session.flush()
        return notice.id


def state(site: Site, notice_id: str) -> Notice:
    with site.db.read() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        return notice


def test_mail_off_is_said_plainly(
    site: Site, start_kiosk: Callable[..., KioskServer], open_page: Callable[..., Page]
) -> None:
    kiosk = start_kiosk()
    queue(site, "zoe@example.org", "Votre reçu")
    page = open_page({"width": 1366, "height": 768})
    log_in(page, kiosk, site)
    page.click(".admin-nav a[href='/admin/mail']")
    expect(page.locator("#mail-status")).to_contain_text("L'envoi des e-mails est désactivé")
    expect(page.locator("#mail-waiting")).to_have_text("1 e-mail(s) en attente d'envoi")


@pytest.mark.parametrize("name", ["laptop", "tv", "touchscreen", "phone"])
def test_the_manager_cancels_and_sends_again(
    name: str, site: Site, start_kiosk: Callable[..., KioskServer], open_page: Callable[..., Page]
) -> None:
    smtp = SmtpServer().start()
    try:
        mail = {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "accueil@lelocal.example"}
        config = site.reconfigure({"mail": mail})
        kiosk = start_kiosk(config=config)
        wrong = queue(site, "zoe@exemple.org", "Votre reçu")
        sent = queue(site, "bruno@example.org", "Votre carnet : plus que 2 demi-journées")
        width, height = SIZES[name]
        page = open_page({"width": width, "height": height})
        log_in(page, kiosk, site, "/admin/mail")
        row = page.locator(f"tr[data-notice='{wrong}']")
        expect(row.locator(".notice-state")).to_have_text("en attente")
        what = f"admin mail page at {width}x{height}"
        assert_no_horizontal_scroll(page, what)
        assert_accessible(page, what)
        row.get_by_role("button", name="Annuler").click()
        expect(page.locator(".alert-ok")).to_have_text("E-mail annulé : il ne partira pas.")
        expect(row.locator(".notice-state")).to_contain_text("abandonné · annulé par l'accueil")
        worker = Mailer(config, site.db, None, FAST, clock_trusted=lambda: True)
        assert worker.step() == 1  # Bruno's only
        assert smtp.inbox.to("zoe@exemple.org") == [] and len(smtp.inbox.to("bruno@example.org")) == 1
        page.reload()
        expect(page.locator("#mail-status")).to_contain_text("Dernier envoi réussi")
        expect(page.locator(f"tr[data-notice='{sent}'] .notice-state")).to_contain_text("envoyé le")
        # Bruno says he never got it: the manager sends it again.
        page.locator(f"tr[data-notice='{sent}']").get_by_role("button", name="Renvoyer").click()
        expect(page.locator(".alert-ok")).to_contain_text("E-mail remis en file")
        assert state(site, sent).sent_at is None
        assert worker.step() == 1
        assert len(smtp.inbox.wait_for("bruno@example.org", count=2)) == 2
        assert state(site, wrong).sent_at is None
        with site.db.read() as session:
            assert len(session.scalars(select(Notice)).all()) == 2
    finally:
        smtp.stop()


def test_the_manager_sends_a_test_email(
    site: Site, start_kiosk: Callable[..., KioskServer], open_page: Callable[..., Page]
) -> None:
    smtp = SmtpServer().start()
    try:
        mail = {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "accueil@lelocal.example"}
        config = site.reconfigure({"mail": mail})
        kiosk = start_kiosk(config=config)
        page = open_page({"width": 1366, "height": 768})
        log_in(page, kiosk, site, "/admin/mail")
        page.fill("#test-address", "gerante@lelocal.example")
        page.click("#mail-test button")
        expect(page.locator(".alert-ok")).to_contain_text("E-mail d'essai mis en file pour gerante@lelocal.example")
        assert Mailer(config, site.db, None, FAST, clock_trusted=lambda: True).step() == 1
        (message,) = smtp.inbox.wait_for("gerante@lelocal.example")
        assert message["Subject"].endswith(" : E-mail d'essai")
        page.reload()
        expect(page.locator("#notices")).to_contain_text("Essai · E-mail d'essai")
    finally:
        smtp.stop()
