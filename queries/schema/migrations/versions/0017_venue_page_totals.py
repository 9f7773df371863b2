"""The Venues page's totals and default order without reading every venue (issue 13).

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
