"""A manager's session on a web app: a password checked against its scrypt hash, a throttle per client address,
a session that ends after some idle time, at logout, or when the password changes (the session keeps a digest of
the hash it was opened with)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from flask import request, session
from werkzeug.security import check_password_hash

from common.web.throttle import Limits, Throttle

SESSION_KEY = "manager"
SEEN_KEY = "manager_seen"


def fingerprint(stored_hash: str) -> str:
    """A short digest of the stored hash: a new password no longer matches what open sessions hold."""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


def client_address() -> str:
    return request.remote_addr or "?"


@dataclass(frozen=True)
class LoginRules:
    """How hard a password is to guess at the login form, and how long a manager's session lives."""

    # This many failures within the window make a client wait until the oldest has aged out (per client address).
    max_failures: int = 5
    window_s: float = 300.0
    # Attempts a client may make in a minute, whatever their outcome.
    max_per_minute: int = 10
    # A session ends after this long without a request (a page left open on a shared computer).
    idle_s: float = 1800.0


@dataclass(frozen=True)
class LoginAttempt:
    ok: bool
    wait_s: float = 0.0  # > 0: refused without checking, too many failures from this client


@dataclass
class ManagerLogin:
    """The manager's login on one app: its rules, and the throttle they make (kept in memory: a restart clears it,
    which someone guessing cannot cause, and the password's hash keeps brute force hopeless anyway)."""

    rules: LoginRules = field(default_factory=LoginRules)

    def __post_init__(self) -> None:
        rules = self.rules
        self.throttle = Throttle(Limits(rules.max_failures, rules.window_s, rules.max_per_minute))

    def attempt(self, stored_hash: str, candidate: str) -> LoginAttempt:
        return try_login(self.throttle, stored_hash, candidate)

    def alive(self, stored_hash: str | None) -> bool:
        return session_alive(stored_hash, self.rules.idle_s)


def try_login(throttle: Throttle, stored_hash: str, candidate: str) -> LoginAttempt:
    """Check a password typed at the login form; on success the session is a new one (nothing from before the
    login carries over) and belongs to the manager."""
    who = f"login:{client_address()}"
    wait = throttle.wait_s(who)
    if wait > 0:
        return LoginAttempt(False, wait)
    throttle.attempt(who)
    if not check_password_hash(stored_hash, candidate):
        throttle.failure(who)
        return LoginAttempt(False)
    open_session(stored_hash)
    return LoginAttempt(True)


def open_session(stored_hash: str) -> None:
    """A new session at sign-in, held by the password `stored_hash` checked: nothing from before it carries over
    (session fixation), but the language the visitor chose on the login page."""
    language = session.get("lang")
    session.clear()
    if isinstance(language, str):
        session["lang"] = language
    session[SESSION_KEY] = fingerprint(stored_hash)
    session[SEEN_KEY] = time.time()


def session_alive(stored_hash: str | None, idle_s: float) -> bool:
    """Whether this request belongs to a manager's live session (and keep it alive); a dead one is forgotten."""
    held = session.get(SESSION_KEY)
    seen = session.get(SEEN_KEY, 0.0)
    fresh = isinstance(seen, float) and time.time() - seen < idle_s
    if held and fresh and stored_hash is not None and held == fingerprint(stored_hash):
        session[SEEN_KEY] = time.time()
        return True
    session.pop(SESSION_KEY, None)
    return False


def signed_in() -> bool:
    """Whether this browser session belongs to a manager (checked already by the app's login guard)."""
    return SESSION_KEY in session


def end_session() -> None:
    session.clear()
