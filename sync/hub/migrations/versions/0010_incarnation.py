"""incarnation: each restored or new ledger of a device that asked the hub where its stream stands

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_incarnations",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("device_id", sa.String(length=63), nullable=False),
        sa.Column("incarnation", sa.String(length=32), nullable=False),
        sa.Column("base_seq", sa.BigInteger(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("sent_to", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "device_id", "incarnation"),
    )


def downgrade() -> None:
    op.drop_table("device_incarnations")
