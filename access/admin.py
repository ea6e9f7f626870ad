"""The manager's operations on members, badges and plans, shared by the CLI and the kiosk's admin pages.

Each operation validates its input and raises `AdminError` (a French sentence for the manager) before writing
anything; the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from access.models import (
    Balance,
    Credential,
    Event,
    Member,
    Plan,
    Subscription,
)
from access.store import bump_state_version, spent_since_balances
from common import records
from common.badges import ANY_READER, BadgeError, BadgeRule
from common.config import parse_hhmm
from common.db import utcnow
from common.weekdays import WeekdaysError, parse_weekdays
from common.words import CredentialKind, CredentialStatus, PlanKind


class AdminError(ValueError):
    """A manager's request that cannot be done, with the reason in plain French."""


def normalise_uid(raw: str, badges: BadgeRule = ANY_READER) -> str:
    """'04:a2:3b:1c' or '04a23b1c' -> '04A23B1C', if the site's reader can read such a badge (common/badges.py)."""
    try:
        return badges.normalise(raw)
    except BadgeError as exc:
        raise AdminError(str(exc)) from None


def check_email(raw: str | None) -> str | None:
    return records.check_email(raw, AdminError)


def check_name(raw: str, what: str = "le prénom") -> str:
    return records.check_name(raw, what, AdminError)


def parse_date(raw: str | None, what: str) -> dt.date | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise AdminError(f"{what} « {raw} » n'est pas une date AAAA-MM-JJ") from None


def find_member(session: Session, ref: str) -> Member:
    """A member by id, unique id prefix (6+ characters) or e-mail."""
    ref = ref.strip()
    member = session.get(Member, ref)
    if member is not None:
        return member
    query = select(Member).where(func.lower(Member.email) == ref.lower())
    if len(ref) >= 6:
        query = select(Member).where(or_(func.lower(Member.email) == ref.lower(), Member.id.startswith(ref)))
    found = list(session.scalars(query.limit(2)))
    if len(found) == 1:
        return found[0]
    if not found:
        raise AdminError(f"aucun membre ne correspond à « {ref} »")
    raise AdminError(f"plusieurs membres correspondent à « {ref} » : précisez")


def find_plan(session: Session, name: str) -> Plan:
    plan = session.scalar(select(Plan).where(func.lower(Plan.name) == name.strip().lower()))
    if plan is None:
        names = ", ".join(session.scalars(select(Plan.name).order_by(Plan.name))) or "aucune"
        raise AdminError(f"formule « {name} » inconnue (formules : {names})")
    return plan


def current_seq(session: Session, device_id: str) -> int:
    return session.execute(select(func.max(Event.seq)).where(Event.device_id == device_id)).scalar() or 0


@dataclass(frozen=True)
class PlanSpec:
    name: str
    kind: str
    half_days: int | None = None
    allow_overdraft: bool = False
    hours: str | None = None  # "HH:MM-HH:MM"
    price_cents: int = 0
    weekdays: str | tuple[str, ...] | None = None  # "1-5", "12345", or ticked boxes' values; None: every day
    guest_half_days: int | None = None  # guest half-days a month the plan includes (access/guests.py)


# Guest half-days a month a plan may include: more is a plan for several people, not a member's guests.
GUEST_HALF_DAYS_MAX = 62


def check_guest_half_days(value: int | None) -> int | None:
    """A plan's guest half-days a month: None or 0 (guests are charged to the carnet) up to GUEST_HALF_DAYS_MAX."""
    if value is None or value == 0:
        return None
    if not 0 < value <= GUEST_HALF_DAYS_MAX:
        raise AdminError(f"les demi-journées d'invités par mois vont de 0 à {GUEST_HALF_DAYS_MAX}")
    return value


def set_guest_half_days(session: Session, name: str, value: int | None) -> Plan:
    """Change the guest half-days a month a plan includes (from the next guest registered)."""
    plan = find_plan(session, name)
    plan.guest_half_days = check_guest_half_days(value)
    bump_state_version(session)
    return plan


def add_plan(session: Session, spec: PlanSpec) -> Plan:
    name = check_name(spec.name, "le nom de la formule")
    if spec.kind not in tuple(PlanKind):
        raise AdminError(f"type de formule « {spec.kind} » inconnu (choix : {', '.join(PlanKind)})")
    if spec.kind == PlanKind.CARNET and (spec.half_days is None or spec.half_days < 1):
        raise AdminError("un carnet a besoin d'un nombre de demi-journées (1 ou plus)")
    if spec.price_cents < 0:
        raise AdminError("le prix ne peut pas être négatif")
    guest_half_days = check_guest_half_days(spec.guest_half_days)
    start = end = None
    if spec.hours:
        try:
            a, b = spec.hours.split("-")
            start, end = parse_hhmm(a.strip()), parse_hhmm(b.strip())
        except ValueError:
            raise AdminError(f"horaires « {spec.hours} » : attendu HH:MM-HH:MM, par exemple 08:00-20:00") from None
        if not start < end:
            raise AdminError("l'heure de fin doit suivre l'heure de début")
    try:
        weekdays = parse_weekdays(spec.weekdays)
    except WeekdaysError as exc:
        raise AdminError(str(exc)) from None
    if session.scalar(select(Plan.id).where(func.lower(Plan.name) == name.lower())):
        raise AdminError(f"une formule s'appelle déjà « {name} »")
    plan = Plan(
        name=name,
        kind=spec.kind,
        half_days=spec.half_days if spec.kind == PlanKind.CARNET else None,
        allow_overdraft=spec.allow_overdraft,
        hours_start=start,
        hours_end=end,
        weekdays=weekdays,
        price_cents=spec.price_cents,
        guest_half_days=guest_half_days,
    )
    session.add(plan)
    session.flush()
    bump_state_version(session)
    return plan


