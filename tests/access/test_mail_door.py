"""Acceptance, on the real door daemon (nfcpy's reader loop on a virtual card, gpiozero's mock pins), the real
`halfday mail` process and a real SMTP server (aiosmtpd): a low-balance mail arrives once, not once per tap; with
the mail server down, taps and sales go on and the mail arrives once it is back; a member who chose English gets
their receipt in English."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from access import notices
from access.mailer import FAILING_SINCE
from access.models import Member, Notice, Sale
from access.store import Stamp, get_meta
from common.words import PlanKind
from halfday.sample import BRUNO
from kiosk.sales import Payment, WalkIn, counter_at, record_sale
from tests.support.door import DoorRig
from tests.support.site import Site
from tests.support.smtp import SmtpServer
from tests.support.wait import wait_until

SENDER = "Le Local <accueil@lelocal.example>"
# Slots placed so that now is in the afternoon, or in the morning, of today: a second charged half-day without
# waiting for noon. (A run between 23:58 and 00:01 local time would find neither.)
AFTERNOON_NOW = {"morning_start": "00:00", "noon": "00:01", "afternoon_end": "23:59"}
MORNING_NOW = {"morning_start": "00:00", "noon": "23:58", "afternoon_end": "23:59"}
# The reader ignores the same badge for 2 s (hardware.reader.debounce_s): taps of one badge leave more.
DEBOUNCE_S = 2.1


def mail_site(new_site: Callable[..., Site], port: int, threshold: int) -> Site:
    mail = {"host": "127.0.0.1", "port": port, "security": "none", "from": SENDER, "low_carnet_threshold": threshold}
    return new_site(overrides={"mail": mail, "slots": AFTERNOON_NOW, "kiosk": {"late_minutes": 0}})


class MailProcess:
    """`halfday mail` as its unit starts it, with short delays; its output kept in a log file."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "halfday.cli",
                    "mail",
                    "--config",
                    str(config_path),
                    "--poll-s",
                    "0.1",
                    "--first-retry-s",
                    "0.2",
                    "--max-retry-s",
                    "0.5",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        return self.log_path.read_text()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def start_mail(tmp_path: Path) -> Iterator[Callable[[Site], MailProcess]]:
    processes: list[MailProcess] = []

    def start(site: Site) -> MailProcess:
        process = MailProcess(site.config_path, tmp_path / f"mail-{len(processes)}.log")
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()


def granted(rig: DoorRig) -> list[Any]:
    return [e.data for e in rig.events("entry") if e.data["granted"]]


def test_a_low_balance_mail_arrives_once_not_once_per_tap(
    new_site: Callable[..., Site],
    door_rig: Callable[..., DoorRig],
    smtp: SmtpServer,
    start_mail: Callable[[Site], MailProcess],
) -> None:
    site = mail_site(new_site, smtp.port, threshold=9)  # Bruno's carnet holds 10 half-days
    worker = start_mail(site)
    rig = door_rig(site)
    rig.start()
    rig.tap(BRUNO)  # this afternoon: 10 -> 9, at the threshold
    time.sleep(DEBOUNCE_S)
    rig.tap(BRUNO)  # back from a walk: the same half-day, not charged
    assert wait_until(lambda: len(granted(rig)) == 2)
    (message,) = smtp.inbox.wait_for("bruno@example.org", timeout=15)
    assert message["Subject"].endswith("Votre carnet : plus que 9 demi-journées")
    # The same day's other half-day: charged again (9 -> 8), and still no second mail.
    rig.stop()
    site.reconfigure({"slots": MORNING_NOW})
    rig.start()
    time.sleep(DEBOUNCE_S)
    rig.tap(BRUNO)
    time.sleep(DEBOUNCE_S)
    rig.tap(BRUNO)
    assert wait_until(lambda: len(granted(rig)) == 4)
    assert [e["balance"] for e in granted(rig)] == [9, 9, 8, 8]
    time.sleep(1.5)  # several rounds of the worker: anything it would send, it would have sent
    assert len(smtp.inbox.to("bruno@example.org")) == 1
    with site.db.read() as session:
        assert len(session.scalars(select(Notice)).all()) == 1
    assert "envoyé" in worker.stop()


def test_with_the_server_down_taps_and_sales_go_on_and_the_mail_follows(
    new_site: Callable[..., Site],
    door_rig: Callable[..., DoorRig],
    smtp: SmtpServer,
    start_mail: Callable[[Site], MailProcess],
) -> None:
    site = mail_site(new_site, smtp.port, threshold=9)
    smtp.stop()
    start_mail(site)
    rig = door_rig(site)
    rig.start()
    rig.tap(BRUNO)
    assert wait_until(lambda: len(granted(rig)) == 1)  # the door let Bruno in and recorded it
    assert wait_until(lambda: rig.relay_states()[:2] == [False, True], timeout=3)
    now = dt.datetime.now(dt.UTC)
    offer = counter_at(now, site.config.site.rules, {PlanKind.PASS_HALFDAY: 800, PlanKind.PASS_DAY: 1400}).offers[0]
    with site.db.write() as session:  # a walk-in's sale, as the touchscreen records it
        record_sale(
            session,
            site.config.site.device,
            offer,
            WalkIn("Zoé Lemoine", "zoe@example.org"),
            Payment("counter", False),
            Stamp(now, time.monotonic_ns(), "boot", True),
        )
        emma = session.scalars(select(Member).where(Member.email == "emma@example.org")).one()
        session.execute(update(Member).where(Member.id == emma.id).values(language="en"))
        refill = Sale(
            plan_kind="carnet",
            amount_cents=8000,
            provider="voucher",
            paid=True,
            buyer_name=emma.full_name,
            buyer_email=emma.email,
            member_id=emma.id,
            created_at=now,
        )
        session.add(refill)
        session.flush()
        notices.receipt(session, refill, None)

    def failing() -> bool:
        with site.db.read() as session:
            return bool(get_meta(session, FAILING_SINCE))

    assert wait_until(failing, timeout=10)  # the worker tried, and the wall will say so
    with site.db.read() as session:
        waiting = session.scalars(select(Notice).where(Notice.sent_at.is_(None))).all()
    assert {n.kind for n in waiting} == {"low_carnet", "receipt"} and len(waiting) == 3
    assert any(n.attempts >= 1 and n.last_error for n in waiting)
    smtp.start()
    smtp.inbox.wait_for("bruno@example.org", timeout=15)
    (receipt,) = smtp.inbox.wait_for("zoe@example.org", timeout=15)
    assert "Votre reçu / Your receipt" in receipt["Subject"]
    (english,) = smtp.inbox.wait_for("emma@example.org", timeout=15)
    assert english["Subject"] == f"{site.config.site.name}: Your receipt (Carnet)"
    assert "Thank you for your purchase." in english.get_content()
    assert wait_until(lambda: not failing(), timeout=10)
