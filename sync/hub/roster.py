"""Rosters: snapshots and signed deltas, made, stored and published by the one hub worker that keeps them
(sync/PROTOCOL.md, "Rosters").

The admin transactions record which members and plans they touched (`roster_touches`). The keeper turns new
touches into one small delta per site that holds, or held, what was touched: a badge revoked for a member who may
enter anywhere is a thousand deltas of a few hundred bytes, not a thousand rosters of megabytes. Snapshots (a whole
site's roster) are made when a site has none yet, when a door says it missed a delta, when a delta would be too
large, or when a manager asks; a large one travels compressed, in parts.

Snapshots and deltas are made from the same per-member entries (`member_entry`), so that a snapshot equals the one
before it with the deltas since applied. Each member's and plan's presence (the sites that hold it) is stored
beside the versions, in the same transaction: a later change knows which sites to remove it from.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, insert, or_, select, true, tuple_, update
from sqlalchemy.orm import Session

from common.db import utcnow
from common.words import CredentialStatus, PlanKind
from sync.hub.audit import SYSTEM, record
from sync.hub.db import HubDatabase
from sync.hub.ingest import insert_ignoring_conflicts
from sync.hub.models import (
    Credential,
    DeviceCursor,
    Member,
    Meta,
    Plan,
    PlanSite,
    RosterBalance,
    RosterPresence,
    RosterProblem,
    RosterTouch,
    RosterVersion,
    Site,
    Subscription,
)
from sync.hub.reports import balances
from sync.payloads import roster_credential, roster_member, roster_plan, roster_subscription
from sync.protocol import (
    DELTA_MAX_BYTES,
    VERSION,
    Json,
    ProtocolError,
    delta_topic,
    roster_part_topic,
    utc_iso,
)
from sync.signing import sign, signature
from sync.snapshots import split_snapshot

log = logging.getLogger(__name__)

# Balances move with every carnet use from any site; a comparison a minute is enough to tell the other sites.
ROSTER_BALANCE_INTERVAL_S = 60.0
# Subscriptions that ended more than this long ago are left out of rosters: no door needs them any more.
EXPIRED_SUBSCRIPTION_GRACE = dt.timedelta(days=1)
# A revoked badge stays in rosters this long, so that a door that was offline when it was revoked learns it as a
# revoked badge (and says so) rather than as a badge it no longer knows.
REVOKED_GRACE = dt.timedelta(days=30)
# Versions of a site kept in the database (the latest delta is published again after a broker restart).
KEPT_VERSIONS = 5
# A site that had no message this long gets an empty delta (a heartbeat): the doors' roster alarm is 24 h.
REISSUE_AFTER = dt.timedelta(hours=6)
# A site gets at most one snapshot this often when its doors ask (a door keeps asking until one arrives).
SNAPSHOT_MIN_GAP = dt.timedelta(seconds=30)
# Snapshots made in one pass stop after this long (at least one is made): touches waiting meanwhile go first.
SNAPSHOT_PASS_S = 2.0
# Time-driven exits (a subscription that ended, a revocation past its grace) are looked for this often.
SWEEP_EVERY = dt.timedelta(minutes=10)
# Every row is checked again this often (rows left out of rosters are reported as of this check).
FULL_CHECK_EVERY = dt.timedelta(hours=1)
# Up to this many sites due for a snapshot, the keeper reads only their members; more, the whole network.
FEW_SITES = 10
# Heartbeats and time-driven exits are looked for this often (the idle poll reads only the touches).
CLOCK_CHECK = dt.timedelta(minutes=1)
# Versions the broker did not acknowledge are published again at least this often.
PENDING_EVERY_S = 5.0
# Touches read per pass; ids per IN list.
TOUCH_BATCH = 5000
IN_CHUNK = 2000

ALL = "*"
Presence = frozenset[str] | str  # ALL, or the sites
NOWHERE: frozenset[str] = frozenset()

TOUCHED = "roster_touched"  # Meta: the last touch the keeper made into deltas
SWEPT = "roster_swept"  # Meta: epoch seconds of the last sweep
STARTED = "roster_started"  # Meta: 1 once the keeper stored every presence (deltas need them)

# Publish messages at QoS 1, retained or not; True once the broker acknowledged every one.
Publish = Callable[[Sequence[tuple[str, bytes]], bool], bool]


def _hhmm(value: dt.time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def _encode(row: Json) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


# ---------------------------------------------------------------------------------------------- the network


@dataclass
class PlanState:
    row: Json
    sites: frozenset[str] | None  # None: valid at every site
    live: bool  # offered, or a subscription to it runs: in rosters

    @property
    def presence(self) -> Presence:
        if not self.live:
            return NOWHERE
        return ALL if self.sites is None else self.sites


@dataclass
class MemberState:
    """A member's roster rows, each already checked: what a door would refuse is left out before."""

    row: Json
    home: str | None
    credentials: list[Json] = field(default_factory=list)
    subscriptions: list[Json] = field(default_factory=list)


