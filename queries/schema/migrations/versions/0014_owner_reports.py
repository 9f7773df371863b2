"""Owners' weekly report (issue 17): subscriptions (venuepulse_auth.report_subscriptions, changed only through
the sign-in role's SECURITY DEFINER functions) and one owner_reports row per owner and week (docs/dashboard-engagement-offers.md).

Revision ID: 0014
Revises: 0013
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0014_owner_reports.up.sql")


def downgrade() -> None:
    run_sql_file("0014_owner_reports.down.sql")
