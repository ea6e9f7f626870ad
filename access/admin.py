"""The manager's operations on members, badges and plans, shared by the CLI and the kiosk's admin pages.

Each operation validates its input and raises `AdminError` (a French sentence for the manager) before writing
anything; the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from access.config import Config
from access.models import (
    BadgeHistory,
    Balance,
    Credential,
    Erasure,
    Event,
    Guest,
    Member,
    Plan,
    Sale,
    Subscription,
    Use,
)
from access.store import bump_state_version, spent_since_balances
from common import records
from common.badges import ANY_READER, BADGE_ALREADY_THEIRS, BadgeError, BadgeRule, assignment_refusal
from common.config import parse_hhmm
from common.db import utcnow
from common.periods import next_period
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
    room_half_days: int | None = None  # half-days of rooms and offices a month the plan includes


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


# Room half-days a month a plan may include: an office every working half-day of a month is about 46.
ROOM_HALF_DAYS_MAX = 62


def check_room_half_days(value: int | None) -> int | None:
    """A plan's room half-days a month: None or 0 (rooms are paid apart) up to ROOM_HALF_DAYS_MAX."""
    if value is None or value == 0:
        return None
    if not 0 < value <= ROOM_HALF_DAYS_MAX:
        raise AdminError(f"les demi-journées de salle par mois vont de 0 à {ROOM_HALF_DAYS_MAX}")
    return value


def set_room_half_days(session: Session, name: str, value: int | None) -> Plan:
    """Change the room half-days a month a plan includes (for bookings made from now on)."""
    plan = find_plan(session, name)
    plan.room_half_days = check_room_half_days(value)
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
    room_half_days = check_room_half_days(spec.room_half_days)
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
        room_half_days=room_half_days,
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
    """Give a member a plan between two dates (either may be open); a carnet starts with the plan's half-days."""
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        raise AdminError("la date de fin précède la date de début")
    if not plan.active:
        raise AdminError(f"la formule « {plan.name} » n'est plus proposée")
    sub = Subscription(member_id=member.id, plan_id=plan.id, valid_from=valid_from, valid_until=valid_until)
    session.add(sub)
    session.flush()
    if plan.kind == PlanKind.CARNET:
        session.add(
            Balance(subscription_id=sub.id, amount=plan.half_days or 0, as_of_seq=current_seq(session, device_id))
        )
    bump_state_version(session)
    return sub


def add_badge(session: Session, member: Member, raw_uid: str, badges: BadgeRule = ANY_READER) -> Credential:
    """Give a badge to a member; `badges` is the site's reader's rule. A revoked badge may be given again (to its
    member, found, or to someone else): common/badges.py's rule, the hub's too."""
    _not_erased(session, member)
    uid = normalise_uid(raw_uid, badges)
    existing = _credential(session, uid)
    _check_assignment(existing, member)
    if existing is None:
        credential = Credential(member_id=member.id, kind=CredentialKind.NFC_UID, value=uid)
        session.add(credential)
        action = "given"
    else:
        credential = existing
        action = "given_back" if credential.member_id == member.id else "given"
        credential.member_id = member.id
        credential.pass_id = None
        credential.status = CredentialStatus.ACTIVE
        credential.revoked_at = None
    session.flush()
    _badge_history(session, uid, member.id, action)
    bump_state_version(session)
    return credential


def _credential(session: Session, uid: str) -> Credential | None:
    return session.scalar(select(Credential).where(Credential.kind == CredentialKind.NFC_UID, Credential.value == uid))


def _check_assignment(existing: Credential | None, member: Member) -> None:
    if existing is None:
        return
    refusal = assignment_refusal(existing.status, existing.member_id, member.id)
    if refusal == BADGE_ALREADY_THEIRS:
        raise AdminError(f"le badge {existing.value} est déjà attribué à {member.full_name}")
    if refusal is not None:
        raise AdminError(f"le badge {existing.value} est déjà attribué à un autre membre : désactivez-le d'abord")


def _badge_history(session: Session, uid: str, member_id: str | None, action: str, reason: str | None = None) -> None:
    reason = reason.strip()[:120] if reason and reason.strip() else None
    session.add(BadgeHistory(value=uid, member_id=member_id, action=action, reason=reason))


