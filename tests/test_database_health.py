"""The Database health page and its reads, against a real server: blocking chains, duplicate and unused
indexes, and what a role without pg_read_all_stats is told."""

from __future__ import annotations

import secrets
import threading

import psycopg
import pytest
from psycopg import sql

from tests.fixtures import pages
from tests.fixtures.waiting import wait_until
from venuepulse.queries.access.roles import url_as
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import database_health as health

BLOCKED_NAME = "venues.rename_for_test"


def _venue(conn) -> str:
    return str(conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES ('Cafe', 'cafe', 'Oslo', "
                            "59.9, 10.7) RETURNING id").fetchone()[0])


@pytest.fixture
def row_lock(db_url, conn):
    """One session holds a venue's row lock in an open transaction; another's tagged UPDATE of the same row
    waits on it. Yields (holder pid, waiter pid)."""
    venue = _venue(conn)
    holder = psycopg.connect(db_url, application_name="holder")
    holder.execute("SELECT id FROM venues WHERE id = %s FOR UPDATE", (venue,))
    waiter = psycopg.connect(db_url, autocommit=True, application_name="waiter")
    waiter_pid = waiter.info.backend_pid
    sql = f"UPDATE venues SET name = 'Renamed' WHERE id = %s\n/*query_name='{BLOCKED_NAME}'*/"
    thread = threading.Thread(target=lambda: waiter.execute(sql, (venue,)), daemon=True)
    thread.start()
    try:
        yield holder.info.backend_pid, waiter_pid
    finally:
        holder.rollback()
        thread.join(10)
        holder.close()
        waiter.close()


def test_a_blocked_update_shows_its_blocker_and_its_named_query(db, row_lock):
    holder_pid, waiter_pid = row_lock
    rows = wait_until(lambda: [r for r in health.blocking(db) if r["pid"] == waiter_pid])
    assert rows, "the waiting UPDATE never appeared as blocked"
    blocked = rows[0]
    assert blocked["blocking_pids"] == [holder_pid]
    assert blocked["chain"] == [waiter_pid, holder_pid]
    assert blocked["query_name"] == BLOCKED_NAME
    assert blocked["root_state"] == "idle in transaction"
    assert blocked["fix"] == f"SELECT pg_terminate_backend({holder_pid});"


def test_the_idle_transaction_holding_the_lock_is_listed_as_long_running(db, row_lock):
    holder_pid, _ = row_lock
    rows = wait_until(lambda: [r for r in health.long_running(db, min_seconds=0) if r["pid"] == holder_pid])
    assert rows and rows[0]["state"] == "idle in transaction"
    assert rows[0]["fix"] == f"SELECT pg_terminate_backend({holder_pid});"


def test_a_duplicate_index_is_reported_as_duplicate_and_a_covered_one_as_covered(db, conn):
    conn.execute("CREATE TABLE dbh_t (a int, b int, c int)")
    conn.execute("CREATE INDEX dbh_ab ON dbh_t (a, b)")
    conn.execute("CREATE INDEX dbh_ab_again ON dbh_t (a, b)")
    conn.execute("CREATE INDEX dbh_a ON dbh_t (a)")
    conn.execute("CREATE INDEX dbh_a_partial ON dbh_t (a) WHERE c > 0")  # another predicate: not covered
    conn.execute("CREATE UNIQUE INDEX dbh_c ON dbh_t (c)")
    conn.execute("CREATE INDEX dbh_c_b ON dbh_t (c, b)")  # does not enforce dbh_c's uniqueness
    found = {r["index_name"]: r for r in health.indexes(db)["duplicates"] if r["table_name"] == "dbh_t"}
    assert set(found) == {"dbh_ab_again", "dbh_a"}
    assert found["dbh_ab_again"]["kind"] == "duplicate"
    assert found["dbh_ab_again"]["covered_by"] == "dbh_ab"
    assert found["dbh_ab_again"]["fix"] == "DROP INDEX CONCURRENTLY public.dbh_ab_again;"
    assert found["dbh_a"]["kind"] == "covered"


def test_an_index_never_scanned_is_unused_and_one_enforcing_a_constraint_is_not(db, conn):
    conn.execute("CREATE TABLE dbh_u (id int PRIMARY KEY, a int)")
    conn.execute("CREATE INDEX dbh_u_a ON dbh_u (a)")
    unused = {r["index_name"]: r for r in health.indexes(db)["unused"] if r["table_name"] == "dbh_u"}
    assert set(unused) == {"dbh_u_a"}
    assert unused["dbh_u_a"]["fix"] == "DROP INDEX CONCURRENTLY public.dbh_u_a;"


