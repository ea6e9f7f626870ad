"""The hub's tables: the network's members, badges, plans and carnets, and every site's events exactly once.

The hub owns members, credentials, plans and subscriptions; sites own their events, uses and sales, which reach
the hub through the sync protocol. Datetimes are stored as UTC and read back aware; ids that travel between a
site and the hub are 32 hex characters.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import TYPE_ANNOTATION_MAP, new_id, utcnow
from common.records import MemberColumns, PlanColumns
from common.words import CredentialKind, CredentialStatus


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = TYPE_ANNOTATION_MAP


class Site(Base):
    """A coworking space of the network. Created by the manager, or on the first message from one of its doors."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # What the manager sets: people the space holds at once, half-day uses a month the funders expect, and the
    # half-day slots in the site's local time (morning from `morning_start` to `noon`, afternoon to `afternoon_end`).
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    monthly_target: Mapped[int] = mapped_column(Integer, default=0)
    morning_start: Mapped[dt.time] = mapped_column(Time, default=dt.time(8, 0))
    noon: Mapped[dt.time] = mapped_column(Time, default=dt.time(13, 0))
    afternoon_end: Mapped[dt.time] = mapped_column(Time, default=dt.time(20, 0))
    # Written only by the roster keeper (sync/PROTOCOL.md, "Rosters"): the site's latest version (snapshot or delta)
    # and when it was issued; the latest snapshot's version and time.
    roster_version: Mapped[int] = mapped_column(Integer, default=0)
    roster_issued_at: Mapped[dt.datetime | None] = mapped_column()
    snapshot_version: Mapped[int] = mapped_column(Integer, default=0)
    snapshot_at: Mapped[dt.datetime | None] = mapped_column()
    # When a door said it is behind, or a manager asked for a whole list, since the last snapshot.
    snapshot_asked_at: Mapped[dt.datetime | None] = mapped_column()


class Device(Base):
    """A door (appliance) of a site: registered by a manager (with its broker account) or first seen by its status,
    and described by its last retained status."""

    __tablename__ = "devices"

    site_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    registered_at: Mapped[dt.datetime | None] = mapped_column()
    # False once the manager removed the door: its broker account is gone, its events stay.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[dt.datetime | None] = mapped_column()
    backlog: Mapped[int | None] = mapped_column(BigInteger)
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    roster_version: Mapped[int | None] = mapped_column(Integer)
    # From the status of an appliance that reports them (sync/PROTOCOL.md, Status); null when it does not.
    oldest_unsent_at: Mapped[dt.datetime | None] = mapped_column()
    clock_ok: Mapped[bool | None] = mapped_column(Boolean)
    door: Mapped[str | None] = mapped_column(String(16))
    alarms: Mapped[list[str]] = mapped_column(JSON, default=list)
    reader: Mapped[str | None] = mapped_column(String(16))
    # The roster the door decides on (when the hub issued it), and the last one it could not apply, with why.
    roster_issued_at: Mapped[dt.datetime | None] = mapped_column()
    roster_failed_at: Mapped[dt.datetime | None] = mapped_column()
    roster_failure: Mapped[str | None] = mapped_column(String(200))


class DeviceCursor(Base):
    """Highest seq H of a device such that its events 1..H are all stored: the row ingestion locks."""

    __tablename__ = "device_cursors"

    site_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Up to which seq the device's events have had their personal fields removed by retention (PRIVACY.md).
    scrubbed_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class DeviceIncarnation(Base):
    """A life of a device's ledger that asked where its stream stands (sync/PROTOCOL.md, "A restored or new
    ledger"): when a door was restored or replaced, and how many of its events went back to it."""

    __tablename__ = "device_incarnations"

    site_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    incarnation: Mapped[str] = mapped_column(String(32), primary_key=True)
    base_seq: Mapped[int] = mapped_column(BigInteger)  # the highest seq the device's ledger held at its start
    cursor: Mapped[int] = mapped_column(BigInteger)  # the hub's cursor when it first asked
    asked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_to: Mapped[int] = mapped_column(BigInteger, default=0)  # the hub's events sent back to it, up to this seq


