"""Offer funnel: the ordered per-user funnel as one SQL function, read by the Offers page's queries.

Revision ID: 0005
Revises: 0004
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0005_offer_funnel.up.sql")


def downgrade() -> None:
    run_sql_file("0005_offer_funnel.down.sql")
