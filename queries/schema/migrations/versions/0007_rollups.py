"""Rollups: change capture into rollup_log, folds per consumer, time-bucketed rollups, incremental venue_stats.

Revision ID: 0007
Revises: 0006
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0007_rollups.up.sql")


def downgrade() -> None:
    run_sql_file("0007_rollups.down.sql")