def revoke_badge(session: Session, raw_uid: str, reason: str | None = None) -> Credential:
    """Disable a badge (lost, stolen, left the space), with the reason kept in its history."""
    uid = normalise_uid(raw_uid)
    credential = _credential(session, uid)
    if credential is None:
        raise AdminError(f"le badge {uid} n'est pas connu")
    if credential.status == CredentialStatus.REVOKED:
        raise AdminError(f"le badge {uid} est déjà désactivé")
    credential.status = CredentialStatus.REVOKED
    credential.revoked_at = utcnow()
    _badge_history(session, uid, credential.member_id, "revoked", reason)
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


# ---------------------------------------------------------------------------------------------------- a member's year

LANGUAGES = ("fr", "en")
# A carnet with this many half-days left or fewer is due for renewal (the "À renouveler" list).
NEARLY_EMPTY = 2


def nearly_empty(config: Config) -> int:
    """The half-days left below which a carnet is due: the threshold its member is mailed at, when the site mails."""
    return config.mail.low_carnet_threshold if config.mail is not None else NEARLY_EMPTY


@dataclass(frozen=True)
class MemberEdit:
    first_name: str
    last_name: str = ""
    email: str | None = None
    staff: bool = False
    language: str = "fr"
    monthly_statement: bool = False


def _not_erased(session: Session, member: Member) -> None:
    """A member erased at their request is named again by no one, by no badge (PRIVACY.md)."""
    if session.get(Erasure, member.id) is not None:
        raise AdminError("ce membre a été effacé à sa demande : il ne peut plus être nommé ni recevoir de badge")


def edit_member(session: Session, ref: str, edit: MemberEdit) -> Member:
    """Change a member's names, e-mail (still unique), staff, language and monthly statement."""
    member = find_member(session, ref)
    _not_erased(session, member)
    first_name, email = check_name(edit.first_name), check_email(edit.email)
    if edit.language not in LANGUAGES:
        raise AdminError(f"langue « {edit.language} » inconnue (choix : fr, en)")
    if edit.monthly_statement and not email:
        raise AdminError("le relevé mensuel part par e-mail : indiquez une adresse")
    if email and session.scalar(
        select(Member.id).where(func.lower(Member.email) == email.lower(), Member.id != member.id)
    ):
        raise AdminError(f"un autre membre a déjà l'adresse {email}")
    member.first_name, member.last_name, member.email = first_name, edit.last_name.strip()[:80], email
    member.staff, member.language, member.monthly_statement = edit.staff, edit.language, edit.monthly_statement
    bump_state_version(session)
    return member


def reactivate_member(session: Session, ref: str) -> Member:
    member = find_member(session, ref)
    if member.active:
        raise AdminError(f"{member.full_name} est déjà actif·ve")
    member.active = True
    bump_state_version(session)
    return member


def subscribe_member(
    session: Session, ref: str, plan_name: str, valid_from: str | None, valid_until: str | None, device_id: str
) -> Subscription:
    """Give a member a plan by its name, between two dates AAAA-MM-JJ (either may be left open)."""
    member = find_member(session, ref)
    plan = find_plan(session, plan_name)
    start, end = parse_date(valid_from, "la date de début"), parse_date(valid_until, "la date de fin")
    return subscribe(session, member, plan, start, end, device_id)


def find_subscription(session: Session, subscription_id: str) -> Subscription:
    sub = session.get(Subscription, subscription_id.strip())
    if sub is None:
        raise AdminError(f"aucune formule de membre ne porte l'identifiant « {subscription_id} »")
    return sub


def successor(session: Session, sub: Subscription) -> Subscription | None:
    """The member's subscription that follows `sub` (a renewal or a change of plan), if any: for a dated one, a
    later one reaching further; for a carnet without dates, a carnet given after it."""
    others = select(Subscription).where(Subscription.member_id == sub.member_id, Subscription.id != sub.id)
    if sub.valid_until is not None:
        query = others.where(
            or_(Subscription.valid_until.is_(None), Subscription.valid_until > sub.valid_until),
            or_(Subscription.valid_from.is_(None), Subscription.valid_from > sub.valid_until),
        )
    else:
        query = others.join(Plan, Subscription.plan_id == Plan.id).where(
            Plan.kind == PlanKind.CARNET, Subscription.created_at > sub.created_at
        )
    return session.scalar(query.order_by(Subscription.valid_from).limit(1))


