"""Secrets, the manager's password, CSRF on every form, login rate limiting, admin pages refused without login."""

from __future__ import annotations

import re
import stat

import pytest
from flask.testing import FlaskClient
from werkzeug.security import check_password_hash

from common.web.throttle import Limits, Throttle
from kiosk.auth import (
    SECRET_KEY_FILE,
    KioskSetupError,
    secret_key,
    set_password,
    stored_password_hash,
)
from tests.support.kiosk import TEST_TUNING
from tests.support.site import MANAGER_PASSWORD, Site


def csrf_of(client: FlaskClient, url: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)
    assert found is not None
    return found.group(1)


def login(client: FlaskClient, password: str = MANAGER_PASSWORD) -> int:
    token = csrf_of(client, "/admin/login")
    return client.post("/admin/login", data={"csrf_token": token, "password": password}).status_code


def test_session_key_is_generated_once_in_a_private_file(site: Site) -> None:
    key = secret_key(site.config)
    path = site.folder / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(key) >= 32
    assert secret_key(site.config) == key
    path.chmod(0o640)
    with pytest.raises(KioskSetupError):
        secret_key(site.config)


def test_password_is_stored_as_a_scrypt_hash(site: Site) -> None:
    with site.db.write() as s:
        set_password(s, MANAGER_PASSWORD)
    with site.db.read() as s:
        stored = stored_password_hash(s)
    assert stored is not None and stored.startswith("scrypt:") and MANAGER_PASSWORD not in stored
    assert check_password_hash(stored, MANAGER_PASSWORD) and not check_password_hash(stored, "wrong")
    with pytest.raises(ValueError), site.db.write() as s:
        set_password(s, "short")


def test_without_a_password_the_login_page_says_how_to_set_one(client: FlaskClient) -> None:
    page = client.get("/admin/login")
    assert page.status_code == 200 and "halfday kiosk password" in page.text
    token = csrf_of(client, "/code")
    tried = client.post("/admin/login", data={"csrf_token": token, "password": ""})
    assert tried.status_code == 200 and "halfday kiosk password" in tried.text  # nothing to log in against
    assert client.get("/admin/").status_code == 302


def test_admin_pages_refuse_a_request_without_login(site: Site, client: FlaskClient) -> None:
    site.set_password()
    for url in ("/admin/", "/admin/members", "/admin/sales", "/admin/events", "/admin/exports/usage/2026-11.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    token = csrf_of(client, "/admin/login")
    for url in ("/admin/unlock", "/admin/members", "/admin/plans"):
        assert client.post(url, data={"csrf_token": token}).status_code == 401
    assert login(client) == 302
    assert client.get("/admin/members").status_code == 200


def test_every_form_needs_its_csrf_token(site: Site, client: FlaskClient) -> None:
    site.set_password()
    assert client.post("/admin/login", data={"password": MANAGER_PASSWORD}).status_code == 400
    assert login(client) == 302
    refused = client.post("/admin/members", data={"first_name": "Eve"})
    assert refused.status_code == 400 and "formulaire" in refused.text
    assert client.post("/admin/members", data={"first_name": "Eve", "csrf_token": "forged"}).status_code == 400
    assert client.post("/buy/pass_halfday", data={"name": "Eve"}).status_code == 400
    token = csrf_of(client, "/admin/members")
    added = client.post("/admin/members", data={"first_name": "Eve", "csrf_token": token})
    assert added.status_code == 302 and "/admin/members/" in added.headers["Location"]


def test_login_is_rate_limited(site: Site, client: FlaskClient) -> None:
    site.set_password()
    for _ in range(TEST_TUNING.login.max_failures):
        assert login(client, "wrong password") == 403
    # Locked out: even the right password is refused until the lock-out ends.
    assert login(client, MANAGER_PASSWORD) == 429


def test_a_new_password_ends_existing_sessions(site: Site, client: FlaskClient) -> None:
    site.set_password()
    assert login(client) == 302
    assert client.get("/admin/").status_code == 200
    site.set_password("another long password")
    assert client.get("/admin/").status_code == 302


def test_failures_decay_and_a_success_forgives_nothing() -> None:
    now = [0.0]
    throttle = Throttle(Limits(max_failures=3, window_s=10, max_per_minute=100), clock=lambda: now[0])
    throttle.failure("k")
    now[0] = 11  # outside the window: the first failure no longer counts
    throttle.failure("k")
    now[0] = 12
    throttle.failure("k")
    assert throttle.wait_s("k") == 0
    throttle.attempt("k")  # a success in between: nothing is forgiven
    throttle.failure("k")
    assert throttle.wait_s("k") == 9  # until the oldest of the three (at 11) has aged out
    now[0] = 21
    assert throttle.wait_s("k") == 0 and throttle.wait_s("other") == 0


def test_a_client_has_a_hard_cap_per_minute_whatever_its_sessions() -> None:
    now = [0.0]
    throttle = Throttle(Limits(max_failures=100, window_s=60, max_per_minute=5), clock=lambda: now[0])
    for session in range(5):
        assert throttle.wait_s(f"client:{session}", "client") == 0
        throttle.attempt("client")
        now[0] += 1
    assert throttle.wait_s("client:fresh", "client") == 55  # a new session is still the same client
    assert throttle.wait_s("other:fresh", "other") == 0


def test_pages_carry_no_outside_resources(client: FlaskClient) -> None:
    for url in ("/", "/buy", "/code", "/display/", "/admin/login"):
        page = client.get(url)
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert not re.search(r'(src|href)="(https?:)?//', page.text), url
