"""Alembic environment of the main history, driven programmatically by queries.schema.migrate (see
queries/schema/alembic_env.py for where the URL comes from)."""

from venuepulse.queries.schema.alembic_env import run

run("Alembic environment")
