"""The manager's password and the kiosk's session secret.

Secrets live in files only the kiosk's user can read, generated once next to the database: never a key in the
code, never a default password. Passwords are hashed with scrypt (werkzeug's default: N=32768, r=8, p=1, about
0.1 s and 32 MiB per try, which makes a stolen hash slow to attack and an online attack pointless).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from access.config import Config
from access.store import get_meta, set_meta
from common.db import sqlite_file
from common.secrets import SecretFileError, private_file

PASSWORD_META = "kiosk_password_hash"
MIN_PASSWORD_LENGTH = 8
SECRET_KEY_FILE = "kiosk-secret.key"


class KioskSetupError(RuntimeError):
    """The kiosk cannot start as configured (message in French, for the manager's terminal)."""


def state_dir(config: Config) -> Path:
    """The folder of the SQLite database, where the kiosk keeps its generated secrets."""
    database = sqlite_file(config.database_url)
    if database is None:
        raise KioskSetupError("kiosk.secret_key_file est obligatoire quand la base n'est pas un fichier SQLite")
    return database.absolute().parent


def secret_file(path: Path) -> bytes:
    """A secret of the kiosk's, made on first use (see common/secrets.py)."""
    try:
        return private_file(path)
    except SecretFileError as exc:
        raise KioskSetupError(str(exc)) from None


def secret_key(config: Config) -> bytes:
    """The key that signs session cookies: kiosk.secret_key_file, or one generated next to the database."""
    configured = config.kiosk.secret_key_file
    return secret_file(Path(configured) if configured else state_dir(config) / SECRET_KEY_FILE)


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
