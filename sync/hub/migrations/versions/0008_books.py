"""books: every sale of a site reaches the hub as a line of its books, with its receipt number (series and
number, unique per site), what it is, what was bought in words, its tender, the member who bought, and the sale a
credit note cancels; sales that are not passes have no pass, slots, name or e-mail

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 20:40:00.000000

Sales of before are walk-ins' passes: their `book_kind` is "pass", without a receipt number.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.add_column(sa.Column("book_kind", sa.String(length=16), server_default="pass", nullable=False))
        batch_op.add_column(sa.Column("series", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("label", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("tender", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("member_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("refund_of", sa.String(length=32), nullable=True))
        for column, kind in (
            ("pass_id", sa.String(length=32)),
            ("slots", sa.String(length=32)),
            ("name", sa.String(length=160)),
            ("email", sa.String(length=254)),
        ):
            batch_op.alter_column(column, existing_type=kind, nullable=True)
        batch_op.create_unique_constraint("uq_sales_receipt", ["site_id", "series", "number"])
        batch_op.create_index(batch_op.f("ix_sales_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_refund_of"), ["refund_of"], unique=False)


def downgrade() -> None:
    # Lines that are not passes have no place in the sales of before.
    op.execute("DELETE FROM sales WHERE book_kind <> 'pass' OR pass_id IS NULL")
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sales_refund_of"))
        batch_op.drop_index(batch_op.f("ix_sales_member_id"))
        batch_op.drop_constraint("uq_sales_receipt", type_="unique")
        op.execute("UPDATE sales SET name = '' WHERE name IS NULL")
        op.execute("UPDATE sales SET email = '' WHERE email IS NULL")
        for column, kind in (
            ("pass_id", sa.String(length=32)),
            ("slots", sa.String(length=32)),
            ("name", sa.String(length=160)),
            ("email", sa.String(length=254)),
        ):
            batch_op.alter_column(column, existing_type=kind, nullable=False)
        for column in ("refund_of", "member_id", "tender", "label", "number", "series", "book_kind"):
            batch_op.drop_column(column)