@dataclass
class Network:
    """What rosters are made of, read in one snapshot: every plan, the members read (all of them for a snapshot,
    the touched ones for a delta), the sites' cursors, and the rows left out with why."""

    plans: dict[str, PlanState]
    members: dict[str, MemberState]
    cursors: dict[str, dict[str, int]]
    left_out: list[str]

    def plan_at(self, plan_id: str, site: str) -> bool:
        plan = self.plans.get(plan_id)
        return plan is not None and at_site(plan.presence, site)

    def presence(self, member_id: str) -> Presence:
        """The sites whose roster holds the member: their home site and the sites of their plans."""
        member = self.members.get(member_id)
        if member is None:
            return NOWHERE
        sites = {member.home} if member.home else set()
        for sub in member.subscriptions:
            plan = self.plans.get(sub["plan_id"])
            found = plan.presence if plan is not None else NOWHERE
            if found == ALL:
                return ALL
            sites.update(found)
        return frozenset(sites)

    def seen(self, site: str) -> dict[str, int]:
        return dict(sorted(self.cursors.get(site, {}).items()))


def at_site(presence: Presence, site: str) -> bool:
    return presence == ALL or site in presence


def _stored(presence: Presence) -> str:
    return presence if isinstance(presence, str) else " ".join(sorted(presence))


def _parsed(text: str) -> Presence:
    return ALL if text == ALL else frozenset(text.split())


def _chunks(ids: Collection[str]) -> Iterator[list[str]]:
    items = sorted(ids)
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _kept(row: Json, check: Callable[[Any, str], None], what: str, left_out: list[str]) -> bool:
    """Whether `check` accepts the row; one it refuses is named in `left_out` instead of stopping every roster."""
    try:
        check(row, f"{what} {row.get('id', '?')}")
    except ProtocolError as exc:
        left_out.append(str(exc))
        return False
    return True


def _running(now: dt.datetime) -> Any:
    oldest = (now - EXPIRED_SUBSCRIPTION_GRACE).date()
    return (Subscription.valid_until.is_(None)) | (Subscription.valid_until >= oldest)


def load_plans(session: Session, now: dt.datetime, left_out: list[str]) -> dict[str, PlanState]:
    """Every plan in the rosters' form, with the sites it is valid at and whether it is in rosters at all (offered,
    or retired with a subscription running); a plan a door would refuse is named in `left_out` instead."""
    plan_sites: dict[str, set[str]] = {}
    for plan_id, site_id in session.execute(select(PlanSite.plan_id, PlanSite.site_id)):
        plan_sites.setdefault(plan_id, set()).add(site_id)
    rows = session.execute(
        select(
            Plan.id,
            Plan.name,
            Plan.kind,
            Plan.half_days,
            Plan.allow_overdraft,
            Plan.hours_start,
            Plan.hours_end,
            Plan.weekdays,
            Plan.price_cents,
            Plan.active,
        ).order_by(Plan.id)
    ).all()
    # Only retired plans need the question "does a subscription to it still run?" (few, and an indexed read).
    retired = [row[0] for row in rows if not row[-1]]
    in_use: set[str] = set()
    for chunk in _chunks(retired):
        in_use.update(
            session.execute(
                select(Subscription.plan_id).where(_running(now), Subscription.plan_id.in_(chunk)).distinct()
            ).scalars()
        )
    plans: dict[str, PlanState] = {}
    for plan_id, name, kind, half_days, overdraft, start, end, weekdays, price, active in rows:
        row = {
            "id": plan_id,
            "name": name,
            "kind": kind,
            "half_days": half_days,
            "allow_overdraft": overdraft,
            "hours_start": _hhmm(start),
            "hours_end": _hhmm(end),
            "weekdays": weekdays,
            "price_cents": price,
        }
        if _kept(row, roster_plan, "formule", left_out):
            sites = plan_sites.get(plan_id)
            plans[plan_id] = PlanState(row, frozenset(sites) if sites else None, active or plan_id in in_use)
    return plans


