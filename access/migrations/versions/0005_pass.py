"""pass: a walk-in's pass the manager stopped (a wrong pass sold, a pass never paid) keeps when it was stopped

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.drop_column("stopped_at")
