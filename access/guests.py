"""A member's guests, as pure rules: what a guest's visit is charged to, and the month it counts in.

A member registers a guest at the touchscreen after tapping. The guest opens the door with a 6-digit code on that
local date only, and each half-day the guest uses is charged like the member's own: first from the guest
half-days the member's plan includes each calendar month (`Plan.guest_half_days`), else one half-day from the
member's carnet. A member with neither cannot register a guest. No database here: the caller counts and passes
the figures, so the rules are tested directly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

# A guest's first name is all the space asks (and all the screen shows).
GUEST_NAME_MAX = 80
# Guests a member may register for one day: a party of visitors is arranged with the manager, and a member's
# account left open at the touchscreen cannot hand out codes without end.
GUESTS_PER_DAY = 5
CODE_DIGITS = 6


class GuestCharge(StrEnum):
    """What a guest's half-days are taken from (`Guest.charge`)."""

    INCLUDED = "included"  # the guest half-days of the member's plan, per calendar month
    CARNET = "carnet"  # the member's carnet, one half-day per slot the guest uses


class GuestRefused(ValueError):
    """A guest that cannot be registered; `reason` names why (the touchscreen words it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class GuestRights:
    """What a member holds today for guests, as counted from the ledger by the caller.

    `included_taken` counts this calendar month's guest half-days already taken from the plan, plus one for each
    guest of today on the plan who has not come in yet (their half-day is promised). `carnet_balance` is the
    carnet's effective balance less one for each of today's carnet guests who has not come in yet."""

    included_subscription: str | None = None
    included_per_month: int = 0
    included_taken: int = 0
    carnet_subscription: str | None = None
    carnet_balance: int = 0
    carnet_overdraft: bool = False
    guests_today: int = 0


@dataclass(frozen=True, slots=True)
class GuestCharging:
    """The decision for a new guest: what their visit is charged to, and which of the member's subscriptions."""

    charge: GuestCharge
    subscription_id: str


def charge_guest(rights: GuestRights) -> GuestCharging:
    """What a new guest is charged to, or GuestRefused: included half-days first, then the carnet."""
    if rights.guests_today >= GUESTS_PER_DAY:
        raise GuestRefused("too_many")
    if rights.included_subscription is not None and rights.included_taken < rights.included_per_month:
        return GuestCharging(GuestCharge.INCLUDED, rights.included_subscription)
    if rights.carnet_subscription is not None:
        if rights.carnet_balance > 0 or rights.carnet_overdraft:
            return GuestCharging(GuestCharge.CARNET, rights.carnet_subscription)
        raise GuestRefused("carnet_empty")
    if rights.included_subscription is not None:
        raise GuestRefused("included_used")
    raise GuestRefused("no_right")


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last local dates of `day`'s calendar month: included guest half-days count per month."""
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


def check_guest_name(raw: str) -> str:
    """A guest's name, cleaned (spaces folded); GuestRefused when empty or too long."""
    name = " ".join(raw.split())
    if not name:
        raise GuestRefused("name_missing")
    if len(name) > GUEST_NAME_MAX:
        raise GuestRefused("name_long")
    return name
