"""The mail worker against a real SMTP server (aiosmtpd): it sends what is due, keeps a notice when the server is
down and sends it once it is back, gives up on a refused address without holding up the others, speaks STARTTLS
with a login, and keeps the health of mail for the wall display. Also the [mail] section's checks."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from access import mailer, notice_texts, notices
from access.config import ConfigError, load_config, mail_password
from access.mailer import FAILING_SINCE, LAST_SUCCESS, OLDEST_UNSENT, Mailer, MailTuning, mail_trouble
from access.models import Member, Notice, Subscription
from access.store import get_meta
from tests.support.site import Site
from tests.support.smtp import SmtpServer, self_signed

# Retries come fast in a test: a tenth of a second, then doubling up to half a second.
FAST = MailTuning(poll_s=0.05, first_retry_s=0.1, max_retry_s=0.5, daily_every_s=3600)
SENDER = "Le Local <accueil@lelocal.example>"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def mail_site(new_site: Callable[..., Site], port: int, **mail: Any) -> Site:
    settings = {"host": "127.0.0.1", "port": port, "security": "none", "from": SENDER, **mail}
    return new_site(overrides={"mail": settings})


def queue(site: Site, to: str, subject: str = "Bonjour", language: str = "fr", key: str | None = None) -> str:
    with site.db.write() as session:
        text = notice_texts.Text(subject, f"Corps du message pour {to}")
        notice = notices.enqueue(
            session, notices.NoticeKind.RECEIPT, key or f"test:{to}:{subject}", to, language, text, utcnow()
        )
        assert notice is not None
        session.flush()
        return notice.id


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def notice(site: Site, notice_id: str) -> Notice:
    with site.db.read() as session:
        row = session.get(Notice, notice_id)
        assert row is not None
        return row


def meta(site: Site, key: str) -> str | None:
    with site.db.read() as session:
        return get_meta(session, key)


def worker(site: Site, password: str | None = None, tuning: MailTuning = FAST) -> Mailer:
    return Mailer(site.config, site.db, password, tuning, clock_trusted=lambda: True)


def test_a_due_notice_is_sent_once_with_the_sites_name(new_site: Callable[..., Site], smtp: SmtpServer) -> None:
    site = mail_site(new_site, smtp.port)
    first = queue(site, "bruno@example.org", "Votre reçu")
    english = queue(site, "emma@example.org", "Your receipt", language="en")
    mail = worker(site)
    assert mail.step() == 2
    assert mail.step() == 0  # nothing sent twice
    (message,) = smtp.inbox.wait_for("bruno@example.org")
    assert message["Subject"] == f"{site.config.site.name} : Votre reçu"
    assert message["From"] == SENDER and message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert "Corps du message pour bruno@example.org" in body and body.rstrip().endswith(site.config.site.name)
    (other,) = smtp.inbox.wait_for("emma@example.org")
    assert other["Subject"] == f"{site.config.site.name}: Your receipt"
    sent = notice(site, first)
    assert sent.sent_at is not None and sent.attempts == 1 and sent.last_error is None
    assert notice(site, english).sent_at is not None
    assert meta(site, LAST_SUCCESS) and not meta(site, FAILING_SINCE) and not meta(site, OLDEST_UNSENT)


def test_with_the_server_down_the_notice_waits_and_goes_when_it_is_back(
    new_site: Callable[..., Site], smtp: SmtpServer
) -> None:
    site = mail_site(new_site, smtp.port)
    smtp.stop()
    waiting = queue(site, "bruno@example.org")
    mail = worker(site, tuning=MailTuning(poll_s=0.05, first_retry_s=1.0, max_retry_s=1.0))
    assert mail.step() == 0
    failed = notice(site, waiting)
    assert failed.sent_at is None and failed.attempts == 1
    assert failed.last_error and "ConnectionRefusedError" in failed.last_error
    assert failed.next_attempt_at is not None and failed.next_attempt_at > failed.created_at
    assert meta(site, FAILING_SINCE)
    assert meta(site, OLDEST_UNSENT) == failed.created_at.isoformat()
    with site.db.read() as session:
        trouble = mail_trouble(session, utcnow())
    assert trouble is not None and trouble.cause == "server"
    # Backing off: asked again right away, the worker does not knock on the server's door.
    assert mail.step() == 0 and notice(site, waiting).attempts == 1
    smtp.start()
    deadline = utcnow() + dt.timedelta(seconds=5)
    while notice(site, waiting).sent_at is None and utcnow() < deadline:
        mail.step()
    smtp.inbox.wait_for("bruno@example.org")
    assert notice(site, waiting).sent_at is not None
    assert meta(site, FAILING_SINCE) == "" and meta(site, OLDEST_UNSENT) == ""
    with site.db.read() as session:
        assert mail_trouble(session, utcnow()) is None


def test_a_refused_address_is_given_up_and_the_others_still_go(new_site: Callable[..., Site], smtp: SmtpServer) -> None:
    site = mail_site(new_site, smtp.port)
    smtp.inbox.refuse.add("gone@example.org")
    refused = queue(site, "gone@example.org")
    fine = queue(site, "bruno@example.org")
    assert worker(site).step() == 1
    given_up = notice(site, refused)
    assert given_up.sent_at is None and given_up.next_attempt_at is None  # 550: never tried again
    assert given_up.last_error is not None and given_up.last_error.startswith("550")
    assert notice(site, fine).sent_at is not None
    assert not meta(site, FAILING_SINCE)  # the server works: the wall has nothing to say


def test_a_notice_unsent_for_a_week_is_given_up(new_site: Callable[..., Site], smtp: SmtpServer) -> None:
    site = mail_site(new_site, smtp.port)
    stale = queue(site, "bruno@example.org")
    with site.db.write() as session:
        row = session.get(Notice, stale)
        assert row is not None
        row.created_at = utcnow() - dt.timedelta(days=8)
    mail = worker(site)
    mail.daily(utcnow(), force=True)
    assert mail.step() == 0
    assert notice(site, stale).next_attempt_at is None and "7 jours" in (notice(site, stale).last_error or "")


def test_starttls_with_the_associations_own_certificate_and_a_login(
    new_site: Callable[..., Site], tmp_path: Path
) -> None:
    tls = self_signed(tmp_path / "tls")
    server = SmtpServer(tls=tls, login=("accueil", "s3cret mot de passe")).start()
    try:
        password_file = tmp_path / "mail-password"
        password_file.write_text("s3cret mot de passe\n")
        password_file.chmod(0o600)
        site = mail_site(
            new_site,
            server.port,
            security="starttls",
            user="accueil",
            password_file=str(password_file),
            ca_file=str(tls.certificate),
        )
        assert site.config.mail is not None
        password = mail_password(site.config.mail)
        sent = queue(site, "bruno@example.org")
        assert worker(site, password).step() == 1
        server.inbox.wait_for("bruno@example.org")
        assert notice(site, sent).sent_at is not None
        # A wrong password is the server's trouble, not the notice's: it waits and the wall says so.
        again = queue(site, "alice@example.org")
        assert worker(site, "wrong").step() == 0
        assert "SMTPAuthenticationError" in (notice(site, again).last_error or "")
        assert meta(site, FAILING_SINCE)
    finally:
        server.stop()


def test_starttls_refuses_a_certificate_it_was_not_told_to_trust(new_site: Callable[..., Site], tmp_path: Path) -> None:
    server = SmtpServer(tls=self_signed(tmp_path / "tls")).start()
    try:
        site = mail_site(new_site, server.port, security="starttls")
        waiting = queue(site, "bruno@example.org")
        assert worker(site).step() == 0
        assert "CERTIFICATE_VERIFY_FAILED" in (notice(site, waiting).last_error or "")
        assert server.inbox.messages == []
    finally:
        server.stop()


def test_the_worker_process_sends_and_stops_cleanly(new_site: Callable[..., Site], smtp: SmtpServer) -> None:
    site = mail_site(new_site, smtp.port)
    queue(site, "bruno@example.org")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "halfday.cli", "mail", "--config", str(site.config_path), "--poll-s", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        smtp.inbox.wait_for("bruno@example.org", timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0].decode()
    assert process.returncode == 0, output
    assert "envoyé" in output


# ---------------------------------------------------------------------------------------------- [mail]


@pytest.mark.parametrize(
    ("mail", "key", "problem"),
    [
        ({"host": "smtp.example.org"}, "mail.from", "obligatoire"),
        ({"host": "smtp.example.org", "from": "accueil"}, "mail.from", "adresse"),
        ({"host": "smtp .example.org", "from": SENDER}, "mail.host", "nom de serveur"),
        ({"host": "smtp.example.org", "from": SENDER, "security": "ssl"}, "mail.security", "starttls"),
        ({"host": "smtp.example.org", "from": SENDER, "user": "accueil"}, "mail.password_file", "va de pair"),
        (
            {"host": "smtp.example.org", "from": SENDER, "security": "none", "user": "a", "password_file": "/x"},
            "mail.security",
            "en clair",
        ),
        ({"host": "smtp.example.org", "from": SENDER, "ca_file": "/nowhere.pem"}, "mail.ca_file", "absent"),
        ({"host": "smtp.example.org", "from": SENDER, "low_carnet_threshold": -1}, "mail.low_carnet_threshold", ""),
        ({"host": "smtp.example.org", "from": SENDER, "hots": "x"}, "mail.hots", "inconnue"),
    ],
)
def test_a_bad_mail_section_is_named(
    write_config: Callable[..., Path], mail: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config({"mail": mail}))
    assert caught.value.key == key and problem in caught.value.problem


def test_mail_defaults_and_no_section_means_no_mail(write_config: Callable[..., Path]) -> None:
    assert load_config(write_config()).mail is None
    config = load_config(write_config({"mail": {"host": "smtp.example.org", "from": SENDER}}))
    assert config.mail is not None
    assert (config.mail.port, config.mail.security) == (587, "starttls")
    assert (config.mail.low_carnet_threshold, config.mail.plan_ending_days, config.mail.monthly_statements) == (
        2,
        3,
        True,
    )
    tls = load_config(write_config({"mail": {"host": "smtp.example.org", "from": SENDER, "security": "tls"}}))
    assert tls.mail is not None and tls.mail.port == 465


def test_the_password_file_must_be_readable_and_private(write_config: Callable[..., Path], tmp_path: Path) -> None:
    secret = tmp_path / "mail-password"
    settings = {"host": "smtp.example.org", "from": SENDER, "user": "accueil", "password_file": str(secret)}
    config = load_config(write_config({"mail": settings}))
    assert config.mail is not None
    with pytest.raises(ConfigError, match="ne peut pas être lu") as caught:
        mail_password(config.mail)
    assert caught.value.key == "mail.password_file"
    secret.write_text("mot de passe")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        mail_password(config.mail)
    secret.chmod(0o600)
    assert mail_password(config.mail) == "mot de passe"
    assert "mot de passe" not in repr(config)


def test_the_worker_will_not_start_without_a_mail_section(write_config: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError) as caught:
        mailer.main(["--config", str(write_config())])
    assert caught.value.key == "mail"


def test_a_notice_is_never_queued_for_an_address_a_server_would_not_take(
    new_site: Callable[..., Site], smtp: SmtpServer
) -> None:
    site = mail_site(new_site, smtp.port)
    with site.db.write() as session:
        text = notice_texts.Text("Sujet", "Corps")
        assert (
            notices.enqueue(session, notices.NoticeKind.RECEIPT, "k", "x@y\nBcc: a@b.c", "fr", text, utcnow()) is None
        )
    with site.db.read() as session:
        assert session.scalars(select(Notice)).all() == []


def test_check_tells_the_manager_whether_the_server_answers(
    new_site: Callable[..., Site], smtp: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    site = mail_site(new_site, smtp.port)
    assert mailer.main(["--config", str(site.config_path), "--check"]) == 0
    assert f"Serveur de messagerie 127.0.0.1:{smtp.port} (none) : connexion réussie" in capsys.readouterr().out
    smtp.stop()
    assert mailer.main(["--config", str(site.config_path), "--check"]) == 1
    assert "refuse ou ne répond pas : ConnectionRefusedError" in capsys.readouterr().err


def test_implicit_tls_as_on_port_465(new_site: Callable[..., Site], tmp_path: Path) -> None:
    tls = self_signed(tmp_path / "tls")
    server = SmtpServer(tls=tls, implicit_tls=True).start()
    try:
        site = mail_site(new_site, server.port, security="tls", ca_file=str(tls.certificate))
        sent = queue(site, "bruno@example.org")
        assert worker(site).step() == 1
        server.inbox.wait_for("bruno@example.org")
        assert notice(site, sent).sent_at is not None
    finally:
        server.stop()


def test_notices_are_forgotten_after_three_months(new_site: Callable[..., Site], smtp: SmtpServer) -> None:
    site = mail_site(new_site, smtp.port)
    old_sent, old_given_up, recent = (queue(site, f"{name}@example.org") for name in ("ana", "ben", "cy"))
    with site.db.write() as session:
        for notice_id, sent in ((old_sent, True), (old_given_up, False)):
            row = session.get(Notice, notice_id)
            assert row is not None
            row.created_at = utcnow() - dt.timedelta(days=100)
            row.sent_at = utcnow() - dt.timedelta(days=100) if sent else None
            row.next_attempt_at = None
    worker(site).daily(utcnow(), force=True)
    with site.db.read() as session:
        assert [n.id for n in session.scalars(select(Notice))] == [recent]


def test_a_notice_that_cannot_be_sent_does_not_hold_up_the_queue(
    new_site: Callable[..., Site], smtp: SmtpServer
) -> None:
    site = mail_site(new_site, smtp.port)
    with site.db.write() as session:  # a row no writer of ours makes (they check the address): put there by hand
        now = utcnow() - dt.timedelta(minutes=1)
        bad = Notice(
            kind="receipt",
            key="by-hand",
            to_address="a@b.example\r\nBcc: x@y.example",
            language="fr",
            subject="Sujet",
            body="Corps",
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
        session.add(bad)
        session.flush()
        bad_id = bad.id
    fine = queue(site, "bruno@example.org")
    assert worker(site).step() == 1
    given_up = notice(site, bad_id)
    assert given_up.next_attempt_at is None and "ValueError" in (given_up.last_error or "")
    assert notice(site, fine).sent_at is not None
    assert smtp.inbox.to("x@y.example") == []


def test_plans_ending_and_statements_are_a_standalone_sites_to_tell(
    new_site: Callable[..., Site], smtp: SmtpServer
) -> None:
    site = mail_site(new_site, smtp.port)
    standalone = site.config
    first_of_month = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    with site.db.write() as session:
        bruno = session.scalars(select(Member).where(Member.first_name == "Bruno")).one()
        bruno.monthly_statement = True
        sub = session.scalars(select(Subscription).where(Subscription.member_id == bruno.id)).one()
        sub.valid_until = first_of_month.date() + dt.timedelta(days=2)
    hub = {"url": "mqtts://hub.example.org:8883", "public_key": "not-used-by-the-mail-worker"}
    networked = site.reconfigure({"hub": hub})
    # On a network the hub tells these, once: a member may be on several sites' rosters.
    assert Mailer(networked, site.db, None, FAST, clock_trusted=lambda: True).daily(first_of_month, force=True) == 0
    assert Mailer(standalone, site.db, None, FAST, clock_trusted=lambda: True).daily(first_of_month, force=True) == 2
    with site.db.read() as session:
        assert sorted(n.kind for n in session.scalars(select(Notice))) == ["plan_ending", "statement"]


def test_no_daily_notices_while_the_clock_cannot_be_trusted(new_site: Callable[..., Site], smtp: SmtpServer) -> None:
    site = mail_site(new_site, smtp.port)
    with site.db.write() as session:
        session.execute(update(Member).values(monthly_statement=True))
    site.reconfigure({"door": {"trust_clock": False}})
    unsure = Mailer(site.config, site.db, None, FAST, clock_trusted=lambda: False)
    assert unsure.daily(dt.datetime(1970, 1, 1, 0, 5, tzinfo=dt.UTC), force=True) == 0
    with site.db.read() as session:
        assert session.scalars(select(Notice)).all() == []
