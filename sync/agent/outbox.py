"""What the sync agent reads and writes in the appliance's database: the outbox, acks, and the hub's rosters.

One writer per fact: the door writes events and their outbox rows; this module only deletes outbox rows the hub
acknowledged and replaces members, badges, plans, subscriptions and balances with the hub's roster. Each write is
one short transaction (BEGIN IMMEDIATE), so the door never waits long for the lock.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from access.db import Database
from access.models import Balance, Credential, Event, Member, Outbox, Plan, Subscription
from access.privacy import erase_member, erased_ids
from access.store import bump_state_version, get_meta, set_meta
from common.words import CredentialStatus
from sync.protocol import VERSION, Json, parse_utc

log = logging.getLogger(__name__)

ROSTER_VERSION = "roster_version"
# The applied roster's issued_at, beside its version: the status tells the hub how old the door's list is, after a
# restart too.
ROSTER_ISSUED_AT = "roster_issued_at"
HUB_ACKED = "hub_acked_seq"
# Outbox rows retired per transaction: an ack for a long backlog must not hold the lock the door needs.
RETIRE_CHUNK = 2000


@dataclass(frozen=True)
class OutboxState:
    first_seq: int | None  # oldest event not yet acknowledged
    last_seq: int  # newest event of this device (acknowledged or not)
    backlog: int


def outbox_state(db: Database, device: str) -> OutboxState:
    with db.read() as session:
        first, count = session.execute(
            select(func.min(Outbox.seq), func.count()).where(Outbox.device_id == device)
        ).one()
        last = session.execute(select(func.max(Event.seq)).where(Event.device_id == device)).scalar()
    return OutboxState(first, int(last or 0), int(count))


def acked_at_start(db: Database, device: str) -> int:
    """Where the stream stands at start: everything before the oldest outbox row was acknowledged."""
    state = outbox_state(db, device)
    return state.first_seq - 1 if state.first_seq is not None else state.last_seq


def last_seq(db: Database, device: str) -> int:
    """The newest seq this device recorded (cheap: the (device_id, seq) unique index answers it)."""
    with db.read() as session:
        return int(session.execute(select(func.max(Event.seq)).where(Event.device_id == device)).scalar() or 0)


# The outbox rows of a device in a seq range, with their events' columns as stored (`at` is UTC text, `data` JSON).
_READ_BATCH = (
    "SELECT e.id, e.seq, e.kind, e.at, e.mono_ns, e.boot_id, e.clock_ok, e.data FROM outbox o"
    " JOIN events e ON e.id = o.event_id WHERE o.device_id = ? AND o.seq BETWEEN ? AND ? ORDER BY o.seq"
)


@functools.lru_cache(maxsize=256)
def _json_string(text: str) -> str:
    # Kinds, boot ids and names repeat from one event to the next: encode each once.
    return json.dumps(text, ensure_ascii=False)


def read_batch(db: Database, site: str, device: str, first: int, last: int) -> tuple[bytes, int]:
    """The wire batch (sync/PROTOCOL.md) of seqs first..last still in the outbox, and how many events it holds.

    Built from the stored text: `data` is already JSON in the database and `at` already UTC, so neither is
    decoded and encoded again, and the query is plain SQL (the agent's main costs on a long backlog, measured by
    bench.sync).
    """
    with db.read() as session:
        rows = session.connection().exec_driver_sql(_READ_BATCH, (device, first, last)).all()
    place = f'"site":{_json_string(site)},"device":{_json_string(device)}'
    parts = [
        f'{{"v":{VERSION},"id":"{event_id}",{place},"seq":{seq},"kind":{_json_string(kind)},'
        f'"at":"{at[:10]}T{at[11:]}Z","mono_ns":{mono_ns},"boot":{_json_string(boot)},'
        f'"clock_ok":{"true" if clock_ok else "false"},"data":{data}}}'
        for event_id, seq, kind, at, mono_ns, boot, clock_ok, data in rows
    ]
    body = f'{{"v":{VERSION},{place},"events":[{",".join(parts)}]}}'
    return body.encode("utf-8"), len(parts)


def retire(db: Database, device: str, acked: int) -> int:
    """Delete outbox rows up to `acked` (the hub has them), a chunk per transaction; returns how many."""
    total = 0
    while True:
        with db.write() as session:
            first = session.execute(select(func.min(Outbox.seq)).where(Outbox.device_id == device)).scalar()
            upto = min(acked, first + RETIRE_CHUNK - 1) if first is not None else acked
            done = session.execute(delete(Outbox).where(Outbox.device_id == device, Outbox.seq <= upto))
            set_meta(session, HUB_ACKED, str(upto))
        total += int(done.rowcount)  # type: ignore[attr-defined]
        if upto >= acked:
            return total


def roster_version(db: Database) -> int | None:
    with db.read() as session:
        value = get_meta(session, ROSTER_VERSION)
    return int(value) if value is not None else None


def roster_issued_at(db: Database) -> dt.datetime | None:
    """When the hub issued the roster applied here; None before the first one (or one applied by an older agent)."""
    with db.read() as session:
        value = get_meta(session, ROSTER_ISSUED_AT)
    return parse_utc(value) if value is not None else None


def _time(text: str | None) -> dt.time | None:
    return dt.time.fromisoformat(text) if text else None


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def apply_roster(db: Database, roster: Json, device: str) -> None:
    """Replace the network's data with a verified snapshot, in one transaction, and tell the door to reload.

    A carnet's balance is stored with `as_of_seq = seen[device]`: the door subtracts its own spent uses after
    that seq, so a roster never gives back a half-day already spent here (access.store.spent_since_balances).
    """
    seen = int(roster["seen"].get(device, 0))
    with db.write() as session:
        _replace(session, roster, seen)
        _erase(session, roster)
        _held(session, roster)
    log.info("registre v%s appliqué (%d membres)", roster["version"], len(roster["members"]))


class DeltaOutOfTurn(Exception):
    """The ledger's roster moved between the agent's check and the delta's transaction: nothing was written."""


