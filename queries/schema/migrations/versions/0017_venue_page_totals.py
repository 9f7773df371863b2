"""The Venues page's totals and default order without reading every venue (issue 13): venue_stats_rows
carries the venue policy (row-level security) and is granted to owners, so the page can walk its
engagement-score index for a page's ids; its counts read venue_stats_score_summary (revision 0015).

Revision ID: 0017
Revises: 0016
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0017_venue_page_totals.up.sql")


def downgrade() -> None:
    run_sql_file("0017_venue_page_totals.down.sql")