def load_network(
    session: Session,
    now: dt.datetime,
    member_ids: Collection[str] | None = None,
    plans: dict[str, PlanState] | None = None,
) -> Network:
    """Read the plans (unless given, read in the same snapshot) and the members (all, or `member_ids`) in the
    caller's snapshot, in the rosters' form."""
    revoked_since = now - REVOKED_GRACE
    left_out: list[str] = []
    running = _running(now)
    cursors: dict[str, dict[str, int]] = {}
    for site_id, device, seq in session.execute(select(DeviceCursor.site_id, DeviceCursor.device_id, DeviceCursor.seq)):
        cursors.setdefault(site_id, {})[device] = int(seq)
    if plans is None:
        plans = load_plans(session, now, left_out)
    carnets = {p for p, state in plans.items() if state.row["kind"] == PlanKind.CARNET}

    def where(column: Any) -> Iterator[Any]:
        if member_ids is None:
            yield true()
        else:
            for chunk in _chunks(member_ids):
                yield column.in_(chunk)

    members: dict[str, MemberState] = {}
    for condition in where(Member.id):
        for mid, first, active, home, staff in session.execute(
            select(Member.id, Member.first_name, Member.active, Member.home_site_id, Member.staff).where(condition)
        ):
            row = {"id": mid, "first_name": first, "last_name": "", "email": None, "active": active}
            if staff:
                # Only when true: the rows of everyone else stay as they were, byte for byte (sync/PROTOCOL.md).
                row["staff"] = True
            if _kept(row, roster_member, "membre", left_out):
                members[mid] = MemberState(row, home)
    for condition in where(Credential.member_id):
        for cid, member, kind, value, status, revoked_at in session.execute(
            select(
                Credential.id,
                Credential.member_id,
                Credential.kind,
                Credential.value,
                Credential.status,
                Credential.revoked_at,
            ).where(condition)
        ):
            if member not in members:
                continue
            if status != CredentialStatus.ACTIVE and (revoked_at is None or revoked_at < revoked_since):
                continue
            row = {"id": cid, "member_id": member, "kind": kind, "value": value, "status": status}
            if _kept(row, roster_credential, "badge", left_out):
                members[member].credentials.append(row)
    subscriptions: list[Json] = []
    for condition in where(Subscription.member_id):
        subscriptions += [
            {
                "id": sid,
                "member_id": member,
                "plan_id": plan_id,
                "valid_from": start.isoformat() if start else None,
                "valid_until": until.isoformat() if until else None,
                "balance": None,
            }
            for sid, member, plan_id, start, until in session.execute(
                select(
                    Subscription.id,
                    Subscription.member_id,
                    Subscription.plan_id,
                    Subscription.valid_from,
                    Subscription.valid_until,
                ).where(running, condition)
            )
            if member in members and plan_id in plans
        ]
    wanted = [s["id"] for s in subscriptions if s["plan_id"] in carnets]
    if member_ids is None:
        carnet_balances = balances(session)
    else:
        carnet_balances = {}
        for chunk in _chunks(wanted):
            carnet_balances.update(balances(session, chunk))
    for sub in subscriptions:
        sub["balance"] = carnet_balances.get(sub["id"])
        if _kept(sub, roster_subscription, "abonnement", left_out):
            members[sub["member_id"]].subscriptions.append(sub)
    for state in members.values():
        state.credentials.sort(key=lambda r: r["id"])
        state.subscriptions.sort(key=lambda r: r["id"])
    return Network(plans, members, cursors, left_out)


def member_entry(net: Network, member_id: str, site: str) -> tuple[Json, list[Json], list[Json]]:
    """A member as a site's roster holds them: their row, their badges, their subscriptions to plans valid there."""
    member = net.members[member_id]
    return member.row, member.credentials, [s for s in member.subscriptions if net.plan_at(s["plan_id"], site)]


def site_roster_body(net: Network, site: str) -> Json:
    """A site's roster (all but version, issued_at and sig), as a dict: for tests and tools (the keeper encodes
    the same rows straight into bytes, `SnapshotMaker`)."""
    body: Json = {"v": VERSION, "site": site, "seen": net.seen(site), "members": [], "credentials": []}
    body["subscriptions"] = []
    body["plans"] = [p.row for p in net.plans.values() if at_site(p.presence, site)]
    for member_id in sorted(net.members):
        if at_site(net.presence(member_id), site):
            row, credentials, subscriptions = member_entry(net, member_id, site)
            body["members"].append(row)
            body["credentials"] += credentials
            body["subscriptions"] += subscriptions
    return body


def build_roster_body(session: Session, site_id: str, now: dt.datetime) -> Json:
    """A site's roster body, read in the caller's snapshot (one site: tests and tools)."""
    return site_roster_body(load_network(session, now), site_id)