def apply_delta(db: Database, delta: Json, device: str) -> None:
    """Apply a verified delta whose `base` is the version held, in one transaction (sync/PROTOCOL.md, "Delta"):
    each member it lists is made exactly what it says (row, badges, subscriptions, balances), those it removes
    leave with theirs, plans are added, replaced or removed."""
    seen = int(delta["seen"].get(device, 0))
    with db.write() as session:
        held = get_meta(session, ROSTER_VERSION)
        if held is None or int(held) != delta["base"]:
            raise DeltaOutOfTurn(f"delta {delta['version']} pour la version {delta['base']}, la porte tient {held}")
        _patch(session, delta, seen)
        _erase(session, delta)
        _held(session, delta)
    log.info(
        "registre v%s appliqué (delta : %d membre(s), %d retiré(s))",
        delta["version"],
        len(delta["members"]),
        len(delta["removed_members"]),
    )


def _erase(session: Session, roster: Json) -> None:
    """Erase here the members the hub erased (sync/PROTOCOL.md, "Erased members"), each once."""
    listed = roster.get("erased_members") or []
    if not listed:
        return
    now = dt.datetime.now(dt.UTC)
    done = erased_ids(session)
    for member_id in listed:
        if member_id not in done and erase_member(session, member_id, now, "hub"):
            log.info("membre %s effacé à la demande du hub", member_id[:8])


def _held(session: Session, roster: Json) -> None:
    set_meta(session, ROSTER_VERSION, str(roster["version"]))
    set_meta(session, ROSTER_ISSUED_AT, roster["issued_at"])
    bump_state_version(session)


# The ledger's rows from a roster's (snapshot or delta): one form for both, so that a delta writes what a snapshot
# would.


def _member_rows(roster: Json) -> dict[str, dict[str, Any]]:
    return {
        m["id"]: {
            "id": m["id"],
            "first_name": m["first_name"],
            "last_name": m["last_name"],
            "email": m["email"],
            "active": m["active"],
            "staff": m.get("staff", False),  # absent: not staff
        }
        for m in roster["members"]
    }


