"""The sync agent's own small file: the command nonces it has seen.

Kept beside the appliance database but apart from it: these are the agent's facts only, and a replayed command
must be refused even after a restart, so the nonces are on disk, not in memory. (Change requests to the hub are
kept in the appliance database, where the desk writes them: sync/agent/requests.py.)
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

from sync.protocol import ProtocolError
from sync.verifying import MAX_NONCES

SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires REAL NOT NULL);
"""


class SyncState:
    """A bounded, persisted NonceStore."""

    def __init__(self, path: str | Path, capacity: int = MAX_NONCES) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A nonce recorded just before a power cut must still be there after it.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def claim(self, nonce: str, expires: dt.datetime, now: dt.datetime) -> None:
        """NonceStore: remember `nonce` until `expires`; ProtocolError on a replay or when full."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM nonces WHERE nonce = ?", (nonce,)).fetchone():
                    raise ProtocolError("commande rejouée : nonce déjà vu")
                self._db.execute("DELETE FROM nonces WHERE expires < ?", (now.timestamp(),))
                (count,) = self._db.execute("SELECT count(*) FROM nonces").fetchone()
                if count >= self.capacity:
                    raise ProtocolError("trop de commandes non expirées : commande refusée")
                self._db.execute("INSERT INTO nonces VALUES (?, ?)", (nonce, expires.timestamp()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
