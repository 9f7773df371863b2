"""Rollups that make Engagement's exact figures read flat as history grows (issue 13): notification delays
per day, category and bin (and exact delay within a bin), kept by a new consumer, 'delays'.

Revision ID: 0015
Revises: 0014
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0015_engagement_rollups.up.sql")


def downgrade() -> None:
    run_sql_file("0015_engagement_rollups.down.sql")
