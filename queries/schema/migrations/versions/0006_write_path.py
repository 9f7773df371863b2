"""Write path: statement-level triggers with transition tables, incremental venue_interactions, sharded
venue counters (issue 14; docs/schema.md, "Triggers").

Revision ID: 0006
Revises: 0005
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0006_write_path.up.sql")


def downgrade() -> None:
    run_sql_file("0006_write_path.down.sql")
