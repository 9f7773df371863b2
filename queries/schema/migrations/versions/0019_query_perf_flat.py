"""The Query performance page's summaries from the hourly rollup plus the raw tail (issue 13).

Revision ID: 0019
Revises: 0018
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0019_query_perf_flat.up.sql")


def downgrade() -> None:
    run_sql_file("0019_query_perf_flat.down.sql")
