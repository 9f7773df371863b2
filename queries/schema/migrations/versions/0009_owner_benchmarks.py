"""Owner pages: venues.timezone (the venue's local time for "when it works"), and vp_offer_benchmarks(offers),
how an owner's offers compare with similar offers of at least 5 other venues, as aggregates only (issue 17;
docs/dashboard-engagement-offers.md).

Revision ID: 0009
Revises: 0008
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0009_owner_benchmarks.up.sql")


def downgrade() -> None:
    run_sql_file("0009_owner_benchmarks.down.sql")
