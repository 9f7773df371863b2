"""Plans over time: a fingerprint of each named query's plan shape, plan changes (issue 15).

Revision ID: 0011
Revises: 0010
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0011_plan_history.up.sql")


def downgrade() -> None:
    run_sql_file("0011_plan_history.down.sql")
