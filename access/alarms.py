"""Alarms as facts: a pure watch that turns what a process observes into alarms raised and cleared, without a storm
when a fact flaps; the writer of an alarm event and of its e-mail to the managers in one transaction; what is raised
now, read back from the ledger for the wall display and Home Assistant; and the facts only a watcher sees (a disk
nearly full, a backup that failed or is too old).

Each alarm has one writer (common/words.py, `Alarm`): the door for what it sees, the sync agent for the roster and
the backlog. The e-mail goes through the notices queue (access/notices.py), at most once per alarm and address in
any hour: the rule is in the data, a notice's key names the alarm and the hour, and an earlier one within the hour
stops the next.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access import notice_texts as texts
from access.config_alarms import AlarmsConfig
from access.models import Event, Notice
from access.notices import NoticeKind, enqueue
from access.store import Stamp, append_event
from common.words import Alarm, EventKind

# A manager is told of an alarm at most this often (per alarm and address), however often it flaps.
MAIL_GAP = dt.timedelta(hours=1)
# `halfday backup` writes its last outcome here, in the `backups` folder beside the ledger (its contract).
BACKUP_FOLDER = "backups"
BACKUP_STATUS = "status.json"


@dataclass(frozen=True)
class Debounce:
    """How long a fact must hold before its alarm is raised, and be gone before it is cleared (seconds)."""

    raise_after_s: float = 0.0
    clear_after_s: float = 0.0


# Why each delay: a reader reopening after a glitch comes back within seconds; a clock or a disk that hovers at
# its limit would otherwise raise and clear at every look; a backup's status changes once a night.
DEBOUNCE: dict[Alarm, Debounce] = {
    Alarm.READER: Debounce(raise_after_s=15.0, clear_after_s=60.0),
    Alarm.CLOCK: Debounce(raise_after_s=30.0, clear_after_s=60.0),
    Alarm.DISK: Debounce(clear_after_s=600.0),
    Alarm.BACKUP: Debounce(),
    Alarm.ROSTER: Debounce(clear_after_s=60.0),
    Alarm.BACKLOG: Debounce(clear_after_s=300.0),
}


# The alarms a door watches for itself (the disk and the backups at the entrance only); the others it raises from its
# state machine, or when its ledger breaks.
DOOR_WATCHED = frozenset({Alarm.READER, Alarm.CLOCK, Alarm.DISK, Alarm.BACKUP})
# The door's own judgements: its state machine's, and its ledger's. A door that starts judges them afresh.
DOOR_JUDGED = frozenset({Alarm.FORCED, Alarm.HELD_OPEN, Alarm.DATABASE})
# The sync agent's: it alone knows the roster's age and the backlog's (under the same device id as the door's).
AGENT_WATCHED = frozenset({Alarm.ROSTER, Alarm.BACKLOG})


@dataclass
class AlarmWatch:
    """Pure: facts and a monotonic time in, the alarms to raise (True) and clear (False) out, each once per change.
    A fact unknown this time (None) changes nothing."""

    debounce: Mapping[Alarm, Debounce] = field(default_factory=lambda: DEBOUNCE)
    active: set[Alarm] = field(default_factory=set)
    _since: dict[Alarm, float] = field(default_factory=dict)  # when the fact last started to differ from the alarm

    def observe(self, facts: Mapping[Alarm, bool | None], now: float) -> list[tuple[Alarm, bool]]:
        changes: list[tuple[Alarm, bool]] = []
        for alarm, present in facts.items():
            if present is None:
                continue
            raised = alarm in self.active
            if present == raised:
                self._since.pop(alarm, None)
                continue
            started = self._since.setdefault(alarm, now)
            timing = self.debounce.get(alarm, Debounce())
            if now - started >= (timing.clear_after_s if raised else timing.raise_after_s):
                self._since.pop(alarm, None)
                if present:
                    self.active.add(alarm)
                else:
                    self.active.discard(alarm)
                changes.append((alarm, present))
        return changes


def record_alarm(
    session: Session,
    device_id: str,
    alarm: Alarm,
    active: bool,
    stamp: Stamp,
    alarms: AlarmsConfig | None,
    place: str,
    tz: dt.tzinfo,
    detail: str | None = None,
) -> tuple[str, int]:
    """Append the alarm's event and, when it is raised and managers are to be told, their e-mails, in the caller's
    transaction; returns the event's (id, seq)."""
    data: dict[str, Any] = {"type": alarm.value, "active": active}
    if detail:
        data["detail"] = detail[:200]
    ids = append_event(session, device_id, EventKind.ALARM, data, stamp)
    if active and alarms is not None:
        mail_alarm(session, alarm, stamp.at, alarms, place, tz, detail)
    return ids


