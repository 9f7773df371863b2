"""Running named queries: results, timeouts, readable errors, venue scope, the name tag, EXPLAIN."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from venuepulse.errors import DatabaseUnavailable, QueryError, QueryTimeout
from venuepulse.queries.core.registry import parse, registry
from venuepulse.queries.core.runner import Database


@pytest.fixture
def db(db_url):
    with Database(db_url, record=False) as d:
        yield d


@pytest.fixture
def extra(monkeypatch):
    """Register ad-hoc named queries for one test."""
    def add(text: str) -> None:
        for name, q in parse(text, "test").items():
            monkeypatch.setitem(registry(), name, q)
    return add


def test_run_one_and_scalar(db):
    assert db.run("health.ping") == [{"ok": 1}]
    assert db.one("health.ping") == {"ok": 1}
    assert db.scalar("health.ping") == 1


def test_a_slow_query_is_cancelled_by_its_timeout_with_a_readable_error(db, extra):
    extra("-- name: t.slow --\n-- timeout: 200ms\nSELECT pg_sleep(30)")
    with pytest.raises(QueryError) as info:
        db.run("t.slow")
    err = info.value
    assert isinstance(err, QueryTimeout) and err.operation == "t.slow"
    assert "t.slow" in str(err) and "timeout" in str(err)
    assert isinstance(err.__cause__, psycopg.errors.QueryCanceled)
    assert db.scalar("health.ping") == 1  # the connection is usable again


def test_driver_errors_become_query_error_naming_the_operation_with_the_contract_reason(db, extra, conn):
    extra("-- name: t.check_in --\n-- kind: write\nSELECT check_in(%(u)s::uuid, %(v)s::uuid)")
    with pytest.raises(QueryError) as info:
        db.run("t.check_in", {"u": uuid.uuid4(), "v": uuid.uuid4()})
    assert info.value.reason == "unknown_venue"
    assert str(info.value).startswith("t.check_in failed: unknown_venue")
    assert not isinstance(info.value, QueryTimeout)
    assert isinstance(info.value.__cause__, psycopg.Error)


def test_a_missing_parameter_is_an_error_naming_it(db, extra):
    extra("-- name: t.param --\nSELECT %(x)s::int AS x")
    with pytest.raises(QueryError, match="x"):
        db.run("t.param", {})


def test_unknown_query_names_are_refused_by_name(db):
    with pytest.raises(KeyError, match="no.such"):
        db.run("no.such")


def test_every_statement_carries_its_name_as_a_comment(db, extra):
    extra("-- name: t.self --\nSELECT current_query() AS q")
    assert db.scalar("t.self").endswith("/*query_name='t.self'*/")


def test_the_timeout_is_set_for_the_query_only(db, extra):
    extra("-- name: t.timeout --\n-- timeout: 1234ms\nSELECT current_setting('statement_timeout') AS t")
    assert db.scalar("t.timeout") == "1234ms"
    with db.connection() as conn:
        assert conn.execute("SELECT current_setting('statement_timeout')").fetchone()[0] == "0"


def test_venue_scope_is_set_for_the_transaction(db, extra):
    extra("-- name: t.scope --\nSELECT current_setting('venuepulse.venue_ids', true) AS ids")
    a, b = uuid.uuid4(), uuid.uuid4()
    assert db.scalar("t.scope", venue_scope=[a, str(b)]) == f"{a},{b}"
    assert db.scalar("t.scope") in (None, "")
    with pytest.raises(ValueError, match="not a venue id"):
        db.run("t.scope", venue_scope=["venue-1"])


def test_an_unreachable_server_is_database_unavailable(tmp_path):
    with Database(f"postgresql://nobody@/nodb?host={tmp_path}", record=False) as db:
        with pytest.raises(DatabaseUnavailable):
            with db.connection(timeout=1):
                pass


def test_explain_without_parameters_gives_the_generic_plan(db):
    plan = db.explain("venues.with_details")
    assert "venues" in plan and "reviews" in plan


def test_explain_with_parameters_plans_those_values(db):
    plan = db.explain("venues.featured", {"limit": 3})
    assert plan.startswith("Limit")


def test_explain_analyze_runs_writes_in_a_rolled_back_transaction(db, extra, conn):
    extra("-- name: t.insert --\n-- kind: write\n"
          "INSERT INTO job_runs (job_name, status) VALUES (%(job)s, 'succeeded')")
    plan = db.explain("t.insert", {"job": "explained"}, analyze=True)
    assert "actual time" in plan
    assert conn.execute("SELECT count(*) FROM job_runs WHERE job_name = 'explained'").fetchone()[0] == 0


def test_explain_analyze_needs_the_parameter_values(db):
    with pytest.raises(ValueError, match="limit"):
        db.explain("venues.featured", analyze=True)


def test_the_postgresql_15_route_prepares_and_explains_the_forced_generic_plan(db):
    from venuepulse.queries.core.registry import get

    with db.connection() as conn, conn.cursor() as cur:
        lines = Database._explain_prepared(conn, cur, get("feed.activity"))
        again = Database._explain_prepared(conn, cur, get("feed.activity"))  # deallocated: repeatable
    assert lines == again and any("friendships" in line for line in lines)


def test_a_missing_database_is_named_without_the_servers_severity_word(pg_server_url):
    from urllib.parse import urlsplit, urlunsplit

    from venuepulse.queries.core.connect import connect

    missing = urlunsplit(urlsplit(pg_server_url)._replace(path="/vp_no_such_database"))
    with pytest.raises(DatabaseUnavailable) as err:
        connect(missing)
    assert 'database "vp_no_such_database" does not exist' in str(err.value)
    assert "FATAL" not in str(err.value) and "fATAL" not in str(err.value)
