"""Changes to the network: sites, doors, plans, members, carnets and badges, from the hub's pages (a manager's
account), from a site's change request (a device) or from the hub's own code (the demo, the command line).

Every change is checked against what its author may touch (a site manager: their sites; a device: its own site),
written to the audit log in its own transaction, and, when rosters carry it, bumps the network change counter in
that same transaction; the roster keeper sees the counter move and publishes new rosters at once (a revoked badge
stops opening doors as soon as the sites have the roster).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, insert, or_, select, update
from sqlalchemy.orm import Session

from common.badges import ANY_READER, BADGE_ALREADY_THEIRS, BadgeError, assignment_refusal
from common.db import utcnow
from common.periods import next_period
from common.records import check_email, check_name
from common.words import CredentialKind, CredentialStatus, PlanKind
from sync.hub.audit import SYSTEM, Actor, changed, record
from sync.hub.db import HubDatabase
from sync.hub.ingest import insert_ignoring_conflicts
from sync.hub.models import (
    ChangeRequest,
    Command,
    Credential,
    Device,
    Enrolment,
    Member,
    Plan,
    PlanSite,
    RosterTouch,
    Site,
    Subscription,
    TopUp,
)
from sync.hub.roster import ask_snapshot
from sync.protocol import COMMAND_NAMES, ID_RE, MAX_COMMAND_TTL_S, Json

log = logging.getLogger(__name__)

# How long a door waits for the badge to enrol after the hub asked for it.
ENROL_TIMEOUT_S = 120

# Error codes of change requests (sync/PROTOCOL.md) and of the pages, with their French message.
ERRORS = {
    "uid_in_use": "ce badge est déjà actif pour un autre membre",
    "unknown_member": "membre inconnu",
    "member_exists": "ce membre existe déjà avec d'autres informations",
    "bad_uid": "identifiant de badge invalide",
    "unknown_plan": "formule inconnue",
    "unknown_subscription": "abonnement inconnu",
    "not_a_carnet": "seul un carnet se recharge",
    "bad_top_up": "recharge invalide (1 à 1000 demi-journées, montant positif)",
    "bad_plan": "formule invalide",
    "retired_plan": "cette formule n'est plus proposée",
    "bad_command": "commande invalide",
    "forbidden_site": "ce membre n'est pas rattaché à ce site (aucune formule valable ici, pas créé pour ce site)",
    "forbidden": "vous ne gérez pas ce site",
    "unknown_site": "site inconnu",
    "site_exists": "ce site existe déjà",
    "bad_site": "site invalide",
    "unknown_device": "porte inconnue",
    "device_exists": "cette porte est déjà enregistrée",
    "bad_member": "membre invalide",
    "bad_dates": "dates invalides : la fin doit suivre le début",
    "not_renewable": "cet abonnement ne se renouvelle pas (formule sans durée ni carnet)",
    "already_erased": "ce membre est déjà effacé",
}


class HubError(Exception):
    """A change the hub refuses; `code` is one of ERRORS."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{ERRORS.get(code, code)}{' : ' + detail if detail else ''}")
        self.code = code


def touch_rosters(session: Session, *, members: Iterable[str] = (), plans: Iterable[str] = ()) -> None:
    """Record, in the caller's transaction, that these members' or plans' roster rows changed: the keeper sends them
    again to the sites that hold them, or held them (sync/PROTOCOL.md, "When the hub issues")."""
    rows = [{"member_id": m, "plan_id": None} for m in members] + [{"member_id": None, "plan_id": p} for p in plans]
    if rows:
        session.execute(insert(RosterTouch), rows)


# ---------------------------------------------------------------------------------------------------- rights


def plan_valid_at(site_id: str) -> ColumnElement[bool]:
    """SQL: the plan (Plan) is valid at `site_id`: no site rows (the whole network) or a row for that site."""
    return or_(
        ~exists().where(PlanSite.plan_id == Plan.id),
        exists().where(PlanSite.plan_id == Plan.id, PlanSite.site_id == site_id),
    )


def members_of(sites: Iterable[str]) -> ColumnElement[bool]:
    """SQL: the member (Member) belongs to one of `sites`: created for it, or holding a plan valid there (a plan
    of the whole network makes a member everybody's)."""
    wanted = sorted(sites)
    plan_there = or_(
        ~exists().where(PlanSite.plan_id == Subscription.plan_id),
        exists().where(PlanSite.plan_id == Subscription.plan_id, PlanSite.site_id.in_(wanted)),
    )
    return or_(
        Member.home_site_id.in_(wanted),
        exists().where(Subscription.member_id == Member.id, plan_there),
    )


