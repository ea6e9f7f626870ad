"""Schemas of every payload in sync/PROTOCOL.md, as hand-written checks that raise only ProtocolError.

Validators return the payload itself (a plain dict) once it is known to be well formed, so callers read fields
without checking them again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.books import SERIES_PATTERN
from common.weekdays import STORED as WEEKDAYS
from common.words import (
    PASS_KINDS,
    SLOTS,
    Alarm,
    BookKind,
    CredentialKind,
    CredentialStatus,
    PaymentMethod,
    PlanKind,
    Slot,
    Tender,
)
from sync.protocol import (
    COMMAND_NAMES,
    DATE_RE,
    DOOR_POSITIONS,
    ENROL_TIMEOUT_S,
    HEX_ID_RE,
    ID_RE,
    KIND_RE,
    MAX_AMOUNT_CENTS,
    MAX_BATCH_EVENTS,
    MAX_MESSAGE_BYTES,
    MAX_SEQ,
    MAX_SNAPSHOT_PARTS,
    READER_STATES,
    REQUEST_KINDS,
    ROSTER_FAILURE_LEN,
    SHA256_RE,
    STATUS_ALARMS,
    TIMESTAMP_RE,
    TOP_UP_HALF_DAYS,
    UID_RE,
    VERSION,
    Fields,
    Json,
    ProtocolError,
    dumps,
    parse_json,
    utc_iso,
)

NAME_LEN = 160
EMAIL_LEN = 254


# ---------------------------------------------------------------------------------------------- events


def _envelope_ok(e: Any) -> bool:
    """The common case in one expression: a well-formed envelope. Anything else takes the careful path."""
    try:
        return bool(
            type(e) is dict
            and type(e["v"]) is int
            and e["v"] == VERSION
            and type(e["id"]) is str
            and HEX_ID_RE.fullmatch(e["id"])
            and type(e["site"]) is str
            and ID_RE.fullmatch(e["site"])
            and type(e["device"]) is str
            and ID_RE.fullmatch(e["device"])
            and type(e["seq"]) is int
            and 1 <= e["seq"] <= MAX_SEQ
            and type(e["kind"]) is str
            and KIND_RE.fullmatch(e["kind"])
            and type(e["at"]) is str
            and TIMESTAMP_RE.fullmatch(e["at"])
            and dt.datetime.fromisoformat(e["at"][:-1])
            and type(e["mono_ns"]) is int
            and 0 <= e["mono_ns"] <= MAX_SEQ
            and type(e["boot"]) is str
            and len(e["boot"]) <= 64
            and type(e["clock_ok"]) is bool
            and type(e["data"]) is dict
        )
    except (KeyError, ValueError):
        return False


def validate_event(value: Any, where: str = "event") -> Json:
    """Check an event's envelope (not its data: see `event_data_problem`)."""
    if _envelope_ok(value):
        return value  # type: ignore[no-any-return]
    f = Fields(value, where)
    if f.integer("v", low=VERSION, high=VERSION) != VERSION:
        raise ProtocolError(f"{where}.v doit valoir {VERSION}")
    f.hex_id("id")
    f.ident("site")
    f.ident("device")
    f.integer("seq", low=1)
    f.text("kind", max_len=32, pattern=KIND_RE)
    f.timestamp("at")
    f.integer("mono_ns")
    f.text("boot", max_len=64)
    f.boolean("clock_ok")
    f.obj_("data")
    return f.obj