def renew(session: Session, subscription_id: str, device_id: str, today: dt.date) -> Subscription:
    """Renew in one action: the same plan from the day after it ends (today if it has ended) for as long
    (common/periods.py, the hub's rule); a carnet: a new carnet of the plan's half-days."""
    current = find_subscription(session, subscription_id)
    member, plan = session.get_one(Member, current.member_id), session.get_one(Plan, current.plan_id)
    if PlanKind(plan.kind).is_pass:
        raise AdminError("un passage ne se renouvelle pas : il se rachète à la borne")
    if not member.active:
        raise AdminError(f"{member.full_name} est désactivé·e : réactivez ce membre avant de renouveler")
    following = successor(session, current)
    if following is not None:
        until = f" jusqu'au {following.valid_until:%d/%m/%Y}" if following.valid_until else ""
        raise AdminError(f"« {plan.name} » de {member.full_name} est déjà renouvelée{until}")
    if plan.kind == PlanKind.CARNET and current.valid_until is None:
        start, end = today, None
    elif current.valid_until is None:
        raise AdminError(f"« {plan.name} » n'a pas de date de fin : il n'y a rien à renouveler")
    else:
        start, end = next_period(current.valid_from, current.valid_until, today)
    return subscribe(session, member, plan, start, end, device_id)


@dataclass(frozen=True)
class Due:
    """A line of the renewals list: a plan ending this month, or a carnet (nearly) empty."""

    subscription_id: str
    member_id: str
    member_name: str
    plan_name: str
    kind: str
    valid_until: dt.date | None
    left: int | None  # a carnet's half-days left


def parse_month(raw: str) -> dt.date:
    """'2026-11' -> the month's first day."""
    try:
        return dt.datetime.strptime(raw.strip(), "%Y-%m").date()
    except ValueError:
        raise AdminError(f"mois « {raw} » : attendu AAAA-MM, par exemple 2026-11") from None


def due_for_renewal(
    session: Session, month: dt.date, device_id: str, today: dt.date, nearly_empty: int = NEARLY_EMPTY
) -> list[Due]:
    """Subscriptions of active members ending in `month` and not yet followed by a renewal, and carnets still
    running with `nearly_empty` half-days left or fewer (the site's low-carnet threshold when it mails members)."""
    first = month.replace(day=1)
    after = (first + dt.timedelta(days=32)).replace(day=1)
    spent = spent_since_balances(session, device_id)
    rows = session.execute(
        select(Subscription, Member, Plan, Balance)
        .join(Member, Subscription.member_id == Member.id)
        .join(Plan, Subscription.plan_id == Plan.id)
        .outerjoin(Balance, Balance.subscription_id == Subscription.id)
        .where(Member.active.is_(True), Plan.kind.not_in([k.value for k in PlanKind if k.is_pass]))
        .where(
            or_(
                Subscription.valid_until.between(first, after - dt.timedelta(days=1)),
                (Plan.kind == PlanKind.CARNET)
                & or_(Subscription.valid_until.is_(None), Subscription.valid_until >= today),
            )
        )
    )
    due: list[Due] = []
    for sub, member, plan, balance in rows:
        left = balance.amount - spent.get(sub.id, 0) if balance is not None else None
        ends_now = sub.valid_until is not None and first <= sub.valid_until < after
        if not ends_now and (left is None or left > nearly_empty):
            continue
        if successor(session, sub) is not None:
            continue
        due.append(Due(sub.id, member.id, member.full_name, plan.name, plan.kind, sub.valid_until, left))
    due.sort(key=lambda d: (d.valid_until or dt.date.max, d.member_name.lower()))
    return due


def change_plan(
    session: Session,
    subscription_id: str,
    plan_name: str,
    device_id: str,
    today: dt.date,
    valid_until: str | None = None,
) -> Subscription:
    """Move a member to another plan: the current one ends yesterday (today if it began today), the new one
    starts today (the hub's rule)."""
    current = find_subscription(session, subscription_id)
    plan = find_plan(session, plan_name)
    if plan.id == current.plan_id:
        raise AdminError(f"ce membre a déjà la formule « {plan.name} » : renouvelez-la plutôt")
    end = parse_date(valid_until, "la date de fin")
    if end is not None and end < today:
        raise AdminError("la date de fin précède aujourd'hui, début de la nouvelle formule")
    member = session.get_one(Member, current.member_id)
    stop = max(today - dt.timedelta(days=1), current.valid_from or dt.date.min)
    new = subscribe(session, member, plan, today, end, device_id)
    if current.valid_until is None or current.valid_until > stop:
        current.valid_until = stop
    return new


def _members_badge(session: Session, raw_uid: str, of_member: str | None) -> Credential:
    """A member's badge (of the member `of_member`, when a page names them)."""
    credential = _credential(session, normalise_uid(raw_uid))
    if credential is None or credential.member_id is None:
        raise AdminError(f"le badge {normalise_uid(raw_uid)} n'est le badge d'aucun membre")
    if of_member is not None and credential.member_id != of_member:
        raise AdminError(f"le badge {credential.value} n'est pas celui de ce membre")
    return credential