def visible_members(actor: Actor) -> ColumnElement[bool] | None:
    """The WHERE clause limiting members to the actor's, or None for every member."""
    return None if actor.sites is None else members_of(actor.sites)


def member_visible(session: Session, actor: Actor, member_id: str) -> bool:
    clause = visible_members(actor)
    query = select(Member.id).where(Member.id == member_id)
    if clause is not None:
        query = query.where(clause)
    return session.execute(query).first() is not None


def _member_for(session: Session, actor: Actor, member_id: str, *, refusal: str = "forbidden") -> Member:
    """The member, if the actor may act for them; a member the actor may not see is refused, named or not."""
    member = session.get(Member, member_id)
    if member is None:
        raise HubError("unknown_member", member_id)
    if not member_visible(session, actor, member_id):
        raise HubError(refusal)
    return member


def _require_site(actor: Actor, site_id: str | None) -> None:
    if not actor.may_manage(site_id):
        raise HubError("forbidden", site_id or "")


def plan_sites(session: Session, plan_id: str) -> list[str]:
    return list(
        session.execute(select(PlanSite.site_id).where(PlanSite.plan_id == plan_id).order_by(PlanSite.site_id))
        .scalars()
        .all()
    )


def _plan_for(session: Session, actor: Actor, plan_id: str, *, to_change: bool) -> Plan:
    """A plan the actor may use (valid at one of their sites) or change (every site it is valid at is theirs)."""
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise HubError("unknown_plan", plan_id)
    if actor.sites is None:
        return plan
    sites = plan_sites(session, plan_id)
    if to_change:
        if not sites or not set(sites) <= actor.sites:
            raise HubError("forbidden", plan.name)
    elif sites and not set(sites) & actor.sites:
        raise HubError("forbidden", plan.name)
    return plan


def _home_of(session: Session, member_id: str) -> str | None:
    return session.execute(select(Member.home_site_id).where(Member.id == member_id)).scalar_one_or_none()


# ---------------------------------------------------------------------------------------------------- sites


@dataclass(frozen=True)
class SiteFields:
    """What a manager sets for a site; `check()` says in French what is wrong."""

    name: str
    timezone: str = "Europe/Paris"
    capacity: int = 0
    monthly_target: int = 0
    morning_start: dt.time = dt.time(8, 0)
    noon: dt.time = dt.time(13, 0)
    afternoon_end: dt.time = dt.time(20, 0)

    def check(self) -> SiteFields:
        name = self.name.strip()
        if not name or len(name) > 120:
            raise HubError("bad_site", "le nom est obligatoire (120 caractères au plus)")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise HubError("bad_site", f"fuseau horaire inconnu : {self.timezone[:64]}") from None
        if not 0 <= self.capacity <= 10_000 or not 0 <= self.monthly_target <= 1_000_000:
            raise HubError("bad_site", "capacité ou objectif hors limites")
        if not self.morning_start < self.noon < self.afternoon_end:
            raise HubError("bad_site", "les heures doivent se suivre : début du matin < midi < fin d'après-midi")
        return SiteFields(
            name,
            self.timezone,
            self.capacity,
            self.monthly_target,
            self.morning_start,
            self.noon,
            self.afternoon_end,
        )


def add_site(
    db: HubDatabase,
    site_id: str,
    name: str,
    timezone: str = "Europe/Paris",
    *,
    fields: SiteFields | None = None,
    actor: Actor = SYSTEM,
    exist_ok: bool = True,
) -> None:
    """Create a site (or, with `exist_ok`, update it: the demo and the first message of a door may race)."""
    if not ID_RE.fullmatch(site_id):
        raise HubError("bad_site", f"l'identifiant {site_id!r} : minuscules, chiffres et tirets, 63 au plus")
    values = (fields or SiteFields(name, timezone)).check()
    if not actor.network_wide:
        raise HubError("forbidden", "seul un administrateur du réseau crée un site")
    with db.write() as session:
        known = session.get(Site, site_id)
        if known is not None and not exist_ok:
            raise HubError("site_exists", site_id)
        session.execute(insert_ignoring_conflicts(session, Site).values(id=site_id, **asdict(values)))
        session.execute(update(Site).where(Site.id == site_id).values(**asdict(values)))
        record(session, actor, "site.add", f"site:{site_id}", site_id=site_id, after=asdict(values))