def validate_batch(payload: bytes | str | Json, site: str | None = None, device: str | None = None) -> Json:
    """Check a batch of events from `site`/`device` (the topic's): envelope of every event, order, names."""
    obj = payload if isinstance(payload, dict) else parse_json(payload)
    f = Fields(obj, "batch")
    batch_site = f.ident("site")
    batch_device = f.ident("device")
    if (site is not None and batch_site != site) or (device is not None and batch_device != device):
        raise ProtocolError(f"le lot nomme {batch_site}/{batch_device}, et non {site}/{device} comme son topic")
    events = f.array("events", max_len=MAX_BATCH_EVENTS)
    if not events:
        raise ProtocolError("batch.events est vide")
    last = 0
    for index, event in enumerate(events):
        validate_event(event, f"batch.events[{index}]")
        if event["site"] != batch_site or event["device"] != batch_device:
            raise ProtocolError(f"batch.events[{index}] nomme un autre site ou appareil que le lot")
        if event["seq"] <= last:
            raise ProtocolError(f"batch.events[{index}].seq n'augmente pas")
        last = event["seq"]
    return obj


def make_batch(site: str, device: str, events: list[Json]) -> bytes:
    return dumps({"v": VERSION, "site": site, "device": device, "events": events})


def _entry(f: Fields) -> None:
    f.text("uid", max_len=64)
    f.hex_id("holder", nullable=True)
    f.boolean("granted")
    f.text("reason", max_len=64)
    # The plan as the door knew it (its id or its kind); the hub reads the charge from `use`, not from here.
    f.text("plan", max_len=64, nullable=True)
    use = f.obj_("use", nullable=True)
    if use is not None:
        u = Fields(use, f"{f.where}.use")
        u.date("date")
        u.choice("slot", SLOTS)
        u.integer("spent", low=0, high=1)
        u.hex_id("subscription", nullable=True)
        u.hex_id("pass", nullable=True)


# A pass's longest span: a month and the closure days it gives back (access/closures.py MAX_EXTENSION_DAYS).
MAX_PASS_DAYS = 31 + 120


SERIES_RE = re.compile(SERIES_PATTERN)
SALE_KIND_LEN = 16
LABEL_LEN = 200


def _sale(f: Fields) -> None:
    """A line of the books: what every sale carries, then a pass's own fields (sync/PROTOCOL.md, "The books")."""
    f.hex_id("sale")
    book_kind = f.choice("book_kind", tuple(BookKind)) if "book_kind" in f.obj else BookKind.PASS
    if book_kind == BookKind.PASS:
        f.choice("kind", tuple(sorted(PASS_KINDS)))
    else:
        f.text("kind", max_len=SALE_KIND_LEN)
    refund = book_kind == BookKind.REFUND
    f.integer("amount_cents", low=-MAX_AMOUNT_CENTS if refund else 0, high=MAX_AMOUNT_CENTS)
    f.choice("provider", tuple(PaymentMethod))
    f.boolean("paid")
    if ("series" in f.obj) != ("number" in f.obj):
        raise ProtocolError(f"{f.where}.series et {f.where}.number vont ensemble")
    if "series" in f.obj:
        f.text("series", max_len=24, pattern=SERIES_RE)
        f.integer("number", low=1)
    if "label" in f.obj:
        f.text("label", max_len=LABEL_LEN)
    if "tender" in f.obj:
        f.choice("tender", tuple(Tender))
    if "member" in f.obj:
        f.hex_id("member")
    if refund:
        f.hex_id("refund_of")
    elif "refund_of" in f.obj:
        raise ProtocolError(f"{f.where}.refund_of n'est permis que pour un avoir (book_kind refund)")
    if book_kind != BookKind.PASS:
        return
    f.hex_id("pass")
    first = dt.date.fromisoformat(f.date("date"))
    slots = _slots(f, "slots")
    f.text("name", max_len=NAME_LEN)
    f.text("email", max_len=EMAIL_LEN)
    if "until" not in f.obj and "until_slots" not in f.obj:
        return
    # A pass over several days: from `slots` of `date` to `until_slots` of `until`, every day between whole.
    last = dt.date.fromisoformat(f.date("until"))
    until_slots = _slots(f, "until_slots")
    if not first < last <= first + dt.timedelta(days=MAX_PASS_DAYS):
        raise ProtocolError(f"{f.where}.until doit suivre date, de {MAX_PASS_DAYS} jours au plus")
    if slots[-1] != Slot.AFTERNOON or until_slots[0] != Slot.MORNING:
        raise ProtocolError(f"{f.where}.slots doit finir l'après-midi et until_slots commencer le matin")


