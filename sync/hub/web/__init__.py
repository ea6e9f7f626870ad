"""The hub's pages (the network's back office), built on the shared web toolkit (common/web/app.py): the app
factory here, the context object in context.py, a blueprint per part: auth (login, own account), team (accounts),
network (sites and doors), plans, members, audit, reports, the funders' report."""

from __future__ import annotations

from flask import Flask

from common.books import Books
from common.config import Association
from common.privacy import PrivacyConfig
from common.web.app import WebSettings, make_app
from common.web.login import LoginRules
from sync.hub.db import HubDatabase
from sync.hub.web.context import EXTENSION, DeviceAccounts, HubPages, Installer

__all__ = ["DeviceAccounts", "Installer", "create_hub_app"]


def create_hub_app(
    db: HubDatabase,
    *,
    secret_key: bytes | str,
    language: str = "fr",
    trusted_hosts: tuple[str, ...] | None = None,
    login: LoginRules | None = None,
    broker: DeviceAccounts | None = None,
    installer: Installer | None = None,
    books: Books | None = None,
    privacy: PrivacyConfig | None = None,
    association: Association | None = None,
) -> Flask:
    """The hub's pages for `db`. The session secret comes from the caller (a file named in the hub's config),
    never from a default in the code; managers sign in with their own accounts (`halfday hub account add`)."""
    settings = WebSettings(
        secret_key=secret_key,
        cookie_name="halfday_hub",
        language=language,
        trusted_hosts=trusted_hosts,
        error_template="hub/error.html",
    )
    pages = HubPages(
        db,
        login or LoginRules(),
        broker,
        installer,
        books=books or Books("HUB"),
        privacy=privacy or PrivacyConfig(),
        association=association or Association("halfday"),
    )
    app = make_app(__name__, settings, EXTENSION, pages)

    from sync.hub.web.audit import bp as audit_bp
    from sync.hub.web.auth import bp as auth_bp
    from sync.hub.web.funders import bp as funders_bp
    from sync.hub.web.members import bp as members_bp
    from sync.hub.web.network import bp as network_bp
    from sync.hub.web.plans import bp as plans_bp
    from sync.hub.web.privacy import bp as privacy_bp
    from sync.hub.web.reports import bp as reports_bp
    from sync.hub.web.rooms import bp as rooms_bp
    from sync.hub.web.team import bp as team_bp

    blueprints = (
        auth_bp,
        team_bp,
        network_bp,
        plans_bp,
        members_bp,
        audit_bp,
        reports_bp,
        rooms_bp,
        privacy_bp,
        funders_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app
