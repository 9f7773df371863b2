"""What both Alembic environments run (migrations/env.py, the main history; upgrade/env.py, the legacy
upgrade path): Alembic drives them programmatically, so there is no alembic.ini.

The database URL comes from ``config.attributes['url']`` (preferred: never interpolated) or the
``sqlalchemy.url`` main option; an open connection may be passed as ``config.attributes['connection']``.
Each revision runs in its own transaction.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from venuepulse.config import sqlalchemy_url


def _url(what: str) -> str:
    config = context.config
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(f"no database URL given to the {what}")
    return sqlalchemy_url(url)


def run(what: str, version_table: str | None = None) -> None:
    """Run the revisions asked for, offline (SQL text) or online; ``what`` names the environment in errors."""
    options: dict[str, Any] = {"transaction_per_migration": True}
    if version_table is not None:
        options["version_table"] = version_table
    if context.is_offline_mode():
        context.configure(url=_url(what), literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def on(connection) -> None:
        context.configure(connection=connection, target_metadata=None, **options)
        with context.begin_transaction():
            context.run_migrations()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        on(connection)
        return
    engine = create_engine(_url(what), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            on(connection)
            connection.commit()
    finally:
        engine.dispose()