def _plan_rows(roster: Json) -> dict[str, dict[str, Any]]:
    return {
        p["id"]: {
            "id": p["id"],
            "name": p["name"],
            "kind": p["kind"],
            "half_days": p["half_days"],
            "allow_overdraft": p["allow_overdraft"],
            "hours_start": _time(p["hours_start"]),
            "hours_end": _time(p["hours_end"]),
            "weekdays": p.get("weekdays"),  # absent from an older hub's roster: every day
            "price_cents": p["price_cents"],
            "active": True,
        }
        for p in roster["plans"]
    }


def _subscription_rows(roster: Json) -> dict[str, dict[str, Any]]:
    return {
        s["id"]: {
            "id": s["id"],
            "member_id": s["member_id"],
            "plan_id": s["plan_id"],
            "valid_from": _date(s["valid_from"]),
            "valid_until": _date(s["valid_until"]),
        }
        for s in roster["subscriptions"]
    }


def _balance_rows(roster: Json, seen: int) -> dict[str, dict[str, Any]]:
    return {
        s["id"]: {"subscription_id": s["id"], "amount": s["balance"], "as_of_seq": seen}
        for s in roster["subscriptions"]
        if s["balance"] is not None
    }


def _badge_rows(roster: Json) -> dict[str, dict[str, Any]]:
    """The badges by UID. Two rows of one UID (a badge revoked for one member, given again to another): the one in
    force wins, whatever the order."""
    badges: dict[str, dict[str, Any]] = {}
    for c in roster["credentials"]:
        if c["value"] in badges and badges[c["value"]]["status"] == CredentialStatus.ACTIVE:
            continue
        badges[c["value"]] = {
            "id": c["id"],
            "member_id": c["member_id"],
            "kind": c["kind"],
            "value": c["value"],
            "status": c["status"],
        }
    return badges


def _yield_pass_cards(session: Session, uids: list[str]) -> None:
    """A card a walk-in linked yields to a member's badge with the same UID: the member's badge wins, the pass keeps
    its code. Otherwise the UID's unique key would refuse this roster, and every one after it, revocations included."""
    lent = session.execute(
        delete(Credential).where(Credential.pass_id.is_not(None), Credential.value.in_(uids))
    ).rowcount  # type: ignore[attr-defined]
    if lent:
        log.warning("%d carte(s) de pass cèdent leur identifiant au badge d'un membre", lent)


def _replace(session: Session, roster: Json, seen: int) -> None:
    """Make the ledger's members, plans, subscriptions, badges and balances what the roster says, writing only what
    differs: a roster of a thousand members that revokes one badge updates one row, so it reaches the door's next
    decision in milliseconds rather than seconds."""
    members = _member_rows(roster)
    plans = _plan_rows(roster)
    subscriptions = _subscription_rows(roster)
    balances = _balance_rows(roster, seen)
    badges = _badge_rows(roster)
    _yield_pass_cards(session, list(badges))
    # What the hub no longer lists goes, children first; walk-ins' pass credentials are the kiosk's and stay.
    session.execute(delete(Balance).where(Balance.subscription_id.not_in(list(balances))))
    session.execute(delete(Subscription).where(Subscription.id.not_in(list(subscriptions))))
    held = {
        value: (cid, member_id, kind, status)
        for cid, member_id, kind, value, status in session.execute(
            select(Credential.id, Credential.member_id, Credential.kind, Credential.value, Credential.status).where(
                Credential.pass_id.is_(None)
            )
        )
    }
    # One row per UID: a badge the ledger holds under another id (a standalone past) is given again under the hub's.
    stale = [held[v][0] for v, c in badges.items() if v in held and held[v][0] != c["id"]]
    stale += [row[0] for v, row in held.items() if v not in badges]
    if stale:
        session.execute(delete(Credential).where(Credential.id.in_(stale)))
    session.execute(delete(Plan).where(Plan.id.not_in(list(plans))))
    session.execute(delete(Member).where(Member.id.not_in(list(members))))
    _write_differences(session, Member, members)
    _write_differences(session, Plan, plans)
    _write_differences(session, Subscription, subscriptions)
    kept = {held[v][0] for v in held if v in badges and held[v][0] == badges[v]["id"]}
    _write_differences(session, Credential, {c["id"]: c for c in badges.values()}, keep_only=kept)
    _write_differences(session, Balance, balances)


