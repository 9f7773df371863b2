"""Change markers (DDL and deploy annotations) and pg_stat_statements integrity (resets, evictions, gaps) (issue 15).

Revision ID: 0012
Revises: 0011
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0012_change_markers.up.sql")


def downgrade() -> None:
    run_sql_file("0012_change_markers.down.sql")
