"""Roster building, signing and publishing (retained), by the one hub worker that keeps rosters.

A roster is built in one snapshot so that `seen` (the cursors) and the balances (the uses) agree: the balance is
exactly after the events `seen` names. A new version is made when the network changed (members, badges, plans,
subscriptions: at once) or when the content moved because of uses from the sites (checked every
ROSTER_BALANCE_INTERVAL_S). Versions are stored before they are published, so the latest can always be
published again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, true, update
from sqlalchemy.orm import Session

from common.db import utcnow
from common.words import CredentialStatus
from sync.hub.admin import network_changes
from sync.hub.audit import SYSTEM, record
from sync.hub.db import HubDatabase
from sync.hub.models import (
    Credential,
    DeviceCursor,
    Member,
    Plan,
    PlanSite,
    RosterProblem,
    RosterVersion,
    Site,
    Subscription,
)
from sync.hub.reports import balances
from sync.payloads import roster_credential, roster_member, roster_plan, roster_subscription
from sync.protocol import VERSION, Json, ProtocolError, roster_topic, utc_iso
from sync.signing import sign

log = logging.getLogger(__name__)

# Balances move with every carnet use from any site; a roster a minute is enough to tell the other sites, and
# keeps a busy network from publishing one per batch.
ROSTER_BALANCE_INTERVAL_S = 60.0
# Subscriptions that ended more than this long ago are left out of rosters: no door needs them any more.
EXPIRED_SUBSCRIPTION_GRACE = dt.timedelta(days=1)
# A revoked badge stays in rosters this long, so that a door that was offline when it was revoked learns it as a
# revoked badge (and says so) rather than as a badge it no longer knows.
REVOKED_GRACE = dt.timedelta(days=30)
# Versions of a site's roster kept in the database: the latest is published again after a broker restart.
KEPT_VERSIONS = 5
# A site's roster is issued again this long after the last one, changed or not (the doors' default alarm is 24 h).
REISSUE_AFTER = dt.timedelta(hours=6)
# A pass over the sites gives way to a newer change only this early in it: later, it finishes, so that a stream
# of changes cannot keep the last sites of the list waiting.
INTERRUPTIBLE_S = 2.0

Publish = Callable[[str, bytes], bool]


def _hhmm(value: dt.time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


@dataclass
class NetworkData:
    """What every site's roster is made of, read once per pass of the keeper (in its snapshot) and already in the
    roster's form, sorted by id: a site's roster is then a filtering of these lists, not a new reading of the
    network (50 sites of a 5,000-member network: one read, not fifty)."""

    members: list[Json]
    home_sites: dict[str, str | None]
    credentials: list[Json]
    plans: list[Json]
    retired: set[str]
    # The sites a plan is valid at; a plan absent from here is valid at every site.
    plan_sites: dict[str, set[str]]
    subscriptions: list[Json]
    cursors: dict[str, dict[str, int]]
    # Rows no roster can carry (a value a device would refuse), left out so that the others still go: what and why.
    left_out: list[str]


def _valid(rows: list[Json], check: Callable[[Any, str], None], what: str, left_out: list[str]) -> list[Json]:
    """The rows `check` accepts; each one it refuses is named in `left_out` instead of stopping every roster."""
    kept = []
    for row in rows:
        try:
            check(row, f"{what} {row.get('id', '?')}")
        except ProtocolError as exc:
            left_out.append(str(exc))
            continue
        kept.append(row)
    return kept


def load_network(session: Session, now: dt.datetime) -> NetworkData:
    oldest = (now - EXPIRED_SUBSCRIPTION_GRACE).date()
    revoked_since = now - REVOKED_GRACE
    cursors: dict[str, dict[str, int]] = {}
    for site_id, device, seq in session.execute(select(DeviceCursor.site_id, DeviceCursor.device_id, DeviceCursor.seq)):
        cursors.setdefault(site_id, {})[device] = int(seq)
    plan_sites: dict[str, set[str]] = {}
    for plan_id, site_id in session.execute(select(PlanSite.plan_id, PlanSite.site_id)):
        plan_sites.setdefault(plan_id, set()).add(site_id)
    members, home_sites = [], {}
    for mid, first, active, home in session.execute(
        select(Member.id, Member.first_name, Member.active, Member.home_site_id).order_by(Member.id)
    ):
        members.append({"id": mid, "first_name": first, "last_name": "", "email": None, "active": active})
        home_sites[mid] = home
    credentials = [
        {"id": cid, "member_id": member, "kind": kind, "value": value, "status": status}
        for cid, member, kind, value, status, revoked_at in session.execute(
            select(
                Credential.id,
                Credential.member_id,
                Credential.kind,
                Credential.value,
                Credential.status,
                Credential.revoked_at,
            ).order_by(Credential.id)
        )
        if status == CredentialStatus.ACTIVE or (revoked_at is not None and revoked_at >= revoked_since)
    ]
    plans, retired = [], set()
    for plan in session.execute(select(Plan).order_by(Plan.id)).scalars():
        plans.append(
            {
                "id": plan.id,
                "name": plan.name,
                "kind": plan.kind,
                "half_days": plan.half_days,
                "allow_overdraft": plan.allow_overdraft,
                "hours_start": _hhmm(plan.hours_start),
                "hours_end": _hhmm(plan.hours_end),
                "weekdays": plan.weekdays,
                "price_cents": plan.price_cents,
            }
        )
        if not plan.active:
            retired.add(plan.id)
    carnet_balances = balances(session)
    subscriptions = [
        {
            "id": sid,
            "member_id": member,
            "plan_id": plan_id,
            "valid_from": start.isoformat() if start else None,
            "valid_until": until.isoformat() if until else None,
            "balance": carnet_balances.get(sid),
        }
        for sid, member, plan_id, start, until in session.execute(
            select(
                Subscription.id,
                Subscription.member_id,
                Subscription.plan_id,
                Subscription.valid_from,
                Subscription.valid_until,
            )
            .where((Subscription.valid_until.is_(None)) | (Subscription.valid_until >= oldest))
            .order_by(Subscription.id)
        )
    ]
    left_out: list[str] = []
    members = _valid(members, roster_member, "membre", left_out)
    kept = {m["id"] for m in members}
    home_sites = {m: home for m, home in home_sites.items() if m in kept}
    credentials = _valid(credentials, roster_credential, "badge", left_out)
    plans = _valid(plans, roster_plan, "formule", left_out)
    subscriptions = [
        s for s in _valid(subscriptions, roster_subscription, "abonnement", left_out) if s["member_id"] in kept
    ]
    return NetworkData(members, home_sites, credentials, plans, retired, plan_sites, subscriptions, cursors, left_out)


def site_roster_body(data: NetworkData, site_id: str) -> Json:
    """A site's roster (all but version, issued_at and sig): what its doors need to decide, and no more.

    The plans valid at the site; the subscriptions to them that have not ended; the members holding one, or created
    for the site (its desk acts for them); their badges in force, and those revoked lately (a door that has not
    applied a roster since still holds them as valid); first names only: no last name, no e-mail leaves the hub."""
    valid_here = {p["id"] for p in data.plans if p["id"] not in data.plan_sites or site_id in data.plan_sites[p["id"]]}
    subscriptions = [s for s in data.subscriptions if s["plan_id"] in valid_here]
    in_use = {s["plan_id"] for s in subscriptions}
    member_ids = {s["member_id"] for s in subscriptions}
    member_ids.update(m for m, home in data.home_sites.items() if home == site_id)
    return {
        "v": VERSION,
        "site": site_id,
        "seen": dict(sorted(data.cursors.get(site_id, {}).items())),
        "members": [m for m in data.members if m["id"] in member_ids],
        "credentials": [c for c in data.credentials if c["member_id"] in member_ids],
        # A retired plan stays while subscriptions to it run: they go on to their end.
        "plans": [
            p for p in data.plans if p["id"] in valid_here and (p["id"] not in data.retired or p["id"] in in_use)
        ],
        "subscriptions": subscriptions,
    }


def build_roster_body(session: Session, site_id: str, now: dt.datetime) -> Json:
    """A site's roster body, read in the caller's snapshot (one site: tests and tools; the keeper reads the network
    once for every site)."""
    return site_roster_body(load_network(session, now), site_id)


def content_hash(body: Json) -> str:
    """What a door would act on: everything but version, time and the `seen` watermark."""
    content = {k: v for k, v in body.items() if k not in ("version", "issued_at", "seen", "sig")}
    # Only compared with the keeper's own earlier digests, so any stable encoding will do: orjson's is ten times
    # faster than json's on a large roster, and the keeper hashes every site's roster on every change.
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


class RosterKeeper:
    """Makes, stores and publishes roster versions; run by exactly one hub worker."""

    def __init__(self, db: HubDatabase, key: Ed25519PrivateKey, publish: Publish) -> None:
        self.db = db
        self.key = key
        self.publish = publish
        # The rows left out of the last rosters made (the hub's doors page reads them from roster_problems).
        with db.read() as session:
            self.left_out: list[str] = list(
                session.execute(select(RosterProblem.problem).order_by(RosterProblem.id)).scalars()
            )

    def refresh(self, now: dt.datetime | None = None, *, balances_due: bool = False) -> list[tuple[str, int]]:
        """Make new versions where needed, each published as soon as it is stored; returns the (site, version)
        pairs made. A version the broker did not acknowledge is published again at the next refresh."""
        made = self._make_versions(now or utcnow(), balances_due)
        self.publish_pending()
        return made

    def _make_versions(self, now: dt.datetime, balances_due: bool) -> list[tuple[str, int]]:
        # Every site's roster is read from one snapshot (cursors and balances agree), then each changed one is
        # signed, stored and published in turn: the first site's doors need not wait for the fiftieth's roster.
        with self.db.snapshot() as session:
            changes = network_changes(session)
            # A roster older than REISSUE_AFTER is issued again even if nothing changed: a door raises an alarm
            # when the roster it holds grows old while the hub is reachable, and a quiet site must not.
            issued = dict(
                session.execute(
                    select(RosterVersion.site_id, RosterVersion.issued_at).join(
                        Site, (Site.id == RosterVersion.site_id) & (Site.roster_version == RosterVersion.version)
                    )
                ).all()
            )
            reissue_before = now - REISSUE_AFTER
            sites = [
                (site.id, site.roster_version, site.roster_hash, issued.get(site.id, now) < reissue_before)
                for site in session.execute(select(Site).order_by(Site.id)).scalars()
                if site.roster_changes < changes or balances_due or site.roster_version == 0
            ]
            data = load_network(session, now) if sites else None
            bodies = [(site, site_roster_body(data, site[0])) for site in sites] if data is not None else []
        if data is not None and data.left_out != self.left_out:
            self._left_out(data.left_out)
        made: list[tuple[str, int]] = []
        unchanged: list[str] = []
        started = time.monotonic()
        for (site_id, current, known_hash, old), body in bodies:
            if made and time.monotonic() - started < INTERRUPTIBLE_S and self._changed_since(changes):
                # A newer change (a badge revoked a moment ago) is in no roster built here: start again from a new
                # snapshot rather than sign the rest of an older one first. Sites not reached stay due.
                break
            digest = content_hash(body)
            if digest == known_hash and current > 0 and not old:
                unchanged.append(site_id)
                continue
            version = current + 1
            body.update(version=version, issued_at=utc_iso(now))
            # Every row was checked once by load_network: signing need not check fifty copies of it again. The
            # payload's own encoding does not matter (a device checks the signature on its canonical form).
            payload = orjson.dumps(sign(body, self.key)).decode("utf-8")
            with self.db.write() as session:
                session.add(RosterVersion(site_id=site_id, version=version, issued_at=now, payload=payload))
                session.execute(
                    update(Site)
                    .where(Site.id == site_id)
                    .values(roster_version=version, roster_changes=changes, roster_hash=digest)
                )
                # The latest is what is published again; a few before it are kept to look into a complaint.
                session.execute(
                    delete(RosterVersion).where(
                        RosterVersion.site_id == site_id, RosterVersion.version <= version - KEPT_VERSIONS
                    )
                )
            log.info("registre %s v%s créé", site_id, version)
            made.append((site_id, version))
            self._publish_one(site_id, version, payload)
        if unchanged:
            with self.db.write() as session:
                session.execute(update(Site).where(Site.id.in_(unchanged)).values(roster_changes=changes))
        return made

    def _left_out(self, problems: list[str]) -> None:
        """Keep the rows left out where the doors page shows them, and log each new one once (and in the audit log:
        somebody must mend the row, and the log says when it began)."""
        new = [p for p in problems if p not in self.left_out]
        self.left_out = problems
        with self.db.write() as session:
            session.execute(delete(RosterProblem))
            session.add_all(RosterProblem(problem=p[:300]) for p in problems)
            for problem in new:
                log.warning("laissé hors des registres : %s", problem)
                record(session, SYSTEM, "roster.left_out", "registres", after={"problème": problem[:200]})

    def _changed_since(self, changes: int) -> bool:
        with self.db.read() as session:
            return network_changes(session) > changes

    def _publish_one(self, site_id: str, version: int, payload: str) -> bool:
        if not self.publish(roster_topic(site_id), payload.encode("utf-8")):
            log.warning("registre %s v%s non acquitté par le broker ; nouvel essai plus tard", site_id, version)
            return False
        with self.db.write() as session:
            session.execute(
                update(RosterVersion)
                .where(RosterVersion.site_id == site_id, RosterVersion.version == version)
                .values(published_at=utcnow())
            )
        return True

    def publish_pending(self) -> int:
        """Publish each site's latest version if it was not yet acknowledged by the broker."""
        return self._publish_latest(only_unpublished=True)

    def republish_all(self) -> int:
        """Publish every site's latest version again (at start: the broker may have lost its retained copy)."""
        return self._publish_latest(only_unpublished=False)

    def _publish_latest(self, *, only_unpublished: bool) -> int:
        with self.db.read() as session:
            latest: list[Any] = list(
                session.execute(
                    select(RosterVersion)
                    .join(Site, (Site.id == RosterVersion.site_id) & (Site.roster_version == RosterVersion.version))
                    .where(RosterVersion.published_at.is_(None) if only_unpublished else true())
                ).scalars()
            )
        return sum(self._publish_one(row.site_id, row.version, row.payload) for row in latest)