def _sale_paid(f: Fields) -> None:
    f.hex_id("sale")
    if "tender" in f.obj:
        f.choice("tender", tuple(Tender))


def _slots(f: Fields, key: str) -> list[str]:
    """Slot names, each once and in the day's order."""
    slots = f.array(key, max_len=len(SLOTS))
    if not slots or any(slot not in SLOTS for slot in slots) or sorted(set(slots), key=SLOTS.index) != slots:
        raise ProtocolError(f"{f.where}.{key} doit lister morning et/ou afternoon")
    return list(slots)


RESOURCE_KINDS = ("meeting_room", "office", "phone_box")
PAID_BY = ("counter", "voucher", "carnet", "included")
BOOKING_ORIGINS = ("kiosk", "admin", "hub")
# A site's resources in one event, and the half-days of one booking (a month of mornings and afternoons).
MAX_RESOURCES = 200
MAX_BOOKED_HALF_DAYS = 62
REFUSAL_LEN = 32


def _resources(f: Fields) -> None:
    for index, item in enumerate(f.array("resources", max_len=MAX_RESOURCES)):
        r = Fields(item, f"{f.where}.resources[{index}]")
        r.hex_id("id")
        r.text("name", max_len=120)
        r.choice("kind", RESOURCE_KINDS)
        r.integer("capacity", high=10_000)
        r.integer("price_halfday_cents", high=MAX_AMOUNT_CENTS)
        r.integer("price_day_cents", high=MAX_AMOUNT_CENTS)
        r.boolean("active")


def half_days(f: Fields, key: str, *, booked: bool) -> list[tuple[str, str]]:
    """The (date, slot) of a booking's `key` list, each once; `booked` rows also carry their id, spent and carnet."""
    items = f.array(key, max_len=MAX_BOOKED_HALF_DAYS)
    if not items:
        raise ProtocolError(f"{f.where}.{key} est vide")
    seen: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        h = Fields(item, f"{f.where}.{key}[{index}]")
        if booked:
            h.hex_id("id")
            h.integer("spent", low=0, high=1)
            h.hex_id("subscription", nullable=True)
        pair = (h.date("date"), h.choice("slot", SLOTS))
        if pair in seen:
            raise ProtocolError(f"{f.where}.{key}[{index}] répète une demi-journée")
        seen.append(pair)
    return seen


def _booking(f: Fields) -> None:
    f.hex_id("group")
    f.hex_id("resource")
    f.choice("resource_kind", RESOURCE_KINDS)
    f.text("resource_name", max_len=120)
    f.hex_id("holder", nullable=True)
    f.text("name", max_len=NAME_LEN)
    f.choice("paid_by", PAID_BY)
    f.hex_id("sale", nullable=True)
    f.choice("origin", BOOKING_ORIGINS)
    f.hex_id("request", nullable=True)
    half_days(f, "slots", booked=True)


def _booking_cancelled(f: Fields) -> None:
    f.hex_id("group")
    ids = f.array("bookings", max_len=MAX_BOOKED_HALF_DAYS)
    if not ids or any(not isinstance(i, str) or not HEX_ID_RE.fullmatch(i) for i in ids):
        raise ProtocolError(f"{f.where}.bookings doit lister des identifiants de réservation")
    f.choice("by", ("manager", "holder"))


def _booking_refused(f: Fields) -> None:
    f.hex_id("request")
    f.text("reason", max_len=REFUSAL_LEN)


