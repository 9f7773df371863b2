"""Query analytics: hourly latency histograms and pg_stat_statements snapshots (stored as deltas).

Revision ID: 0002
Revises: 0001
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_query_analytics.up.sql")


def downgrade() -> None:
    run_sql_file("0002_query_analytics.down.sql")
