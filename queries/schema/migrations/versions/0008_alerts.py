"""Alerts: rules, state per subject, transition history, channels (secrets in their own schema), the
notification outbox and delivery attempts (issue 16; docs/alerts.md).

Revision ID: 0008
Revises: 0007
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0008_alerts.up.sql")


def downgrade() -> None:
    run_sql_file("0008_alerts.down.sql")
