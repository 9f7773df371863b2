"""The dashboard reading from a streaming replica (docs/scaling.md, "Read replica").

A real hot standby of the session's embedded server is made once (tests/fixtures/replica.py); with
``VENUEPULSE_TEST_DATABASE_URL`` pointing at an external server those tests skip, and the fallback tests
run against a replica address where nothing listens.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.fixtures import pages
from tests.fixtures.databases import with_database
from tests.fixtures.replica import lsn, wait_replayed
from venuepulse import replica
from venuepulse.config import read_fallback, resolve_read_database_url
from venuepulse.dashboard.context import replica_url
from venuepulse.queries.core.reads import ReadRouter, ReplicaUnavailable
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import venues

NOWHERE = "postgresql://postgres@/venuepulse?host=/tmp/vp-no-replica-here&port=5999"


@pytest.fixture
def on_replica(replica_dir: Path, pg_server_url: str, db_url: str, monkeypatch) -> dict[str, str]:
    """The test's database with the dashboard's roles, as the pages read it through the replica:
    ``{"reader_url", "owner_url", "recorder_url", "replica_url", "replica_admin"}``."""
    roles = pages.use_login_roles(db_url, monkeypatch)
    replica.start_replica(replica_dir)  # a test that stopped it may have failed before starting it again
    admin = replica.url(replica_dir, "postgres")
    wait_replayed(pg_server_url, admin)
    dbname = urlsplit(db_url).path.lstrip("/")
    monkeypatch.setenv("VENUEPULSE_READ_DATABASE_URL", with_database(admin, dbname))
    monkeypatch.delenv("VENUEPULSE_READ_FALLBACK", raising=False)
    return {**roles, "replica_url": with_database(admin, dbname), "replica_admin": admin}


def _router(role_url: str, **kw) -> ReadRouter:
    return ReadRouter(Database(role_url, record=False), Database(replica_url(role_url), record=False),
                      status_ttl=0, **kw)


def _venue_and_user(conn) -> tuple:
    user = conn.execute("INSERT INTO users (username, display_name) VALUES ('r1', 'R') RETURNING id").fetchone()[0]
    venue = conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES ('Cafe', 'cafe', 'Oslo', "
                         "59.9, 10.7) RETURNING id").fetchone()[0]
    return user, venue


# -- configuration ------------------------------------------------------------------------------------------


def test_read_url_and_fallback_come_from_the_environment_before_secrets(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VENUEPULSE_READ_DATABASE_URL", raising=False)
    monkeypatch.delenv("VENUEPULSE_READ_FALLBACK", raising=False)
    assert resolve_read_database_url() == (None, "none") and read_fallback() is True
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        'read_database_url = "postgres://s@replica/app"\nread_fallback = false\n')
    assert resolve_read_database_url() == ("postgresql://s@replica/app", "secrets") and read_fallback() is False
    monkeypatch.setenv("VENUEPULSE_READ_DATABASE_URL", "postgresql://e@other/app")
    monkeypatch.setenv("VENUEPULSE_READ_FALLBACK", "yes")
    assert resolve_read_database_url() == ("postgresql://e@other/app", "env") and read_fallback() is True


def test_the_read_roles_connect_to_the_read_server_as_themselves(monkeypatch):
    monkeypatch.setenv("VENUEPULSE_READ_DATABASE_URL", "postgresql://admin:secret@replica:5433/app?sslmode=require")
    assert replica_url("postgresql://venuepulse_dashboard:p%40ss@primary/app") == \
        "postgresql://venuepulse_dashboard:p%40ss@replica:5433/app?sslmode=require"


def test_replica_commands_refuse_a_configured_database_url_before_starting_anything(run_cli):
    env = {"VENUEPULSE_DATABASE_URL": "postgresql://app@127.0.0.1:1/app"}
    made = run_cli("db", "replica", "create", env=env)
    assert made.returncode == 2 and "manages only the embedded server" in made.stderr
    up = run_cli("up", "--replica", env=env)
    assert up.returncode == 2 and "VENUEPULSE_READ_DATABASE_URL" in up.stderr and "Traceback" not in up.stderr


# -- a replica that is not there (any server) ---------------------------------------------------------------


def test_an_unreachable_replica_falls_back_to_the_primary_and_the_page_says_so(page_env, monkeypatch):
    monkeypatch.setenv("VENUEPULSE_READ_DATABASE_URL", NOWHERE)
    monkeypatch.delenv("VENUEPULSE_READ_FALLBACK", raising=False)
    at = pages.run_page("venues", username="pm-user", role="pm")
    warnings = " ".join(w.value for w in at.warning)
    assert "unreachable" in warnings and "read from the primary instead" in warnings
    assert not at.error
    assert at.title and at.title[0].value  # the page itself was drawn


def test_with_read_fallback_off_an_unreachable_replica_refuses_the_page_readably(page_env, monkeypatch):
    monkeypatch.setenv("VENUEPULSE_READ_DATABASE_URL", NOWHERE)
    monkeypatch.setenv("VENUEPULSE_READ_FALLBACK", "false")
    at = pages.run_page("overview", username="pm-user", role="pm")
    errors = " ".join(e.value for e in at.error)
    assert "read_fallback is off" in errors and "not reachable" in errors
    assert not at.metric  # nothing was read from the primary


def test_the_router_refuses_reads_without_fallback_and_serves_them_from_the_primary_with_it(db_url):
    with Database(db_url, record=False) as primary, Database(NOWHERE, record=False) as nowhere:
        router = ReadRouter(primary, nowhere, fallback=False, status_ttl=0)
        with pytest.raises(ReplicaUnavailable, match="read_fallback is off"):
            router.run("overview.presence")
        assert router.status().source == "refused"
        router.fallback = True
        assert router.run("overview.presence")[0]["venue_count"] == 0
        assert router.served == {"replica": 0, "primary": 1}
        assert router.status().source == "fallback"


def test_jobs_and_health_says_the_dashboard_reads_the_primary_without_a_replica(page_env, monkeypatch):
    monkeypatch.delenv("VENUEPULSE_READ_DATABASE_URL", raising=False)
    at = pages.run_page("jobs_health", username="eng-user", role="engineer")
    assert any(s.value == "Replication" for s in at.subheader)
    assert "reads from the primary (no read replica is configured" in pages.texts(at)


# -- a real streaming replica of the embedded server --------------------------------------------------------


def test_a_check_in_on_the_primary_appears_on_the_replica_backed_page_data_once_replayed(on_replica, conn):
    user, venue = _venue_and_user(conn)
    router = _router(on_replica["reader_url"])
    try:
        conn.execute("SELECT check_in(%s, %s)", (user, venue))
        committed = lsn(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
        deadline = time.monotonic() + 60
        status = router.status()
        while status.replay_lsn is None or lsn(status.replay_lsn) < committed:
            assert time.monotonic() < deadline, "the replica never replayed the check-in"
            time.sleep(0.05)
            status = router.status()
        assert status.source == "replica" and status.in_recovery is True
        assert status.lag_seconds is not None and status.lag_seconds >= 0
        counters = venues.live_counters(router, venue)
        assert counters["active_check_in_count"] == 1 and counters["total_check_in_count"] == 1
        assert router.served["replica"] >= 1 and router.served["primary"] == 0
    finally:
        router.close()


def test_pages_read_from_the_replica_and_show_its_lag_in_the_as_of_line(on_replica, conn, pg_server_url):
    user, venue = _venue_and_user(conn)
    conn.execute("SELECT check_in(%s, %s)", (user, venue))
    wait_replayed(pg_server_url, on_replica["replica_admin"])
    at = pages.run_page("overview", username="pm-user", role="pm")
    shown = pages.texts(at)
    assert "Read from the replica" in shown and "behind the primary" in shown
    assert "; read from the replica, " in shown  # the "as of" line of the live counts
    assert not at.warning or all("unreachable" not in w.value for w in at.warning)


def test_the_recorders_rows_land_on_the_primary_while_reads_go_to_the_replica(on_replica, conn):
    reader, recorder = on_replica["reader_url"], on_replica["recorder_url"]
    router = ReadRouter(Database(reader, recorder_url=recorder),
                        Database(replica_url(reader), recorder_url=recorder), status_ttl=0)
    try:
        for _ in range(3):
            router.run("overview.presence", cache=False)
        assert router.served["replica"] == 3
        assert router.replica.flush() == 3
        assert router.replica.recorder_stats()["failed"] == 0
    finally:
        router.close()
    n = conn.execute("SELECT count(*) FROM query_performance_log WHERE query_name = 'overview.presence'").fetchone()[0]
    assert n == 3


def test_stopping_the_replica_makes_pages_fall_back_with_a_notice_or_refuse_without_fallback(
        on_replica, replica_dir, monkeypatch):
    # the page's top line comes from a status cached for a moment: hold it for the whole test, so the replica
    # is found gone only while the page draws (the order CI met), and the notice must still be on the page
    from venuepulse.queries.core import reads

    made = reads.ReadRouter.__init__
    monkeypatch.setattr(reads.ReadRouter, "__init__", lambda self, *a, **kw: made(self, *a, **{**kw, "status_ttl": 600}))
    first = pages.run_page("venues", username="pm-user", role="pm")
    assert "Read from the replica" in pages.texts(first)
    replica.stop_replica(replica_dir)
    try:
        at = pages.run_page("venues", username="pm-user", role="pm")  # the same cached pools, now broken
        assert "read from the primary instead" in " ".join(w.value for w in at.warning)
        assert not at.error
        monkeypatch.setenv("VENUEPULSE_READ_FALLBACK", "false")
        refused = pages.run_page("venues", username="pm-user", role="pm")
        assert "read_fallback is off" in " ".join(e.value for e in refused.error)
    finally:
        replica.start_replica(replica_dir)


def test_the_read_roles_cannot_write_on_either_server(on_replica):
    for role in ("reader_url", "owner_url"):
        for url in (on_replica[role], replica_url(on_replica[role])):
            with psycopg.connect(url, autocommit=True) as c:
                assert c.execute("SELECT count(*) FROM venues").fetchone()[0] == 0  # it may read
                with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
                    c.execute("INSERT INTO users (username, display_name) VALUES ('x', 'x')")
                with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
                    c.execute("SET default_transaction_read_only = off; "
                              "INSERT INTO query_performance_log (query_name, execution_time_ms) VALUES ('x', 1)")


def test_jobs_and_health_shows_the_replicas_slot_and_lag_from_the_primary(on_replica, replica_dir):
    at = pages.run_page("jobs_health", username="eng-user", role="engineer")
    slots = pages.table_with(at, "slot_name", "wal_status")
    row = slots.set_index("slot_name").loc[replica.slot_name(replica_dir)]
    assert bool(row["active"]) and row["wal_status"] in ("reserved", "extended")
    standbys = pages.table_with(at, "application_name", "replay_lag_s")
    assert replica.slot_name(replica_dir) in set(standbys["application_name"])
    assert "This dashboard: Read from the replica" in pages.texts(at)
