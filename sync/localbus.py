"""The local MQTT bus on the appliance (Mosquitto on 127.0.0.1): topics and payloads between door, kiosk and sync.

The bus carries live news and requests only. Facts live in the database: the door decides and records without
the bus, and a process that missed a message catches up from the database (see `STATE_VERSION`).

Topics (payloads are JSON objects with "v": 1):
- `halfday/local/door/tap`      door -> all, QoS 1: one decision at the door (see `tap_payload`).
- `halfday/local/door/state`    door -> all, retained: lock, door, alarms, reader health; last will "offline".
- `halfday/local/door/enrolled` door -> kiosk: the UID tapped while in enrol mode {"v","uid","request"}.
- `halfday/local/door/cmd`      kiosk/sync -> door, QoS 1: {"v","name","request",...}; names:
    "unlock" {"by": "manager", "ref"}: one unlock pulse, recorded as an "unlock" event;
    "admit"  {"credential": "pass:<id>" or a badge UID}: decided like a tap (a walk-in's pass at the kiosk);
    "enrol"  {"timeout_s"}: the next tapped UID is reported on door/enrolled, not decided;
    "reload" {}: read members, badges and passes again from the database.
- `halfday/local/door/reply`    door -> requester: {"v","request","ok","reason","message"}.
- `halfday/local/sync/status`   sync -> all, retained: {"v","online","last_contact","backlog","oldest","roster"}.
"""

from __future__ import annotations

import json
from typing import Any

from access.policy import Decision

PREFIX = "halfday/local"
TAP = f"{PREFIX}/door/tap"
DOOR_STATE = f"{PREFIX}/door/state"
ENROLLED = f"{PREFIX}/door/enrolled"
DOOR_CMD = f"{PREFIX}/door/cmd"
DOOR_REPLY = f"{PREFIX}/door/reply"
SYNC_STATUS = f"{PREFIX}/sync/status"

COMMANDS = ("unlock", "admit", "enrol", "reload")

# Every writer of members, badges, plans or passes bumps this `meta` key in the same transaction; the door polls it,
# so a change reaches the door even when the bus is down.
STATE_VERSION = "state_version"

PASS_CREDENTIAL_PREFIX = "pass:"


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps({"v": 1, **payload}, separators=(",", ":"), ensure_ascii=False).encode()


def decode(raw: bytes) -> dict[str, Any] | None:
    """A bus payload as a dict, or None when it is not a JSON object of version 1."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("v") != 1:
        return None
    return data


def tap_payload(decision: Decision, event_id: str, seq: int, at: str, presented_ns: int | None = None) -> bytes:
    """What the kiosk shows for one tap: the member's first name, what was charged, the credits left."""
    charge = decision.charge
    return encode(
        {
            "event": event_id,
            "seq": seq,
            "at": at,
            "uid": decision.credential,
            "granted": decision.granted,
            "reason": decision.reason.value,
            "holder": decision.holder_id,
            "first_name": decision.first_name,
            "plan": decision.entitlement.kind if decision.entitlement else None,
            "slot": decision.slot.slot if decision.slot else None,
            "charged": charge is not None,
            "spent": charge.spent if charge else 0,
            "balance": decision.balance,
            "message_fr": decision.message("fr"),
            "message_en": decision.message("en"),
            "clock_ok": decision.clock_ok,
            "connected_ns": presented_ns,
        }
    )
