"""The appliance's tables: members, badges, plans, balances, uses, events and the outbox, requests to the hub.

Every datetime stored here is UTC and timezone-aware. Local dates and slots (for half-day uses) are computed in
the site's time zone by the ledger and stored as a plain date plus a slot name.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from common.db import TYPE_ANNOTATION_MAP, new_id, utcnow
from common.records import MemberColumns, PlanColumns
from common.words import CredentialKind, CredentialStatus


class Base(DeclarativeBase):
    type_annotation_map = TYPE_ANNOTATION_MAP


class Member(MemberColumns, Base):
    __tablename__ = "members"

    # `staff` (common/records.py): opens on the site's closed days, never charged for them.
    # The language of the member's e-mails and touchscreen account ("fr" or "en").
    language: Mapped[str] = mapped_column(String(2), default="fr")
    # Whether the member wants a statement of their half-days by e-mail each month.
    monthly_statement: Mapped[bool] = mapped_column(Boolean, default=False)

    credentials: Mapped[list[Credential]] = relationship(back_populates="member")
    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="member")


class Plan(PlanColumns, Base):
    __tablename__ = "plans"

    # Guest half-days a month included in the plan (None or 0: a member's guest is charged to their carnet).
    guest_half_days: Mapped[int | None] = mapped_column(Integer)
    # Half-days of rooms and offices (resources) a month included in the plan (None or 0: none).
    room_half_days: Mapped[int | None] = mapped_column(Integer)


class Subscription(Base):
    """A member's plan, valid between two local dates (inclusive; None is open-ended)."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship(back_populates="subscriptions")
    plan: Mapped[Plan] = relationship()
    balance: Mapped[Balance | None] = relationship(back_populates="subscription")


class Balance(Base):
    """A carnet's balance: `amount` as known after this device's event `as_of_seq`.

    The effective balance is `amount` minus the half-days this device spent in events after `as_of_seq`. A roster
    from the hub sets both (the hub's balance and the last sequence it had seen from this device), so a new roster
    never gives back a half-day already spent at this door; the manager's top-up does the same with the current
    sequence.
    """

    __tablename__ = "balances"

    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(Integer)
    as_of_seq: Mapped[int] = mapped_column(BigInteger, default=0)

    subscription: Mapped[Subscription] = relationship(back_populates="balance")


class Credential(Base):
    """A way to open the door: an NFC badge's UID now; PIN codes and strong cards later."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id"), index=True)
    pass_id: Mapped[str | None] = mapped_column(ForeignKey("passes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default=CredentialKind.NFC_UID)
    value: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=CredentialStatus.ACTIVE)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()

    member: Mapped[Member | None] = relationship(back_populates="credentials")


class BadgeHistory(Base):
    """What happened to a badge, one row per change: given, revoked as lost, given back when found, moved."""

    __tablename__ = "badge_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    value: Mapped[str] = mapped_column(String(64), index=True)
    member_id: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(16))  # "given", "revoked", "given_back"
    reason: Mapped[str | None] = mapped_column(String(120))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Sale(Base):
    """A walk-in's purchase at the kiosk; a counter sale stays unpaid until the manager marks it paid."""

    __tablename__ = "sales"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    plan_kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(16))
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    voucher_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    buyer_name: Mapped[str] = mapped_column(String(160))
    buyer_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[dt.datetime | None] = mapped_column()
    # A member's refill or renewal at the touchscreen: whose, and the subscription it bought or refilled.
    member_id: Mapped[str | None] = mapped_column(String(32), index=True)
    subscription_id: Mapped[str | None] = mapped_column(String(32))
    # The books (access/books.py): what the line is (common.words.BookKind), its receipt number in this device's
    # series (given in the sale's own write transaction, from `ReceiptCounter`), what was bought in words, the tender
    # the money came in by (common.words.Tender; None for a voucher or not yet paid), and for a credit note the sale
    # it cancels. Sales recorded before the books have no number.
    book_kind: Mapped[str] = mapped_column(String(16), default="pass")
    series: Mapped[str | None] = mapped_column(String(24))
    number: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200), default="")
    tender: Mapped[str | None] = mapped_column(String(16))
    refund_of: Mapped[str | None] = mapped_column(String(32), index=True)

    __table_args__ = (UniqueConstraint("series", "number", name="uq_sales_receipt"),)

    @property
    def receipt_no(self) -> str:
        return f"{self.series}-{self.number:06d}" if self.series and self.number else ""


