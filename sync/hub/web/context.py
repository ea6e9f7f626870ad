"""The hub pages' shared parts for one app: the database, the login rules and their throttle, the broker whose
accounts the hub manages (if it does) and what the Pi installer needs; and, per request, the signed-in account."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from flask import abort, g

from common.books import Books
from common.config import Association
from common.privacy import PrivacyConfig
from common.web.app import context
from common.web.login import LoginRules
from common.web.throttle import Limits, Throttle
from sync.hub.accounts import AccountView
from sync.hub.audit import Actor, Role
from sync.hub.db import HubDatabase

EXTENSION = "halfday.hub"


class DeviceAccounts(Protocol):
    """The broker accounts the hub manages for its doors (sync/hub/broker_accounts.py `BrokerAccounts`)."""

    def add_device(self, site: str, device: str, password: str) -> None: ...

    def remove_device(self, site: str, device: str) -> None: ...


@dataclass(frozen=True)
class Installer:
    """What a door's installation needs from the hub besides its own account: the broker's public URL and the
    hub's public key (base64), printed with the commands when a door is registered."""

    hub_url: str
    public_key_b64: str
    # The certificate authority of the broker's TLS certificate, when the Pis cannot know it (the network's own).
    ca_pem: str | None = None


@dataclass
class HubPages:
    db: HubDatabase
    rules: LoginRules = field(default_factory=LoginRules)
    broker: DeviceAccounts | None = None
    installer: Installer | None = None
    # The accounts and VAT of the network's journal (`[books]` of the hub's config).
    books: Books = field(default_factory=lambda: Books("HUB"))
    # What the privacy notices and page say (how long, whom to ask).
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    # The letterhead of the funders' report, and the association the privacy notices name (`[association]`).
    association: Association = field(default_factory=lambda: Association("halfday"))

    def __post_init__(self) -> None:
        rules = self.rules
        # Failures count per account and per client address; attempts per minute per client address.
        self.throttle = Throttle(Limits(rules.max_failures, rules.window_s, rules.max_per_minute))


def current_hub() -> HubPages:
    """The hub pages of the app handling this request."""
    return context(EXTENSION, HubPages)


def current_account() -> AccountView:
    """The account signed in for this request (set by the login guard before any page runs)."""
    account: AccountView | None = g.get("hub_account")
    if account is None:
        abort(403)
    return account


def current_actor() -> Actor:
    return current_account().actor


def require_admin() -> None:
    """Pages only a network admin may open (accounts, new sites)."""
    if current_account().role != Role.NETWORK_ADMIN:
        abort(403)
