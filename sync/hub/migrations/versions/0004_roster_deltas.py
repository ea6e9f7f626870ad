"""roster deltas: the touches the admin records, the presences and balances the keeper sent, snapshots and deltas
per site (sync/PROTOCOL.md, "Rosters")

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 14:50:22.168254

The rosters made before are snapshots: their rows are kept as such. Every site gets a snapshot at the keeper's
first pass after the upgrade (`snapshot_version` 0), with its version going on from the one its doors hold.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roster_balances",
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id"),
    )
    op.create_table(
        "roster_presence",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("sites", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id"),
    )
    op.create_table(
        "roster_touches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("plan_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("roster_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=8), nullable=False, server_default="snapshot"))
        batch_op.add_column(sa.Column("size", sa.Integer(), nullable=False, server_default="0"))
        batch_op.alter_column("payload", existing_type=sa.Text(), nullable=True)
    with op.batch_alter_table("roster_versions", schema=None) as batch_op:
        batch_op.alter_column("kind", server_default=None)
        batch_op.alter_column("size", server_default=None)

    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roster_issued_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("snapshot_version", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("snapshot_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("snapshot_asked_at", sa.DateTime(), nullable=True))
        batch_op.drop_column("roster_hash")
        batch_op.drop_column("roster_changes")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.alter_column("snapshot_version", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roster_changes", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("roster_hash", sa.String(length=64), nullable=False, server_default=""))
        batch_op.drop_column("snapshot_asked_at")
        batch_op.drop_column("snapshot_at")
        batch_op.drop_column("snapshot_version")
        batch_op.drop_column("roster_issued_at")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.alter_column("roster_changes", server_default=None)
        batch_op.alter_column("roster_hash", server_default=None)

    # The older keeper publishes the stored payload again: versions kept without one (snapshots) cannot stay.
    op.execute("DELETE FROM roster_versions WHERE payload IS NULL")
    with op.batch_alter_table("roster_versions", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("size")
        batch_op.drop_column("kind")

    op.drop_table("roster_touches")
    op.drop_table("roster_presence")
    op.drop_table("roster_balances")
