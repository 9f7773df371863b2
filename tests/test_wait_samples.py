"""Wait sampling against a real server: a blocked named UPDATE shows as blocked (Database health) and its
Lock wait is sampled under its name within two samples; untagged statements are named through their
query_id; a role without pg_read_all_stats is told what it cannot see; the Query performance page shows
time by wait type."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from tests.fixtures import pages
from tests.fixtures.waiting import wait_until
from venuepulse.errors import ConfigError, VenuePulseError
from venuepulse.queries.access.roles import url_as
from venuepulse.queries.core.execute import execute, sql_statement
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import waits
from venuepulse.queries.ops.job_runs import insert_run
from venuepulse.queries.pages import database_health as health
from venuepulse.queries.pages import query_performance as performance

BLOCKED = sql_statement("tests.blocked_update", "UPDATE venues SET name = 'Renamed' WHERE id = %(id)s", kind="write")
INTERVAL = 0.5


def _venue(conn) -> str:
    return str(conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES ('Cafe', 'cafe', 'Oslo', "
                            "59.9, 10.7) RETURNING id").fetchone()[0])


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(hours=1)


class Background:
    """A statement run through VenuePulse's execute() on a connection of its own, in a thread."""

    def __init__(self, url: str, statement, params=None, **connect):
        self.conn = psycopg.connect(url, autocommit=True, **connect)
        self.pid = self.conn.info.backend_pid
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(statement, params), daemon=True)
        self.thread.start()

    def _run(self, statement, params) -> None:
        try:
            execute(self.conn, statement, params)
        except VenuePulseError as exc:  # cancelled at the end of a test
            self.error = exc

    def stop(self, admin) -> None:
        admin.execute("SELECT pg_cancel_backend(%s)", (self.pid,))
        self.thread.join(15)
        self.conn.close()


def _sleeping(url: str, name: str, text: str = "SELECT pg_sleep(%(s)s::float8)", **connect) -> Background:
    return Background(url, sql_statement(name, text, kind="write"), {"s": 60}, **connect)


def _active(conn, pid: int) -> bool:
    return bool(conn.execute("SELECT state = 'active' AND wait_event IS NOT NULL FROM pg_stat_activity "
                             "WHERE pid = %s", (pid,)).fetchone()[0])


@pytest.fixture
def row_lock(db_url, conn):
    """One session holds a venue's row lock in an open transaction; another runs the named UPDATE of that row
    through execute() and waits on it. Yields (holder pid, waiter pid) once the waiter is blocked."""
    venue = _venue(conn)
    holder = psycopg.connect(db_url, application_name="holder")
    holder.execute("SELECT id FROM venues WHERE id = %s FOR UPDATE", (venue,))
    waiter = Background(db_url, BLOCKED, {"id": venue}, application_name="waiter")
    try:
        blocked = wait_until(lambda: conn.execute("SELECT pg_blocking_pids(%s)", (waiter.pid,)).fetchone()[0])
        assert blocked, "the named UPDATE never waited on the row lock"
        yield holder.info.backend_pid, waiter.pid
    finally:
        holder.rollback()  # the UPDATE goes through and ends
        waiter.thread.join(15)
        holder.close()
        waiter.conn.close()


def test_a_blocked_named_update_is_shown_blocked_and_its_lock_wait_sampled_within_two_samples(db, row_lock):
    holder_pid, waiter_pid = row_lock
    lock_rows = []
    for _ in range(2):  # within two samples
        got = waits.sample(db, INTERVAL)
        assert got["active"] >= 1
        lock_rows = [r for r in performance.wait_time(db, *_window(), names=["tests.blocked_update"])
                     if r["wait_event_type"] == "Lock"]
        if lock_rows:
            break
        time.sleep(INTERVAL)
    assert lock_rows, "the blocked UPDATE's Lock wait was not sampled under its name"
    assert lock_rows[0]["wait_event"] in ("transactionid", "tuple")
    assert lock_rows[0]["seconds"] == pytest.approx(lock_rows[0]["samples"] * INTERVAL)
    assert lock_rows[0]["interval_min_s"] == lock_rows[0]["interval_max_s"] == pytest.approx(INTERVAL)

    blocked = [r for r in health.blocking(db) if r["pid"] == waiter_pid]
    assert blocked, "the waiting UPDATE is not listed as blocked"
    assert blocked[0]["blocking_pids"] == [holder_pid]
    assert blocked[0]["query_name"] == "tests.blocked_update"
    assert blocked[0]["fix"] == f"SELECT pg_terminate_backend({holder_pid});"


