"""Changes to the network's members, badges, plans and carnets, from the hub's pages or from a site's request.

Every change bumps the network change counter in the same transaction; the roster keeper sees the counter move and
publishes new rosters at once (a revoked badge stops opening doors as soon as the sites have the roster).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from common.badges import ANY_READER, BadgeError
from common.db import utcnow
from common.words import CredentialKind, CredentialStatus, PlanKind
from sync.hub.db import HubDatabase
from sync.hub.ingest import insert_ignoring_conflicts
from sync.hub.models import ChangeRequest, Command, Credential, Member, Meta, Plan, Site, Subscription
from sync.protocol import COMMAND_NAMES, ID_RE, MAX_COMMAND_TTL_S, Json

log = logging.getLogger(__name__)

NETWORK_CHANGES = "network_changes"

# Error codes a change request can get back (sync/PROTOCOL.md), with their French message for the pages.
ERRORS = {
    "uid_in_use": "ce badge est déjà actif pour un autre membre",
    "unknown_member": "membre inconnu",
    "member_exists": "ce membre existe déjà avec d'autres informations",
    "bad_uid": "identifiant de badge invalide",
    "unknown_plan": "formule inconnue",
    "unknown_subscription": "abonnement inconnu",
    "bad_plan": "formule invalide",
    "bad_command": "commande invalide",
}


class HubError(Exception):
    """A change the hub refuses; `code` is one of ERRORS."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{ERRORS.get(code, code)}{' : ' + detail if detail else ''}")
        self.code = code


def bump_network_changes(session: Session) -> None:
    """Count one change to what rosters carry, in the caller's transaction."""
    done = session.execute(update(Meta).where(Meta.key == NETWORK_CHANGES).values(value=Meta.value + 1))
    if done.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(insert_ignoring_conflicts(session, Meta).values(key=NETWORK_CHANGES, value=0))
        session.execute(update(Meta).where(Meta.key == NETWORK_CHANGES).values(value=Meta.value + 1))


def network_changes(session: Session) -> int:
    return int(session.execute(select(Meta.value).where(Meta.key == NETWORK_CHANGES)).scalar_one_or_none() or 0)


def add_site(db: HubDatabase, site_id: str, name: str, timezone: str = "Europe/Paris") -> None:
    if not ID_RE.fullmatch(site_id):
        raise ValueError(f"l'identifiant de site {site_id!r} doit correspondre à {ID_RE.pattern}")
    with db.write() as session:
        session.execute(insert_ignoring_conflicts(session, Site).values(id=site_id, name=name, timezone=timezone))
        session.execute(update(Site).where(Site.id == site_id).values(name=name, timezone=timezone))
        bump_network_changes(session)


def add_plan(
    db: HubDatabase,
    name: str,
    kind: str,
    *,
    half_days: int | None = None,
    allow_overdraft: bool = False,
    hours_start: dt.time | None = None,
    hours_end: dt.time | None = None,
    price_cents: int = 0,
) -> str:
    if kind not in tuple(PlanKind) or (kind == PlanKind.CARNET and not half_days):
        raise HubError("bad_plan", f"{kind} / {half_days}")
    with db.write() as session:
        plan = Plan(
            name=name,
            kind=kind,
            half_days=half_days,
            allow_overdraft=allow_overdraft,
            hours_start=hours_start,
            hours_end=hours_end,
            price_cents=price_cents,
        )
        session.add(plan)
        bump_network_changes(session)
        session.flush()
        return plan.id


def add_member(
    db: HubDatabase, first_name: str, last_name: str = "", email: str | None = None, *, member_id: str | None = None
) -> str:
    with db.write() as session:
        member = Member(first_name=first_name, last_name=last_name, email=email)
        if member_id is not None:
            member.id = member_id
        session.add(member)
        bump_network_changes(session)
        session.flush()
        return member.id


def set_member_active(db: HubDatabase, member_id: str, active: bool) -> None:
    with db.write() as session:
        if session.get(Member, member_id) is None:
            raise HubError("unknown_member", member_id)
        session.execute(update(Member).where(Member.id == member_id).values(active=active))
        bump_network_changes(session)


def enrol_badge(db: HubDatabase, member_id: str, uid: str) -> str:
    """Give `uid` to a member; a revoked badge can be given again. Returns the credential id."""
    with db.write() as session:
        return _enrol(session, member_id, uid)


def _enrol(session: Session, member_id: str, raw_uid: str) -> str:
    try:
        uid = ANY_READER.normalise(raw_uid)
    except BadgeError:
        raise HubError("bad_uid", raw_uid[:40]) from None
    if session.get(Member, member_id) is None:
        raise HubError("unknown_member", member_id)
    query = select(Credential).where(Credential.kind == CredentialKind.NFC_UID, Credential.value == uid)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    credential = session.execute(query).scalar_one_or_none()
    if credential is None:
        credential = Credential(member_id=member_id, kind=CredentialKind.NFC_UID, value=uid)
        session.add(credential)
    elif credential.status == CredentialStatus.ACTIVE and credential.member_id != member_id:
        raise HubError("uid_in_use", uid)
    elif credential.status == CredentialStatus.ACTIVE:
        return credential.id
    else:
        credential.member_id = member_id
        credential.status = CredentialStatus.ACTIVE
        credential.revoked_at = None
    bump_network_changes(session)
    session.flush()
    return credential.id


