"""Run the hand-written SQL files in ``queries/migrations/sql`` from Alembic revisions."""

from __future__ import annotations

from importlib import resources

SQL_PACKAGE = "venuepulse.queries.schema.migrations"
SQL_DIR = "sql"


def read_sql_file(name: str) -> str:
    ref = resources.files(SQL_PACKAGE).joinpath(SQL_DIR, name)
    if not ref.is_file():
        raise FileNotFoundError(f"migration SQL file {SQL_DIR}/{name} is missing from the queries.migrations package")
    return ref.read_text(encoding="utf-8")


def run_sql_file(name: str) -> None:
    """Execute a (multi-statement, $$-quoted plpgsql allowed) SQL file inside the current migration.

    Runs on the migration's own psycopg connection (same transaction) with no parameters, so psycopg
    sends the text as is: multiple statements allowed, and no ':name' or '%' placeholder parsing
    (``exec_driver_sql`` would treat a '%' in a comment or a format() call as a placeholder).
    In offline mode (``alembic upgrade --sql``) the file is emitted verbatim.
    """
    from alembic import op

    text = read_sql_file(name)
    ctx = op.get_context()
    if ctx.as_sql:
        ctx.impl.static_output(text.rstrip() + "\n")
        return
    raw = op.get_bind().connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(text)
