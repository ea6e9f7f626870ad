"""books: every sale a line of the books with its receipt number (a series per device, a counter row per series),
what it is, what was bought in words, the tender it was paid by, and the sale a credit note cancels

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "receipt_counters",
        sa.Column("series", sa.String(length=24), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series"),
    )
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.add_column(sa.Column("book_kind", sa.String(length=16), nullable=False, server_default="pass"))
        batch_op.add_column(sa.Column("series", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("label", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("tender", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("refund_of", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint("uq_sales_receipt", ["series", "number"])
        batch_op.create_index(batch_op.f("ix_sales_refund_of"), ["refund_of"], unique=False)
    # What the sales made before the books were: a room's booking, a member's refill or renewal, else a pass.
    op.execute("UPDATE sales SET book_kind = 'booking' WHERE plan_kind = 'room'")
    op.execute("UPDATE sales SET book_kind = 'refill' WHERE member_id IS NOT NULL AND plan_kind = 'carnet'")
    op.execute("UPDATE sales SET book_kind = 'renewal' WHERE member_id IS NOT NULL AND plan_kind = 'unlimited'")


def downgrade() -> None:
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sales_refund_of"))
        batch_op.drop_constraint("uq_sales_receipt", type_="unique")
        for column in ("refund_of", "tender", "label", "number", "series", "book_kind"):
            batch_op.drop_column(column)
    op.drop_table("receipt_counters")
