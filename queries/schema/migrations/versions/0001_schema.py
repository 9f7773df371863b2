"""Schema: the review's tables, views, functions and triggers, corrected (see DESIGN.md).

Revision ID: 0001
Revises:
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0001_schema.up.sql")


def downgrade() -> None:
    run_sql_file("0001_schema.down.sql")