_DATA_CHECKS: dict[str, Callable[[Fields], object]] = {
    "entry": _entry,
    "exit": lambda f: f.choice("by", ("button",)),
    "door": lambda f: f.boolean("open"),
    "alarm": lambda f: (f.choice("type", tuple(Alarm)), f.boolean("active")),
    "unlock": lambda f: (f.choice("by", ("manager", "pass")), f._get("ref", True)),
    "sale": _sale,
    "sale_paid": _sale_paid,
    "pass_stopped": lambda f: (f.hex_id("sale"), f.hex_id("pass")),
    "enrol": lambda f: f.text("uid", max_len=64),
    "resources": _resources,
    "booking": _booking,
    "booking_cancelled": _booking_cancelled,
    "booking_refused": _booking_refused,
}
KNOWN_KINDS = tuple(_DATA_CHECKS)


def _common_data_ok(kind: str, d: Json) -> bool:
    """The two kinds a door writes most, well formed, checked in one expression; the rest take the careful path."""
    try:
        if kind == "door":
            return type(d["open"]) is bool
        if kind != "entry":
            return False
        use = d["use"]
        return bool(
            type(d["uid"]) is str
            and len(d["uid"]) <= 64
            and (d["holder"] is None or (type(d["holder"]) is str and HEX_ID_RE.fullmatch(d["holder"])))
            and type(d["granted"]) is bool
            and type(d["reason"]) is str
            and len(d["reason"]) <= 64
            and (d["plan"] is None or (type(d["plan"]) is str and len(d["plan"]) <= 64))
            and (
                use is None
                or (
                    type(use) is dict
                    and type(use["date"]) is str
                    and DATE_RE.fullmatch(use["date"])
                    and dt.date.fromisoformat(use["date"])
                    and use["slot"] in SLOTS
                    and type(use["spent"]) is int
                    and use["spent"] in (0, 1)
                    and (use["subscription"] is None or HEX_ID_RE.fullmatch(str(use["subscription"])))
                    and (use["pass"] is None or HEX_ID_RE.fullmatch(str(use["pass"])))
                )
            )
        )
    except (KeyError, TypeError, ValueError):
        return False


def event_data_problem(kind: str, data: Json) -> str | None:
    """Why `data` does not fit a known `kind` (None when it fits, or when the kind is unknown)."""
    if _common_data_ok(kind, data):
        return None
    check = _DATA_CHECKS.get(kind)
    if check is None:
        return None
    try:
        check(Fields(data, "data"))
    except ProtocolError as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------------------------- ack, status


def make_ack(seq: int) -> bytes:
    return dumps({"v": VERSION, "seq": seq})


def validate_ack(payload: bytes | str) -> int:
    """The sequence number an ack confirms."""
    return int(Fields(parse_json(payload), "ack").integer("seq"))


STATES = ("online", "offline")
# The roster's fields of an online status, absent from an older appliance's.
STATUS_ROSTER_FIELDS = ("roster_issued_at", "roster_failed_at", "roster_failure", "roster_behind")


@dataclass(frozen=True)
class DoorHealth:
    """What an online status tells of the door, for the hub's doors page (all optional on the wire)."""

    oldest_unsent_at: dt.datetime | None = None
    clock_ok: bool | None = None
    door: str | None = None  # DOOR_POSITIONS, or None when the door daemon is not heard
    alarms: tuple[str, ...] = ()  # STATUS_ALARMS
    reader: str | None = None  # READER_STATES, or None when the door daemon is not heard

    def fields(self) -> Json:
        return {
            "oldest_unsent_at": utc_iso(self.oldest_unsent_at) if self.oldest_unsent_at else None,
            "clock_ok": self.clock_ok,
            "door": self.door,
            "alarms": list(self.alarms),
            "reader": self.reader,
        }