def mail_alarm(
    session: Session,
    alarm: Alarm,
    at: dt.datetime,
    alarms: AlarmsConfig,
    place: str,
    tz: dt.tzinfo,
    detail: str | None = None,
) -> list[Notice]:
    """Queue the alarm's e-mail to each manager not told of this alarm within the hour."""
    written = []
    text = texts.alarm(alarm.value, place, at.astimezone(tz), detail, alarms.language)
    for address in alarms.mail_to:
        prefix = f"alarm:{alarm.value}:{address}:"
        recent = session.scalar(
            select(Notice.id).where(Notice.key.startswith(prefix, autoescape=True), Notice.created_at > at - MAIL_GAP)
        )
        if recent is not None:
            continue
        key = f"{prefix}{at.strftime('%Y-%m-%dT%H')}"
        notice = enqueue(session, NoticeKind.ALARM, key, address, alarms.language, text, at)
        if notice is not None:
            written.append(notice)
    return written


def active_alarms(session: Session, device_id: str | None = None) -> dict[Alarm, dt.datetime]:
    """The alarms raised now by any device of this ledger (or by `device_id`), each with when it was raised: the
    latest event of each device and kind says whether it is on, however many others came before."""
    kind = Event.data["type"].as_string()
    query = select(Event.device_id, kind.label("type"), func.max(Event.seq).label("seq")).where(
        Event.kind == EventKind.ALARM
    )
    if device_id is not None:
        query = query.where(Event.device_id == device_id)
    latest = query.group_by(Event.device_id, kind).subquery()
    rows = session.execute(
        select(Event.at, Event.data).join(latest, (Event.device_id == latest.c.device_id) & (Event.seq == latest.c.seq))
    )
    raised: dict[Alarm, dt.datetime] = {}
    for at, data in rows:
        if not isinstance(data, dict) or data.get("type") not in tuple(Alarm) or data.get("active") is not True:
            continue
        moment = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
        code = Alarm(data["type"])
        raised[code] = min(raised.get(code, moment), moment)
    return dict(sorted(raised.items(), key=lambda item: list(Alarm).index(item[0])))


# ---------------------------------------------------------------------------------------------- watched facts


def disk_nearly_full(path: Path, min_free_percent: float) -> bool | None:
    """Whether the disk holding `path` has less than `min_free_percent` free (None: it cannot be asked)."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    return usage.total > 0 and 100 * usage.free / usage.total < min_free_percent


def backup_trouble(folder: Path, max_age: dt.timedelta, now: dt.datetime, expected: bool) -> str | None:
    """Why the backups need a person, in French, or None when they are fine or not set up.
    Backups count as set up once `halfday backup` made its folder, or when the config says they are expected."""
    status = folder / BACKUP_STATUS
    if not folder.is_dir() and not expected:
        return None
    try:
        raw = json.loads(status.read_text(encoding="utf-8"))
        at = dt.datetime.fromisoformat(str(raw["at"]).replace("Z", "+00:00"))
        ok = raw["ok"]
        if not isinstance(ok, bool) or at.tzinfo is None:
            raise ValueError("ok / at")
    except FileNotFoundError:
        return "aucune sauvegarde réussie"
    except (OSError, ValueError, KeyError, TypeError):
        return f"état des sauvegardes illisible ({BACKUP_STATUS})"
    if not ok:
        error = raw.get("error")
        return str(error)[:200] if isinstance(error, str) and error.strip() else "la dernière sauvegarde a échoué"
    if now - at > max_age:
        return f"dernière sauvegarde réussie le {at.astimezone(dt.UTC):%d/%m/%Y à %H:%M} UTC"
    return None