class ReceiptCounter(Base):
    """The last receipt number given in a series: read and raised in the sale's write transaction, so numbers never
    skip or repeat, whatever sells at once on this device."""

    __tablename__ = "receipt_counters"

    series: Mapped[str] = mapped_column(String(24), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Pass(Base):
    """A walk-in's pass: valid from the slots `slots` of `valid_date` to the slots `until_slots` of `valid_until`
    (every day between whole; a one-day pass has no `valid_until`), re-entry by a 6-digit code."""

    __tablename__ = "passes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    sale_id: Mapped[str] = mapped_column(ForeignKey("sales.id"))
    code: Mapped[str] = mapped_column(String(6), index=True)
    holder_name: Mapped[str] = mapped_column(String(160))
    valid_date: Mapped[dt.date] = mapped_column(Date)
    slots: Mapped[str] = mapped_column(String(32))  # "morning", "afternoon" or "morning,afternoon"
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    until_slots: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The manager stopped the pass (a wrong pass sold, one never paid): the door no longer opens for it.
    stopped_at: Mapped[dt.datetime | None] = mapped_column()


class Closure(Base):
    """A local date the site is closed (a holiday the manager entered): members are refused, staff come in."""

    __tablename__ = "closures"

    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Guest(Base):
    """A member's guest for one local date: opens by a 6-digit code; the use is charged to the member's carnet
    (`charge` "carnet") or taken from guest half-days their plan includes ("included")."""

    __tablename__ = "guests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    subscription_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(160))
    code: Mapped[str] = mapped_column(String(6), index=True)
    valid_date: Mapped[dt.date] = mapped_column(Date, index=True)
    charge: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Notice(Base):
    """An e-mail to send, written in the same transaction as its cause, sent by the mail worker with retries.

    `key` names what the notice is about (a low carnet at a given balance, a plan ending on a date...) so the
    same cause never writes two notices."""

    __tablename__ = "notices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    member_id: Mapped[str | None] = mapped_column(String(32), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(20000))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(String(400))


class Event(Base):
    """Append-only record of what happened at a device. Never updated, never deleted."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("device_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    device_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    mono_ns: Mapped[int] = mapped_column(BigInteger)
    boot_id: Mapped[str] = mapped_column(String(64))
    clock_ok: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[dict[str, Any]] = mapped_column()


class Outbox(Base):
    """Events not yet acknowledged by the hub. Retired (deleted) only on the hub's acknowledgement."""

    __tablename__ = "outbox"

    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_outbox_device_seq", "device_id", "seq"),)


class Use(Base):
    """One half-day used: (holder, site, local date, slot) is unique, so a slot is never charged twice."""

    __tablename__ = "uses"
    __table_args__ = (UniqueConstraint("holder_id", "site_id", "local_date", "slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(String(32), index=True)
    site_id: Mapped[str] = mapped_column(String(64))
    local_date: Mapped[dt.date] = mapped_column(Date, index=True)
    slot: Mapped[str] = mapped_column(String(16))
    spent: Mapped[int] = mapped_column(Integer)  # half-days taken from a carnet: 0 or 1
    subscription_id: Mapped[str | None] = mapped_column(String(32))
    pass_id: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    # The room or office the half-day was spent in (a booking's use); None: the open space.
    resource_id: Mapped[str | None] = mapped_column(String(32))


class HubRequest(Base):
    """A change a networked site asks of the hub (sync/PROTOCOL.md, change requests): an outbox row until the hub
    answers, then the answer the admin shows. The desk writes it (or the agent, for the hub's own enrol command);
    the agent sends it, again until answered, and writes the reply here."""

    __tablename__ = "hub_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))  # sync.protocol.REQUEST_KINDS
    # The member it is about (for a top-up, the carnet's holder): the member's page lists their requests.
    member_id: Mapped[str | None] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column()  # the request's `data`, as sent
    origin: Mapped[str] = mapped_column(String(8))  # "desk" or "hub" (an enrol the hub asked for)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)  # the request's `at`
    sent_at: Mapped[dt.datetime | None] = mapped_column()  # last handed to the hub's broker
    answered_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(200))  # the hub's code, when refused
    roster_version: Mapped[int | None] = mapped_column(BigInteger)


class Meta(Base):
    """Small persistent facts of the appliance: time floor, sequence counter, roster version, hub contact."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(4000))


class Resource(Base):
    """A room or an office of the site, booked by the half-day: its own door, if any, is the device `door_device`."""

    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "meeting_room", "office", "phone_box"
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    price_halfday_cents: Mapped[int] = mapped_column(Integer, default=0)
    price_day_cents: Mapped[int] = mapped_column(Integer, default=0)
    door_device: Mapped[str | None] = mapped_column(String(64))
    # The secret part of the resource's read-only calendar feed URL (iCalendar); a new one revokes the old URL.
    feed_secret: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Booking(Base):
    """One half-day of a resource, booked. The database allows one booking per resource and slot that is not
    cancelled (a partial unique index); a booking of several half-days is several rows sharing `group_id`.

    `holder_kind` is "member" (member_id set) or "walk_in" (a 6-digit `code` opens the entrance for its slots);
    `paid_by` is "counter", "voucher", "carnet" or "included" (room half-days of the member's plan); `origin` says
    who booked: "kiosk", "admin" or "hub"."""

    __tablename__ = "bookings"
    __table_args__ = (
        Index(
            "ux_bookings_resource_slot",
            "resource_id",
            "local_date",
            "slot",
            unique=True,
            # Migration 0006 also gives PostgreSQL its partial index; naming that dialect here would load its
            # whole module into every process of the appliance (about 2 MB each, bench.startup).
            sqlite_where=text("cancelled_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    group_id: Mapped[str] = mapped_column(String(32), index=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id"), index=True)
    local_date: Mapped[dt.date] = mapped_column(Date, index=True)
    slot: Mapped[str] = mapped_column(String(16))
    holder_kind: Mapped[str] = mapped_column(String(8))
    member_id: Mapped[str | None] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(160))
    email: Mapped[str | None] = mapped_column(String(254))
    code: Mapped[str | None] = mapped_column(String(6), index=True)
    guests: Mapped[str | None] = mapped_column(String(400))  # first names of the guests named on it
    paid_by: Mapped[str] = mapped_column(String(16))
    sale_id: Mapped[str | None] = mapped_column(String(32))
    subscription_id: Mapped[str | None] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column()


class Erasure(Base):
    """A member erased on request (PRIVACY.md): here by the manager, or by the hub through the roster. Their rows
    keep their ids (uses, balances and sales still count) but no longer name them; the door scrubs them once."""

    __tablename__ = "erasures"

    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    erased_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    origin: Mapped[str] = mapped_column(String(8))  # "desk" (a standalone site's manager) or "hub"


class Incarnation(Base):
    """One life of this ledger (sync/PROTOCOL.md, "A restored or new ledger"): begun when the ledger is made or
    restored; until it is resumed, the agent sends nothing and asks the hub where the device's stream stands."""

    __tablename__ = "incarnations"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # the newest is the current
    id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    reason: Mapped[str] = mapped_column(String(16))  # "created", "restored", "upgraded" (by the migration)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    base_seq: Mapped[int] = mapped_column(BigInteger)  # the highest seq the ledger held when it began
    hub_seq: Mapped[int | None] = mapped_column(BigInteger)  # the hub's cursor, from its first answer
    filled_seq: Mapped[int | None] = mapped_column(BigInteger)  # the hub's events written here, up to this seq
    resumed_at: Mapped[dt.datetime | None] = mapped_column()
