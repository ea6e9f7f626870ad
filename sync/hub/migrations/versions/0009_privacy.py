"""privacy: when a member was erased on request, and up to where each door's events have been scrubbed

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 20:40:00.000000

No member is erased and nothing is scrubbed yet: retention starts from each door's first event.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("device_cursors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scrubbed_seq", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("device_cursors", schema=None) as batch_op:
        batch_op.alter_column("scrubbed_seq", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("device_cursors", schema=None) as batch_op:
        batch_op.drop_column("scrubbed_seq")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
