"""The hub's pages (the network's back office), built on the shared web toolkit (common/web/app.py): the app
factory here, the context object in context.py, a blueprint per part (auth, network, reports)."""

from __future__ import annotations

from flask import Flask

from common.web.app import WebSettings, make_app
from common.web.login import LoginRules, ManagerLogin
from sync.hub.db import HubDatabase
from sync.hub.web.context import EXTENSION, HubPages

__all__ = ["create_hub_app"]


def create_hub_app(
    db: HubDatabase,
    *,
    secret_key: bytes | str,
    password_hash: str,
    language: str = "fr",
    trusted_hosts: tuple[str, ...] | None = None,
    login: LoginRules | None = None,
) -> Flask:
    """The hub's pages for `db`. The session secret and the password hash come from the caller (files named in
    the hub's config), never from defaults in the code."""
    if not password_hash:
        raise ValueError("le hachage du mot de passe du hub est obligatoire")
    settings = WebSettings(
        secret_key=secret_key,
        cookie_name="halfday_hub",
        language=language,
        trusted_hosts=trusted_hosts,
        error_template="hub/error.html",
    )
    pages = HubPages(db, password_hash, ManagerLogin(login or LoginRules()))
    app = make_app(__name__, settings, EXTENSION, pages)

    from sync.hub.web.auth import bp as auth_bp
    from sync.hub.web.network import bp as network_bp
    from sync.hub.web.reports import bp as reports_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(network_bp)
    app.register_blueprint(reports_bp)
    return app
