"""Alembic environment and revisions for the VenuePulse schema."""
