"""`halfday mail`: the mail worker. It sends the queued notices (access/notices.py) through the association's own
SMTP server, retries with backoff, writes the daily notices (plans ending, monthly statements), and keeps the
health of mail in the `meta` table for the wall display and the admin.

A process of its own: a slow or absent mail server holds up nothing but the mail. The door and the kiosk only
write rows to the queue, in their own transactions.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import smtplib
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from types import FrameType

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from access import notices
from access.clock import kernel_synchronised
from access.config import Config, ConfigError, MailConfig, load_config, mail_password
from access.db import Database
from access.models import Notice
from access.store import get_meta, set_meta, spent_since_balances
from common.daemons import daemon_parser, start_logging

log = logging.getLogger("halfday.mail")

# Health of mail, in `meta` (read by kiosk/display.py and the admin).
LAST_SUCCESS = "mail_last_success"  # ISO time of the last notice the server accepted
LAST_ERROR = "mail_last_error"  # the last failure, in a line
LAST_ERROR_AT = "mail_last_error_at"
FAILING_SINCE = "mail_failing_since"  # ISO time of the first failure since the last success ("" when all is well)
OLDEST_UNSENT = "mail_oldest_unsent"  # ISO creation time of the oldest notice still to send ("" when none)
LAST_DAILY = "mail_last_daily"  # the local date of the last daily pass (plans ending, statements)

# Notices sent over one connection before the queue is read again.
BATCH = 50
# A notice the server refused with a permanent error (5xx) is not tried again; one older than this is given up
# (a receipt a week late helps nobody), so a long outage does not end in a flood of stale mail.
MAX_AGE = dt.timedelta(days=7)
# Sent and abandoned notices are deleted after this long: they hold members' addresses and names, and three months
# is what the space keeps of its access logs with names (DESIGN.md, personal data).
RETENTION = dt.timedelta(days=92)
# What an error line keeps (the `last_error` column holds 400 characters).
ERROR_MAX = 380


@dataclass(frozen=True)
class MailTuning:
    """The worker's delays, named here and set small by tests rather than slept through."""

    # How often the queue is read: a notice waits at most this long once its cause is committed.
    poll_s: float = 5.0
    # After a failure, the next try waits first_retry_s, doubling each time up to max_retry_s: a server down for a
    # day is asked about twice an hour, not hammered.
    first_retry_s: float = 60.0
    max_retry_s: float = 1800.0
    # How often plans ending and statements are looked for (keys make a second look write nothing).
    daily_every_s: float = 3600.0


def backoff(attempts: int, tuning: MailTuning) -> dt.timedelta:
    """The wait before the next try of a notice (or of the server) that failed `attempts` times in a row."""
    seconds = tuning.first_retry_s * 2 ** max(0, min(attempts - 1, 30))
    return dt.timedelta(seconds=min(seconds, tuning.max_retry_s))


class ServerTrouble(Exception):
    """The mail server could not be reached, refused the login or broke off: no notice is to blame."""


def _line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:ERROR_MAX]


def open_smtp(mail: MailConfig, password: str | None) -> smtplib.SMTP:
    """A logged-in connection to the server with the configured security; ServerTrouble if it cannot be had."""
    context = ssl.create_default_context(cafile=mail.ca_file)
    try:
        smtp: smtplib.SMTP
        if mail.security == "tls":
            smtp = smtplib.SMTP_SSL(mail.host, mail.port, timeout=mail.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout_s)
        try:
            smtp.ehlo()
            if mail.security == "starttls":
                # Never falls back to plain text: a server that does not offer STARTTLS is an error.
                smtp.starttls(context=context)
                smtp.ehlo()
            if mail.user is not None:
                smtp.login(mail.user, password or "")
        except BaseException:
            smtp.close()
            raise
    except (OSError, smtplib.SMTPException) as exc:
        raise ServerTrouble(_line(exc)) from exc
    return smtp


