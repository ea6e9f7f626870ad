"""The web toolkit both apps are built on (common/web/app.py), tried through the hub's pages: CSRF fails closed,
only trusted host names are answered, redirects stay on the app, every page carries the security headers, errors
are pages in the visitor's language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from common.web.app import local_target
from sync.hub.db import HubDatabase
from sync.hub.web import create_hub_app
from tests.support.hub import add_admin

PASSWORD = "correct horse battery"


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    db = HubDatabase(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    db.create_all()
    add_admin(db)
    return create_hub_app(db, secret_key="k" * 32, trusted_hosts=("hub.example.org",))


def form_token(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, "the page has no form token"
    return found.group(1)


def test_only_trusted_host_names_are_answered(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/login", base_url="http://hub.example.org").status_code == 200
    # A page on another name that resolves to the hub (DNS rebinding) gets nothing.
    refused = client.get("/login", base_url="http://evil.example")
    assert refused.status_code == 400
    assert "csrf_token" not in refused.get_data(as_text=True)


def test_a_form_without_its_token_changes_nothing(app: Flask) -> None:
    client = app.test_client()
    base = "http://hub.example.org"
    token = form_token(client.get("/login", base_url=base).get_data(as_text=True))
    for data in (
        {"login": "admin", "password": PASSWORD},
        {"login": "admin", "password": PASSWORD, "csrf_token": ""},
        {"login": "admin", "password": PASSWORD, "csrf_token": token + "x"},
    ):
        refused = client.post("/login", data=data, base_url=base)
        assert refused.status_code == 400 and "Ce formulaire a expiré" in refused.get_data(as_text=True)
        assert client.get("/members", base_url=base).status_code == 302  # still not signed in
    # Another browser's token is no good either: a token belongs to its session.
    other = app.test_client()
    other_token = form_token(other.get("/login", base_url=base).get_data(as_text=True))
    theirs = {"login": "admin", "password": PASSWORD, "csrf_token": other_token}
    assert client.post("/login", data=theirs, base_url=base).status_code == 400
    signed = client.post("/login", data={"login": "admin", "password": PASSWORD, "csrf_token": token}, base_url=base)
    assert signed.status_code == 302


def test_security_headers_and_french_error_pages(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/login", base_url="http://hub.example.org")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    missing = client.get("/nowhere", base_url="http://hub.example.org")
    assert missing.status_code == 302  # signed out: the login comes first
    token = form_token(page.get_data(as_text=True))
    signed = {"login": "admin", "password": PASSWORD, "csrf_token": token}
    client.post("/login", data=signed, base_url="http://hub.example.org")
    missing = client.get("/nowhere", base_url="http://hub.example.org")
    assert missing.status_code == 404 and "Cette page n&#39;existe pas." in missing.get_data(as_text=True)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/members", "/members"),
        ("/usage?month=2026-11", "/usage?month=2026-11"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("evil", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_redirects_stay_on_the_app(target: str | None, expected: str) -> None:
    assert local_target(target) == expected


def test_redirects_can_be_kept_under_a_prefix() -> None:
    assert local_target("/admin/members", "/admin/", prefix="/admin") == "/admin/members"
    assert local_target("/buy", "/admin/", prefix="/admin") == "/admin/"
