"""Secret files: made once, readable by their owner only, never a key in the code."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

# 32 random bytes: as strong as the HMAC-SHA256 that signs a session cookie can use.
SECRET_BYTES = 32


class SecretFileError(RuntimeError):
    """A secret file cannot be used (message in French, for the manager's terminal)."""


def new_secret() -> bytes:
    return secrets.token_hex(SECRET_BYTES).encode()


def private_file(path: Path, make: Callable[[], bytes] = new_secret) -> bytes:
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
    return read_private_file(path)


def read_private_file(path: Path, min_bytes: int = SECRET_BYTES) -> bytes:
    """The content of an existing secret file, refused if others can read it or it is too short to be a secret."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes().strip()
    except OSError as exc:
        raise SecretFileError(f"{path} ne peut pas être lu : {exc.strerror}") from None
    if mode & 0o077:
        raise SecretFileError(f"{path} est lisible par d'autres comptes : lancez « chmod 600 {path} »")
    if len(data) < min_bytes:
        raise SecretFileError(f"{path} est trop court pour être un secret ({min_bytes} octets au moins)")
    return data
