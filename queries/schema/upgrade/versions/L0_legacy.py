"""Legacy baseline: the app's database before the backend review (its "Current State").

Revision ID: L0
Revises:
"""

from venuepulse.queries.schema.upgrade.phases import downgrade_phase, upgrade_phase

revision = "L0"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_phase(0)


def downgrade() -> None:
    downgrade_phase(0)
