"""report speed: the funders' report's counts, kept with the uses (report_tallies, report_presences)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 22:00:00.000000

The report read every use of its period joined to its subscription and booking: seconds for a network's year
(bench.report). From now on the hub counts each use once, when it stores it (sync/hub/report_counts.py). Here the
uses already stored are counted, with the same definitions (common/report_query.py) over this revision's tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from common.report_query import UseColumns, facts, presence, tally

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_tallies",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=63), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "month", "weekday", "slot", "kind", "device_id"),
    )
    op.create_table(
        "report_presences",
        sa.Column("site_id", sa.String(length=63), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("who", sa.String(length=16), nullable=False),
        sa.Column("person", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "month", "who", "person", "device_id"),
    )
    count_stored_uses()


def count_stored_uses() -> None:
    """The counts of every use stored so far, as the hub's ingestion would have made them."""
    names = ("site_id", "device_id", "slot", "holder_id", "pass_id", "resource_id", "resource_kind", "subscription_id")
    uses = sa.table("uses", sa.column("local_date", sa.Date()), *(sa.column(name) for name in names))
    subscriptions = sa.table("subscriptions", sa.column("id"), sa.column("member_id"))
    bookings = sa.table("hub_bookings", sa.column("id"), sa.column("holder_id"), sa.column("group_id"))
    made = facts(
        UseColumns(
            uses.c.site_id,
            uses.c.local_date,
            uses.c.slot,
            uses.c.holder_id,
            uses.c.pass_id,
            uses.c.resource_id,
            uses.c.resource_kind,
            subscriptions.c.member_id,
            bookings.c.holder_id,
            bookings.c.group_id,
            join_booking=lambda q: q.outerjoin(bookings, bookings.c.id == uses.c.holder_id),
            join_subscription=lambda q: q.outerjoin(subscriptions, subscriptions.c.id == uses.c.subscription_id),
            device_id=uses.c.device_id,
        )
    ).subquery("facts")
    tallies = sa.table("report_tallies", *(sa.column(n) for n in TALLY_KEYS), sa.column("uses"))
    presences = sa.table("report_presences", *(sa.column(n) for n in PRESENCE_KEYS))
    op.execute(tallies.insert().from_select([*TALLY_KEYS, "uses"], tally(made, "device_id")))
    op.execute(presences.insert().from_select(list(PRESENCE_KEYS), presence(made, "device_id")))


TALLY_KEYS = ("site_id", "month", "weekday", "slot", "kind", "device_id")
PRESENCE_KEYS = ("site_id", "month", "who", "person", "device_id")


def downgrade() -> None:
    op.drop_table("report_presences")
    op.drop_table("report_tallies")
