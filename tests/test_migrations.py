"""Alembic migrations: programmatic API and `venuepulse migrate` (schema content is tested elsewhere)."""

from __future__ import annotations

import psycopg

from venuepulse.queries.schema.migrate import current, heads, migrate

HEAD = heads()[-1]

USER_TABLES = "select count(*) from pg_tables where schemaname = 'public' and tablename <> 'alembic_version'"


def count_tables(url: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute(USER_TABLES).fetchone()[0]


def test_history_is_one_line_from_the_schema_revision():
    from venuepulse.queries.schema.migrate import _script

    assert len(heads()) == 1
    chain = [r.revision for r in _script().walk_revisions()]
    assert chain[-1] == "0001" and chain[0] == HEAD


def test_template_copies_are_at_head(db_url):
    assert current(db_url) == HEAD
    assert count_tables(db_url) > 0


def test_migrate_api_goes_to_base_and_back(empty_db_url):
    assert current(empty_db_url) is None
    assert migrate(empty_db_url) == (None, HEAD)
    assert migrate(empty_db_url) == (HEAD, HEAD)
    assert migrate(empty_db_url, "base") == (HEAD, None)
    assert count_tables(empty_db_url) == 0
    assert migrate(empty_db_url, "head") == (None, HEAD)
    assert count_tables(empty_db_url) > 0


def test_cli_migrate_twice_succeeds_and_second_run_is_a_no_op(run_cli, empty_db_url):
    env = {"VENUEPULSE_DATABASE_URL": empty_db_url}
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert f"base -> {HEAD}" in first.stdout
    second = run_cli("migrate", env=env)
    assert second.returncode == 0, second.stderr
    assert f"already at {HEAD}" in second.stdout


def test_cli_migrate_to_base_then_head(run_cli, empty_db_url):
    env = {"VENUEPULSE_DATABASE_URL": empty_db_url}
    assert run_cli("migrate", env=env).returncode == 0
    down = run_cli("migrate", "--to", "base", env=env)
    assert down.returncode == 0, down.stderr
    assert f"{HEAD} -> base" in down.stdout
    assert count_tables(empty_db_url) == 0
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("select count(*) from alembic_version").fetchone()[0] == 0
    up = run_cli("migrate", "--to", "head", env=env)
    assert up.returncode == 0, up.stderr
    assert count_tables(empty_db_url) > 0


def test_unknown_revision_is_a_one_line_error(run_cli, empty_db_url):
    res = run_cli("migrate", "--to", "9999", env={"VENUEPULSE_DATABASE_URL": empty_db_url})
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "unknown migration revision '9999'" in res.stderr
