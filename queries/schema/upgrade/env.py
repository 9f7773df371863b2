"""Alembic environment of the legacy upgrade path (L0 legacy baseline -> L1 ... L4 = revision 0001).

Separate from ``queries/schema/migrations`` (the main history, which creates the target schema from scratch):
its own revisions and its own version table, ``venuepulse_upgrade_version``.  Driven programmatically
by :mod:`queries.schema.legacy`; the URL comes from ``config.attributes['url']``.  Each revision runs in its
own transaction; phases that backfill commit their DDL first and copy in separately committed batches.
"""

from venuepulse.queries.schema.alembic_env import run

VERSION_TABLE = "venuepulse_upgrade_version"

run("upgrade environment", version_table=VERSION_TABLE)