class SnapshotMaker:
    """Signed snapshots of many sites from one reading: each row is encoded once, and a site's snapshot is the
    concatenation of its members' encoded entries (a thousand sites of the same five thousand roaming members cost
    a thousand joins, not five million encodings). The bytes are the canonical JSON the signature covers."""

    def __init__(self, net: Network, erased: Collection[str] = ()) -> None:
        self.net = net
        # Every member erased in the network: each snapshot names them all (sync/PROTOCOL.md, "Erased members").
        self._erased = orjson.dumps(sorted(erased)) if erased else None
        self._everywhere: list[str] = []
        self._by_site: dict[str, list[str]] = {}
        for member_id in sorted(net.members):
            presence = net.presence(member_id)
            if presence == ALL:
                self._everywhere.append(member_id)
            else:
                for site in presence:
                    self._by_site.setdefault(site, []).append(member_id)
        self._rows: dict[int, bytes] = {}

    def _bytes(self, row: Json) -> bytes:
        # By the row's identity: the rows live as long as the network read, and ids of two tables may meet.
        found = self._rows.get(id(row))
        if found is None:
            found = self._rows[id(row)] = _encode(row)
        return found

    def signed(self, site: str, version: int, issued_at: dt.datetime, key: Ed25519PrivateKey) -> bytes:
        members, credentials, subscriptions = [], [], []
        for member_id in heapq.merge(self._everywhere, self._by_site.get(site, [])):
            row, badges, subs = member_entry(self.net, member_id, site)
            members.append(self._bytes(row))
            credentials += [self._bytes(c) for c in badges]
            subscriptions += [self._bytes(s) for s in subs]
        plans = [self._bytes(p.row) for p in self.net.plans.values() if at_site(p.presence, site)]
        # The keys in sorted order, as canonical_json would put them.
        canonical = b"".join(
            (
                b'{"credentials":[',
                b",".join(credentials),
                b"]",
                b',"erased_members":' + self._erased if self._erased is not None else b"",
                b',"issued_at":',
                orjson.dumps(utc_iso(issued_at)),
                b',"members":[',
                b",".join(members),
                b'],"plans":[',
                b",".join(plans),
                b'],"seen":',
                _encode(self.net.seen(site)),
                b',"site":',
                orjson.dumps(site),
                b',"subscriptions":[',
                b",".join(subscriptions),
                b'],"v":',
                str(VERSION).encode(),
                b',"version":',
                str(version).encode(),
                b"}",
            )
        )
        return canonical[:-1] + b',"sig":"' + signature(canonical, key).encode("ascii") + b'"}'


def delta_body(
    net: Network,
    site: str,
    members: Iterable[str],
    removed_members: Iterable[str],
    plans: Iterable[str],
    removed_plans: Iterable[str],
    erased_members: Iterable[str] = (),
) -> Json:
    """A site's delta (all but version, base, issued_at and sig): the listed members whole, as `member_entry`
    makes them, the listed plans, the ids to remove, and the members erased (the key only when some were)."""
    body: Json = {"v": VERSION, "site": site, "seen": net.seen(site), "members": [], "credentials": []}
    body["subscriptions"] = []
    for member_id in sorted(members):
        row, credentials, subscriptions = member_entry(net, member_id, site)
        body["members"].append(row)
        body["credentials"] += credentials
        body["subscriptions"] += subscriptions
    body["removed_members"] = sorted(removed_members)
    body["plans"] = [net.plans[p].row for p in sorted(plans)]
    body["removed_plans"] = sorted(removed_plans)
    erased = sorted(erased_members)
    if erased:
        body["erased_members"] = erased
    return body


# ---------------------------------------------------------------------------------------------- the keeper


@dataclass
class SiteState:
    version: int
    issued_at: dt.datetime | None
    snapshot_version: int
    snapshot_at: dt.datetime | None
    asked_at: dt.datetime | None

    def snapshot_due(self, now: dt.datetime) -> bool:
        return snapshot_due(self.snapshot_at, self.asked_at, now)