def test_samples_add_up_in_the_minute_row_of_the_named_query_and_skip_idle_and_the_sampler(db, db_url, conn):
    idle = psycopg.connect(db_url, autocommit=True)
    sleeper = _sleeping(db_url, "tests.sleeper")
    try:
        assert wait_until(lambda: _active(conn, sleeper.pid))
        for _ in range(3):
            waits.sample(db, 2.0)
        rows = performance.wait_time(db, *_window())
    finally:
        sleeper.stop(conn)
        idle.close()
    mine = [r for r in rows if r["query_name"] == "tests.sleeper"]
    assert [(r["wait_event_type"], r["wait_event"]) for r in mine] == [("Timeout", "PgSleep")]
    assert (mine[0]["samples"], mine[0]["seconds"]) == (3, 6.0)
    assert not [r for r in rows if r["query_name"] == "waits.sample"]  # the sampler never samples itself
    # the minute bucket's row was updated in place, not appended to (at most two minutes if one turned over)
    stored = conn.execute("SELECT count(*) FROM wait_samples WHERE query_name = 'tests.sleeper'").fetchone()[0]
    assert 1 <= stored <= 2


def test_an_untagged_statement_is_named_through_its_query_id(db, db_url, conn):
    if not performance.stat_statements_status(db)["available"]:
        pytest.skip("pg_stat_statements is not available on this server: no query_id to name statements by")
    # a statement longer than track_activity_query_size: pg_stat_activity shows it without its trailing tag
    text = "SELECT pg_sleep(%(s)s::float8) /* " + "padding " * 200 + "*/"
    execute(conn, sql_statement("tests.long_sleeper", text, kind="write"), {"s": 0})
    db.run("performance.snapshot_stat_statements")  # pg_stat_statements has the tagged text: queryid -> name
    sleeper = Background(db_url, sql_statement("tests.long_sleeper", text, kind="write"), {"s": 60})
    try:
        assert wait_until(lambda: _active(conn, sleeper.pid))
        shown = conn.execute("SELECT query, query_id FROM pg_stat_activity WHERE pid = %s", (sleeper.pid,)).fetchone()
        if shown[1] is None:
            pytest.skip("compute_query_id is off on this server: statements have no query_id")
        assert "query_name=" not in shown[0]
        waits.sample(db, 1.0)
    finally:
        sleeper.stop(conn)
    stored = conn.execute("SELECT query_name, query_id FROM wait_samples WHERE query_id = %s", (shown[1],)).fetchall()
    assert stored == [("", shown[1])]
    named = [r for r in performance.wait_time(db, *_window()) if r["query_name"] == "tests.long_sleeper"]
    assert [(r["wait_event"], r["samples"]) for r in named] == [("PgSleep", 1)]


@pytest.fixture
def sampler_role(db_url, conn):
    """A login role that may write wait_samples but is not in pg_read_all_stats (a managed service's jobs role
    where pg_monitor could not be granted). Yields a Database connected as it."""
    name = f"vp_ws_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    ident = sql.Identifier(name)
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(password)))
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(conn.info.dbname), ident))
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON wait_samples TO {}").format(ident))
    try:
        with Database(url_as(db_url, name, password), record=False) as d:
            yield d
    finally:
        conn.execute(sql.SQL("REVOKE ALL ON wait_samples FROM {}").format(ident))
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(sql.Identifier(conn.info.dbname), ident))
        conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_a_sampler_without_pg_read_all_stats_counts_other_roles_sessions_as_hidden_and_says_so(
        sampler_role, db, db_url, conn):
    sleeper = _sleeping(db_url, "tests.someone_elses")  # the test's own role: another role to the sampler
    try:
        assert wait_until(lambda: _active(conn, sleeper.pid))
        outcome = waits.sample_waits(sampler_role, manual=True, env={})
    finally:
        sleeper.stop(conn)
    assert outcome.details["reads_all_stats"] is False
    assert outcome.details["hidden_max"] >= 1
    assert "lacks pg_read_all_stats" in outcome.summary
    assert not [r for r in performance.wait_time(db, *_window()) if r["query_name"] == "tests.someone_elses"]
    now = datetime.now(UTC)
    insert_run(conn, "sample_waits", status="succeeded", scheduled_at=None, started_at=now, finished_at=now,
               rows=outcome.rows, details=outcome.details)
    sampler = performance.wait_sampler(db, *_window())
    assert sampler["samples"] == 1 and sampler["hidden_max"] >= 1
    message = performance.waits_unavailable(sampler)
    assert message.startswith("Waits of other roles' sessions not available: the sampler's role vp_ws_")
    assert "pg_read_all_stats" in message and "GRANT pg_monitor TO vp_ws_" in message


