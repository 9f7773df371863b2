"""Database health: grant pg_monitor to the dashboard's venuepulse_reader where the migrating role may (never
failing where it may not), and SELECT on the sequences, so the page sees how far they have gone (issue 15;
docs/dashboard-engineering.md).

Revision ID: 0010
Revises: 0009
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0010_database_health.up.sql")


def downgrade() -> None:
    run_sql_file("0010_database_health.down.sql")
