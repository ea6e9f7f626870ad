"""The hub's manager accounts: named, each with a role (network admin, or site manager of the sites named), an
scrypt hash of a password only its owner knows (no default password: the first network admin is made on the
server with `halfday hub account add`), and an entry in the audit log for every change."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from common.db import utcnow
from sync.hub.audit import SYSTEM, Actor, Role, record
from sync.hub.db import HubDatabase
from sync.hub.models import Account, AccountSite, Site

__all__ = ["MIN_PASSWORD", "AccountError", "AccountView", "Role"]

MIN_PASSWORD = 12
LOGIN_RE = re.compile(r"[a-z0-9][a-z0-9._@+-]{1,119}")
# Checked when a login names nobody, so that a wrong login costs as much time as a wrong password and the answer's
# timing does not tell which logins exist.
_NOBODY_HASH = generate_password_hash("halfday: nobody has this password", method="scrypt")


class AccountError(ValueError):
    """A change to accounts the hub refuses, worded for the manager."""


@dataclass(frozen=True)
class AccountView:
    id: str
    login: str
    name: str
    role: str
    active: bool
    sites: tuple[str, ...]
    password_hash: str

    @property
    def actor(self) -> Actor:
        return Actor.account(self.id, self.login, self.role, self.sites)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"le mot de passe doit compter au moins {MIN_PASSWORD} caractères")
    return generate_password_hash(password, method="scrypt")


def normalise_login(login: str) -> str:
    login = login.strip().lower()
    if not LOGIN_RE.fullmatch(login):
        raise AccountError("identifiant invalide : 2 à 120 caractères parmi a-z, 0-9, . _ @ + -")
    return login


def add_account(
    db: HubDatabase,
    login: str,
    password: str,
    role: str,
    *,
    name: str = "",
    sites: Iterable[str] = (),
    actor: Actor = SYSTEM,
) -> str:
    """A new account; a site manager must be given at least one site. Returns its id."""
    login = normalise_login(login)
    role, wanted = _role_and_sites(role, sites)
    password_hash = hash_password(password)
    with db.write() as session:
        _require_network_admin(actor)
        if session.execute(select(Account.id).where(Account.login == login)).first():
            raise AccountError(f"l'identifiant {login} est déjà pris")
        _check_sites(session, wanted)
        account = Account(login=login, name=name.strip()[:120], password_hash=password_hash, role=role)
        session.add(account)
        session.flush()
        session.add_all(AccountSite(account_id=account.id, site_id=s) for s in wanted)
        record(
            session,
            actor,
            "account.add",
            f"account:{login}",
            after={"login": login, "name": account.name, "role": role, "sites": wanted},
        )
        return account.id


def edit_account(
    db: HubDatabase,
    account_id: str,
    *,
    name: str,
    role: str,
    sites: Iterable[str],
    active: bool,
    actor: Actor,
) -> None:
    """Change an account's name, role, sites or whether it may log in (a deactivated account's sessions end)."""
    role, wanted = _role_and_sites(role, sites)
    with db.write() as session:
        _require_network_admin(actor)
        account = _get(session, account_id)
        if account.id == actor.account_id and (role != Role.NETWORK_ADMIN or not active):
            raise AccountError("vous ne pouvez pas retirer vos propres droits d'administration")
        _check_sites(session, wanted)
        if account.role == Role.NETWORK_ADMIN and (role != Role.NETWORK_ADMIN or not active):
            _keep_one_admin(session, account.id)
        before = _describe(session, account)
        account.name = name.strip()[:120]
        account.role = role
        account.active = active
        session.execute(delete(AccountSite).where(AccountSite.account_id == account.id))
        session.add_all(AccountSite(account_id=account.id, site_id=s) for s in wanted)
        after = {"name": account.name, "role": role, "sites": wanted, "active": active}
        record(session, actor, "account.edit", f"account:{account.login}", before=before, after=after)


def set_password(db: HubDatabase, account_id: str, password: str, *, actor: Actor, current: str | None = None) -> None:
    """A new password for an account: by its owner (who gives the current one) or by a network admin. Every
    session opened with the old password ends (sessions hold a digest of the hash)."""
    password_hash = hash_password(password)
    with db.write() as session:
        account = _get(session, account_id)
        if account.id == actor.account_id:
            if current is None or not check_password_hash(account.password_hash, current):
                raise AccountError("le mot de passe actuel ne correspond pas")
        else:
            _require_network_admin(actor)
        account.password_hash = password_hash
        account.password_changed_at = utcnow()
        # Never the hash itself in the log: only that it changed.
        record(session, actor, "account.password", f"account:{account.login}", after={"password": "changé"})


def authenticate(db: HubDatabase, login: str, password: str) -> AccountView | None:
    """The active account with this login and password, or None (the same work is done for an unknown login)."""
    try:
        login = normalise_login(login)
    except AccountError:
        check_password_hash(_NOBODY_HASH, password)
        return None
    with db.read() as session:
        account = session.execute(select(Account).where(Account.login == login)).scalar_one_or_none()
        if account is None:
            check_password_hash(_NOBODY_HASH, password)
            return None
        if not check_password_hash(account.password_hash, password) or not account.active:
            return None
        return _view(session, account)


def load(db: HubDatabase, account_id: str) -> AccountView | None:
    with db.read() as session:
        account = session.get(Account, account_id)
        return None if account is None else _view(session, account)


def all_accounts(session: Session) -> Sequence[AccountView]:
    rows = session.execute(select(Account).order_by(Account.login)).scalars().all()
    return [_view(session, a) for a in rows]


def count_admins(session: Session) -> int:
    query = select(func.count()).select_from(Account).where(Account.role == Role.NETWORK_ADMIN, Account.active)
    return int(session.execute(query).scalar_one())


def _view(session: Session, account: Account) -> AccountView:
    sites = session.execute(
        select(AccountSite.site_id).where(AccountSite.account_id == account.id).order_by(AccountSite.site_id)
    ).scalars()
    return AccountView(
        account.id, account.login, account.name, account.role, account.active, tuple(sites), account.password_hash
    )


def _describe(session: Session, account: Account) -> dict[str, object]:
    view = _view(session, account)
    return {"name": view.name, "role": view.role, "sites": list(view.sites), "active": view.active}


def _role_and_sites(role: str, sites: Iterable[str]) -> tuple[str, list[str]]:
    if role not in tuple(Role):
        raise AccountError("rôle inconnu : administrateur du réseau ou responsable de site")
    wanted = sorted(set(sites)) if role == Role.SITE_MANAGER else []
    if role == Role.SITE_MANAGER and not wanted:
        raise AccountError("un responsable de site doit gérer au moins un site")
    return role, wanted


def _check_sites(session: Session, sites: list[str]) -> None:
    if not sites:
        return
    known = set(session.execute(select(Site.id).where(Site.id.in_(sites))).scalars())
    missing = [s for s in sites if s not in known]
    if missing:
        raise AccountError(f"site inconnu : {', '.join(missing)}")


def _keep_one_admin(session: Session, leaving: str) -> None:
    others = session.execute(
        select(func.count())
        .select_from(Account)
        .where(Account.role == Role.NETWORK_ADMIN, Account.active, Account.id != leaving)
    ).scalar_one()
    if not others:
        raise AccountError("il doit rester au moins un administrateur du réseau actif")


def _require_network_admin(actor: Actor) -> None:
    if not actor.network_wide:
        raise AccountError("seul un administrateur du réseau gère les comptes")


def _get(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise AccountError("compte inconnu")
    return account
