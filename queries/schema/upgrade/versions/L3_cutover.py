"""Phase 3, deprecation: verify old against new (refuses on any difference), then drop the old tables.

Revision ID: L3
Revises: L2
"""

from venuepulse.queries.schema.upgrade.phases import downgrade_phase, upgrade_phase

revision = "L3"
down_revision = "L2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_phase(3)


def downgrade() -> None:
    downgrade_phase(3)
