"""Phase 1, non-breaking: computed columns with batched backfill, venue_stats, counter triggers, monitoring tables.

Revision ID: L1
Revises: L0
"""

from venuepulse.queries.schema.upgrade.phases import downgrade_phase, upgrade_phase

revision = "L1"
down_revision = "L0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_phase(1)


def downgrade() -> None:
    downgrade_phase(1)
