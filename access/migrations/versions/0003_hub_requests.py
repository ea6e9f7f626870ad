"""hub requests: a networked site's change requests to the hub, kept until answered

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hub_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("roster_version", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hub_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hub_requests_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hub_requests_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_hub_requests_answered_at"), ["answered_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hub_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_requests_answered_at"))
        batch_op.drop_index(batch_op.f("ix_hub_requests_created_at"))
        batch_op.drop_index(batch_op.f("ix_hub_requests_member_id"))
    op.drop_table("hub_requests")