class Event(Base):
    """An event as the device sent it, stored once. `problem` says why its data was not used, if it was not."""

    __tablename__ = "events"
    # Only the constraints that make ingestion exactly once: every extra index slows the hub's hottest insert, and
    # the reports read uses and sales, not events.
    __table_args__ = (UniqueConstraint("site_id", "device_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(63))
    device_id: Mapped[str] = mapped_column(String(63))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column()
    mono_ns: Mapped[int] = mapped_column(BigInteger)
    boot: Mapped[str] = mapped_column(String(64))
    clock_ok: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[dict[str, Any]] = mapped_column()
    problem: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Use(Base):
    """A half-day used at a site: never two for one (holder, site, date, slot)."""

    __tablename__ = "uses"
    __table_args__ = (
        UniqueConstraint("holder_id", "site_id", "local_date", "slot"),
        Index("ix_uses_subscription", "subscription_id"),
        Index("ix_uses_date", "local_date"),
        # A site's report reads its own uses of a period (sync/hub/funders.py).
        Index("ix_uses_site_date", "site_id", "local_date"),
    )

    # One use per entry event at most: the event's id is the key (no extra sequence or index to maintain).
    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder_id: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[str] = mapped_column(String(63))
    device_id: Mapped[str] = mapped_column(String(63))
    seq: Mapped[int] = mapped_column(BigInteger)
    local_date: Mapped[dt.date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(16))
    spent: Mapped[int] = mapped_column(Integer)
    subscription_id: Mapped[str | None] = mapped_column(String(32))
    pass_id: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column()
    # A booked half-day of a room or an office (keyed by the booking row's id); null for the open space.
    resource_id: Mapped[str | None] = mapped_column(String(32))
    resource_kind: Mapped[str | None] = mapped_column(String(16))


class ReportTally(Base):
    """A door's uses in a month, counted per weekday, half-day and kind (common/report_query.py, TALLY_COLUMNS):
    what the funders' report adds up. Kept in the transaction that stores or cancels each use
    (sync/hub/report_counts.py), so that a network's year is a few tens of thousands of rows to add, not half a
    million uses to join to their subscriptions and bookings."""

    __tablename__ = "report_tallies"

    site_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)  # months since year 0
    weekday: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 Sunday .. 6 Saturday, as SQL's dow
    slot: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # common.report.KINDS
    # Per door: a door's batches are stored one after the other, so two doors of a site never wait on one row.
    device_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer)


class ReportPresence(Base):
    """Who used a site in a month, through a door (PRESENCE_COLUMNS): the funders' report's distinct people and
    members' months, kept like ReportTally. An id only (a member's, a pass's, a walk-in booking's, a guest's)."""

    __tablename__ = "report_presences"

    site_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    who: Mapped[str] = mapped_column(String(16), primary_key=True)  # common.report.WHO
    person: Mapped[str] = mapped_column(String(32), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(63), primary_key=True)


class Member(MemberColumns, Base):
    __tablename__ = "members"

    # The site the member was created for (at its desk, or by its manager): that site may act for them even before
    # they hold a plan valid there. Null for members of the whole network.
    home_site_id: Mapped[str | None] = mapped_column(String(63), index=True)
    # When the member was erased on request (PRIVACY.md): the row stays, with a neutral name, so that counts and
    # accounting records keep their holder; rosters tell every door (sync/PROTOCOL.md, "Erased members").
    erased_at: Mapped[dt.datetime | None] = mapped_column()


class Credential(Base):
    """A member's badge. One row per UID: re-enrolling a revoked badge reassigns the row."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16), default=CredentialKind.NFC_UID)
    value: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=CredentialStatus.ACTIVE)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class Plan(PlanColumns, Base):
    """A plan; `active` False means retired: no new subscription, existing ones run to their end."""

    __tablename__ = "plans"


class PlanSite(Base):
    """Where a plan is valid. A plan without any row is valid at every site of the network."""

    __tablename__ = "plan_sites"

    plan_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(63), primary_key=True)


class Subscription(Base):
    """A member's plan. For a carnet, `credited` is the half-days bought (top-ups add to it)."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(String(32), index=True)
    plan_id: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    credited: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # What the member paid for it (the plan's price when subscribed); the member's page lists it among their sales.
    price_cents: Mapped[int] = mapped_column(Integer, default=0)