def reissue_badge(
    session: Session,
    old_uid: str,
    new_uid: str,
    reason: str | None = None,
    badges: BadgeRule = ANY_READER,
    of_member: str | None = None,
) -> Credential:
    """A lost badge: revoked with its reason, and a new one given to the same member, in one change."""
    old = _members_badge(session, old_uid, of_member)
    member = session.get_one(Member, old.member_id)
    uid = normalise_uid(new_uid, badges)
    if uid == old.value:
        raise AdminError("le nouveau badge doit être un autre badge que l'ancien")
    _check_assignment(_credential(session, uid), member)
    if old.status == CredentialStatus.ACTIVE:
        revoke_badge(session, old.value, reason or "perdu")
    return add_badge(session, member, uid, badges)


def give_back_badge(session: Session, raw_uid: str, of_member: str | None = None) -> Credential:
    """A found badge: active again, for the member it was taken from."""
    credential = _members_badge(session, raw_uid, of_member)
    if credential.status == CredentialStatus.ACTIVE:
        raise AdminError(f"le badge {credential.value} est déjà actif")
    return add_badge(session, session.get_one(Member, credential.member_id), credential.value)


def badge_history(session: Session, *, member_id: str | None = None, uid: str | None = None) -> list[BadgeHistory]:
    """What happened to a member's badges, or to one badge, newest first."""
    query = select(BadgeHistory)
    if member_id is not None:
        query = query.where(BadgeHistory.member_id == member_id)
    if uid is not None:
        query = query.where(BadgeHistory.value == normalise_uid(uid))
    return list(session.scalars(query.order_by(BadgeHistory.at.desc(), BadgeHistory.id.desc())))


def open_subscription(session: Session, ref: str, plan_name: str | None = None) -> Subscription:
    """The member's subscription a renewal or a change of plan applies to: the one not yet followed by another
    (of the plan named, when they have several)."""
    member = find_member(session, ref)
    query = select(Subscription).join(Plan, Subscription.plan_id == Plan.id).where(Subscription.member_id == member.id)
    if plan_name:
        query = query.where(Plan.id == find_plan(session, plan_name).id)
    subs = [s for s in session.scalars(query) if not PlanKind(s.plan.kind).is_pass and successor(session, s) is None]
    if not subs:
        raise AdminError(f"{member.full_name} n'a pas de formule à renouveler ou à changer")
    if len(subs) > 1:
        names = ", ".join(sorted(s.plan.name for s in subs))
        raise AdminError(f"{member.full_name} a plusieurs formules en cours ({names}) : précisez laquelle")
    return subs[0]


def correct_dates(
    session: Session, subscription_id: str, valid_from: str | None, valid_until: str | None
) -> Subscription:
    """Correct a plan's dates (typed wrong, or to end it early): checked as when it was given."""
    sub = find_subscription(session, subscription_id)
    start, end = parse_date(valid_from, "la date de début"), parse_date(valid_until, "la date de fin")
    if start is not None and end is not None and end < start:
        raise AdminError("la date de fin précède la date de début")
    sub.valid_from, sub.valid_until = start, end
    bump_state_version(session)
    return sub


def live_paid_sale() -> ColumnElement[bool]:
    """A paid sale that is not a credit note and that no credit note cancels."""
    note = aliased(Sale)
    return and_(
        Sale.paid.is_(True),
        Sale.refund_of.is_(None),
        ~select(note.id).where(note.refund_of == Sale.id).exists(),
    )


def remove_subscription(session: Session, subscription_id: str) -> Subscription:
    """Take back a plan given by mistake: only one that never served (no half-day at the door, no guest, no paid
    sale: an unpaid one is cancelled by its credit note first, kiosk/admin/desk.py); one that served is ended by
    correcting its end date, so the history stays true."""
    sub = find_subscription(session, subscription_id)
    served = (
        session.scalar(select(Use.id).where(Use.subscription_id == sub.id).limit(1)) is not None
        or session.scalar(select(Guest.id).where(Guest.subscription_id == sub.id).limit(1)) is not None
        or session.scalar(select(Sale.id).where(Sale.subscription_id == sub.id, live_paid_sale()).limit(1)) is not None
    )
    if served:
        raise AdminError("cette formule a déjà servi : pour l'arrêter, corrigez sa date de fin")
    if sub.balance is not None:
        session.delete(sub.balance)
    session.delete(sub)
    bump_state_version(session)
    return sub
