"""The columns of the network's members and plans, which both databases hold: the hub owns them, an appliance keeps
the copy its roster (or, standalone, its own manager) gives it. One definition, mixed into each database's model."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from common.db import new_id, utcnow


class MemberColumns:
    """A member of the network: a person with a name, maybe an e-mail, active or not."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

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
