"""Alembic, programmatically: upgrade, downgrade, move to any revision, inspect."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from venuepulse.errors import ConfigError, QueryError
from venuepulse.queries.core.connect import connect

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    if url:
        cfg.attributes["url"] = url
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def heads() -> list[str]:
    return list(_script().get_heads())


def current(url: str) -> str | None:
    """The revision the database at ``url`` is on, or None when it has never been migrated."""
    with connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version LIMIT 1").fetchone()
        return row[0] if row else None


def upgrade(url: str, to: str = "heads") -> None:
    connect(url).close()  # a readable DatabaseUnavailable before Alembic gets involved
    # "heads" equals "head" on a linear history and stays valid while feature branches are merged
    command.upgrade(alembic_config(url), "heads" if to == "head" else to)


def downgrade(url: str, to: str) -> None:
    connect(url).close()
    command.downgrade(alembic_config(url), to)


def _resolve(rev: str) -> str | None:
    from alembic.util import CommandError

    script = _script()
    if rev == "base":
        return None
    if rev == "head":
        return script.get_current_head()
    try:
        found = script.get_revision(rev)
    except CommandError:
        found = None
    if found is None:
        known = ", ".join(["base", "head", *[s.revision for s in script.walk_revisions()]])
        raise ConfigError(f"unknown migration revision {rev!r}; known: {known}.")
    return found.revision


def migrate(url: str, to: str = "head") -> tuple[str | None, str | None]:
    """Move the database to revision ``to`` (``head``, ``base`` or an id), up or down as needed.

    Returns ``(from_revision, to_revision)``; running it again is a no-op.
    """
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError

    before = current(url)
    target = _resolve(to)
    if target == before:
        return before, before
    try:
        if target is None:
            downgrade(url, "base")
        elif before is not None and target in {
            r.revision for r in _script().iterate_revisions(before, "base")
        }:
            downgrade(url, target)
        else:
            upgrade(url, target)
    except (DBAPIError, psycopg.Error) as exc:  # the SQL files run on the raw driver connection
        orig = getattr(exc, "orig", None) or exc
        error = QueryError(f"migrate {before or 'base'} -> {to}", orig)
        if isinstance(orig, psycopg.errors.InsufficientPrivilege):
            raise ConfigError(f"{error}: the database role lacks a privilege ('venuepulse db status' lists what "
                              "it can and cannot do; docs/managed-postgresql.md gives the grants)") from exc
        raise error from exc
    except (CommandError, FileNotFoundError) as exc:
        raise ConfigError(f"migration {before or 'base'} -> {to} failed: {exc}") from exc
    return before, current(url)