class TopUp(Base):
    """Half-days added to a carnet, at the hub or at a site's desk (a change request), with what was paid."""

    __tablename__ = "top_ups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    subscription_id: Mapped[str] = mapped_column(String(32), index=True)
    member_id: Mapped[str] = mapped_column(String(32), index=True)
    half_days: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer, default=0)
    provider: Mapped[str] = mapped_column(String(16), default="counter")
    site_id: Mapped[str | None] = mapped_column(String(63))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Sale(Base):
    """A line of a site's books, as its `sale`, `sale_paid` and `pass_stopped` events report it: a walk-in's pass,
    a member's refill, subscription or renewal, a booking, prepaid vouchers, or a credit note (sync/PROTOCOL.md,
    "The books"). `(site, series, number)` is its receipt, unique; sales reported before the books have none."""

    __tablename__ = "sales"
    __table_args__ = (UniqueConstraint("site_id", "series", "number", name="uq_sales_receipt"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(63), index=True)
    device_id: Mapped[str] = mapped_column(String(63))
    event_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(16))
    paid: Mapped[bool] = mapped_column(Boolean)
    pass_id: Mapped[str | None] = mapped_column(String(32))
    # The pass's first date; for another sale, the local date it was made at the site.
    local_date: Mapped[dt.date] = mapped_column(Date)
    slots: Mapped[str | None] = mapped_column(String(32))
    # A pass over several days: its last date and that day's slots (the days between whole); none for one day.
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    until_slots: Mapped[str | None] = mapped_column(String(32))
    # When the site's manager stopped the pass (its `pass_stopped` event): the door no longer opened for it.
    stopped_at: Mapped[dt.datetime | None] = mapped_column()
    name: Mapped[str | None] = mapped_column(String(160))
    email: Mapped[str | None] = mapped_column(String(254))
    at: Mapped[dt.datetime] = mapped_column()
    paid_at: Mapped[dt.datetime | None] = mapped_column()
    book_kind: Mapped[str] = mapped_column(String(16), server_default="pass")
    series: Mapped[str | None] = mapped_column(String(24))
    number: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(String(200))
    tender: Mapped[str | None] = mapped_column(String(16))
    member_id: Mapped[str | None] = mapped_column(String(32), index=True)
    refund_of: Mapped[str | None] = mapped_column(String(32), index=True)

    @property
    def receipt_no(self) -> str:
        return f"{self.series}-{self.number:06d}" if self.series and self.number else ""


class RosterVersion(Base):
    """The last versions the hub issued for a site: a delta with its payload (the latest is published again after a
    broker loses it), a snapshot without (made again when a door asks: kept, a thousand of them would weigh a GB)."""

    __tablename__ = "roster_versions"

    site_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), default="delta")  # "delta" | "snapshot"
    issued_at: Mapped[dt.datetime] = mapped_column()
    payload: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer, default=0)  # bytes published (every part of a snapshot)
    published_at: Mapped[dt.datetime | None] = mapped_column()


class RosterTouch(Base):
    """A member or a plan whose roster rows changed, written in the transaction of the change: the keeper turns the
    new ones into deltas (sync/PROTOCOL.md, "When the hub issues")."""

    __tablename__ = "roster_touches"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    member_id: Mapped[str | None] = mapped_column(String(32))
    plan_id: Mapped[str | None] = mapped_column(String(32))


class RosterPresence(Base):
    """The sites whose rosters hold a member or a plan, as the keeper last sent them: `sites` is "*" (every site)
    or the site ids separated by spaces. What the doors hold, so a change knows where to remove from."""

    __tablename__ = "roster_presence"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "member" | "plan"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sites: Mapped[str] = mapped_column(Text)


class RosterBalance(Base):
    """A carnet's balance as the keeper last sent it: one that moves (uses at any site) is sent again."""

    __tablename__ = "roster_balances"

    subscription_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer)


class Command(Base):
    """A command for one device; its nonce is unique, so the hub never issues the same command twice."""

    __tablename__ = "commands"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(String(63))
    device_id: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires: Mapped[dt.datetime] = mapped_column()
    published_at: Mapped[dt.datetime | None] = mapped_column()