def build_message(notice: Notice, mail: MailConfig, site_name: str) -> EmailMessage:
    """The e-mail of a notice: the site's name in the subject and as the signature, plain text."""
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = notice.to_address
    separator = ": " if notice.language == "en" else " : "
    message["Subject"] = f"{site_name}{separator}{notice.subject}"
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    domain = parseaddr(mail.sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(notice.kind.replace("_", "-"), domain=domain)
    # Replies from vacation robots and the like are not asked for: this is an automatic message.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(f"{notice.body}\n\n-- \n{site_name}\n")
    return message


def _refusal(exc: smtplib.SMTPException) -> tuple[int, str] | None:
    """(code, line) when the server refused this one message (its recipient or its content), None otherwise."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reason = next(iter(exc.recipients.values()), (550, b""))
        return code, f"{code} {reason.decode(errors='replace')}"[:ERROR_MAX]
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code, _line(exc)
    return None


class Mailer:
    """The worker's loop around `step`, which tests may also call directly."""

    def __init__(
        self,
        config: Config,
        db: Database,
        password: str | None,
        tuning: MailTuning | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        clock_trusted: Callable[[], bool] = kernel_synchronised,
    ) -> None:
        if config.mail is None:
            raise ConfigError("mail", "est absente : sans elle, aucun e-mail n'est envoyé")
        self.config = config
        self.mail: MailConfig = config.mail
        self.db = db
        self.password = password
        self.tuning = tuning or MailTuning()
        self.now = now
        self.clock_trusted = clock_trusted
        self.server_failures = 0
        self.server_retry_at: dt.datetime | None = None
        self.next_daily = 0.0
        self.stopping = threading.Event()

    def run(self) -> None:
        log.info("envoi des e-mails par %s:%d (%s)", self.mail.host, self.mail.port, self.mail.security)
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception:
                # The worker keeps going: the next round tries again from what the database says.
                log.exception("tour d'envoi interrompu")
            self.stopping.wait(self.tuning.poll_s)

    def step(self) -> int:
        """One round: the daily notices when due, then the notices due now. Returns how many were sent."""
        now = self.now()
        self.daily(now)
        return self.send_due(now)

    # ------------------------------------------------------------------------------------------ daily notices

    def daily(self, now: dt.datetime, *, force: bool = False) -> int:
        """Plans ending and monthly statements (a standalone site's), once in a while, and the queue's upkeep;
        nothing while the clock cannot be trusted (a Pi without a real-time clock may boot in 1970 and would write a
        statement for the wrong month)."""
        moment = now.timestamp()
        if not force and moment < self.next_daily:
            return 0
        if not (self.clock_trusted() or self.config.door.trust_clock):
            return 0
        self.next_daily = moment + self.tuning.daily_every_s
        today = now.astimezone(self.config.site.tz).date()
        with self.db.write() as session:
            given_up = self._give_up_stale(session, now)
            if given_up:
                log.warning("%d avis abandonné(s) : pas envoyés en 7 jours", given_up)
            forgotten = session.execute(
                delete(Notice).where(
                    Notice.created_at < now - RETENTION,
                    or_(Notice.sent_at.is_not(None), Notice.next_attempt_at.is_(None)),
                )
            )
            count = int(getattr(forgotten, "rowcount", 0) or 0)
            if count:
                log.info("%d avis de plus de trois mois effacé(s)", count)
            written = 0
            # The hub owns a network's members and plans, and a member may be on several sites' rosters: the plan's
            # end and the month's statement are the hub's to tell, once, not each site's.
            if not self.config.networked:
                written += notices.plans_ending(session, today, self.mail.plan_ending_days, now)
            if self.mail.monthly_statements and not self.config.networked:
                spent = spent_since_balances(session, self.config.site.device)
                written += notices.monthly_statements(session, today, spent, now)
            set_meta(session, LAST_DAILY, today.isoformat())
        if written:
            log.info("%d avis écrit(s) (fins de formule, relevés)", written)
        return written

    # ------------------------------------------------------------------------------------------ sending

    def send_due(self, now: dt.datetime) -> int:
        """Send the notices due now over one connection; returns how many the server took. Reads only, when
        nothing is due: the worker never takes the ledger's write lock for nothing (the door writes there)."""
        if self.server_retry_at is not None and now < self.server_retry_at:
            return 0
        with self.db.read() as session:
            due = list(
                session.scalars(
                    select(Notice)
                    .where(Notice.sent_at.is_(None), Notice.next_attempt_at.is_not(None), Notice.next_attempt_at <= now)
                    .order_by(Notice.created_at)
                    .limit(BATCH)
                )
            )
            session.expunge_all()
        if not due:
            self._note_health(success=False)
            return 0
        sent = 0
        smtp: smtplib.SMTP | None = None
        current: Notice | None = due[0]
        try:
            smtp = open_smtp(self.mail, self.password)
            for current in due:
                sent += self._send_one(smtp, current, now)
        except ServerTrouble as exc:
            self._server_failed(now, str(exc), current)
            return sent
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (OSError, smtplib.SMTPException):
                    smtp.close()
        self.server_failures = 0
        self.server_retry_at = None
        self._note_health(success=True)
        return sent

    def _send_one(self, smtp: smtplib.SMTP, notice: Notice, now: dt.datetime) -> bool:
        """Send one notice and record the outcome (whether the server took it); ServerTrouble when the server, not
        the notice, failed."""
        try:
            message = build_message(notice, self.mail, self.config.site.name)
            smtp.send_message(message)
        except (smtplib.SMTPNotSupportedError, ValueError) as exc:
            # This message cannot be sent as it is (an address in letters the server does not take): give it up,
            # or it would hold up every notice behind it.
            self._notice_failed(notice.id, now, _line(exc), permanent=True)
            log.warning("avis %s impossible à envoyer : %s", notice.id, _line(exc))
            return False
        except smtplib.SMTPException as exc:
            refusal = _refusal(exc)
            if refusal is None:
                raise ServerTrouble(_line(exc)) from exc
            code, line = refusal
            self._notice_failed(notice.id, now, line, permanent=code >= 500)
            log.warning("avis %s refusé par le serveur : %s", notice.id, line)
            return False
        except OSError as exc:
            raise ServerTrouble(_line(exc)) from exc
        with self.db.write() as session:
            session.execute(
                update(Notice)
                .where(Notice.id == notice.id)
                .values(sent_at=now, attempts=Notice.attempts + 1, next_attempt_at=None, last_error=None)
            )
            set_meta(session, LAST_SUCCESS, now.isoformat())
            set_meta(session, FAILING_SINCE, "")
        log.info("avis %s (%s) envoyé", notice.id, notice.kind)
        return True

    def _notice_failed(self, notice_id: str, now: dt.datetime, line: str, *, permanent: bool) -> None:
        with self.db.write() as session:
            notice = session.get(Notice, notice_id)
            if notice is None:
                return
            notice.attempts += 1
            notice.last_error = line
            notice.next_attempt_at = None if permanent else now + backoff(notice.attempts, self.tuning)

    def _server_failed(self, now: dt.datetime, line: str, notice: Notice | None) -> None:
        """The server failed: wait before asking it again, and count the try on the notice it was for."""
        self.server_failures += 1
        self.server_retry_at = now + backoff(self.server_failures, self.tuning)
        log.warning("serveur de messagerie indisponible : %s (nouvel essai à %s)", line, self.server_retry_at)
        with self.db.write() as session:
            if notice is not None:
                row = session.get(Notice, notice.id)
                if row is not None:
                    row.attempts += 1
                    row.last_error = line
                    row.next_attempt_at = self.server_retry_at
            set_meta(session, LAST_ERROR, line)
            set_meta(session, LAST_ERROR_AT, now.isoformat())
            if not get_meta(session, FAILING_SINCE):
                set_meta(session, FAILING_SINCE, now.isoformat())
            self._store_oldest(session)

    @staticmethod
    def _give_up_stale(session: Session, now: dt.datetime) -> int:
        result = session.execute(
            update(Notice)
            .where(Notice.sent_at.is_(None), Notice.next_attempt_at.is_not(None), Notice.created_at < now - MAX_AGE)
            .values(next_attempt_at=None, last_error="abandonné : pas envoyé en 7 jours")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def _note_health(self, *, success: bool) -> None:
        """Keep the oldest unsent notice's time (and, after a success, that nothing fails) in `meta`; written only
        when it changed."""
        with self.db.read() as session:
            oldest = _oldest_unsent(session)
            failing = get_meta(session, FAILING_SINCE) or ""
            stored = get_meta(session, OLDEST_UNSENT) or ""
        if stored == oldest and not (success and failing):
            return
        with self.db.write() as session:
            if success:
                set_meta(session, FAILING_SINCE, "")
            self._store_oldest(session)

    @staticmethod
    def _store_oldest(session: Session) -> None:
        value = _oldest_unsent(session)
        if (get_meta(session, OLDEST_UNSENT) or "") != value:
            set_meta(session, OLDEST_UNSENT, value)


def _oldest_unsent(session: Session) -> str:
    oldest = session.scalar(
        select(func.min(Notice.created_at)).where(Notice.sent_at.is_(None), Notice.next_attempt_at.is_not(None))
    )
    return oldest.isoformat() if oldest is not None else ""


# A notice waiting longer than this without the worker saying anything means the worker itself is not running.
STALE_QUEUE = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class MailTrouble:
    """Why mail does not go out, for the wall display: the server fails ("server"), or notices wait and nobody
    sends them ("worker"); `since` is when it began."""

    cause: str
    since: dt.datetime


def mail_trouble(session: Session, now: dt.datetime) -> MailTrouble | None:
    """What the wall display should say about mail: None when all is well (or nothing waits)."""
    failing = get_meta(session, FAILING_SINCE)
    if failing:
        return MailTrouble("server", dt.datetime.fromisoformat(failing))
    # Never tried at all: a notice the server put off (a full mailbox) has been tried, and is no one's fault here.
    oldest = session.scalar(
        select(func.min(Notice.created_at)).where(
            Notice.sent_at.is_(None), Notice.next_attempt_at.is_not(None), Notice.attempts == 0
        )
    )
    if oldest is not None and now - oldest > STALE_QUEUE:
        return MailTrouble("worker", oldest)
    return None


def check_server(mail: MailConfig, password: str | None) -> int:
    """Connect and log in once, and say in one line whether it worked (for the manager setting mail up)."""
    where = f"{mail.host}:{mail.port} ({mail.security})"
    try:
        smtp = open_smtp(mail, password)
    except ServerTrouble as exc:
        print(f"halfday : le serveur de messagerie {where} refuse ou ne répond pas : {exc}", file=sys.stderr)
        return 1
    smtp.quit()
    done = "connexion et identification réussies" if mail.user else "connexion réussie"
    print(f"Serveur de messagerie {where} : {done}")
    return 0


def main(argv: list[str]) -> int:
    parser = daemon_parser("halfday mail", "Envoi des e-mails aux membres (file d'attente, nouveaux essais)")
    parser.add_argument("--poll-s", type=float, default=MailTuning.poll_s, help="lecture de la file (secondes)")
    parser.add_argument("--first-retry-s", type=float, default=MailTuning.first_retry_s, help="premier nouvel essai")
    parser.add_argument("--max-retry-s", type=float, default=MailTuning.max_retry_s, help="attente la plus longue")
    parser.add_argument(
        "--check", action="store_true", help="se connecter une fois au serveur de messagerie, dire si cela marche"
    )
    args = parser.parse_args(argv)
    start_logging(args.log_level)
    config = load_config(args.config)
    if config.mail is None:
        raise ConfigError("mail", "est absente : ajoutez-la à la configuration pour envoyer des e-mails")
    password = mail_password(config.mail)
    if args.check:
        return check_server(config.mail, password)
    tuning = MailTuning(poll_s=args.poll_s, first_retry_s=args.first_retry_s, max_retry_s=args.max_retry_s)
    db = Database(config.database_url)
    mailer = Mailer(config, db, password, tuning)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        mailer.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        mailer.run()
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
