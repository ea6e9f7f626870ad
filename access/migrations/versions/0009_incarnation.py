"""incarnation: each life of the ledger (made, restored) resumes the device's stream above the hub's cursor

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 20:40:00.000000
"""

import datetime as dt
from collections.abc import Sequence
from uuid import uuid4

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incarnations",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("base_seq", sa.BigInteger(), nullable=False),
        sa.Column("hub_seq", sa.BigInteger(), nullable=True),
        sa.Column("filled_seq", sa.BigInteger(), nullable=True),
        sa.Column("resumed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("id"),
    )
    # Every ledger begins its first life resumed: it holds its device's stream as it always did. A restore (or
    # `halfday resume` on a reinstalled appliance) begins the lives that must ask the hub first.
    bind = op.get_bind()
    (events, last) = bind.execute(sa.text("SELECT count(*), max(seq) FROM events")).one()
    bind.execute(
        sa.text(
            "INSERT INTO incarnations (id, reason, started_at, base_seq, hub_seq, filled_seq, resumed_at)"
            " VALUES (:id, :reason, :at, :base, :base, :base, :at)"
        ),
        {
            "id": uuid4().hex,
            "reason": "upgraded" if events else "created",
            "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "base": last or 0,
        },
    )


def downgrade() -> None:
    op.drop_table("incarnations")
