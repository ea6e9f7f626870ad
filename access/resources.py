"""The manager's operations on the site's rooms and offices (resources): add, edit, deactivate and reactivate, and
a new secret for a resource's calendar feed. The same for the admin pages (kiosk/admin/rooms.py) and the CLI.

Resources are the site's own, networked or not: the site's appliance is the one writer of their bookings.
Refusals are AdminError in French, said as they are to the manager.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access.admin import AdminError, check_name
from access.models import Resource
from access.store import bump_state_version
from common.words import ResourceKind

# What a resource is; the words the manager reads are in kiosk/admin/rooms.py.
KINDS = tuple(ResourceKind)
# A room for more than this is a hall, not a room booked by the half-day at a small coworking space.
CAPACITY_MAX = 500
# Prices in cents: above 10,000 € a half-day is a typing mistake.
PRICE_MAX_CENTS = 1_000_000
# 32 random bytes in the feed's URL: not guessable, short enough for a calendar application's field.
FEED_SECRET_BYTES = 32


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    kind: str
    capacity: int = 1
    price_halfday_cents: int = 0
    price_day_cents: int = 0
    door_device: str | None = None  # the device id of the resource's own door, if it has one


def new_secret() -> str:
    return secrets.token_urlsafe(FEED_SECRET_BYTES)


def find_resource(session: Session, ref: str) -> Resource:
    """A resource by its id or its name (any case)."""
    ref = ref.strip()
    found = session.get(Resource, ref) if ref else None
    if found is None and ref:
        found = session.scalars(select(Resource).where(func.lower(Resource.name) == ref.lower())).first()
    if found is None:
        raise AdminError(f"aucune salle ni bureau « {ref} »")
    return found


def _checked(session: Session, spec: ResourceSpec, current: Resource | None) -> ResourceSpec:
    name = check_name(spec.name, "le nom de la salle")
    if spec.kind not in KINDS:
        raise AdminError(f"type de salle « {spec.kind} » inconnu (choix : {', '.join(KINDS)})")
    if not 1 <= spec.capacity <= CAPACITY_MAX:
        raise AdminError(f"la capacité va de 1 à {CAPACITY_MAX} personnes")
    for price in (spec.price_halfday_cents, spec.price_day_cents):
        if not 0 <= price <= PRICE_MAX_CENTS:
            raise AdminError("un prix va de 0 à 10 000 €")
    door = (spec.door_device or "").strip() or None
    if door is not None and (len(door) > 64 or not door.replace("-", "").replace("_", "").isalnum()):
        raise AdminError("l'identifiant de la porte : lettres, chiffres, - et _, 64 caractères au plus")
    same = session.scalars(select(Resource).where(func.lower(Resource.name) == name.lower())).first()
    if same is not None and same is not current:
        raise AdminError(f"une salle s'appelle déjà « {name} »")
    if door is not None:
        other = session.scalars(select(Resource).where(Resource.door_device == door)).first()
        if other is not None and other is not current:
            raise AdminError(f"la porte « {door} » sert déjà « {other.name} »")
    return ResourceSpec(name, spec.kind, spec.capacity, spec.price_halfday_cents, spec.price_day_cents, door)


def add_resource(session: Session, spec: ResourceSpec) -> Resource:
    """A new room or office, active, with the secret of its calendar feed."""
    ok = _checked(session, spec, None)
    resource = Resource(
        name=ok.name,
        kind=ok.kind,
        capacity=ok.capacity,
        price_halfday_cents=ok.price_halfday_cents,
        price_day_cents=ok.price_day_cents,
        door_device=ok.door_device,
        feed_secret=new_secret(),
        active=True,
    )
    session.add(resource)
    session.flush()
    bump_state_version(session)  # a resource's own door reloads the resources it serves
    return resource


def edit_resource(session: Session, ref: str, spec: ResourceSpec) -> Resource:
    """Change what the manager entered; bookings already made stay as they are."""
    resource = find_resource(session, ref)
    ok = _checked(session, spec, resource)
    resource.name = ok.name
    resource.kind = ok.kind
    resource.capacity = ok.capacity
    resource.price_halfday_cents = ok.price_halfday_cents
    resource.price_day_cents = ok.price_day_cents
    resource.door_device = ok.door_device
    bump_state_version(session)
    return resource


def set_active(session: Session, ref: str, active: bool) -> Resource:
    """Deactivate (no new booking; those made stay and still open) or reactivate a resource."""
    resource = find_resource(session, ref)
    if resource.active == active:
        raise AdminError(f"« {resource.name} » est déjà {'active' if active else 'désactivée'}")
    resource.active = active
    bump_state_version(session)
    return resource


def renew_feed_secret(session: Session, ref: str) -> Resource:
    """A new secret for the resource's calendar feed: the old URL answers no more."""
    resource = find_resource(session, ref)
    resource.feed_secret = new_secret()
    return resource