def edit_site(db: HubDatabase, site_id: str, fields: SiteFields, *, actor: Actor) -> None:
    values = fields.check()
    with db.write() as session:
        _require_site(actor, site_id)
        site = session.get(Site, site_id)
        if site is None:
            raise HubError("unknown_site", site_id)
        before = {k: getattr(site, k) for k in asdict(values)}
        was, now = changed(before, asdict(values))
        if not now:
            return
        for key, value in asdict(values).items():
            setattr(site, key, value)
        record(session, actor, "site.edit", f"site:{site_id}", site_id=site_id, before=was, after=now)


# ---------------------------------------------------------------------------------------------------- doors


def register_device(
    db: HubDatabase,
    site_id: str,
    device_id: str,
    label: str,
    *,
    actor: Actor,
    broker: Callable[[], None] | None = None,
) -> None:
    """Register a door of a site. `broker` creates its broker account; it runs inside the transaction, so a
    broker that refuses leaves no half-registered door behind."""
    if not ID_RE.fullmatch(device_id):
        raise HubError("bad_site", f"l'identifiant de porte {device_id!r} : minuscules, chiffres et tirets")
    with db.write() as session:
        _require_site(actor, site_id)
        if session.get(Site, site_id) is None:
            raise HubError("unknown_site", site_id)
        device = session.get(Device, (site_id, device_id))
        if device is not None and device.registered_at is not None and device.active:
            raise HubError("device_exists", device_id)
        if device is None:
            device = Device(site_id=site_id, id=device_id)
            session.add(device)
        device.label = label.strip()[:120]
        device.registered_at = utcnow()
        device.active = True
        record(
            session,
            actor,
            "door.register",
            f"door:{site_id}/{device_id}",
            site_id=site_id,
            after={"label": device.label},
        )
        session.flush()
        if broker is not None:
            broker()


def _door_in_service(session: Session, actor: Actor, site_id: str, device_id: str) -> Device:
    _require_site(actor, site_id)
    device = session.get(Device, (site_id, device_id))
    if device is None or not device.active:
        raise HubError("unknown_device", device_id)
    return device


def reset_device_password(
    db: HubDatabase, site_id: str, device_id: str, *, actor: Actor, broker: Callable[[], None]
) -> None:
    with db.write() as session:
        _door_in_service(session, actor, site_id, device_id)
        record(session, actor, "door.password", f"door:{site_id}/{device_id}", site_id=site_id)
        broker()


def remove_device(
    db: HubDatabase, site_id: str, device_id: str, *, actor: Actor, broker: Callable[[], None] | None = None
) -> None:
    """Take a door out of service: its broker account goes, its events and history stay."""
    with db.write() as session:
        device = _door_in_service(session, actor, site_id, device_id)
        device.active = False
        record(
            session,
            actor,
            "door.remove",
            f"door:{site_id}/{device_id}",
            site_id=site_id,
            before={"label": device.label},
        )
        if broker is not None:
            broker()


def issue_command(
    db: HubDatabase,
    site: str,
    device: str,
    name: str,
    *,
    ttl_s: float = 60.0,
    args: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
    actor: Actor = SYSTEM,
) -> str:
    """Queue a command for a device; the keeper signs and publishes it. Returns its nonce."""
    if name not in COMMAND_NAMES or not 0 < ttl_s <= MAX_COMMAND_TTL_S:
        raise HubError("bad_command", f"{name} / {ttl_s}")
    with db.write() as session:
        _require_site(actor, site)
        return _command(session, site, device, name, ttl_s, args or {}, now or utcnow(), actor)


def _command(
    session: Session,
    site: str,
    device: str,
    name: str,
    ttl_s: float,
    args: dict[str, Any],
    now: dt.datetime,
    actor: Actor,
) -> str:
    command = Command(
        site_id=site,
        device_id=device,
        name=name,
        args=args,
        issued_at=now,
        expires=now + dt.timedelta(seconds=ttl_s),
    )
    session.add(command)
    session.flush()
    audited = {k: v for k, v in args.items() if k != "request"}
    record(session, actor, f"door.{name}", f"door:{site}/{device}", site_id=site, after=audited or None, at=now)
    return command.nonce


def unlock(db: HubDatabase, site: str, device: str, *, actor: Actor, ttl_s: float = 30.0) -> str:
    """Open a door from the hub (a signed command; the door refuses it once expired or replayed)."""
    return issue_command(db, site, device, "unlock", ttl_s=ttl_s, args={"by": "hub"}, actor=actor)


