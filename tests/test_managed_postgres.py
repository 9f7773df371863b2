"""VenuePulse as a managed service's admin role runs it: LOGIN CREATEROLE CREATEDB, owning its database, not a
superuser and without pg_monitor or pg_read_all_settings (docs/managed-postgresql.md).

The roles made here are made by the test database's role, which needs CREATEROLE (the embedded superuser and
the CI's non-superuser role both have it), and dropped afterwards.
"""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from streamlit.testing.v1 import AppTest

from tests.fixtures.databases import drop_database
from venuepulse.errors import ConfigError
from venuepulse.queries.access import privileges
from venuepulse.queries.access.roles import ensure_login_roles, url_as
from venuepulse.queries.core.runner import Database
from venuepulse.queries.schema.migrate import upgrade


def _on_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def _make_role(server_url: str, attributes: str) -> tuple[str, str]:
    name, password = f"vp_t_role_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(12)
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN " + attributes + " PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)))
    return name, password


def _drop_role(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def managed_admin(pg_server_url: str, db_url: str):
    """``(url, role)``: a managed service's kind of admin role and a database it created itself (so owns).

    ``db_url`` first: the session's template exists, so the shared group roles were made by the test role.
    """
    name, password = _make_role(pg_server_url, "NOSUPERUSER CREATEROLE CREATEDB")
    server = url_as(pg_server_url, name, password)
    dbname = f"{name}_db"
    try:
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        yield _on_database(server, dbname), name
    finally:
        # the role may not end other roles' sessions (an autovacuum worker, a dashboard role's pool still
        # closing): drop_database waits for them instead of failing
        drop_database(server, dbname)
        _drop_role(pg_server_url, name)


def test_migrate_without_pg_read_all_settings_installs_the_schema_and_says_what_degrades(managed_admin, run_cli):
    url, role = managed_admin
    with psycopg.connect(url) as c:  # the situation of the issue: this setting is hidden from the role
        assert not c.execute("SELECT pg_has_role('pg_read_all_settings', 'USAGE')").fetchone()[0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SHOW shared_preload_libraries")

    out = run_cli("--database-url", url, "migrate")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("migrate: base -> ")
    assert all(line.startswith("migrate: note: ") for line in lines[1:]), lines

    status = run_cli("--database-url", url, "db", "status")
    assert status.returncode == 0, status.stderr
    assert f"privileges of role {role}" in status.stdout
    assert "yes CREATEROLE — migrate" in status.stdout
    assert "no  pg_read_all_settings — " in status.stdout
    assert "no  superuser — " in status.stdout
    assert "revision:   " in status.stdout and "not migrated" not in status.stdout


def test_migrate_as_a_role_that_may_not_create_the_schema_ends_with_one_venuepulse_line_and_exit_2(
        pg_server_url, empty_db_url, run_cli):
    # no pg_read_all_settings either, and a database it does not own (no CREATE on schema public)
    name, password = _make_role(pg_server_url, "NOSUPERUSER")
    try:
        url = url_as(empty_db_url, name, password)
        out = run_cli("--database-url", url, "migrate")
        assert out.returncode == 2, out.stdout + out.stderr
        err = out.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("venuepulse: migrate base -> head failed: permission denied"), err
        assert "db status" in err[0] and "Traceback" not in out.stderr and password not in out.stderr
    finally:
        _drop_role(pg_server_url, name)


def test_dashboard_roles_made_by_another_role_need_admin_option_from_postgresql_16(db_url, managed_admin, pg_role):
    ensure_login_roles(db_url)  # the shared login roles exist, made by the test database's role
    url, role = managed_admin
    upgrade(url, "head")
    if pg_role["version"] >= 160000:
        # a CREATEROLE role manages only roles it has ADMIN OPTION on; never a traceback or a superuser-only ALTER
        with pytest.raises(ConfigError, match=rf"GRANT venuepulse_dashboard\S*, venuepulse_\w+ TO {role} WITH ADMIN OPTION"):
            ensure_login_roles(url)
    else:  # PostgreSQL 15: CREATEROLE manages every role that is not a superuser
        urls = ensure_login_roles(url)
        with psycopg.connect(urls["reader_url"]) as c:
            assert c.execute("SELECT current_user").fetchone()[0] == "venuepulse_dashboard"


def test_the_migrating_role_is_not_scoped_by_the_owner_group_it_may_administer(conn):
    # On PostgreSQL 16+ a CREATEROLE admin is a member (ADMIN OPTION, no privileges) of the groups it created;
    # row-level security's scope follows the owner group's privileges, not that membership.
    conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES ('A', 'cafe', 'Oslo', 59.9, 10.7)")
    conn.execute("SELECT refresh_venue_stats()")
    assert conn.execute("SELECT vp_is_scoped_role()").fetchone()[0] is False
    assert conn.execute("SELECT count(*) FROM venue_stats_visible").fetchone()[0] == 1


def _facts(**overrides) -> dict:
    facts = {k: False for k in ("superuser", "createrole", "createdb", "owns_database", "create_in_database",
                                "create_in_public", "pg_monitor", "pg_read_all_stats", "pg_read_all_settings",
                                "set_session_replication_role", "alter_system", "create_event_trigger",
                                "pgss_loaded", "pgss_installed", "auto_explain_loaded", "readers_read_all_stats")}
    facts.update(role_name="admin", database="app", pgss_available=True)
    facts.update(overrides)
    return facts


def test_every_missing_privilege_gets_one_sentence_naming_it_and_the_feature_it_gates():
    report = privileges.checks(_facts())
    assert {c.key for c in report if c.needed} == {"createrole", "owns_database"}
    for c in report:
        assert c.gates and c.ok is False
        assert c.missing and "\n" not in c.missing and not c.missing.rstrip().endswith("."), c
    by_key = {c.key: c.missing for c in report}
    assert "CREATEROLE" in by_key["createrole"]
    assert "GRANT pg_monitor TO admin" in by_key["pg_monitor"]
    assert "shared_preload_libraries" in by_key["pgss_loaded"] and "DB parameter group" in by_key["pgss_loaded"]
    assert "Supabase: Database → Extensions" in by_key["pgss_installed"]
    assert "session_replication_role" in by_key["set_session_replication_role"]


def test_a_role_that_may_create_in_a_database_it_does_not_own_passes_the_ownership_line():
    # Supabase's postgres role: CREATE on the database and on schema public, not the owner
    ok = {c.key: c.ok for c in privileges.checks(_facts(create_in_database=True, create_in_public=True))}
    assert ok["owns_database"] is True
    assert {c.key: c.ok for c in privileges.checks(_facts(create_in_database=True))}["owns_database"] is False


def test_the_checklist_of_the_connected_role_matches_its_attributes(db_url, pg_role):
    with Database(db_url, record=False, max_size=1) as db:
        report = privileges.checklist(db)
    assert report["role"] == pg_role["name"] and report["superuser"] is pg_role["superuser"]
    checks = {c["key"]: c for c in report["checks"]}
    assert checks["createrole"]["ok"] and checks["owns_database"]["ok"]  # the suite runs migrations as it
    assert privileges.missing_needed(report) == []
    assert checks["readers_read_all_stats"]["ok"] is not None  # migrated: the reader group exists
    if pg_role["superuser"]:
        assert privileges.degraded(report) == [c for c in report["checks"]
                                               if c["ok"] is False and c["key"].startswith(("pgss", "auto", "readers"))]


PAGE = """
from venuepulse.dashboard.shell import render_page
from venuepulse.dashboard.context import Account
render_page("jobs_health", Account("eng-user", "engineer"))
"""


def test_jobs_and_health_shows_the_jobs_role_checklist_the_job_recorded(db_url, monkeypatch, run_cli, pg_role):
    readers = ensure_login_roles(db_url)
    monkeypatch.setenv("VENUEPULSE_DASHBOARD_DATABASE_URL", readers["reader_url"])
    before = AppTest.from_string(PAGE, default_timeout=60).run()
    assert not before.exception
    assert any("check_privileges job has not recorded" in m.value for m in before.info)

    out = run_cli("--database-url", db_url, "jobs", "--once", "check_privileges")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"role {pg_role['name']}:" in out.stdout

    at = AppTest.from_string(PAGE, default_timeout=60).run()
    assert not at.exception, [e.message for e in at.exception]
    table = next(d.value for d in at.dataframe if "gates" in d.value.columns)
    rows = dict(zip(table["label"], table["status"], strict=True))
    assert rows["CREATEROLE"] == "yes"
    assert rows["superuser"] == ("yes" if pg_role["superuser"] else "no")
    assert any(f"role **{pg_role['name']}**" in c.value and "venuepulse_dashboard" in c.value for c in at.caption)
    assert not at.error  # nothing VenuePulse needs is missing
