"""A roster applied at the appliance: the ledger ends up exactly as the roster says, and only what differs is
written (a roster that changes one badge of a thousand members writes one row: the revocation reaches the door's
next decision at once)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import event, select

from access.db import Database
from access.models import Balance, Credential, Member, Plan, Subscription
from sync.agent import outbox
from sync.protocol import utc_iso
from tests.sync.test_roster_weekdays import NOW

MEMBERS = 1000


def roster(version: int) -> dict[str, Any]:
    plan = "p" * 32
    members = [f"{i:032x}" for i in range(MEMBERS)]
    return {
        "v": 1,
        "site": "site-a",
        "version": version,
        "issued_at": utc_iso(NOW),
        "seen": {"door-1": 10},
        "members": [
            {"id": m, "first_name": f"M{i}", "last_name": "", "email": None, "active": True}
            for i, m in enumerate(members)
        ],
        "credentials": [
            {
                "id": f"{i + 5000:032x}",
                "member_id": m,
                "kind": "nfc_uid",
                "value": f"{i + 0x10000000:08X}",
                "status": "active",
            }
            for i, m in enumerate(members)
        ],
        "plans": [
            {
                "id": plan,
                "name": "Carnet",
                "kind": "carnet",
                "half_days": 10,
                "allow_overdraft": False,
                "hours_start": None,
                "hours_end": None,
                "weekdays": None,
                "price_cents": 0,
            }
        ],
        "subscriptions": [
            {
                "id": f"{i + 9000:032x}",
                "member_id": m,
                "plan_id": plan,
                "valid_from": None,
                "valid_until": None,
                "balance": 10,
            }
            for i, m in enumerate(members)
        ],
    }


@pytest.fixture
def ledger(door_db: Database) -> Database:
    return door_db


def writes(db: Database) -> list[str]:
    """The INSERT, UPDATE and DELETE statements that change rows, recorded while the list is alive."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement.split("(", 1)[0].strip())

    event.listen(db.engine, "before_cursor_execute", record)
    return seen


def test_a_roster_is_applied_whole_and_only_its_changes_are_written(ledger: Database) -> None:
    first = roster(1)
    outbox.apply_roster(ledger, first, "door-1")
    second = copy.deepcopy(first)
    second["version"] = 2
    revoked, reissued = second["credentials"][7], second["credentials"][9]
    revoked["status"] = "revoked"
    # The same UID under another id (given again at the hub): one row per UID, the hub's id.
    reissued["id"] = "f" * 32
    topped = second["subscriptions"][5]
    topped["balance"] = 4
    second["plans"][0]["weekdays"] = "12345"
    gone = second["members"].pop(3)
    second["credentials"].pop(3)
    second["subscriptions"].pop(3)
    recorded = writes(ledger)
    outbox.apply_roster(ledger, second, "door-1")
    with ledger.read() as s:
        assert s.scalar(select(Credential.status).where(Credential.value == revoked["value"])) == "revoked"
        assert s.get(Member, gone["id"]) is None
        assert len(s.scalars(select(Member.id)).all()) == MEMBERS - 1
        assert s.get(Balance, topped["id"]).amount == 4  # type: ignore[union-attr]
        assert s.scalar(select(Plan.weekdays)) == "12345"
        assert s.scalar(select(Credential.id).where(Credential.value == reissued["value"])) == "f" * 32
        assert len(s.scalars(select(Subscription.id)).all()) == MEMBERS - 1
    # A handful of statements, not one per row of the roster.
    assert len(recorded) < 30, recorded
    recorded.clear()
    third = copy.deepcopy(second)
    third["version"] = 3
    outbox.apply_roster(ledger, third, "door-1")
    roster_tables = ("members", "plans", "subscriptions", "balances", "credentials")
    assert not [w for w in recorded if w.startswith(("INSERT", "UPDATE")) and any(t in w for t in roster_tables)], (
        recorded
    )