def test_a_scheduled_run_ends_at_once_when_the_jobs_process_stops(db):
    stop = threading.Event()
    stop.set()
    outcome = waits.sample_waits(db, stop=stop, env={})
    assert outcome.details["samples"] == 1


@pytest.mark.parametrize(("value", "seconds"), [(None, 5.0), ("1", 1.0), ("1s", 1.0), ("500ms", 0.5), ("2.5", 2.5)])
def test_the_sampling_interval_comes_from_its_setting(value, seconds):
    env = {} if value is None else {waits.ENV_INTERVAL: value}
    assert waits.interval_s(env) == seconds


@pytest.mark.parametrize("value", ["0", "-1", "fast", "5m", "10ms"])
def test_a_bad_sampling_interval_names_the_setting(value):
    with pytest.raises(ConfigError, match="VENUEPULSE_WAIT_SAMPLE_INTERVAL"):
        waits.interval_s({waits.ENV_INTERVAL: value})


def test_the_page_shows_time_by_wait_type_per_query_with_the_interval(page_env, db, db_url, conn):
    sleeper = _sleeping(db_url, "tests.page_sleeper")
    try:
        assert wait_until(lambda: _active(conn, sleeper.pid))
        outcome = waits.sample_waits(db, manual=True, env={waits.ENV_INTERVAL: "2s"})
    finally:
        sleeper.stop(conn)
    now = datetime.now(UTC)
    insert_run(conn, "sample_waits", status="succeeded", scheduled_at=None, started_at=now, finished_at=now,
               rows=outcome.rows, details=outcome.details)
    at = pages.run_page("query_performance", username="eng-user", role="engineer")
    assert "Waits" in [h.value for h in at.subheader]
    text = pages.texts(at)
    assert "(every 2 s) from 1 sample of" in text
    table = pages.table_with(at, "query", "wait_event_type", "seconds").set_index("query")
    assert table.loc["tests.page_sleeper", "wait_event_type"] == "Timeout"
    assert table.loc["tests.page_sleeper", "seconds"] == 2.0
    assert "not available right now" not in text
    if outcome.details["reads_all_stats"]:
        assert "Waits of other roles' sessions not available" not in text
    else:  # CI's non-superuser run: the tests' role is the sampler's and lacks pg_read_all_stats
        assert "Waits of other roles' sessions not available" in text


def test_wait_samples_older_than_the_retention_are_dropped_by_maintain_partitions(db, conn):
    from venuepulse.queries.ops import maintenance

    old = conn.execute("SELECT vp_partition_name('wait_samples', 'day', now() - interval '20 days')").fetchone()[0]
    conn.execute("SELECT vp_ensure_partition('wait_samples', now() - interval '20 days')")
    conn.execute("INSERT INTO wait_samples (bucket, query_name, wait_event_type, wait_event, samples, seconds) "
                 "VALUES (now() - interval '20 days', 'tests.old', 'CPU', 'CPU', 1, 5)")
    out = maintenance.maintain_partitions(db)
    assert old in out.details["dropped"]
    assert conn.execute("SELECT count(*) FROM wait_samples WHERE query_name = 'tests.old'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM partition_inventory WHERE parent_table = 'wait_samples' "
                        "AND NOT is_default AND range_end > now()").fetchone()[0] >= 8  # today and 7 ahead