@dataclass(frozen=True)
class MemberSpec:
    first_name: str
    last_name: str = ""
    email: str | None = None
    plan: str | None = None
    badge: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None


def add_member(session: Session, spec: MemberSpec, device_id: str, badges: BadgeRule = ANY_READER) -> Member:
    """Create a member, with a plan and a badge if given (one the site's reader can read: `badges`)."""
    member = Member(
        first_name=check_name(spec.first_name),
        last_name=spec.last_name.strip()[:80],
        email=check_email(spec.email),
    )
    if member.email and session.scalar(select(Member.id).where(func.lower(Member.email) == member.email.lower())):
        raise AdminError(f"un membre a déjà l'adresse {member.email}")
    valid_from = parse_date(spec.valid_from, "la date de début")
    valid_until = parse_date(spec.valid_until, "la date de fin")
    if valid_from and valid_until and valid_until < valid_from:
        raise AdminError("la date de fin précède la date de début")
    plan = find_plan(session, spec.plan) if spec.plan else None
    uid = normalise_uid(spec.badge, badges) if spec.badge else None
    session.add(member)
    session.flush()
    if plan is not None:
        subscribe(session, member, plan, valid_from, valid_until, device_id)
    if uid is not None:
        add_badge(session, member, uid)
    bump_state_version(session)
    return member


def subscribe(
    session: Session,
    member: Member,
    plan: Plan,
    valid_from: dt.date | None,
    valid_until: dt.date | None,
    device_id: str,
) -> Subscription:
    sub = Subscription(member_id=member.id, plan_id=plan.id, valid_from=valid_from, valid_until=valid_until)
    session.add(sub)
    session.flush()
    if plan.kind == PlanKind.CARNET:
        session.add(
            Balance(subscription_id=sub.id, amount=plan.half_days or 0, as_of_seq=current_seq(session, device_id))
        )
    return sub


def add_badge(session: Session, member: Member, raw_uid: str, badges: BadgeRule = ANY_READER) -> Credential:
    """Give a badge to a member; `badges` is the site's reader's rule."""
    uid = normalise_uid(raw_uid, badges)
    existing = session.scalar(
        select(Credential).where(Credential.kind == CredentialKind.NFC_UID, Credential.value == uid)
    )
    if existing is not None:
        if existing.status == CredentialStatus.ACTIVE:
            raise AdminError(f"le badge {uid} est déjà attribué")
        raise AdminError(f"le badge {uid} a été désactivé ; il ne peut pas être réattribué")
    credential = Credential(member_id=member.id, kind=CredentialKind.NFC_UID, value=uid)
    session.add(credential)
    session.flush()
    bump_state_version(session)
    return credential


def revoke_badge(session: Session, raw_uid: str) -> Credential:
    uid = normalise_uid(raw_uid)
    credential = session.scalar(
        select(Credential).where(Credential.kind == CredentialKind.NFC_UID, Credential.value == uid)
    )
    if credential is None:
        raise AdminError(f"le badge {uid} n'est pas connu")
    if credential.status == CredentialStatus.REVOKED:
        raise AdminError(f"le badge {uid} est déjà désactivé")
    credential.status = CredentialStatus.REVOKED
    credential.revoked_at = utcnow()
    bump_state_version(session)
    return credential


def deactivate_member(session: Session, ref: str) -> Member:
    member = find_member(session, ref)
    if not member.active:
        raise AdminError(f"{member.full_name} est déjà désactivé·e")
    member.active = False
    bump_state_version(session)
    return member


def top_up(session: Session, ref: str, half_days: int, device_id: str) -> Balance:
    """Add half-days to a member's carnet (a negative number corrects a mistake)."""
    member = find_member(session, ref)
    balance = session.scalar(select(Balance).join(Subscription).where(Subscription.member_id == member.id).limit(1))
    if balance is None:
        raise AdminError(f"{member.full_name} n'a pas de carnet")
    effective = balance.amount - spent_since_balances(session, device_id).get(balance.subscription_id, 0)
    balance.amount = effective + half_days
    balance.as_of_seq = current_seq(session, device_id)
    bump_state_version(session)
    return balance
