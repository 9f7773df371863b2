"""The Offers page's bounded lists (issue 13): venues by name for the venue filter's index walk (with an
EXISTS probe into flash_offers) and offers by end time for the offers straddling a period's start.

Revision ID: 0019
Revises: 0018
"""

from venuepulse.queries.schema.migrations.sqlfile import run_sql_file

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0019_offer_page.up.sql")


def downgrade() -> None:
    run_sql_file("0019_offer_page.down.sql")
