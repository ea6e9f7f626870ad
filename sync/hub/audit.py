"""Who changes what at the hub, and the record of it: every change to the network's sites, doors, plans, members,
badges and accounts is written to the audit log in the transaction that makes it, with its author and the values
before and after. A site manager reads the entries of their sites; a network admin reads them all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from common.db import utcnow
from sync.hub.models import AuditEntry


class Role(StrEnum):
    NETWORK_ADMIN = "network_admin"
    SITE_MANAGER = "site_manager"


@dataclass(frozen=True)
class Actor:
    """The author of a change and what they may touch: `sites` None means every site (a network admin, the hub
    itself); otherwise the sites named (a site manager's, or a device's own site)."""

    label: str
    account_id: str | None = None
    sites: frozenset[str] | None = None

    @property
    def network_wide(self) -> bool:
        return self.sites is None

    def may_manage(self, site_id: str | None) -> bool:
        """Whether the actor manages `site_id` (None: something of the whole network, for network admins only)."""
        if self.sites is None:
            return True
        return site_id is not None and site_id in self.sites

    @classmethod
    def account(cls, account_id: str, login: str, role: str, sites: Iterable[str]) -> Actor:
        scope = None if role == Role.NETWORK_ADMIN else frozenset(sites)
        return cls(f"compte {login}", account_id, scope)

    @classmethod
    def device(cls, site: str, device: str) -> Actor:
        return cls(f"appareil {site}/{device}", None, frozenset({site}))


# Changes made by the hub's own code (the demo, the command line run by the server's administrator, tests).
SYSTEM = Actor("hub")


def record(
    session: Session,
    actor: Actor,
    action: str,
    target: str,
    *,
    site_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Write one audit entry in the caller's transaction (so a change and its record commit or fail together)."""
    session.add(
        AuditEntry(
            at=at or utcnow(),
            actor=actor.label[:200],
            account_id=actor.account_id,
            action=action[:48],
            target=target[:200],
            site_id=site_id,
            before=_plain(before),
            after=_plain(after),
        )
    )


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that differ, before and after (what the audit page shows for an edit)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def entries(
    session: Session,
    actor: Actor,
    *,
    limit: int = 100,
    before_id: int | None = None,
    target: str | None = None,
) -> Sequence[AuditEntry]:
    """The newest entries the actor may read (a site manager: their sites' and their own), newest first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor.sites is not None:
        mine: list[ColumnElement[bool]] = [AuditEntry.site_id.in_(sorted(actor.sites))]
        if actor.account_id is not None:
            mine.append(AuditEntry.account_id == actor.account_id)
        query = query.where(or_(*mine))
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    return session.execute(query).scalars().all()


def _plain(values: dict[str, Any] | None) -> dict[str, Any] | None:
    # Dates, times and the like go into a JSON column: their ISO text is what a reader wants anyway.
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dt.date | dt.time):
            out[key] = value.isoformat()
        elif isinstance(value, frozenset | set | tuple):
            out[key] = sorted(value)
        else:
            out[key] = value
    return out
