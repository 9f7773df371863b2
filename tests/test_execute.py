"""execute(), the one function every statement goes through: a statement timeout is QueryTimeout on every
path and never outlives its statement, a lost connection is DatabaseUnavailable, a hand cancel is a plain
QueryError, SQL built in code runs under a name, timings reach the recorder."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from venuepulse import commands
from venuepulse.errors import DatabaseUnavailable, QueryError, QueryTimeout, UpgradeRefused
from venuepulse.queries.core.execute import execute, sql_statement
from venuepulse.queries.core.registry import parse, registry
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import seeding
from venuepulse.queries.ops.job_runs import run_on

ADHOC = """
-- name: t.slow --
-- timeout: 200ms
SELECT pg_sleep(30)

-- name: t.sleep --
-- kind: maintenance
SELECT pg_sleep(30)

-- name: t.timeout --
-- timeout: 1234ms
SELECT current_setting('statement_timeout') AS t

-- name: t.pid --
SELECT pg_backend_pid() AS pid
"""


@pytest.fixture(autouse=True)
def adhoc(monkeypatch):
    for name, q in parse(ADHOC, "test").items():
        monkeypatch.setitem(registry(), name, q)


def _setting(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT current_setting('statement_timeout')").fetchone()[0]


def test_a_statement_timeout_in_the_pooled_runner_is_query_timeout(db_url):
    with Database(db_url, record=False) as db:
        with pytest.raises(QueryTimeout) as info:
            db.run("t.slow")
        assert db.scalar("health.ping") == 1
    err = info.value
    assert isinstance(err, QueryError) and err.operation == "t.slow" and err.timeout_ms == 200
    assert str(err) == "t.slow took longer than its statement timeout and was cancelled"
    assert isinstance(err.__cause__, psycopg.errors.QueryCanceled)


@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transaction"])
def test_a_statement_timeout_on_a_callers_connection_is_query_timeout_and_the_callers_timeout_comes_back(
        db_url, autocommit):
    with psycopg.connect(db_url, autocommit=autocommit) as conn:
        conn.execute("SET statement_timeout = '7s'")
        conn.commit()
        with pytest.raises(QueryTimeout) as info:
            run_on(conn, "t.slow")
        conn.rollback()
        assert isinstance(info.value.__cause__, psycopg.errors.QueryCanceled)
        assert run_on(conn, "t.timeout") == [{"t": "1234ms"}]  # the query's own, while it runs
        assert _setting(conn) == "7s"


def test_inside_a_transaction_the_query_timeout_ends_with_its_statement(db_url):
    with psycopg.connect(db_url) as conn, conn.transaction():
        conn.execute("SET LOCAL statement_timeout = '7s'")
        assert seeding.run(conn, "t.timeout") == [{"t": "1234ms"}]
        assert _setting(conn) == "7s"  # the COPYs that follow a seeding step keep the caller's timeout


def test_a_lost_pooled_connection_is_database_unavailable(db_url, conn):
    with Database(db_url, record=False, min_size=1, max_size=1) as db:
        pid = db.scalar("t.pid")
        assert conn.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()[0]
        with pytest.raises(DatabaseUnavailable, match="lost the connection") as info:
            db.run("health.ping")
    assert isinstance(info.value.__cause__, psycopg.OperationalError)


def test_a_lost_connection_of_the_caller_is_database_unavailable_naming_the_query(db_url, conn):
    with psycopg.connect(db_url, autocommit=True) as mine:
        assert conn.execute("SELECT pg_terminate_backend(%s, 10000)", (mine.info.backend_pid,)).fetchone()[0]
        with pytest.raises(DatabaseUnavailable, match="health.ping") as info:
            run_on(mine, "health.ping")
    assert isinstance(info.value.__cause__, psycopg.OperationalError)


def test_a_statement_cancelled_by_hand_is_a_query_error_not_a_timeout(db_url):
    with psycopg.connect(db_url, autocommit=True) as mine:
        pid = mine.info.backend_pid

        def cancel_once_it_sleeps() -> None:
            with psycopg.connect(db_url, autocommit=True) as other:
                for _ in range(3000):
                    if other.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = %s "
                                     "AND state = 'active' AND query LIKE 'SELECT pg_sleep%%'", (pid,)).fetchone():
                        return
                    time.sleep(0.01)

        canceller = threading.Thread(target=cancel_once_it_sleeps)
        canceller.start()
        try:
            with pytest.raises(QueryError) as info:
                run_on(mine, "t.sleep")
        finally:
            canceller.join()
    assert not isinstance(info.value, QueryTimeout)
    assert "user request" in str(info.value) and info.value.operation == "t.sleep"


def test_sql_built_in_code_runs_under_its_name_with_percent_signs_as_written(conn):
    [row] = execute(conn, sql_statement("t.literal", "SELECT '100%' AS p, current_query() AS q"))
    assert row["p"] == "100%" and row["q"].endswith("/*query_name='t.literal'*/")
    with pytest.raises(QueryError, match=r"^t\.broken failed: relation \"no_such_table\" does not exist"):
        execute(conn, sql_statement("t.broken", "SELECT * FROM no_such_table"))


def test_sql_built_in_code_needs_a_name_the_tag_can_carry():
    with pytest.raises(ValueError, match="subject.name"):
        sql_statement("EXPLAIN x", "SELECT 1")


def test_the_recorder_gets_each_statements_name_rows_and_none_for_a_failure(conn):
    seen = []
    execute(conn, "health.ping", record=lambda *timing: seen.append(timing))
    with pytest.raises(QueryError):
        execute(conn, sql_statement("t.zero", "SELECT 1/0"), record=lambda *timing: seen.append(timing))
    assert [(name, rows) for name, _, rows in seen] == [("health.ping", 1), ("t.zero", None)]
    assert all(ms >= 0 for _, ms, _ in seen)


def test_a_failed_transaction_rolls_back_to_its_savepoint_through_execute(db_url):
    # the legacy upgrade's retries: nothing but the rollback may run in a failed transaction
    with psycopg.connect(db_url) as conn:
        execute(conn, sql_statement("t.savepoint", "SAVEPOINT s"))
        with pytest.raises(QueryError):
            execute(conn, sql_statement("t.zero", "SELECT 1/0"))
        execute(conn, sql_statement("t.rollback", "ROLLBACK TO SAVEPOINT s"))
        assert execute(conn, "health.ping") == [{"ok": 1}]


def test_an_upgrade_refusal_reaches_the_terminal_as_one_line(monkeypatch, capsys):
    from venuepulse.queries.schema import legacy

    def refuse(*args, **kwargs):
        raise UpgradeRefused("phase 3 has not dropped the old tables yet")

    monkeypatch.setattr(legacy, "upgrade", refuse)
    rc = commands.main(["migrate", "upgrade-legacy", "--database-url", "postgresql://nobody@/nodb"])
    assert rc == 2
    assert capsys.readouterr().err == "venuepulse: phase 3 has not dropped the old tables yet\n"
