"""The manager's password, the session secret, CSRF tokens, and limits on guessing.

Secrets live in files only the kiosk's user can read, generated once next to the database: never a key in the
code, never a default password. Passwords are hashed with scrypt (werkzeug's default: N=32768, r=8, p=1, about
0.1 s and 32 MiB per try, which makes a stolen hash slow to attack and an online attack pointless).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from flask import request, session
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from access.config import Config
from access.store import get_meta, set_meta

PASSWORD_META = "kiosk_password_hash"
MIN_PASSWORD_LENGTH = 8
SECRET_KEY_FILE = "kiosk-secret.key"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# 32 random bytes: as strong as the HMAC-SHA256 that signs the session cookie can use.
SECRET_BYTES = 32


class KioskSetupError(RuntimeError):
    """The kiosk cannot start as configured (message in French, for the manager's terminal)."""


def state_dir(config: Config) -> Path:
    """The folder of the SQLite database, where the kiosk keeps its generated secrets."""
    url = config.database_url
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        raise KioskSetupError("kiosk.secret_key_file est obligatoire quand la base n'est pas un fichier SQLite")
    return Path(url.removeprefix("sqlite:///")).absolute().parent


def private_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The content of the secret file `path`, created with `make()` and mode 0600 if it does not exist yet.

    The new file is written aside and linked into place, so two processes starting together agree on one secret
    and neither reads a half-written file. A file that other users can read is refused, not silently used.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-secret-")  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(make())
                out.flush()
                os.fsync(out.fileno())
            # FileExistsError: another process won the race, and its secret is the one to use.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes().strip()
    except OSError as exc:
        raise KioskSetupError(f"{path} ne peut pas être lu : {exc.strerror}") from None
    if mode & 0o077:
        raise KioskSetupError(f"{path} est lisible par d'autres comptes : lancez « chmod 600 {path} »")
    if len(data) < SECRET_BYTES:
        raise KioskSetupError(f"{path} est trop court pour être un secret (32 octets au moins)")
    return data


def secret_key(config: Config) -> bytes:
    """The key that signs session cookies: kiosk.secret_key_file, or one generated next to the database."""
    configured = config.kiosk.secret_key_file
    path = Path(configured) if configured else state_dir(config) / SECRET_KEY_FILE
    return private_file(path, lambda: secrets.token_hex(SECRET_BYTES).encode())


# ---------------------------------------------------------------------------------------------- password


def check_new_password(password: str) -> str:
    """The password if it is acceptable; ValueError with a French reason otherwise."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"le mot de passe doit avoir au moins {MIN_PASSWORD_LENGTH} caractères")
    if password.strip() != password:
        raise ValueError("le mot de passe ne doit pas commencer ni finir par une espace")
    return password


def set_password(session: Session, password: str) -> None:
    """Store the scrypt hash of the manager's password (in the caller's write transaction)."""
    set_meta(session, PASSWORD_META, generate_password_hash(check_new_password(password)))


def stored_password_hash(session: Session) -> str | None:
    return get_meta(session, PASSWORD_META)


def password_matches(stored_hash: str, candidate: str) -> bool:
    return check_password_hash(stored_hash, candidate)


def password_fingerprint(stored_hash: str) -> str:
    """A short digest of the stored hash, kept in the manager's session: a new password logs every session out."""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- CSRF


def csrf_token() -> str:
    """This browser session's CSRF token, created on first use; every form carries it in a hidden field."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_valid() -> bool:
    """Whether this request carries the session's CSRF token (form field or header)."""
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    return isinstance(expected, str) and isinstance(sent, str) and hmac.compare_digest(expected, sent)


# ---------------------------------------------------------------------------------------------- throttle


class Throttle:
    """After `max_failures` failures within `window_s`, a key is refused for `lockout_s` seconds.

    Kept in memory: a restart clears it, which an attacker at the kiosk cannot cause, and the password hash
    (0.1 s per try) keeps brute force hopeless anyway. `clock` is injectable for tests.
    """

    def __init__(
        self, max_failures: int, window_s: float, lockout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_s(self, key: str) -> float:
        """Seconds until `key` may try again (0 when it may now)."""
        with self._lock:
            return max(0.0, self._locked_until.get(key, 0.0) - self.clock())

    def failure(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while times and times[0] < now - self.window_s:
                times.popleft()
            if len(times) >= self.max_failures:
                self._locked_until[key] = now + self.lockout_s
                times.clear()

    def success(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._locked_until.pop(key, None)
