"""The upgrade path's own SQL files (``queries/upgrade/sql``)."""

from __future__ import annotations

from importlib import resources


def read_sql_file(name: str) -> str:
    ref = resources.files("venuepulse.queries.schema.upgrade").joinpath("sql", name)
    if not ref.is_file():
        raise FileNotFoundError(f"upgrade SQL file sql/{name} is missing from the queries.upgrade package")
    return ref.read_text(encoding="utf-8")
