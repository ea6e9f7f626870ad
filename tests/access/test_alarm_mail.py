"""Acceptance, on the real door daemon (gpiozero's mock pins) with the real `halfday mail` process and a real SMTP
server (aiosmtpd): a forced door mails the site's manager once; a second forced opening within the hour mails
nobody; each raise and clear is an event. Also the mail rule alone (once per alarm, address and hour), the texts
and the [alarms] section's checks."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from access.alarms import active_alarms, mail_alarm, record_alarm
from access.config import ConfigError, load_config
from access.config_alarms import AlarmsConfig
from access.daemon.timing import DoorTuning
from access.door import DoorTiming
from access.models import Notice
from access.notice_texts import ALARM_WORDS, alarm
from access.store import Stamp
from common.words import Alarm
from tests.access.test_mail_door import MailProcess
from tests.support.door import DoorRig
from tests.support.site import Site
from tests.support.smtp import SmtpServer

SENDER = "Le Local <accueil@lelocal.example>"
MANAGER = "gerante@lelocal.example"
# A held-open limit longer than the test: the door forced open stays a forced door, nothing more.
NOT_HELD = DoorTuning(machine=DoorTiming(unlock_s=0.6, held_open_s=120.0, relock_after_close_s=0.1))


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def alarm_site(new_site: Callable[..., Site], port: int, **alarms: object) -> Site:
    mail = {"host": "127.0.0.1", "port": port, "security": "none", "from": SENDER}
    return new_site(overrides={"mail": mail, "alarms": {"mail_to": [MANAGER], **alarms}})


def test_a_forced_door_mails_the_manager_once_in_the_hour(
    new_site: Callable[..., Site], door_rig: Callable[..., DoorRig], smtp: SmtpServer, tmp_path: Path
) -> None:
    site = alarm_site(new_site, smtp.port)
    worker = MailProcess(site.config_path, tmp_path / "mail.log")
    try:
        rig = door_rig(site, tuning=NOT_HELD)
        rig.start()
        rig.set_door(True)  # opened while locked, no badge, no exit button
        assert rig.wait_events(1, "alarm")[0].data == {"type": "forced", "active": True}
        (message,) = smtp.inbox.wait_for(MANAGER, timeout=15)
        assert message["Subject"] == f"{site.config.site.name} : Alarme : Porte forcée"
        assert "ouverte alors qu'elle était verrouillée" in message.get_content()
        rig.set_door(False)
        rig.set_door(True)  # forced again a moment later
        rig.set_door(False)
        alarms = rig.wait_events(4, "alarm")
        assert [(a.data["type"], a.data["active"]) for a in alarms] == [
            ("forced", True),
            ("forced", False),
            ("forced", True),
            ("forced", False),
        ]
        time.sleep(1.0)  # several rounds of the worker: a second mail would have gone
        assert len(smtp.inbox.to(MANAGER)) == 1
        with site.db.read() as session:
            assert [n.kind for n in session.scalars(select(Notice))] == ["alarm"]
            assert active_alarms(session) == {}  # cleared, as the wall display reads it
    finally:
        assert "envoyé" in worker.stop()


def test_without_managers_or_mail_no_notice_is_written(
    new_site: Callable[..., Site], door_rig: Callable[..., DoorRig]
) -> None:
    site = new_site()
    rig = door_rig(site)
    rig.start()
    rig.set_door(True)
    rig.wait_events(1, "alarm")
    with site.db.read() as session:
        assert session.scalars(select(Notice)).all() == []
        assert list(active_alarms(session)) == [Alarm.FORCED]


def test_the_mail_rule_once_per_alarm_address_and_hour(new_site: Callable[..., Site]) -> None:
    site = new_site()
    config = AlarmsConfig(mail_to=("a@example.org", "b@example.org"))
    start = dt.datetime(2026, 11, 30, 9, 55, tzinfo=dt.UTC)
    tz = site.config.site.tz
    with site.db.write() as session:
        assert len(mail_alarm(session, Alarm.FORCED, start, config, "Le Local", tz)) == 2
        # Ten minutes later, in the next clock hour: still within the hour, nothing.
        assert mail_alarm(session, Alarm.FORCED, start + dt.timedelta(minutes=10), config, "Le Local", tz) == []
        # Another alarm is another e-mail.
        assert len(mail_alarm(session, Alarm.DISK, start, config, "Le Local", tz)) == 2
        # An hour and a minute later: told again.
        later = start + dt.timedelta(minutes=61)
        assert len(mail_alarm(session, Alarm.FORCED, later, config, "Le Local", tz)) == 2
        stamp = Stamp(later, time.monotonic_ns(), "boot", True)
        record_alarm(session, "door-1", Alarm.BACKUP, True, stamp, config, "Le Local", tz, "disque plein")
        record_alarm(session, "door-1", Alarm.BACKUP, False, stamp, config, "Le Local", tz)
    with site.db.read() as session:
        notices = session.scalars(select(Notice).where(Notice.kind == "alarm")).all()
        assert len(notices) == 8
        backup = [n for n in notices if n.subject == "Alarme : Sauvegarde en échec"]
        assert len(backup) == 2 and "Précision : disque plein" in backup[0].body


def test_each_alarm_has_its_words_in_both_languages() -> None:
    at = dt.datetime(2026, 12, 7, 14, 5)
    for code in Alarm:
        assert code.value in ALARM_WORDS
        french = alarm(code.value, "Le Local", at, None, "fr")
        english = alarm(code.value, "Le Local", at, None, "en")
        assert french.subject.startswith("Alarme : ") and "lundi 7 décembre 2026 à 14 h 05" in french.body
        assert english.subject.startswith("Alarm: ") and "Monday, December 7, 2026 at 14:05" in english.body


def test_the_alarms_section_is_checked(write_config: Callable[..., Path]) -> None:
    mail = {"host": "127.0.0.1", "port": 25, "security": "none", "from": SENDER}
    config = load_config(write_config({"mail": mail, "alarms": {"mail_to": [MANAGER], "backup_max_age_h": 30}}))
    assert config.alarms.mail_to == (MANAGER,) and config.alarms.backup_max_age_h == 30
    assert load_config(write_config()).alarms == AlarmsConfig()
    with pytest.raises(ConfigError, match=r"alarms.mail_to.*\[mail\]"):
        load_config(write_config({"alarms": {"mail_to": [MANAGER]}}))
    with pytest.raises(ConfigError, match=r"alarms\.mail_to.*pas une adresse"):
        load_config(write_config({"mail": mail, "alarms": {"mail_to": ["gérante"]}}))
    with pytest.raises(ConfigError, match=r"alarms\.disk_min_free_percent"):
        load_config(write_config({"alarms": {"disk_min_free_percent": 150}}))
    with pytest.raises(ConfigError, match=r"alarms\.colour"):
        load_config(write_config({"alarms": {"colour": "red"}}))


def test_an_old_raised_alarm_stays_raised_behind_many_newer_events(new_site: Callable[..., Site]) -> None:
    site = new_site()
    tz = site.config.site.tz
    start = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    with site.db.write() as session:
        stamp = Stamp(start, time.monotonic_ns(), "boot", True)
        record_alarm(session, "door-1", Alarm.BACKUP, True, stamp, None, "Le Local", tz)
        for i in range(120):  # a door forced and closed all night
            moment = Stamp(start + dt.timedelta(minutes=i), time.monotonic_ns(), "boot", True)
            record_alarm(session, "door-1", Alarm.FORCED, True, moment, None, "Le Local", tz)
            record_alarm(session, "door-1", Alarm.FORCED, False, moment, None, "Le Local", tz)
        # Another door of the same ledger (a room's) with its own reader alarm.
        record_alarm(session, "room-1", Alarm.READER, True, stamp, None, "Le Local", tz)
    with site.db.read() as session:
        assert active_alarms(session) == {Alarm.READER: start, Alarm.BACKUP: start}
