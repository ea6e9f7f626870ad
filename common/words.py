"""The domain's words, one definition each: what the appliance stores, the local bus carries, the hub protocol
checks and the pages translate. They are `StrEnum`s, so each value is also the plain string stored and sent."""

from __future__ import annotations

from enum import StrEnum


class PlanKind(StrEnum):
    """What a member or a walk-in bought. A carnet spends one half-day per charged slot; an unlimited plan is
    counted, not charged; a pass is valid for given slots of a date."""

    UNLIMITED = "unlimited"
    CARNET = "carnet"
    PASS_HALFDAY = "pass_halfday"
    PASS_DAY = "pass_day"
    PASS_WEEK = "pass_week"
    PASS_MONTH = "pass_month"

    @property
    def is_pass(self) -> bool:
        return self in PASS_KINDS


PASS_KINDS = frozenset({PlanKind.PASS_HALFDAY, PlanKind.PASS_DAY, PlanKind.PASS_WEEK, PlanKind.PASS_MONTH})


class Slot(StrEnum):
    """A half-day of the site, in its local time."""

    MORNING = "morning"
    AFTERNOON = "afternoon"


SLOTS = (Slot.MORNING, Slot.AFTERNOON)


class ClockPolicy(StrEnum):
    """Who may come in while the door's clock cannot be trusted. "members" lets in members whose plan has no end
    date (a badge that never expires cannot be abused by a wrong date); time-limited plans and passes wait."""

    MEMBERS = "members"
    EVERYONE = "everyone"
    NOBODY = "nobody"


class CredentialKind(StrEnum):
    """How a credential opens the door: an NFC badge's UID now; PIN codes and strong cards later."""

    NFC_UID = "nfc_uid"


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Signal(StrEnum):
    """What the door's indicator says about a decision: green light and a short beep, or red and a long one."""

    GRANT = "grant"
    DENY = "deny"


class Alarm(StrEnum):
    """Something at the site that needs a person: each is raised and cleared as an `alarm` event by the process that
    owns its fact (the door for the first five, the sync agent for the roster and the backlog, the door's watch of
    the disk and of `halfday backup`'s status), shown on the wall display and the hub's doors page, and mailed."""

    FORCED = "forced"  # opened while locked, with no badge and no exit button
    HELD_OPEN = "held_open"  # left open longer than the site allows
    DATABASE = "database"  # the ledger cannot be read (the door decides on its snapshot) or written (from memory)
    READER = "reader"  # the badge reader is gone (unplugged, dead, reopening): no badge is read at this door
    CLOCK = "clock"  # the wall clock cannot be trusted (no NTP, behind the time floor)
    ROSTER = "roster"  # the hub's lists have not arrived for too long while the hub is reachable
    BACKLOG = "backlog"  # events wait for the hub longer than the site allows
    DISK = "disk"  # the ledger's disk is nearly full
    BACKUP = "backup"  # the last backup failed, or none succeeded for too long


class PaymentMethod(StrEnum):
    """How a walk-in pays at the touchscreen."""

    COUNTER = "counter"  # at the desk or into the honesty box; the manager marks it paid
    VOUCHER = "voucher"  # a prepaid code the space printed and sold


class EventKind(StrEnum):
    """What a device records in its append-only event log (sync/PROTOCOL.md)."""

    ENTRY = "entry"
    EXIT = "exit"
    DOOR = "door"
    ALARM = "alarm"
    UNLOCK = "unlock"
    STAFFED = "staffed"
    ENROL = "enrol"
    SALE = "sale"
    SALE_PAID = "sale_paid"
    PASS_STOPPED = "pass_stopped"
    BOOKING = "booking"  # a room or office booked by the half-day (access/bookings.py)
    BOOKING_CANCELLED = "booking_cancelled"


class ResourceKind(StrEnum):
    """What a bookable resource of a site is."""

    MEETING_ROOM = "meeting_room"
    OFFICE = "office"
    PHONE_BOX = "phone_box"


class BookingPayment(StrEnum):
    """How a booking is paid (`Booking.paid_by`): like a pass, from a carnet, or from a plan's room half-days."""

    COUNTER = "counter"
    VOUCHER = "voucher"
    CARNET = "carnet"
    INCLUDED = "included"


class Tender(StrEnum):
    """How money came in (or went back) at the desk: what the manager says when marking a counter sale paid."""

    CASH = "cash"
    CARD = "card"
    CHEQUE = "cheque"
    TRANSFER = "transfer"


class BookKind(StrEnum):
    """What a line of the books is (access/books.py): each has its receipt number."""

    PASS = "pass"  # a walk-in's pass
    REFILL = "refill"  # a carnet refilled
    SUBSCRIPTION = "subscription"  # a member's new plan
    RENEWAL = "renewal"  # a member's plan renewed
    BOOKING = "booking"  # a room or office booked by the half-day
    VOUCHER = "voucher"  # prepaid vouchers sold: money received in advance, revenue when one is spent
    REFUND = "refund"  # a credit note ("avoir"): the negative of a line, never an edit of it
