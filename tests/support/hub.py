"""The hub's pages for tests: accounts made as `halfday hub account add` makes them, a signed-in test client, the
form token of a page."""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import Flask
from flask.testing import FlaskClient

from sync.hub import accounts
from sync.hub.audit import Role
from sync.hub.db import HubDatabase
from sync.hub.web import create_hub_app

PASSWORD = "correct horse battery"


def add_admin(db: HubDatabase, login: str = "admin", password: str = PASSWORD) -> str:
    return accounts.add_account(db, login, password, Role.NETWORK_ADMIN, name=login.capitalize())


def add_manager(db: HubDatabase, login: str, sites: Iterable[str], password: str = PASSWORD) -> str:
    return accounts.add_account(db, login, password, Role.SITE_MANAGER, name=login.capitalize(), sites=sites)


def hub_app(db: HubDatabase, **options: object) -> Flask:
    app = create_hub_app(db, secret_key="k" * 32, **options)  # type: ignore[arg-type]
    app.testing = True
    return app


def form_token(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, "the page has no form token"
    return found.group(1)


def token(client: FlaskClient, path: str = "/login") -> str:
    return form_token(client.get(path).get_data(as_text=True))


def sign_in(client: FlaskClient, login: str = "admin", password: str = PASSWORD) -> None:
    response = client.post("/login", data={"login": login, "password": password, "csrf_token": token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def post(client: FlaskClient, path: str, data: dict[str, object] | None = None, *, page: str | None = None):  # type: ignore[no-untyped-def]
    """POST a form of the hub with the token of `page` (the path itself by default), following the redirect."""
    fields = dict(data or {})
    fields["csrf_token"] = token(client, page or "/")
    return client.post(path, data=fields, follow_redirects=True)