def resend_roster(db: HubDatabase, site_id: str, *, actor: Actor) -> None:
    """Send the site's doors their whole list again (a snapshot) at the keeper's next pass: a door that seems stuck
    on an old list catches up by it. A door that missed a change asks for one itself; this is the manager's way."""
    _require_site(actor, site_id)
    with db.write() as session:
        if session.get(Site, site_id) is None:
            raise HubError("unknown_site", site_id)
        ask_snapshot(session, site_id, utcnow(), at_once=True)
        record(session, actor, "roster.resend", f"site:{site_id}", site_id=site_id)


# ---------------------------------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class PlanFields:
    name: str
    kind: str
    half_days: int | None = None
    allow_overdraft: bool = False
    hours_start: dt.time | None = None
    hours_end: dt.time | None = None
    price_cents: int = 0
    weekdays: str | None = None
    sites: tuple[str, ...] = ()

    def check(self) -> PlanFields:
        name = self.name.strip()
        if not name or len(name) > 120:
            raise HubError("bad_plan", "le nom est obligatoire (120 caractères au plus)")
        if self.kind not in tuple(PlanKind):
            raise HubError("bad_plan", f"type inconnu : {self.kind[:20]}")
        half_days = self.half_days if self.kind == PlanKind.CARNET else None
        if self.kind == PlanKind.CARNET and not (half_days and 1 <= half_days <= 1000):
            raise HubError("bad_plan", "un carnet compte de 1 à 1000 demi-journées")
        if not 0 <= self.price_cents <= 10_000_000:
            raise HubError("bad_plan", "prix hors limites")
        if (self.hours_start is None) != (self.hours_end is None) or (
            self.hours_start is not None and self.hours_end is not None and self.hours_start >= self.hours_end
        ):
            raise HubError("bad_plan", "les heures vont ensemble, le début avant la fin")
        return PlanFields(
            name,
            self.kind,
            half_days,
            self.allow_overdraft and self.kind == PlanKind.CARNET,
            self.hours_start,
            self.hours_end,
            self.price_cents,
            self.weekdays,
            tuple(sorted(set(self.sites))),
        )

    def columns(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("sites")
        return values


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
    weekdays: str | None = None,
    sites: Iterable[str] = (),
    actor: Actor = SYSTEM,
) -> str:
    fields = PlanFields(
        name, kind, half_days, allow_overdraft, hours_start, hours_end, price_cents, weekdays, tuple(sites)
    )
    return create_plan(db, fields, actor=actor)


def create_plan(db: HubDatabase, fields: PlanFields, *, actor: Actor) -> str:
    """A new plan; a site manager's plans are valid at their sites only (never the whole network)."""
    values = fields.check()
    if actor.sites is not None and (not values.sites or not set(values.sites) <= actor.sites):
        raise HubError("forbidden", "choisissez parmi vos sites")
    with db.write() as session:
        _check_sites_exist(session, values.sites)
        if session.execute(select(Plan.id).where(Plan.name == values.name)).first():
            raise HubError("bad_plan", f"une formule s'appelle déjà « {values.name} »")
        plan = Plan(**values.columns())
        session.add(plan)
        session.flush()
        session.add_all(PlanSite(plan_id=plan.id, site_id=s) for s in values.sites)
        record(session, actor, "plan.add", f"plan:{plan.id}", after=_plan_audit(values))
        touch_rosters(session, plans=[plan.id])
        return plan.id


def edit_plan(db: HubDatabase, plan_id: str, fields: PlanFields, *, actor: Actor) -> None:
    values = fields.check()
    if actor.sites is not None and (not values.sites or not set(values.sites) <= actor.sites):
        raise HubError("forbidden", "choisissez parmi vos sites")
    with db.write() as session:
        plan = _plan_for(session, actor, plan_id, to_change=True)
        _check_sites_exist(session, values.sites)
        clash = session.execute(select(Plan.id).where(Plan.name == values.name, Plan.id != plan_id)).first()
        if clash:
            raise HubError("bad_plan", f"une formule s'appelle déjà « {values.name} »")
        if plan.kind != values.kind:
            raise HubError("bad_plan", "le type d'une formule ne change pas : créez-en une autre")
        before = _plan_audit(plan_fields(session, plan.id))
        for key, value in values.columns().items():
            setattr(plan, key, value)
        session.execute(delete(PlanSite).where(PlanSite.plan_id == plan_id))
        session.add_all(PlanSite(plan_id=plan_id, site_id=s) for s in values.sites)
        was, now = changed(before, _plan_audit(values))
        record(session, actor, "plan.edit", f"plan:{plan_id}", before=was, after=now)
        touch_rosters(session, plans=[plan_id])