@dataclass(frozen=True)
class RosterHealth:
    """What an online status tells of the roster the door decides on (all optional on the wire)."""

    issued_at: dt.datetime | None = None  # the held roster's issued_at
    failed_at: dt.datetime | None = None  # the last roster that failed, since the last one that applied
    failure: str | None = None  # why, in French, at most ROSTER_FAILURE_LEN characters
    behind: bool = False  # a newer version was heard of that deltas cannot reach: the hub should send a snapshot

    def fields(self) -> Json:
        return {
            "roster_issued_at": utc_iso(self.issued_at) if self.issued_at else None,
            "roster_failed_at": utc_iso(self.failed_at) if self.failed_at else None,
            "roster_failure": self.failure[:ROSTER_FAILURE_LEN] if self.failure is not None else None,
            "roster_behind": self.behind,
        }


def make_status(
    site: str,
    device: str,
    state: str,
    *,
    at: dt.datetime | None = None,
    backlog: int | None = None,
    last_seq: int | None = None,
    acked_seq: int | None = None,
    roster_version: int | None = None,
    health: DoorHealth | None = None,
    roster: RosterHealth | None = None,
) -> bytes:
    """A status payload; with only site, device and "offline" it is the agent's last will."""
    body: Json = {"v": VERSION, "site": site, "device": device, "state": state}
    if state == "online":
        body.update(
            at=utc_iso(at) if at else None,
            backlog=backlog,
            last_seq=last_seq,
            acked_seq=acked_seq,
            roster_version=roster_version,
        )
        if health is not None:
            body.update(health.fields())
        if roster is not None:
            body.update(roster.fields())
    return dumps(body)


def validate_status(payload: bytes | str, site: str | None = None, device: str | None = None) -> Json:
    """A device's status. The door's health and roster fields are optional (an older appliance sends none): the
    result has each of them, None (or [] for `alarms`) when it was left out."""
    obj = parse_json(payload)
    f = Fields(obj, "status")
    _same_place(f, site, device)
    f.choice("state", STATES)
    for key in ("backlog", "last_seq", "acked_seq", "roster_version"):
        if key in obj:
            f.integer(key, nullable=True)
    for key in ("at", "oldest_unsent_at", "roster_issued_at", "roster_failed_at"):
        if key in obj:
            f.timestamp(key, nullable=True)
    if "roster_failure" in obj:
        f.text("roster_failure", max_len=ROSTER_FAILURE_LEN, nullable=True)
    if obj.get("clock_ok") is not None:
        f.boolean("clock_ok")
    if obj.get("roster_behind") is not None:
        f.boolean("roster_behind")
    if "door" in obj:
        f.choice("door", DOOR_POSITIONS, nullable=True)
    if "reader" in obj:
        f.choice("reader", READER_STATES, nullable=True)
    if obj.get("alarms") is not None:
        alarms = f.array("alarms", max_len=len(STATUS_ALARMS))
        if any(not isinstance(a, str) or a not in STATUS_ALARMS for a in alarms) or len(set(alarms)) < len(alarms):
            raise ProtocolError(f"status.alarms doit lister, chacune une fois, des alarmes parmi {STATUS_ALARMS}")
    for key in (*STATUS_ROSTER_FIELDS, "oldest_unsent_at", "clock_ok", "door", "reader"):
        obj.setdefault(key, None)
    if obj.get("alarms") is None:
        obj["alarms"] = []
    return obj


def _same_place(f: Fields, site: str | None, device: str | None) -> None:
    if (site is not None and f.ident("site") != site) or (device is not None and f.ident("device") != device):
        raise ProtocolError(f"{f.where} nomme un autre site ou appareil que son topic")
    f.ident("site")
    f.ident("device")


# ---------------------------------------------------------------------------------------------- requests


