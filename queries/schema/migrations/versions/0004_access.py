"""Access control: dashboard accounts, read-only roles, row-level security for venue owners.

Revision ID: 0004
Revises: 0003
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0004_access.up.sql")


def downgrade() -> None:
    run_sql_file("0004_access.down.sql")
