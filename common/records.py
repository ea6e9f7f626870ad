"""The columns of the network's members and plans, which both databases hold: the hub owns them, an appliance keeps
the copy its roster (or, standalone, its own manager) gives it. One definition, mixed into each database's model."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import Boolean, Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from common.db import new_id, utcnow

NAME_MAX = 80
EMAIL_MAX = 254
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_name(raw: str, what: str = "le prénom", error: type[ValueError] = ValueError) -> str:
    """A member's name as typed (at the hub, at a site's admin or desk): trimmed, present, not over the column."""
    name = raw.strip()
    if not name:
        raise error(f"{what} est obligatoire")
    if len(name) > NAME_MAX:
        raise error(f"{what} est trop long ({NAME_MAX} caractères au plus)")
    return name


def check_email(raw: str | None, error: type[ValueError] = ValueError) -> str | None:
    """An e-mail as typed, or None when none was given: the same rule wherever a member is added."""
    if raw is None or raw.strip() == "":
        return None
    email = raw.strip()
    if len(email) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(email):
        raise error(f"« {raw[:80]} » n'est pas une adresse e-mail valide")
    return email


class MemberColumns:
    """A member of the network: a person with a name, maybe an e-mail, active or not."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Staff open the door on days their site is closed (its holiday calendar) and are never charged for it. The hub
    # sets it, a standalone site's manager too; rosters carry it (sync/PROTOCOL.md).
    staff: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class PlanColumns:
    """What a member or a walk-in buys: a carnet of N half-days, a monthly unlimited plan, or a pass."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # common.words.PlanKind
    half_days: Mapped[int | None] = mapped_column(Integer)
    allow_overdraft: Mapped[bool] = mapped_column(Boolean, default=False)
    # The local hours this plan admits entry; None means the site's half-day slots decide.
    hours_start: Mapped[dt.time | None] = mapped_column(Time)
    hours_end: Mapped[dt.time | None] = mapped_column(Time)
    # The ISO weekdays this plan admits entry, in order ("12345": Monday to Friday); None means every day.
    # Read and written through common/weekdays.py.
    weekdays: Mapped[str | None] = mapped_column(String(7))
    price_cents: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
