"""Personal data by the rules (PRIVACY.md): how long each kind is kept, read from `[privacy]` (the site's config or
the hub's), and the few pure helpers both sides share: the cut-off dates, the pseudonym that replaces an erased
member's name, and what an event keeps once it no longer names anyone."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from common.config import Table
from common.tables import csv_file

# The CNIL's practice for badge access control: three months of who came in when, then counts only.
ACCESS_LOG_MONTHS = 3
# A walk-in's name and e-mail stay with their sale for a year: long enough for a receipt asked again, a payment
# disputed or a pass refunded; the sale itself stays as an accounting record, without them.
WALK_IN_MONTHS = 12
# A sent e-mail is proof it left, for a month; its body repeats what the member's page shows anyway.
SENT_NOTICES_DAYS = 30
# Rows changed per transaction: a Pi's SD card and the door's next write do not wait on one long transaction.
BATCH = 500

# What a scrubbed walk-in or erased member is called from then on, and the marker a scrubbed event carries.
WALK_IN_PSEUDONYM = "Client·e de passage"
ERASED_PREFIX = "Membre effacé"
SCRUBBED = "scrubbed"


@dataclass(frozen=True)
class PrivacyConfig:
    """How long personal data is kept, and whom people ask about theirs."""

    access_log_months: int = ACCESS_LOG_MONTHS
    walk_in_months: int = WALK_IN_MONTHS
    sent_notices_days: int = SENT_NOTICES_DAYS
    # Whom to ask for one's data, a correction or an erasure: an address, an e-mail, a phone ("" : the desk).
    contact: str = ""


def read_privacy(table: Table) -> PrivacyConfig:
    """The `[privacy]` table (every key optional)."""
    config = PrivacyConfig(
        access_log_months=table.integer("access_log_months", ACCESS_LOG_MONTHS, low=1, high=12),
        walk_in_months=table.integer("walk_in_months", WALK_IN_MONTHS, low=1, high=36),
        sent_notices_days=table.integer("sent_notices_days", SENT_NOTICES_DAYS, low=1, high=366),
        contact=(table.optional("contact", str) or "").strip(),
    )
    if len(config.contact) > 300:
        raise table.fail("contact", "est trop long (300 caractères au plus)")
    if config.walk_in_months < config.access_log_months:
        # A walk-in's name is in the access log too (their pass's entries): it cannot go sooner than the log.
        raise table.fail("walk_in_months", "doit être au moins égal à access_log_months")
    table.done()
    return config


def months_before(now: dt.datetime, months: int) -> dt.datetime:
    """The same instant `months` calendar months earlier (the 31st of a short month becomes its last day)."""
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    month += 1
    day = now.day
    while True:
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


@dataclass(frozen=True)
class Cutoffs:
    """What is older than these instants has had its time: access logs, walk-ins' details, sent notices."""

    access_log: dt.datetime
    walk_in: dt.datetime
    notices: dt.datetime

    @classmethod
    def at(cls, now: dt.datetime, config: PrivacyConfig) -> Cutoffs:
        return cls(
            months_before(now, config.access_log_months),
            months_before(now, config.walk_in_months),
            now - dt.timedelta(days=config.sent_notices_days),
        )


def erased_name(member_id: str) -> str:
    """The neutral name an erased member keeps, so that lists and counts still have a row to show."""
    return f"{ERASED_PREFIX} {member_id[:4]}"


def is_erased_name(name: str) -> bool:
    return name.startswith(ERASED_PREFIX)


# The keys of each event kind that name a person or a badge (sync/payloads.py says what each kind holds). The
# counts need the rest: whether an entry was granted, its half-day, the amounts and kinds of sales.
PERSONAL_KEYS: dict[str, tuple[str, ...]] = {
    "entry": ("uid", "holder", "first_name"),
    "enrol": ("uid",),
    "sale": ("name", "email"),
    "booking": ("holder", "name"),
    "unlock": ("ref",),
}
# What a scrubbed key holds instead: the wire's types stay valid (a string stays a string).
_EMPTY: dict[str, Any] = {"uid": "", "holder": None, "first_name": None, "name": "", "email": "", "ref": None}


def scrubbed_data(kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """`data` without what names a person or a badge, marked scrubbed; None when there is nothing to take away."""
    keys = PERSONAL_KEYS.get(kind)
    if keys is None or data.get(SCRUBBED):
        return None
    clean = {k: (_EMPTY[k] if k in keys else v) for k, v in data.items()}
    if kind == "sale" and "name" in clean:
        clean["name"] = WALK_IN_PSEUDONYM
    clean[SCRUBBED] = True
    return clean


def unnamed_data(kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """`data` of an erased member's unsent event: their badge and name go, their id and half-day stay, so that the
    hub still counts the use it has not yet received. None when nothing names them."""
    keys = [k for k in PERSONAL_KEYS.get(kind, ()) if k != "holder" and data.get(k)]
    if not keys:
        return None
    clean = dict(data)
    for key in keys:
        clean[key] = _EMPTY[key] if key != "name" else erased_name(str(data.get("holder") or ""))
    return clean


# ---------------------------------------------------------------------------------------------- exports

Row = dict[str, Any]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


def plain_rows(rows: list[Row]) -> list[Row]:
    """Rows whose dates and times are ISO text, as JSON and CSV both write them."""
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def export_json(sections: dict[str, list[Row]]) -> bytes:
    """Everything held about one person, one section per table, as UTF-8 JSON."""
    body = {name: plain_rows(rows) for name, rows in sections.items()}
    return json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode("utf-8")


def export_zip(sections: dict[str, list[Row]]) -> bytes:
    """The same as `export_json`, as a zip of one CSV per section (French spreadsheets: common/tables.py)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in sections.items():
            plain = plain_rows(rows)
            header: list[str] = []
            for row in plain:
                header += [k for k in row if k not in header]
            cells = [[_cell_text(row.get(k)) for k in header] for row in plain]
            archive.writestr(f"{name}.csv", csv_file(header or ["aucune donnée"], cells))
    return out.getvalue()


def _cell_text(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else value