def revoke_badge(db: HubDatabase, uid: str, now: dt.datetime | None = None) -> bool:
    """Revoke a badge; True if it was active. The next roster (published at once) carries the revocation."""
    with db.write() as session:
        done = session.execute(
            update(Credential)
            .where(
                Credential.kind == CredentialKind.NFC_UID,
                Credential.value == uid.upper(),
                Credential.status == CredentialStatus.ACTIVE,
            )
            .values(status=CredentialStatus.REVOKED, revoked_at=now or utcnow())
        )
        if done.rowcount:  # type: ignore[attr-defined]
            bump_network_changes(session)
            return True
        return False


def add_subscription(
    db: HubDatabase,
    member_id: str,
    plan_id: str,
    *,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
) -> str:
    """Subscribe a member to a plan; a carnet is credited with the plan's half-days."""
    with db.write() as session:
        plan = session.get(Plan, plan_id)
        if plan is None:
            raise HubError("unknown_plan", plan_id)
        if session.get(Member, member_id) is None:
            raise HubError("unknown_member", member_id)
        subscription = Subscription(
            member_id=member_id,
            plan_id=plan_id,
            valid_from=valid_from,
            valid_until=valid_until,
            credited=(plan.half_days or 0) if plan.kind == PlanKind.CARNET else 0,
        )
        session.add(subscription)
        bump_network_changes(session)
        session.flush()
        return subscription.id


def top_up(db: HubDatabase, subscription_id: str, half_days: int) -> None:
    """Credit a carnet with more half-days."""
    with db.write() as session:
        done = session.execute(
            update(Subscription)
            .where(Subscription.id == subscription_id)
            .values(credited=Subscription.credited + half_days)
        )
        if done.rowcount == 0:  # type: ignore[attr-defined]
            raise HubError("unknown_subscription", subscription_id)
        bump_network_changes(session)


def issue_command(
    db: HubDatabase,
    site: str,
    device: str,
    name: str,
    *,
    ttl_s: float = 60.0,
    args: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Queue a command for a device; the keeper signs and publishes it. Returns its nonce."""
    if name not in COMMAND_NAMES or not 0 < ttl_s <= MAX_COMMAND_TTL_S:
        raise HubError("bad_command", f"{name} / {ttl_s}")
    now = now or utcnow()
    with db.write() as session:
        command = Command(
            site_id=site,
            device_id=device,
            name=name,
            args=args or {},
            issued_at=now,
            expires=now + dt.timedelta(seconds=ttl_s),
        )
        session.add(command)
        session.flush()
        return command.nonce


def handle_request(db: HubDatabase, request: Json) -> tuple[bool, str | None]:
    """Apply a validated change request once per id; a repeat returns the first answer."""
    with db.write() as session:
        known = session.get(ChangeRequest, request["id"])
        if known is not None:
            return known.ok, known.error
    ok, error = True, None
    try:
        with db.write() as session:
            _apply_request(session, request)
            session.add(_request_row(request, True, None))
    except HubError as exc:
        ok, error = False, exc.code
    except Exception:
        # A request that lost a race with its own repeat (another worker): the first answer stands.
        with db.read() as session:
            known = session.get(ChangeRequest, request["id"])
        if known is None:
            raise
        return known.ok, known.error
    if not ok:
        with db.write() as session:
            session.execute(
                insert_ignoring_conflicts(session, ChangeRequest).values(**_request_fields(request, False, error))
            )
    log.info(
        "demande %s (%s) de %s/%s : %s",
        request["id"],
        request["kind"],
        request["site"],
        request["device"],
        "ok" if ok else error,
    )
    return ok, error


def _apply_request(session: Session, request: Json) -> None:
    data = request["data"]
    if request["kind"] == "enrol_badge":
        _enrol(session, data["member_id"], data["uid"])
        return
    member = session.get(Member, data["member_id"])
    fields = (data["first_name"], data["last_name"], data["email"])
    if member is None:
        session.add(
            Member(
                id=data["member_id"], first_name=data["first_name"], last_name=data["last_name"], email=data["email"]
            )
        )
        session.flush()
        bump_network_changes(session)
    elif (member.first_name, member.last_name, member.email) != fields:
        raise HubError("member_exists", data["member_id"])
    if data.get("uid"):
        _enrol(session, data["member_id"], data["uid"])


def _request_fields(request: Json, ok: bool, error: str | None) -> dict[str, Any]:
    return {
        "id": request["id"],
        "site_id": request["site"],
        "device_id": request["device"],
        "kind": request["kind"],
        "data": request["data"],
        "ok": ok,
        "error": error,
    }


def _request_row(request: Json, ok: bool, error: str | None) -> ChangeRequest:
    return ChangeRequest(**_request_fields(request, ok, error))