def snapshot_due(snapshot_at: dt.datetime | None, asked_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Asked for (by a door that is behind, a manager, an upgrade) since the last one, and not too soon after it. A
    site whose doors never asked has none: no door holds a roster there to keep up to date."""
    if asked_at is None or (snapshot_at is not None and asked_at <= snapshot_at):
        return False
    return snapshot_at is None or now - snapshot_at >= SNAPSHOT_MIN_GAP


@dataclass
class Issued:
    """One version made for a site: its messages, in order, and the row that records it."""

    site: str
    version: int
    kind: str
    messages: list[tuple[str, bytes]]
    payload: str | None


def ask_snapshot(session: Session, site_id: str, now: dt.datetime, *, at_once: bool = False) -> None:
    """A door of the site is behind: the keeper sends the site a snapshot (at most every SNAPSHOT_MIN_GAP, a door
    keeps asking until it has one). `at_once`: a manager asked, the next pass makes it."""
    values: dict[str, Any] = {"snapshot_asked_at": now}
    if at_once:
        values["snapshot_at"] = None
    session.execute(
        update(Site)
        .where(Site.id == site_id, (Site.snapshot_asked_at.is_(None)) | (Site.snapshot_asked_at < now))
        .values(**values)
    )


class RosterKeeper:
    """Makes, stores and publishes roster versions; run by exactly one hub worker."""

    def __init__(self, db: HubDatabase, key: Ed25519PrivateKey, publish: Publish) -> None:
        self.db = db
        self.key = key
        self.publish = publish
        self._started = False  # the presences are stored (once known, not read at every poll)
        self._next_full_check = 0.0
        self._next_clock_check: dt.datetime | None = None
        self._next_pending = 0.0
        # The rows left out of rosters at the last full check (the hub's doors page reads them from roster_problems).
        with db.read() as session:
            self.left_out: list[str] = list(
                session.execute(select(RosterProblem.problem).order_by(RosterProblem.id)).scalars()
            )

    # ------------------------------------------------------------------------------------------ passes

    def refresh(self, now: dt.datetime | None = None, *, balances_due: bool = False) -> list[tuple[str, int]]:
        """One pass: deltas for the touches waiting (and the carnets that moved, with `balances_due`), heartbeats,
        then the snapshots due, each published as soon as it is stored. Returns the (site, version) pairs made."""
        now = now or utcnow()
        made: list[tuple[str, int]] = []
        while True:
            batch = self._deltas(now, balances_due)
            made += batch
            balances_due = False
            if not batch or not self._touches_waiting():
                break
        made += self._snapshots(now)
        if made or time.monotonic() >= self._next_pending:
            self._next_pending = time.monotonic() + PENDING_EVERY_S
            self.publish_pending()
        return made

    def _touches_waiting(self) -> bool:
        with self.db.read() as session:
            done = meta_value(session, TOUCHED)
            return session.execute(select(RosterTouch.id).where(RosterTouch.id > done).limit(1)).first() is not None

    def _deltas(self, now: dt.datetime, balances_due: bool) -> list[tuple[str, int]]:
        if self._start(now):
            return []
        clock_due = self._next_clock_check is None or now >= self._next_clock_check
        if not balances_due and not clock_due and not self._touches_waiting():
            return []  # the keeper's idle poll: one indexed read
        if clock_due:
            self._next_clock_check = now + CLOCK_CHECK
        with self.db.snapshot() as session:
            sites = _sites(session)
            done = meta_value(session, TOUCHED)
            touches = session.execute(
                select(RosterTouch.id, RosterTouch.member_id, RosterTouch.plan_id)
                .where(RosterTouch.id > done)
                .order_by(RosterTouch.id)
                .limit(TOUCH_BATCH)
            ).all()
            last = touches[-1][0] if touches else done
            members = {m for _i, m, _p in touches if m is not None}
            plans = {p for _i, _m, p in touches if p is not None}
            erased = _erased(session, members)
            sent_balances: dict[str, int] = {}
            if balances_due:
                sent_balances = dict(
                    session.execute(select(RosterBalance.subscription_id, RosterBalance.balance)).all()
                )
                holders = dict(session.execute(select(Subscription.id, Subscription.member_id)).all())
                members.update(
                    holders[sid] for sid, value in balances(session).items() if sent_balances.get(sid, value) != value
                )
            exits, swept = _time_exits(session, now) if clock_due else (set(), None)
            members.update(exits)
            old_plans = _presences(session, "plan", plans)
            plan_states = load_plans(session, now, [])
            net = Network(plan_states, {}, {}, [])
            # A plan that moved between sites, or left or came back, changes its subscribers' entries too.
            for plan_id in plans:
                if old_plans.get(plan_id, NOWHERE) != _plan_presence(net, plan_id):
                    members.update(
                        session.execute(
                            select(Subscription.member_id).where(Subscription.plan_id == plan_id).distinct()
                        ).scalars()
                    )
            net = load_network(session, now, members, plan_states)
            old_members = _presences(session, "member", members)
            heartbeat = [
                site
                for site, state in sites.items()
                if clock_due
                and state.snapshot_version > 0
                and not state.snapshot_due(now)
                and state.issued_at is not None
                and now - state.issued_at >= REISSUE_AFTER
            ]
        if not members and not plans and not heartbeat and last == done and swept is None:
            return []
        if any(p not in self.left_out for p in net.left_out):
            # A touched row a door would refuse: left out of the delta, shown at once (the full check clears it
            # once mended).
            self._left_out(self.left_out + [p for p in net.left_out if p not in self.left_out])
        new_members = {m: net.presence(m) for m in members}
        new_plans = {p: _plan_presence(net, p) for p in plans}
        # Each site that holds, or held, something touched: what to send it, and what to remove from it.
        # Only sites with a snapshot get deltas (no door could apply one elsewhere), and not those about to get one.
        every = [s for s, state in sites.items() if state.snapshot_version > 0 and not state.snapshot_due(now)]
        eligible = set(every)
        work: dict[str, tuple[list[str], list[str], list[str], list[str]]] = {}

        def note(item: str, old: Presence, new: Presence, slot: int) -> None:
            targets = every if ALL in (old, new) else sorted((set(old) | set(new)) & eligible)
            for site in targets:
                lists = work.setdefault(site, ([], [], [], []))
                if at_site(new, site):
                    lists[slot].append(item)
                elif at_site(old, site):
                    lists[slot + 1].append(item)

        for member_id, new in new_members.items():
            note(member_id, old_members.get(member_id, NOWHERE), new, 0)
        for plan_id, new in new_plans.items():
            note(plan_id, old_plans.get(plan_id, NOWHERE), new, 2)
        for site in heartbeat:
            work.setdefault(site, ([], [], [], []))
        # An erasure reaches every door, whether its roster holds the member or not: its access log may name them.
        for site in every if erased else ():
            work.setdefault(site, ([], [], [], []))
        issued: list[Issued] = []
        too_large: list[str] = []
        for site in sorted(work):
            state = sites[site]
            body = delta_body(net, site, *work[site], erased)
            version = state.version + 1
            body.update(version=version, base=state.version, issued_at=utc_iso(now))
            payload = orjson.dumps(sign(body, self.key))
            if len(payload) > DELTA_MAX_BYTES:
                too_large.append(site)
                continue
            issued.append(Issued(site, version, "delta", [(delta_topic(site), payload)], payload.decode("utf-8")))
        changed_balances = {
            s["id"]: s["balance"]
            for m in net.members.values()
            for s in m.subscriptions
            if s["balance"] is not None and sent_balances.get(s["id"]) != s["balance"]
        }
        with self.db.write() as session:
            self._store(session, issued, now)
            _save_presences(session, "member", {m: p for m, p in new_members.items() if p != old_members.get(m)})
            _save_presences(session, "plan", {p: v for p, v in new_plans.items() if v != old_plans.get(p)})
            _save_balances(session, changed_balances)
            set_meta_value(session, TOUCHED, last)
            if swept is not None:
                set_meta_value(session, SWEPT, swept)
            if too_large:
                # Too much at once for a delta (a plan of thousands of members moved): a snapshot, this pass.
                session.execute(
                    update(Site).where(Site.id.in_(too_large)).values(snapshot_asked_at=now, snapshot_at=None)
                )
        for item in issued:
            log.info("registre %s v%s : delta", item.site, item.version)
        self._publish(issued)
        return [(i.site, i.version) for i in issued]

    def _start(self, now: dt.datetime) -> bool:
        """A keeper's very first pass (on a new hub, or one that made its rosters before deltas): store every
        member's and plan's presence and every balance, read in one snapshot with the last touch (the touches up to
        it are in what was read), and mark every site due for a snapshot. False when done long ago."""
        if self._started:
            return False
        with self.db.snapshot() as session:
            if meta_value(session, STARTED):
                self._started = True
                return False
            last_touch = session.execute(select(func.max(RosterTouch.id))).scalar() or 0
            net = load_network(session, now)
        with self.db.write() as writer:
            _save_presences(writer, "member", {m: net.presence(m) for m in net.members})
            _save_presences(writer, "plan", {p: _plan_presence(net, p) for p in net.plans})
            _save_balances(
                writer,
                {
                    s["id"]: s["balance"]
                    for m in net.members.values()
                    for s in m.subscriptions
                    if s["balance"] is not None
                },
            )
            set_meta_value(writer, TOUCHED, last_touch)
            set_meta_value(writer, STARTED, 1)
            self._started = True
            # Sites whose doors hold rosters made before deltas get a snapshot; the others when a door asks.
            writer.execute(
                update(Site)
                .where(Site.roster_version > 0)
                .values(snapshot_version=0, snapshot_at=None, snapshot_asked_at=utcnow())
            )
        return True

    def _snapshots(self, now: dt.datetime) -> list[tuple[str, int]]:
        with self.db.read() as session:
            asked = snapshots_asked(session)
        due = sorted(site for site, (at, asked_at) in asked.items() if snapshot_due(at, asked_at, now))
        full_check = time.monotonic() >= self._next_full_check
        if not due and not full_check:
            return []
        # A few sites: only the members they hold (by the presences stored; a change not yet sent is made up by
        # the next delta, which sends each member whole). Many, or the hourly check: the whole network at once.
        whole = full_check or len(due) > FEW_SITES
        with self.db.snapshot() as session:
            sites = _sites(session)
            net = load_network(session, now, None if whole else _present_at(session, due))
            erased = _erased(session, None)
        if whole:
            self._next_full_check = time.monotonic() + FULL_CHECK_EVERY.total_seconds()
            if net.left_out != self.left_out:
                self._left_out(net.left_out)
        maker = SnapshotMaker(net, erased)
        made: list[tuple[str, int]] = []
        started = time.monotonic()
        for site in due:
            if made and (time.monotonic() - started > SNAPSHOT_PASS_S and self._touches_waiting()):
                break  # the rest stay due; changes waiting go first
            state = sites[site]
            version = state.version + 1
            payload = maker.signed(site, version, now, self.key)
            parts = split_snapshot(payload, site, version)
            messages = [(roster_part_topic(site, i), part) for i, part in enumerate(parts)]
            item = Issued(site, version, "snapshot", messages, None)
            with self.db.write() as session:
                self._store(session, [item], now)
                session.execute(update(Site).where(Site.id == site).values(snapshot_version=version, snapshot_at=now))
            log.info(
                "registre %s v%s : liste complète (%d octets, %d partie(s))", site, version, len(payload), len(parts)
            )
            self._publish([item])
            made.append((site, version))
        return made

    def _store(self, session: Session, issued: list[Issued], now: dt.datetime) -> None:
        if not issued:
            return
        session.execute(
            insert(RosterVersion),
            [
                {
                    "site_id": i.site,
                    "version": i.version,
                    "kind": i.kind,
                    "issued_at": now,
                    "payload": i.payload,
                    "size": sum(len(m) for _t, m in i.messages),
                }
                for i in issued
            ],
        )
        # One statement each, whatever the number of sites (a change to a member who may enter anywhere is a
        # thousand versions): each site issued gets exactly its next version here.
        ids = [i.site for i in issued]
        session.execute(
            update(Site).where(Site.id.in_(ids)).values(roster_version=Site.roster_version + 1, roster_issued_at=now)
        )
        # The latest versions are kept, to publish again and to look into a complaint.
        latest = select(Site.roster_version).where(Site.id == RosterVersion.site_id).scalar_subquery()
        session.execute(
            delete(RosterVersion)
            .where(RosterVersion.site_id.in_(ids), RosterVersion.version <= latest - KEPT_VERSIONS)
            .execution_options(synchronize_session=False)
        )

    def _publish(self, issued: list[Issued]) -> None:
        if not issued:
            return
        # Deltas are retained (a door that reconnects sees at once whether it missed one); snapshots are not (a
        # thousand of them would weigh a GB in the broker, written again at each of its saves): a door gets one
        # when it asks.
        retain = all(i.kind == "delta" for i in issued)
        if not self.publish([m for i in issued for m in i.messages], retain):
            log.warning("registres non acquittés par le broker ; nouvel essai plus tard")
            return
        with self.db.write() as session:
            session.execute(
                update(RosterVersion)
                .where(tuple_(RosterVersion.site_id, RosterVersion.version).in_([(i.site, i.version) for i in issued]))
                .values(published_at=utcnow())
                .execution_options(synchronize_session=False)
            )

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

    # ------------------------------------------------------------------------------------------ publishing again

    def publish_pending(self) -> int:
        """Publish again, in order, the deltas the broker did not acknowledge since each site's last snapshot (a door
        then misses none of those kept); a snapshot not acknowledged is made again (its site is due again)."""
        return self._publish_again(only_unpublished=True)

    def republish_all(self) -> int:
        """Publish every site's latest delta again (at start: the broker may have lost its retained copy)."""
        return self._publish_again(only_unpublished=False)

    def _publish_again(self, *, only_unpublished: bool) -> int:
        with self.db.read() as session:
            which = (
                (RosterVersion.published_at.is_(None)) & (RosterVersion.version > Site.snapshot_version)
                if only_unpublished
                else Site.roster_version == RosterVersion.version
            )
            latest = session.execute(
                select(RosterVersion.site_id, RosterVersion.version, RosterVersion.payload)
                .join(Site, (Site.id == RosterVersion.site_id) & which)
                .where(RosterVersion.kind == "delta")
                .order_by(RosterVersion.site_id, RosterVersion.version)
            ).all()
            unsent_snapshots = (
                session.execute(
                    select(RosterVersion.site_id).where(
                        RosterVersion.kind == "snapshot",
                        RosterVersion.published_at.is_(None),
                        RosterVersion.version
                        == select(Site.snapshot_version).where(Site.id == RosterVersion.site_id).scalar_subquery(),
                    )
                )
                .scalars()
                .all()
            )
        if unsent_snapshots:
            with self.db.write() as session:
                session.execute(
                    update(Site)
                    .where(Site.id.in_(unsent_snapshots))
                    .values(snapshot_at=None, snapshot_asked_at=utcnow())
                )
        items = [
            Issued(site, version, "delta", [(delta_topic(site), payload.encode("utf-8"))], payload)
            for site, version, payload in latest
            if payload is not None
        ]
        self._publish(items)
        return len(items)


