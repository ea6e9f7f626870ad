"""rooms and offices: resources of the site, their bookings by the half-day (one per resource and slot that is not
cancelled), room half-days included in plans, and the resource a use was spent in

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("room_half_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("uses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resource_id", sa.String(length=32), nullable=True))
    op.create_table(
        "resources",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("price_halfday_cents", sa.Integer(), nullable=False),
        sa.Column("price_day_cents", sa.Integer(), nullable=False),
        sa.Column("door_device", sa.String(length=64), nullable=True),
        sa.Column("feed_secret", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=32), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        sa.Column("holder_kind", sa.String(length=8), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("code", sa.String(length=6), nullable=True),
        sa.Column("guests", sa.String(length=400), nullable=True),
        sa.Column("paid_by", sa.String(length=16), nullable=False),
        sa.Column("sale_id", sa.String(length=32), nullable=True),
        sa.Column("subscription_id", sa.String(length=32), nullable=True),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bookings_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bookings_resource_id"), ["resource_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bookings_local_date"), ["local_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_bookings_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bookings_code"), ["code"], unique=False)
        batch_op.create_index(
            "ux_bookings_resource_slot",
            ["resource_id", "local_date", "slot"],
            unique=True,
            sqlite_where=sa.text("cancelled_at IS NULL"),
            postgresql_where=sa.text("cancelled_at IS NULL"),
        )


def downgrade() -> None:
    op.drop_table("bookings")
    op.drop_table("resources")
    with op.batch_alter_table("uses", schema=None) as batch_op:
        batch_op.drop_column("resource_id")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_column("room_half_days")
