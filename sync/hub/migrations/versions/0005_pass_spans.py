"""pass spans: a sale's pass over several days keeps its last date and that day's slots (sync/PROTOCOL.md, "sale"),
and when the site's manager stopped it ("pass_stopped")

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 17:20:00

Sales stored before are passes of one day: they keep no last date.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sales") as batch:
        batch.add_column(sa.Column("valid_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("until_slots", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("stopped_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sales") as batch:
        batch.drop_column("stopped_at")
        batch.drop_column("until_slots")
        batch.drop_column("valid_until")