# ---------------------------------------------------------------------------------------------- stored state


def _time_exits(session: Session, now: dt.datetime) -> tuple[set[str], int | None]:
    """Members whose roster rows leave by time since the last sweep (a subscription past its grace, a revoked badge
    past REVOKED_GRACE), and the sweep's time to store; at most every SWEEP_EVERY, else nothing and None."""
    swept = meta_value(session, SWEPT)
    stamp = int(now.timestamp())
    if swept and stamp - swept < SWEEP_EVERY.total_seconds():
        return set(), None
    if not swept:
        return set(), stamp
    before = dt.datetime.fromtimestamp(swept, dt.UTC)
    was, cut = (before - EXPIRED_SUBSCRIPTION_GRACE).date(), (now - EXPIRED_SUBSCRIPTION_GRACE).date()
    found = set(
        session.execute(
            select(Subscription.member_id).where(Subscription.valid_until >= was, Subscription.valid_until < cut)
        ).scalars()
    )
    found.update(
        m
        for m in session.execute(
            select(Credential.member_id).where(
                Credential.revoked_at >= before - REVOKED_GRACE, Credential.revoked_at < now - REVOKED_GRACE
            )
        ).scalars()
        if m is not None
    )
    return found, stamp


def _erased(session: Session, among: Collection[str] | None) -> list[str]:
    """The members erased on request (of `among`, or all of them), in id order."""
    query = select(Member.id).where(Member.erased_at.is_not(None)).order_by(Member.id)
    if among is None:
        return list(session.scalars(query))
    found: list[str] = []
    for chunk in _chunks(among):
        found += session.scalars(query.where(Member.id.in_(chunk)))
    return sorted(found)


