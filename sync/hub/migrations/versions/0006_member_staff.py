"""member staff: the network's members who open their sites' doors on closed days, carried in rosters

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 17:25:00.000000

Every member stays as they were, not staff, until a manager says otherwise.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.alter_column("staff", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("staff")