def validate_request(payload: bytes | str, site: str | None = None, device: str | None = None) -> Json:
    """A device's change request (enrol a badge, add a member, top up a carnet)."""
    obj = parse_json(payload)
    f = Fields(obj, "request")
    _same_place(f, site, device)
    f.hex_id("id")
    f.timestamp("at")
    kind = f.choice("kind", REQUEST_KINDS)
    d = Fields(f.obj_("data"), "request.data")
    if kind == "top_up":
        d.hex_id("subscription_id")
        d.integer("half_days", low=TOP_UP_HALF_DAYS[0], high=TOP_UP_HALF_DAYS[1])
        d.integer("amount_cents", high=MAX_AMOUNT_CENTS)
        d.choice("provider", tuple(PaymentMethod))
        return obj
    d.hex_id("member_id")
    if kind == "enrol_badge":
        d.text("uid", max_len=20, pattern=UID_RE)
    else:
        d.text("first_name", max_len=80)
        d.text("last_name", max_len=80)
        d.text("email", max_len=EMAIL_LEN, nullable=True)
        d.text("uid", max_len=20, pattern=UID_RE, nullable=True)
    return obj


def make_request(site: str, device: str, request_id: str, at: dt.datetime, kind: str, data: Json) -> bytes:
    """A change request as sent, checked like the hub checks it: ProtocolError names the first bad field."""
    payload = dumps(
        {"v": VERSION, "site": site, "device": device, "id": request_id, "at": utc_iso(at), "kind": kind, "data": data}
    )
    validate_request(payload, site, device)
    return payload


def make_reply(request_id: str, ok: bool, error: str | None, roster_version: int | None) -> bytes:
    return dumps({"v": VERSION, "request": request_id, "ok": ok, "error": error, "roster_version": roster_version})


def validate_reply(payload: bytes | str) -> Json:
    obj = parse_json(payload)
    f = Fields(obj, "reply")
    f.hex_id("request")
    f.boolean("ok")
    f.text("error", max_len=200, nullable=True)
    f.integer("roster_version", nullable=True)
    return obj


# ---------------------------------------------------------------------------------------------- signed bodies


def roster_member(item: Any, where: str) -> None:
    """One member of a roster (the hub checks each row once, before any roster holds it; a device checks all)."""
    m = Fields(item, where)
    m.hex_id("id")
    m.text("first_name", max_len=80)
    m.text("last_name", max_len=80)
    m.text("email", max_len=EMAIL_LEN, nullable=True)
    m.boolean("active")
    # Absent: not staff (most members, and every member of a hub older than closures).
    if "staff" in m.obj:
        m.boolean("staff")


def roster_credential(item: Any, where: str) -> None:
    c = Fields(item, where)
    c.hex_id("id")
    c.hex_id("member_id")
    c.choice("kind", tuple(CredentialKind))
    c.text("value", max_len=20, pattern=UID_RE)
    c.choice("status", tuple(CredentialStatus))


def roster_plan(item: Any, where: str) -> None:
    p = Fields(item, where)
    p.hex_id("id")
    p.text("name", max_len=120)
    p.choice("kind", tuple(PlanKind))
    p.integer("half_days", high=100_000, nullable=True)
    p.boolean("allow_overdraft")
    p.hhmm("hours_start")
    p.hhmm("hours_end")
    # An older hub's roster has no weekdays: its plans admit every day, as they always did.
    if "weekdays" in p.obj:
        p.text("weekdays", max_len=7, pattern=WEEKDAYS, nullable=True)
    p.integer("price_cents", high=100_000_000)


def roster_subscription(item: Any, where: str) -> None:
    s = Fields(item, where)
    s.hex_id("id")
    s.hex_id("member_id")
    s.hex_id("plan_id")
    s.date("valid_from", nullable=True)
    s.date("valid_until", nullable=True)
    s.integer("balance", low=-1_000_000, high=1_000_000, nullable=True)


