"""The hub pages' shared parts for one app: the database, the manager's password hash and login."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.web.app import context
from common.web.login import ManagerLogin
from sync.hub.db import HubDatabase

EXTENSION = "halfday.hub"


@dataclass
class HubPages:
    db: HubDatabase
    password_hash: str
    login: ManagerLogin = field(default_factory=ManagerLogin)


def current_hub() -> HubPages:
    """The hub pages of the app handling this request."""
    return context(EXTENSION, HubPages)