def _patch(session: Session, delta: Json, seen: int) -> None:
    """Write a delta: the members it lists made whole, those it removes gone, plans added, replaced or removed."""
    members = _member_rows(delta)
    subscriptions = _subscription_rows(delta)
    balances = _balance_rows(delta, seen)
    badges = _badge_rows(delta)
    touched = list(members) + list(delta["removed_members"])
    gone_plans = list(delta["removed_plans"])
    _write_differences(session, Plan, _plan_rows(delta))
    # The touched members' subscriptions, badges and balances the delta does not list go, children first; so do
    # those of the plans removed.
    old_subscriptions = select(Subscription.id).where(
        ((Subscription.member_id.in_(touched)) & Subscription.id.not_in(list(subscriptions)))
        | Subscription.plan_id.in_(gone_plans)
    )
    session.execute(
        delete(Balance).where(
            Balance.subscription_id.in_(old_subscriptions)
            | Balance.subscription_id.in_(list(subscriptions)) & Balance.subscription_id.not_in(list(balances))
        )
    )
    session.execute(delete(Subscription).where(Subscription.id.in_(old_subscriptions)))
    _yield_pass_cards(session, list(badges))
    # A UID held by another row (a badge given again to someone else): the badge in force wins.
    others = session.execute(
        select(Credential.id, Credential.value, Credential.status).where(
            Credential.value.in_(list(badges)), Credential.member_id.not_in(touched)
        )
    ).all()
    for cid, value, status in others:
        if badges[value]["status"] == CredentialStatus.ACTIVE or status != CredentialStatus.ACTIVE:
            session.execute(delete(Credential).where(Credential.id == cid))
        else:
            del badges[value]
    listed = [c["id"] for c in badges.values()]
    session.execute(
        delete(Credential).where(
            Credential.member_id.in_(touched), Credential.pass_id.is_(None), Credential.id.not_in(listed)
        )
    )
    session.execute(delete(Member).where(Member.id.in_(list(delta["removed_members"]))))
    session.execute(delete(Plan).where(Plan.id.in_(gone_plans)))
    _write_differences(session, Member, members)
    _write_differences(session, Subscription, subscriptions)
    # Any other row still holding a listed UID (neither a member's nor a pass's: a standalone past) gives way.
    session.execute(delete(Credential).where(Credential.value.in_(list(badges)), Credential.id.not_in(listed)))
    _write_differences(session, Credential, {c["id"]: c for c in badges.values()})
    _write_differences(session, Balance, balances)


def _write_differences(
    session: Session, model: Any, wanted: dict[str, dict[str, Any]], *, keep_only: set[str] | None = None
) -> None:
    """Insert the rows of `wanted` the table lacks and update those that differ (by primary key, the first column
    of each row). `keep_only`: the keys already present (when the caller knows them)."""
    if not wanted:
        return
    columns = list(next(iter(wanted.values())))
    key = getattr(model, columns[0])
    query = select(*(getattr(model, c) for c in columns))
    if keep_only is not None:
        query = query.where(key.in_(list(keep_only)))
    present = {row[0]: tuple(row) for row in session.execute(query)}
    new = [row for k, row in wanted.items() if k not in present]
    changed = [row for k, row in wanted.items() if k in present and present[k] != tuple(row[c] for c in columns)]
    if new:
        session.execute(insert(model), new)
    if changed:
        session.execute(update(model), changed)


def oldest_unsent_at(db: Database, device: str) -> dt.datetime | None:
    """When the oldest event the hub has not acknowledged happened; None when none waits."""
    with db.read() as session:
        return session.execute(
            select(Event.at)
            .join(Outbox, Outbox.event_id == Event.id)
            .where(Outbox.device_id == device)
            .order_by(Outbox.seq)
            .limit(1)
        ).scalar()


def status_fields(db: Database, device: str, acked: int) -> dict[str, Any]:
    state = outbox_state(db, device)
    return {
        "backlog": state.backlog,
        "last_seq": state.last_seq,
        "acked_seq": acked,
        "roster_version": roster_version(db),
    }
