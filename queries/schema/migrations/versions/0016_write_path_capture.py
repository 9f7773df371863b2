"""One statement-level trigger per source table feeds the write path and the rollups' capture (issue 14).

Revision ID: 0016
Revises: 0015
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0016_write_path_capture.up.sql")


def downgrade() -> None:
    run_sql_file("0016_write_path_capture.down.sql")