def set_plan_active(db: HubDatabase, plan_id: str, active: bool, *, actor: Actor) -> None:
    """Retire a plan (no new subscriptions; running ones go on to their end) or offer it again."""
    with db.write() as session:
        plan = _plan_for(session, actor, plan_id, to_change=True)
        if plan.active == active:
            return
        plan.active = active
        record(
            session,
            actor,
            "plan.offer" if active else "plan.retire",
            f"plan:{plan_id}",
            before={"active": not active},
            after={"active": active},
        )
        touch_rosters(session, plans=[plan_id])


def plan_fields(session: Session, plan_id: str) -> PlanFields:
    """A plan's fields as they are now: the start of an edit."""
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise HubError("unknown_plan", plan_id)
    return PlanFields(
        plan.name,
        plan.kind,
        plan.half_days,
        plan.allow_overdraft,
        plan.hours_start,
        plan.hours_end,
        plan.price_cents,
        plan.weekdays,
        tuple(plan_sites(session, plan.id)),
    )


def _plan_audit(fields: PlanFields) -> dict[str, Any]:
    values = asdict(fields)
    values["sites"] = list(fields.sites) or "réseau"
    return values


def _check_sites_exist(session: Session, sites: Iterable[str]) -> None:
    wanted = sorted(set(sites))
    if not wanted:
        return
    known = set(session.execute(select(Site.id).where(Site.id.in_(wanted))).scalars())
    missing = [s for s in wanted if s not in known]
    if missing:
        raise HubError("unknown_site", ", ".join(missing))


# ---------------------------------------------------------------------------------------------------- members


@dataclass(frozen=True)
class MemberFields:
    first_name: str
    last_name: str = ""
    email: str | None = None

    def check(self) -> MemberFields:
        try:
            first = check_name(self.first_name, "le prénom")
            last = self.last_name.strip() and check_name(self.last_name, "le nom")
            email = check_email(self.email)
        except ValueError as exc:
            raise HubError("bad_member", str(exc)) from None
        return MemberFields(first, last, email)


def add_member(
    db: HubDatabase,
    first_name: str,
    last_name: str = "",
    email: str | None = None,
    *,
    member_id: str | None = None,
    home_site: str | None = None,
    actor: Actor = SYSTEM,
) -> str:
    """A new member; a site manager's new members belong to a site of theirs (`home_site`)."""
    values = MemberFields(first_name, last_name, email).check()
    if actor.sites is not None:
        if home_site is None and len(actor.sites) == 1:
            home_site = next(iter(actor.sites))
        _require_site(actor, home_site)
    with db.write() as session:
        if home_site is not None and session.get(Site, home_site) is None:
            raise HubError("unknown_site", home_site)
        member = Member(**asdict(values), home_site_id=home_site)
        if member_id is not None:
            member.id = member_id
        session.add(member)
        session.flush()
        record(
            session,
            actor,
            "member.add",
            f"member:{member.id}",
            site_id=home_site,
            after={**asdict(values), "home_site": home_site},
        )
        touch_rosters(session, members=[member.id])
        return member.id


def edit_member(db: HubDatabase, member_id: str, fields: MemberFields, *, actor: Actor) -> None:
    values = fields.check()
    with db.write() as session:
        member = _member_for(session, actor, member_id)
        if member.erased_at is not None:
            raise HubError("already_erased")
        before = {"first_name": member.first_name, "last_name": member.last_name, "email": member.email}
        was, now = changed(before, asdict(values))
        if not now:
            return
        for key, value in now.items():
            setattr(member, key, value)
        record(session, actor, "member.edit", f"member:{member_id}", site_id=member.home_site_id, before=was, after=now)
        touch_rosters(session, members=[member_id])


def set_member_active(db: HubDatabase, member_id: str, active: bool, *, actor: Actor = SYSTEM) -> None:
    with db.write() as session:
        member = _member_for(session, actor, member_id)
        if member.active == active:
            return
        member.active = active
        record(
            session,
            actor,
            "member.reactivate" if active else "member.deactivate",
            f"member:{member_id}",
            site_id=member.home_site_id,
            before={"active": not active},
            after={"active": active},
        )
        touch_rosters(session, members=[member_id])


