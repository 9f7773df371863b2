"""Wait sampling: wait events of active sessions attributed to named queries (issue 15) — the wait_samples
table (per minute x named query x wait event: sessions seen and estimated seconds), daily partitions under
the partition_policies retention (docs/dashboard-engineering.md, Waits).

Revision ID: 0013
Revises: 0012
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0013_wait_samples.up.sql")


def downgrade() -> None:
    run_sql_file("0013_wait_samples.down.sql")
