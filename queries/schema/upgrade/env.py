"""Alembic environment of the legacy upgrade path (L0 legacy baseline -> L1 ... L4 = revision 0001).

Separate from ``queries/migrations`` (the main history, which creates the target schema from scratch):
its own revisions and its own version table, ``venuepulse_upgrade_version``.  Driven programmatically
by :mod:`queries.legacy`; the URL comes from ``config.attributes['url']``.  Each revision runs in its own
transaction; phases that backfill commit their DDL first and copy in separately committed batches.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from venuepulse.config import sqlalchemy_url

VERSION_TABLE = "venuepulse_upgrade_version"

config = context.config


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the upgrade environment")
    return sqlalchemy_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, transaction_per_migration=True,
                      version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=None, transaction_per_migration=True,
                              version_table=VERSION_TABLE)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
