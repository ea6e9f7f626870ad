"""membership through the year: staff, language and statements of members, guest half-days of plans, badge
history, passes over several days, closures, guests, the e-mail notices queue, members' own sales

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("language", sa.String(length=2), nullable=False, server_default="fr"))
        batch_op.add_column(sa.Column("monthly_statement", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guest_half_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.alter_column("buyer_email", existing_type=sa.String(length=254), nullable=True)
        batch_op.add_column(sa.Column("member_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("subscription_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_sales_member_id"), ["member_id"], unique=False)
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("until_slots", sa.String(length=32), nullable=True))
    op.create_table(
        "badge_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=120), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("badge_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_badge_history_value"), ["value"], unique=False)
        batch_op.create_index(batch_op.f("ix_badge_history_member_id"), ["member_id"], unique=False)
    op.create_table(
        "closures",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("date"),
    )
    op.create_table(
        "guests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("valid_date", sa.Date(), nullable=False),
        sa.Column("charge", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("guests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_guests_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_guests_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_guests_valid_date"), ["valid_date"], unique=False)
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=20000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=400), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_next_attempt_at"), ["next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    op.drop_table("notices")
    op.drop_table("guests")
    op.drop_table("closures")
    op.drop_table("badge_history")
    with op.batch_alter_table("passes", schema=None) as batch_op:
        batch_op.drop_column("until_slots")
        batch_op.drop_column("valid_until")
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sales_member_id"))
        batch_op.drop_column("subscription_id")
        batch_op.drop_column("member_id")
        batch_op.alter_column("buyer_email", existing_type=sa.String(length=254), nullable=False)
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_column("guest_half_days")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("monthly_statement")
        batch_op.drop_column("language")
        batch_op.drop_column("staff")
