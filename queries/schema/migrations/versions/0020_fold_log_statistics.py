"""The folds analyze rollup_log first when its statistics are far from its size (issue 13).

Revision ID: 0020
Revises: 0019
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0020_fold_log_statistics.up.sql")


def downgrade() -> None:
    run_sql_file("0020_fold_log_statistics.down.sql")