def meta_value(session: Session, key: str) -> int:
    return int(session.execute(select(Meta.value).where(Meta.key == key)).scalar_one_or_none() or 0)


def set_meta_value(session: Session, key: str, value: int) -> None:
    session.execute(insert_ignoring_conflicts(session, Meta).values(key=key, value=value))
    session.execute(update(Meta).where(Meta.key == key).values(value=value))


def _sites(session: Session) -> dict[str, SiteState]:
    return {
        row.id: SiteState(
            row.roster_version,
            row.roster_issued_at,
            row.snapshot_version,
            row.snapshot_at,
            row.snapshot_asked_at,
        )
        for row in session.execute(
            select(
                Site.id,
                Site.roster_version,
                Site.roster_issued_at,
                Site.snapshot_version,
                Site.snapshot_at,
                Site.snapshot_asked_at,
            )
        )
    }


def snapshots_asked(session: Session) -> dict[str, tuple[dt.datetime | None, dt.datetime | None]]:
    """The sites asked for a snapshot since their last one: that last one's time (None: never) and the asking's."""
    rows = session.execute(
        select(Site.id, Site.snapshot_at, Site.snapshot_asked_at).where(
            Site.snapshot_asked_at.is_not(None),
            Site.snapshot_at.is_(None) | (Site.snapshot_asked_at > Site.snapshot_at),
        )
    )
    return {site: (at, asked) for site, at, asked in rows}


