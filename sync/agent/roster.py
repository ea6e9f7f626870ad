"""The roster the door decides on, as the agent reports it (sync/PROTOCOL.md, status): when the hub issued it, and
the last roster that failed to apply, with a reason a site manager understands.

Without this a roster that failed left a log line on the appliance only: the hub kept showing the door as fine
while it decided on badges and balances that no longer held.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable

from sync.payloads import RosterHealth, validate_roster_body
from sync.protocol import MAX_MESSAGE_BYTES, ROSTER_FAILURE_LEN, VERSION, Json, ProtocolError, parse_json
from sync.verifying import KeyLike, verify

# The reasons, in the words of a site manager: they show on the hub's doors page and on the site's wall display.
FORGED = "signature invalide : la liste ne vient pas du hub"
OTHER_SITE = "liste pour un autre site"
MALFORMED = "liste mal formée"
NOT_APPLIED = "erreur en l'appliquant dans la base de la porte"


def _sentence(text: str) -> str:
    return text if len(text) <= ROSTER_FAILURE_LEN else text[: ROSTER_FAILURE_LEN - 1] + "…"


def refusal_reason(
    payload: bytes,
    public_key: KeyLike,
    site: str,
    *,
    validate: Callable[[Json], Json] = validate_roster_body,
    limit: int = MAX_MESSAGE_BYTES,
) -> str:
    """Why `verify_roster` (or `verify_delta`, with its `validate`) refused `payload` (which it did, and not as
    stale): the checks again, in its order, to name the first that fails. The signature comes first: what a forger
    wrote is not worth reading further."""
    try:
        obj = parse_json(payload, limit=limit)
    except ProtocolError as exc:
        return _sentence(f"{MALFORMED} ({exc})")
    if not isinstance(obj, dict) or obj.get("v") != VERSION:
        return _sentence(f"{MALFORMED} (version du protocole inconnue)")
    try:
        verify(obj, public_key)
    except ProtocolError:
        return FORGED
    try:
        validate(obj)
    except ProtocolError as exc:
        return _sentence(f"{MALFORMED} ({exc})")
    if obj["site"] != site:
        return _sentence(f"{OTHER_SITE} ({obj['site']})")
    return MALFORMED


class RosterWatch:
    """The applied roster's issue date and version, the newest version heard of, and the last failure since a roster
    applied; thread-safe (the control thread writes, the sender reads).

    The door is *behind* when it holds no roster, or heard of a version that deltas cannot bring it to (it missed
    one): the status says so until a snapshot catches it up (sync/PROTOCOL.md, "Missed deltas")."""

    def __init__(self, issued_at: dt.datetime | None, max_age: dt.timedelta, version: int | None = None) -> None:
        self.max_age = max_age
        self._health = RosterHealth(issued_at)
        self._held = version
        self._heard = 0
        self._lock = threading.Lock()

    def applied(self, issued_at: dt.datetime, version: int) -> None:
        with self._lock:
            self._health = RosterHealth(issued_at)
            self._held = version

    def heard(self, version: int) -> None:
        """A version that could not be applied in turn: the door is behind it until it holds one as new."""
        with self._lock:
            self._heard = max(self._heard, version)

    def failed(self, reason: str, now: dt.datetime) -> None:
        with self._lock:
            self._health = RosterHealth(self._health.issued_at, now, _sentence(reason))

    def health(self) -> RosterHealth:
        with self._lock:
            behind = self._held is None or self._heard > self._held
            return dataclasses.replace(self._health, behind=behind)

    def too_old(self, now: dt.datetime) -> bool:
        """Whether the held roster was issued longer than `max_age` ago. Unknown (none held yet, or applied by an
        older agent that kept no date) is not too old: the next roster tells."""
        issued_at = self.health().issued_at
        return issued_at is not None and now - issued_at > self.max_age
