"""bookings: the rooms and offices of each site, their booked half-days, and the bookings asked for at the hub

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 18:40:00.000000

Uses of before stay open-space uses: their new resource columns are null.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("uses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resource_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("resource_kind", sa.String(length=16), nullable=True))
    op.create_table(
        "hub_resources",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("price_halfday_cents", sa.Integer(), nullable=False),
        sa.Column("price_day_cents", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("device_id", sa.String(length=63), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "id"),
    )
    op.create_table(
        "hub_bookings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("resource_id", sa.String(length=32), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("paid_by", sa.String(length=16), nullable=False),
        sa.Column("sale_id", sa.String(length=32), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hub_bookings_group_id", "hub_bookings", ["group_id"])
    op.create_index("ix_hub_bookings_site_date", "hub_bookings", ["site_id", "local_date"])
    op.create_table(
        "booking_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("device_id", sa.String(length=63), nullable=False),
        sa.Column("resource_id", sa.String(length=32), nullable=False),
        sa.Column("half_days", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("paid_by", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("group_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_booking_requests_site", "booking_requests", ["site_id", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_booking_requests_site", table_name="booking_requests")
    op.drop_table("booking_requests")
    op.drop_index("ix_hub_bookings_site_date", table_name="hub_bookings")
    op.drop_index("ix_hub_bookings_group_id", table_name="hub_bookings")
    op.drop_table("hub_bookings")
    op.drop_table("hub_resources")
    with op.batch_alter_table("uses", schema=None) as batch_op:
        batch_op.drop_column("resource_kind")
        batch_op.drop_column("resource_id")