def set_member_staff(db: HubDatabase, member_id: str, staff: bool, *, actor: Actor = SYSTEM) -> None:
    """Count a member as staff of their sites (they open on closed days, not charged for them), or no longer."""
    with db.write() as session:
        member = _member_for(session, actor, member_id)
        if member.staff == staff:
            return
        member.staff = staff
        record(
            session,
            actor,
            "member.staff" if staff else "member.not_staff",
            f"member:{member_id}",
            site_id=member.home_site_id,
            before={"staff": not staff},
            after={"staff": staff},
        )
        touch_rosters(session, members=[member_id])


# ---------------------------------------------------------------------------------------------------- plans of members


def add_subscription(
    db: HubDatabase,
    member_id: str,
    plan_id: str,
    *,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
    actor: Actor = SYSTEM,
) -> str:
    """Subscribe a member to a plan; a carnet is credited with the plan's half-days."""
    with db.write() as session:
        return _subscribe(session, actor, member_id, plan_id, valid_from, valid_until, "subscription.add")


def _subscribe(
    session: Session,
    actor: Actor,
    member_id: str,
    plan_id: str,
    valid_from: dt.date | None,
    valid_until: dt.date | None,
    action: str,
) -> str:
    plan = _plan_for(session, actor, plan_id, to_change=False)
    member = session.get(Member, member_id)
    if member is None:
        raise HubError("unknown_member", member_id)
    # A site manager may give a member of theirs a plan, or give one of their plans to a member of the network.
    if not member_visible(session, actor, member_id) and not plan_sites(session, plan_id):
        raise HubError("forbidden")
    if not plan.active:
        raise HubError("retired_plan", plan.name)
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        raise HubError("bad_dates")
    subscription = Subscription(
        member_id=member_id,
        plan_id=plan_id,
        valid_from=valid_from,
        valid_until=valid_until,
        credited=(plan.half_days or 0) if plan.kind == PlanKind.CARNET else 0,
        price_cents=plan.price_cents,
    )
    session.add(subscription)
    session.flush()
    record(
        session,
        actor,
        action,
        f"member:{member_id}",
        site_id=member.home_site_id,
        after={
            "plan": plan.name,
            "valid_from": valid_from,
            "valid_until": valid_until,
            "credited": subscription.credited,
            "price_cents": plan.price_cents,
        },
    )
    touch_rosters(session, members=[member_id])
    return subscription.id


def renew(db: HubDatabase, subscription_id: str, *, actor: Actor, today: dt.date | None = None) -> str:
    """Renew a subscription in one action: the same plan for the next period (a carnet: a new carnet)."""
    today = today or dt.date.today()
    with db.write() as session:
        current = session.get(Subscription, subscription_id)
        if current is None:
            raise HubError("unknown_subscription", subscription_id)
        _member_for(session, actor, current.member_id)
        plan = session.get(Plan, current.plan_id)
        if plan is None or plan.kind.startswith("pass"):
            raise HubError("not_renewable")
        if plan.kind == PlanKind.CARNET and current.valid_until is None:
            start, until = current.valid_from, None
        else:
            start, until = next_period(current.valid_from, current.valid_until, today)
        return _subscribe(session, actor, current.member_id, current.plan_id, start, until, "subscription.renew")


def change_plan(
    db: HubDatabase,
    subscription_id: str,
    plan_id: str,
    *,
    actor: Actor,
    today: dt.date | None = None,
    valid_until: dt.date | None = None,
) -> str:
    """Move a member to another plan from today: the current subscription ends yesterday (or today if it began
    today), the new one starts today."""
    today = today or dt.date.today()
    with db.write() as session:
        current = session.get(Subscription, subscription_id)
        if current is None:
            raise HubError("unknown_subscription", subscription_id)
        member = _member_for(session, actor, current.member_id)
        before = {"valid_until": current.valid_until}
        end = max(today - dt.timedelta(days=1), current.valid_from or dt.date.min)
        if current.valid_until is None or current.valid_until > end:
            current.valid_until = end
        record(
            session,
            actor,
            "subscription.end",
            f"member:{member.id}",
            site_id=member.home_site_id,
            before=before,
            after={"valid_until": current.valid_until},
        )
        return _subscribe(session, actor, member.id, plan_id, today, valid_until, "subscription.change")


def top_up(
    db: HubDatabase,
    subscription_id: str,
    half_days: int,
    *,
    amount_cents: int = 0,
    provider: str = "counter",
    actor: Actor = SYSTEM,
    site_id: str | None = None,
) -> str:
    """Credit a carnet with more half-days, and keep what was paid for it."""
    with db.write() as session:
        return _top_up(session, actor, subscription_id, half_days, amount_cents, provider, site_id)


