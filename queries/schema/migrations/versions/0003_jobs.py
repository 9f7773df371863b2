"""Jobs: counter drift history (what reconcile_counters found and repaired) and a guarded partition drop.

Revision ID: 0003
Revises: 0002
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0003_jobs.up.sql")


def downgrade() -> None:
    run_sql_file("0003_jobs.down.sql")