def test_a_serial_near_its_maximum_says_to_widen_the_column_and_a_free_sequence_is_fine(db, conn):
    conn.execute("CREATE TABLE dbh_s (id serial PRIMARY KEY)")
    conn.execute("SELECT setval('dbh_s_id_seq', 2000000000)")
    conn.execute("CREATE SEQUENCE dbh_free")  # owned by no column
    found = {r["sequence_name"]: r for r in health.sequences(db)}
    assert found["dbh_s_id_seq"]["used_share"] > 0.9
    assert found["dbh_s_id_seq"]["fix"] == ("ALTER TABLE public.dbh_s ALTER COLUMN id TYPE bigint; "
                                             "ALTER SEQUENCE public.dbh_s_id_seq AS bigint;")
    assert found["dbh_free"]["owned_by_table"] is None
    assert found["dbh_free"]["fix"] == ""


def test_the_other_panels_read_without_error_and_write_fixes_as_text(db):
    wrap = health.wraparound(db)
    assert any(r["database"] for r in wrap["databases"])
    assert all(r["xid_share"] >= 0 for r in wrap["databases"])
    assert [r["scope"] for r in health.cache_hits(db)] == ["whole database", "tables", "indexes"]
    assert any(r["table_name"] == "venues" for r in health.tables(db))
    assert isinstance(health.sequences(db), list)
    assert health.connections(db)


@pytest.fixture
def plain_role(db_url, conn):
    """A login role with no statistics privileges (as a reader on a managed service where pg_monitor could
    not be granted). Yields its URL to the test's database."""
    name = f"vp_dbh_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    dbname = conn.info.dbname
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(name)))
    try:
        yield url_as(db_url, name, password)
    finally:
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(sql.Identifier(dbname),
                                                                                 sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_the_page_shows_every_panel_to_an_engineer(page_env, conn, db):
    conn.execute("CREATE TABLE dbh_p (a int)")
    conn.execute("CREATE INDEX dbh_p_a ON dbh_p (a)")
    conn.execute("CREATE INDEX dbh_p_a2 ON dbh_p (a)")
    at = pages.run_page("database_health", username="eng-user", role="engineer")
    assert at.title[0].value == "Database health"
    headers = [h.value for h in at.subheader]
    for title in ("Connections", "Long-running queries and idle transactions", "Blocked queries", "Indexes",
                  "Tables", "Transaction-ID wraparound", "Sequences", "Cache hit ratios"):
        assert title in headers
    text = pages.texts(at)
    assert "DROP INDEX CONCURRENTLY public.dbh_p_a2;" in text
    unused = pages.table_with(at, "qualified_name", "definition", "fix").set_index("qualified_name")
    assert unused.loc["public.dbh_p_a", "fix"] == "DROP INDEX CONCURRENTLY public.dbh_p_a;"
    if health.viewer(db)["reads_all_stats"]:
        assert "not available" not in text
    else:  # a managed service's admin role, as the tests' role in CI's non-superuser run
        assert "Connections not available" in text
    assert "not available right now" not in text


def test_a_role_without_pg_read_all_stats_is_told_what_to_grant(plain_role, monkeypatch, db_url):
    monkeypatch.setenv("VENUEPULSE_DASHBOARD_DATABASE_URL", plain_role)
    with psycopg.connect(db_url, application_name="someone else"):  # another role's session it cannot see
        at = pages.run_page("database_health", username="eng-user", role="engineer")
    warnings = "\n".join(w.value for w in at.warning)
    assert "Connections not available: the dashboard's role vp_dbh_" in warnings
    assert "GRANT pg_monitor TO vp_dbh_" in warnings
    assert "Blocked queries not available" in warnings
    assert "not available right now" not in warnings  # the other panels read what any role may


@pytest.mark.superuser("only a role with ADMIN on pg_monitor may grant it")
def test_migrating_as_a_superuser_puts_the_reader_in_pg_monitor(conn):
    assert conn.execute("SELECT pg_has_role('venuepulse_reader', 'pg_monitor', 'MEMBER')").fetchone()[0]


def test_the_reader_may_read_the_sequences_but_not_advance_them(db_url, conn, monkeypatch):
    conn.execute("CREATE TABLE dbh_r (id bigint GENERATED ALWAYS AS IDENTITY)")
    conn.execute("INSERT INTO dbh_r DEFAULT VALUES")
    reader = pages.use_login_roles(db_url, monkeypatch)["reader_url"]
    with Database(reader, record=False) as as_reader:
        seqs = {r["qualified_name"]: r for r in health.sequences(as_reader)}
    assert seqs["public.dbh_r_id_seq"]["readable"] and seqs["public.dbh_r_id_seq"]["last_value"] == 1
    assert seqs["public.alert_rules_id_seq"]["readable"]  # made by the migrations, before the default privileges
    with psycopg.connect(reader) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("SELECT nextval('public.dbh_r_id_seq')")