class ChangeRequest(Base):
    """A device's change request, handled once per id; repeats get the stored reply."""

    __tablename__ = "change_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(63))
    device_id: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column()
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(200))


class Meta(Base):
    """Small counters of the hub (the roster keeper's, sync/hub/roster.py; older hubs counted `network_changes`)."""

    __tablename__ = "hub_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Account(Base):
    """A person who manages at the hub: a network admin (every site) or a site manager (the sites in AccountSite).

    `password_changed_at` is part of what a session holds: a new password ends every session opened before it."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    login: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # Role
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AccountSite(Base):
    """A site a site manager's account manages."""

    __tablename__ = "account_sites"

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(63), primary_key=True)


class AuditEntry(Base):
    """One change at the hub: who (an account, a site's device, the hub itself), when, what, before and after.

    `site_id` is the site the change concerns, when one does: a site manager reads the entries of their sites."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[str | None] = mapped_column(String(63), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()


class Enrolment(Base):
    """A badge to be enrolled by tapping at one door: the hub asked that door for its next tap (command `enrol`),
    and the tap comes back as an `enrol_badge` request whose id is this row's."""

    __tablename__ = "enrolments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(String(32), index=True)
    site_id: Mapped[str] = mapped_column(String(63))
    device_id: Mapped[str] = mapped_column(String(63))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires: Mapped[dt.datetime] = mapped_column()
    account_id: Mapped[str | None] = mapped_column(String(32))
    # "waiting" until the tap arrives ("done"), the hub refuses it ("refused", with `error`) or it expires.
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    error: Mapped[str | None] = mapped_column(String(64))


class RosterProblem(Base):
    """A row the keeper left out of every roster (a value a door would refuse), as of its last pass."""

    __tablename__ = "roster_problems"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    problem: Mapped[str] = mapped_column(String(300))


class Resource(Base):
    """A room or an office of a site, as its appliance last described it (a `resources` or `booking` event)."""

    __tablename__ = "hub_resources"

    site_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # "meeting_room" | "office" | "phone_box"
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    price_halfday_cents: Mapped[int] = mapped_column(Integer, default=0)
    price_day_cents: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The door whose ledger holds the resource (it reported it): the one writer of its bookings.
    device_id: Mapped[str | None] = mapped_column(String(63))


class Booking(Base):
    """One booked half-day of a resource, as the site's `booking` event reported it (the site decides; the hub
    copies). Rows of one booking share `group_id`; `cancelled_at` is set by its `booking_cancelled` event."""

    __tablename__ = "hub_bookings"
    __table_args__ = (Index("ix_hub_bookings_site_date", "site_id", "local_date"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(32), index=True)
    site_id: Mapped[str] = mapped_column(String(63))
    resource_id: Mapped[str] = mapped_column(String(32))
    local_date: Mapped[dt.date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[str | None] = mapped_column(String(32))  # the member, or null for a walk-in
    name: Mapped[str] = mapped_column(String(160))
    paid_by: Mapped[str] = mapped_column(String(16))
    sale_id: Mapped[str | None] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column()
    cancelled_at: Mapped[dt.datetime | None] = mapped_column()
    cancelled_by: Mapped[str | None] = mapped_column(String(16))


class BookingRequest(Base):
    """A booking a manager asked for at the hub, sent to one door of the site as a `book` command: "waiting"
    (shown "demandée") until the site answers "booked" or "refused" (with `reason`), or "expired" with its command."""

    __tablename__ = "booking_requests"
    __table_args__ = (Index("ix_booking_requests_site", "site_id", "requested_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(String(63))
    device_id: Mapped[str] = mapped_column(String(63))
    resource_id: Mapped[str] = mapped_column(String(32))
    half_days: Mapped[dict[str, Any]] = mapped_column()  # {"half_days": [[date, slot], ...]}
    name: Mapped[str] = mapped_column(String(80))
    member_id: Mapped[str | None] = mapped_column(String(32))
    paid_by: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(String(32))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires: Mapped[dt.datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    reason: Mapped[str | None] = mapped_column(String(32))
    group_id: Mapped[str | None] = mapped_column(String(32))
