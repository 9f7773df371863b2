"""Alembic environment, driven programmatically by queries.migrate (no alembic.ini needed).

The database URL comes from ``config.attributes['url']`` (preferred: never interpolated) or the
``sqlalchemy.url`` main option. An existing connection may be passed as ``config.attributes['connection']``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from venuepulse.config import sqlalchemy_url

config = context.config


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the Alembic environment")
    return sqlalchemy_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