def _top_up(
    session: Session,
    actor: Actor,
    subscription_id: str,
    half_days: int,
    amount_cents: int,
    provider: str,
    site_id: str | None,
    *,
    refusal: str = "forbidden",
) -> str:
    if not 1 <= half_days <= 1000 or not 0 <= amount_cents <= 10_000_000:
        raise HubError("bad_top_up")
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise HubError("unknown_subscription", subscription_id)
    member = _member_for(session, actor, subscription.member_id, refusal=refusal)
    plan = session.get(Plan, subscription.plan_id)
    if plan is None or plan.kind != PlanKind.CARNET:
        raise HubError("not_a_carnet")
    if (
        site_id is not None
        and not session.execute(select(Plan.id).where(Plan.id == plan.id, plan_valid_at(site_id))).first()
    ):
        raise HubError(refusal)
    before = subscription.credited
    subscription.credited = before + half_days
    row = TopUp(
        subscription_id=subscription_id,
        member_id=member.id,
        half_days=half_days,
        amount_cents=amount_cents,
        provider=provider,
        site_id=site_id,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor,
        "carnet.top_up",
        f"member:{member.id}",
        site_id=site_id or member.home_site_id,
        before={"credited": before},
        after={"credited": subscription.credited, "amount_cents": amount_cents, "provider": provider},
    )
    touch_rosters(session, members=[member.id])
    return row.id


# ---------------------------------------------------------------------------------------------------- badges


def enrol_badge(db: HubDatabase, member_id: str, uid: str, *, actor: Actor = SYSTEM) -> str:
    """Give `uid` to a member, if common/badges.py's rule allows it (a revoked badge can be given again). Returns the
    credential id."""
    with db.write() as session:
        member = _member_for(session, actor, member_id)
        return _enrol(session, actor, member, uid)


def _enrol(session: Session, actor: Actor, member: Member, raw_uid: str) -> str:
    if member.erased_at is not None:
        raise HubError("already_erased")  # a badge would name again someone who asked to be forgotten
    try:
        uid = ANY_READER.normalise(raw_uid)
    except BadgeError:
        raise HubError("bad_uid", raw_uid[:40]) from None
    query = select(Credential).where(Credential.kind == CredentialKind.NFC_UID, Credential.value == uid)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    credential = session.execute(query).scalar_one_or_none()
    refusal = None if credential is None else assignment_refusal(credential.status, credential.member_id, member.id)
    if credential is None:
        credential = Credential(member_id=member.id, kind=CredentialKind.NFC_UID, value=uid)
        session.add(credential)
    elif refusal == BADGE_ALREADY_THEIRS:
        return credential.id  # an enrolment asked again: already done
    elif refusal is not None:
        raise HubError(refusal, uid)
    else:
        credential.member_id = member.id
        credential.status = CredentialStatus.ACTIVE
        credential.revoked_at = None
    session.flush()
    record(
        session,
        actor,
        "badge.enrol",
        f"member:{member.id}",
        site_id=member.home_site_id,
        after={"badge": badge_label(uid)},
    )
    touch_rosters(session, members=[member.id])
    return credential.id


def badge_label(uid: str) -> str:
    """How pages and the audit log name a badge: its last four digits (enough for the manager holding it, not
    enough to clone it from a screenshot)."""
    return f"…{uid[-4:]}"


def revoke_badge(db: HubDatabase, uid: str, now: dt.datetime | None = None, *, actor: Actor = SYSTEM) -> bool:
    """Revoke a badge; True if it was active. The next roster (published at once) carries the revocation."""
    with db.write() as session:
        return _revoke(session, actor, uid.upper(), now or utcnow())


def _revoke(session: Session, actor: Actor, uid: str, now: dt.datetime) -> bool:
    credential = session.execute(
        select(Credential).where(
            Credential.kind == CredentialKind.NFC_UID,
            Credential.value == uid,
            Credential.status == CredentialStatus.ACTIVE,
        )
    ).scalar_one_or_none()
    if credential is None:
        return False
    member = _member_for(session, actor, credential.member_id)
    credential.status = CredentialStatus.REVOKED
    credential.revoked_at = now
    record(
        session,
        actor,
        "badge.revoke",
        f"member:{member.id}",
        site_id=member.home_site_id,
        before={"badge": badge_label(uid)},
        at=now,
    )
    touch_rosters(session, members=[member.id])
    return True


