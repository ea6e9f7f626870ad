"""plans: the weekdays a plan admits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: the plans a site already has keep admitting every day, as they did before.
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weekdays", sa.String(length=7), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_column("weekdays")
