"""The Query performance page's per-query table and hourly trend from daily and hourly rollups plus the raw tail (issue 13).

Revision ID: 0018
Revises: 0017
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0018_query_perf_flat.up.sql")


def downgrade() -> None:
    run_sql_file("0018_query_perf_flat.down.sql")
