"""report: the uses of one site over a period are read through an index on (site, date)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 21:00:00.000000

A site's monthly funders' report reads that site's months only; with the date index alone it read every site's
uses of the trend's twelve months (bench.report). An index only: no data changes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_uses_site_date", "uses", ["site_id", "local_date"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_uses_site_date", table_name="uses")