def _present_at(session: Session, sites: Collection[str]) -> set[str]:
    """The members whose stored presence holds one of `sites` (or every site)."""
    held = [RosterPresence.sites == ALL]
    for site in sites:
        held += [
            RosterPresence.sites == site,
            RosterPresence.sites.like(f"{site} %"),
            RosterPresence.sites.like(f"% {site}"),
            RosterPresence.sites.like(f"% {site} %"),
        ]
    return set(session.execute(select(RosterPresence.id).where(RosterPresence.kind == "member", or_(*held))).scalars())


def _plan_presence(net: Network, plan_id: str) -> Presence:
    plan = net.plans.get(plan_id)
    return plan.presence if plan is not None else NOWHERE


def _presences(session: Session, kind: str, ids: Collection[str]) -> dict[str, Presence]:
    found: dict[str, Presence] = {}
    for chunk in _chunks(ids):
        for item, sites in session.execute(
            select(RosterPresence.id, RosterPresence.sites).where(
                RosterPresence.kind == kind, RosterPresence.id.in_(chunk)
            )
        ):
            found[item] = _parsed(sites)
    return found


def _save_presences(session: Session, kind: str, presences: dict[str, Presence]) -> None:
    for chunk in _chunks(presences):
        session.execute(delete(RosterPresence).where(RosterPresence.kind == kind, RosterPresence.id.in_(chunk)))
    rows = [{"kind": kind, "id": item, "sites": _stored(p)} for item, p in presences.items() if p]
    if rows:
        session.execute(insert(RosterPresence), rows)


def _save_balances(session: Session, values: dict[str, int]) -> None:
    for chunk in _chunks(values):
        session.execute(delete(RosterBalance).where(RosterBalance.subscription_id.in_(chunk)))
    if values:
        session.execute(insert(RosterBalance), [{"subscription_id": s, "balance": b} for s, b in values.items()])