def revoke_credential(db: HubDatabase, credential_id: str, *, actor: Actor) -> bool:
    with db.write() as session:
        credential = session.get(Credential, credential_id)
        if credential is None:
            return False
        return _revoke(session, actor, credential.value, utcnow())


def reissue_badge(db: HubDatabase, credential_id: str, new_uid: str, *, actor: Actor) -> str:
    """A lost badge: the old one revoked and a new one given, in one change (never a member without a badge that
    works, nor with both)."""
    with db.write() as session:
        old = session.get(Credential, credential_id)
        if old is None:
            raise HubError("bad_uid")
        member = _member_for(session, actor, old.member_id)
        _revoke(session, actor, old.value, utcnow())
        return _enrol(session, actor, member, new_uid)


def request_enrolment(
    db: HubDatabase,
    member_id: str,
    site_id: str,
    device_id: str,
    *,
    actor: Actor,
    timeout_s: int = ENROL_TIMEOUT_S,
    now: dt.datetime | None = None,
) -> str:
    """Ask a door for its next tap, to become the member's badge: a signed `enrol` command whose request id comes
    back with the tapped UID as an `enrol_badge` request. Returns the enrolment's id."""
    now = now or utcnow()
    with db.write() as session:
        _door_in_service(session, actor, site_id, device_id)
        member = _member_for(session, actor, member_id)
        enrolment = Enrolment(
            member_id=member.id,
            site_id=site_id,
            device_id=device_id,
            requested_at=now,
            expires=now + dt.timedelta(seconds=timeout_s),
            account_id=actor.account_id,
        )
        session.add(enrolment)
        session.flush()
        args = {"member_id": member.id, "request": enrolment.id, "timeout_s": timeout_s}
        _command(session, site_id, device_id, "enrol", min(timeout_s, MAX_COMMAND_TTL_S), args, now, actor)
        return enrolment.id


# ---------------------------------------------------------------------------------------------------- requests


def handle_request(db: HubDatabase, request: Json) -> tuple[bool, str | None]:
    """Apply a validated change request once per id, within the requesting site's rights; a repeat returns the
    first answer."""
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
            _close_enrolment(session, request, "refused", error)
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
    site, device = request["site"], request["device"]
    actor = Actor.device(site, device)
    kind = request["kind"]
    if kind == "enrol_badge":
        member = session.get(Member, data["member_id"])
        if member is None:
            raise HubError("unknown_member", data["member_id"])
        if not _asked_by_hub(session, request) and not member_visible(session, actor, member.id):
            raise HubError("forbidden_site")
        _enrol(session, actor, member, data["uid"])
        _close_enrolment(session, request, "done", None)
        return
    if kind == "top_up":
        _top_up(
            session,
            actor,
            data["subscription_id"],
            data["half_days"],
            data["amount_cents"],
            data["provider"],
            site,
            refusal="forbidden_site",
        )
        return
    fields = MemberFields(data["first_name"], data["last_name"], data["email"]).check()
    member = session.get(Member, data["member_id"])
    if member is None:
        member = Member(id=data["member_id"], **asdict(fields), home_site_id=site)
        session.add(member)
        session.flush()
        record(session, actor, "member.add", f"member:{member.id}", site_id=site, after=asdict(fields))
        touch_rosters(session, members=[member.id])
    elif (member.first_name, member.last_name, member.email) != (fields.first_name, fields.last_name, fields.email):
        raise HubError("member_exists", data["member_id"])
    elif not member_visible(session, actor, member.id):
        raise HubError("forbidden_site")
    if data.get("uid"):
        _enrol(session, actor, member, data["uid"])


def _asked_by_hub(session: Session, request: Json) -> bool:
    """Whether this enrol_badge answers the hub's own `enrol` command to this very door, still waiting."""
    enrolment = session.get(Enrolment, request["id"])
    return (
        enrolment is not None
        and enrolment.site_id == request["site"]
        and enrolment.device_id == request["device"]
        and enrolment.member_id == request["data"]["member_id"]
        and enrolment.state == "waiting"
    )


def _close_enrolment(session: Session, request: Json, state: str, error: str | None) -> None:
    if request["kind"] != "enrol_badge":
        return
    session.execute(
        update(Enrolment)
        .where(Enrolment.id == request["id"], Enrolment.site_id == request["site"], Enrolment.state == "waiting")
        .values(state=state, error=error)
    )


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
