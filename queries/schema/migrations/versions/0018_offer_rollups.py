"""The Offers page's funnel, conversion and when-it-works from rollups whose size follows the period, not the offers (issue 13).

Revision ID: 0018
Revises: 0017
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0018_offer_rollups.up.sql")


def downgrade() -> None:
    run_sql_file("0018_offer_rollups.down.sql")
