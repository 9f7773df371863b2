"""Phase 2, new tables: notification_settings, notifications, event_stream, venue_interactions, user_privacy,
backfilled in batches, with the old tables mirrored into them by triggers (the parallel run).

Revision ID: L2
Revises: L1
"""

from venuepulse.queries.schema.upgrade.phases import downgrade_phase, upgrade_phase

revision = "L2"
down_revision = "L1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_phase(2)


def downgrade() -> None:
    downgrade_phase(2)
