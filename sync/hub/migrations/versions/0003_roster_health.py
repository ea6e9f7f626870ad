"""roster health: the roster each door holds and the last it refused, and the rows left out of every roster

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 13:27:55.195618
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
        "roster_problems",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("problem", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roster_issued_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("roster_failed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("roster_failure", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("roster_failure")
        batch_op.drop_column("roster_failed_at")
        batch_op.drop_column("roster_issued_at")

    op.drop_table("roster_problems")
