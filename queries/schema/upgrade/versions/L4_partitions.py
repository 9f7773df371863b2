"""Phase 4, partitioning: check_ins and event_stream copied in batches into monthly partitions, then
swapped in one short lock; the result is revision 0001 of the main history, which is stamped.

Revision ID: L4
Revises: L3
"""

from venuepulse.queries.schema.upgrade.phases import downgrade_phase, upgrade_phase

revision = "L4"
down_revision = "L3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_phase(4)


def downgrade() -> None:
    downgrade_phase(4)