def _roster_rows(f: Fields, what: str) -> None:
    """What snapshots and deltas share: site, version, issue time, `seen` and the rows."""
    f.ident("site")
    f.integer("version", low=1)
    f.timestamp("issued_at")
    seen = Fields(f.obj_("seen"), f"{what}.seen")
    for device in seen.obj:
        if not ID_RE.fullmatch(device):
            raise ProtocolError(f"{what}.seen a une clé qui n'est pas un identifiant d'appareil : {device[:70]!r}")
        seen.integer(device)
    if "erased_members" in f.obj:
        for index, item in enumerate(f.array("erased_members", max_len=1_000_000)):
            if not isinstance(item, str) or not HEX_ID_RE.fullmatch(item):
                raise ProtocolError(f"{what}.erased_members[{index}] n'est pas un identifiant")
    for key, check in (
        ("members", roster_member),
        ("credentials", roster_credential),
        ("plans", roster_plan),
        ("subscriptions", roster_subscription),
    ):
        for index, item in enumerate(f.array(key, max_len=1_000_000)):
            check(item, f"{what}.{key}[{index}]")


def validate_roster_body(obj: Json) -> Json:
    """Check everything in a snapshot but its signature (sync.signing.verify_roster does both)."""
    _roster_rows(Fields(obj, "roster"), "roster")
    return obj


def validate_delta_body(obj: Json) -> Json:
    """Check everything in a delta but its signature (sync.signing.verify_delta does both): a snapshot's fields and
    rows, `base` just below `version`, the ids removed, and every credential and subscription belonging to a member
    the delta sends whole."""
    f = Fields(obj, "delta")
    _roster_rows(f, "delta")
    if f.integer("base") != obj["version"] - 1:
        raise ProtocolError("delta.base doit valoir version - 1")
    for key in ("removed_members", "removed_plans"):
        for index, item in enumerate(f.array(key, max_len=1_000_000)):
            if not isinstance(item, str) or not HEX_ID_RE.fullmatch(item):
                raise ProtocolError(f"delta.{key}[{index}] n'est pas un identifiant")
    sent = {m["id"] for m in obj["members"]}
    if sent & set(obj["removed_members"]):
        raise ProtocolError("delta : un membre est à la fois envoyé et retiré")
    if any(row["member_id"] not in sent for row in (*obj["credentials"], *obj["subscriptions"])):
        raise ProtocolError("delta : un badge ou un abonnement appartient à un membre que le delta n'envoie pas")
    return obj


def validate_snapshot_part(obj: Json) -> Json:
    """One part of a large snapshot (not signed by itself: the snapshot put together is)."""
    f = Fields(obj, "part")
    f.ident("site")
    f.integer("version", low=1)
    parts = f.integer("parts", low=1, high=MAX_SNAPSHOT_PARTS)
    f.integer("part", high=parts - 1)
    f.choice("encoding", ("zlib",))
    f.text("digest", max_len=64, pattern=SHA256_RE)
    f.text("data", max_len=MAX_MESSAGE_BYTES)
    return obj


def validate_command_body(obj: Json) -> Json:
    f = Fields(obj, "command")
    f.ident("site")
    f.ident("device")
    name = f.choice("name", COMMAND_NAMES)
    f.text("nonce", max_len=32, pattern=HEX_ID_RE)
    f.timestamp("expires")
    args = f.obj_("args")
    if name == "enrol":
        a = Fields(args, "command.args")
        a.hex_id("member_id")
        a.hex_id("request")
        a.integer("timeout_s", low=ENROL_TIMEOUT_S[0], high=ENROL_TIMEOUT_S[1])
    elif name == "book":
        book_args(args)
    return obj


def book_args(args: Json) -> Json:
    """The arguments of a `book` command (sync/PROTOCOL.md, Commands), the hub's booking request."""
    a = Fields(args, "command.args")
    a.hex_id("request")
    a.hex_id("resource")
    half_days(a, "half_days", booked=False)
    name = a.text("name", max_len=80)
    if not name.strip():
        raise ProtocolError("command.args.name est vide")
    a.hex_id("member", nullable=True)
    a.choice("paid_by", PAID_BY)
    return args
