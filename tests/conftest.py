"""Test harness: one PostgreSQL server per session, a migrated template database, a fresh copy per test.

``VENUEPULSE_TEST_DATABASE_URL`` points the suite at an existing server (the URL's database is used as the
maintenance database); otherwise an embedded PostgreSQL 18 is started in a temp dir and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from venuepulse import embedded
from venuepulse.config import normalize_url

TEST_URL_ENV = "VENUEPULSE_TEST_DATABASE_URL"
# Fixed instants, the `clock` marker and the boundary run's checks (docs/testing.md, "Time and the test suite").
pytest_plugins = ("tests.clock",)


def with_database(url: str, dbname: str) -> str:
    """``url`` pointing at database ``dbname`` on the same server (query parameters such as host kept)."""
    parts = urlsplit(normalize_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def _short_tmpdir(prefix: str) -> Path:
    # Unix socket paths are limited to ~107 bytes: keep the embedded data dir short.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.path.isdir("/tmp") else None))


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """Maintenance-database URL of the session's PostgreSQL server.

    Its role may CREATE DATABASE; it is a superuser (the embedded server) or, as on managed services, a
    ``LOGIN CREATEROLE CREATEDB`` role that owns the databases it creates (tests marked ``superuser`` skip then).
    """
    external = os.environ.get(TEST_URL_ENV)
    if external:
        url = normalize_url(external)
        try:
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.OperationalError as exc:
            pytest.exit(f"{TEST_URL_ENV} is set but the server is unreachable: {exc}", returncode=3)
        yield url
        return
    ddir = _short_tmpdir("vpt-")
    try:
        url = embedded.ensure_running(ddir, database="postgres")
        yield url
    finally:
        embedded.stop(ddir)
        shutil.rmtree(ddir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_role(pg_server_url: str) -> dict:
    """The test URL's role: ``{"name", "superuser", "version"}`` (server_version_num)."""
    with psycopg.connect(pg_server_url) as c:
        name, superuser, version = c.execute(
            "SELECT current_user, rolsuper, current_setting('server_version_num')::int "
            "FROM pg_roles WHERE rolname = current_user").fetchone()
    return {"name": name, "superuser": superuser, "version": version}


@pytest.fixture(autouse=True)
def _skip_unless_superuser(request):
    """Tests marked ``superuser("why")`` skip, saying why, when the test URL's role is not a superuser."""
    marker = request.node.get_closest_marker("superuser")
    if marker is None:
        return
    role = request.getfixturevalue("pg_role")
    if not role["superuser"]:
        why = marker.args[0] if marker.args else "it needs superuser privileges"
        pytest.skip(f"needs a superuser ({why}); the test database role {role['name']} is not one "
                    "(docs/managed-postgresql.md lists the fallback)")


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    tmpl = f' TEMPLATE "{template}"' if template else ""
    with _admin(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{tmpl}')
    return with_database(server_url, name)


def _close_pools_on(dbname: str) -> None:
    """Close this process's VenuePulse pools on database ``dbname`` (the dashboard keeps its pools in
    Streamlit's resource cache for the life of the process, AppTest's included)."""
    import gc

    from venuepulse.queries.core.runner import Database

    for obj in gc.get_objects():
        if isinstance(obj, Database) and urlsplit(obj.url).path == "/" + dbname:
            obj.close()


def drop_database(server_url: str, name: str, wait_s: float = 30.0) -> None:
    """Drop ``name``, ending the sessions still in it.

    A role that is not a superuser (nor in pg_signal_backend) may not end other roles' sessions, such as
    the dashboard roles' pools: close this process's, and wait for backends that are still exiting.
    """
    import time

    deadline = time.monotonic() + wait_s
    closed = False
    with _admin(server_url) as conn:
        while True:
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except psycopg.errors.InsufficientPrivilege:
                if time.monotonic() > deadline:
                    raise
                if not closed:
                    _close_pools_on(name)
                    closed = True
                time.sleep(0.1)




@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> str:
    """Name of a database migrated to head once per session; tests copy it."""
    from venuepulse.queries.schema.migrate import upgrade

    name = f"vp_template_{uuid.uuid4().hex[:10]}"
    url = create_database(pg_server_url, name)
    try:
        upgrade(url, "head")
        with _admin(pg_server_url) as conn:  # no one may stay connected to a template
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        yield name
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def db_url(pg_server_url: str, template_db: str) -> str:
    """URL of a fresh database copied from the migrated template; dropped after the test."""
    name = f"vp_t_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server_url, name, template=template_db)
    try:
        yield url
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def empty_db_url(pg_server_url: str) -> str:
    """URL of a fresh, never-migrated database; dropped after the test."""
    name = f"vp_e_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server_url, name)
    try:
        yield url
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def conn(db_url: str):
    """psycopg connection (autocommit) to the test's fresh database."""
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


def _cli_command() -> list[str]:
    import sys

    script = Path(sys.executable).parent / "venuepulse"
    return [str(script)] if script.exists() else [sys.executable, "-m", "venuepulse"]


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run ``venuepulse ARGS`` in a subprocess with a clean VENUEPULSE_* environment.

    Defaults: cwd is an empty temp dir (no secrets.toml), VENUEPULSE_DATA_DIR a temp dir (never the
    user's). Pass ``env={...}`` to add variables. Returns the CompletedProcess (text mode).
    """
    import subprocess

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300):
        full = {k: v for k, v in os.environ.items() if not k.startswith("VENUEPULSE_")}
        full["VENUEPULSE_DATA_DIR"] = str(tmp_path / "data")
        full.update(env or {})
        return subprocess.run(
            [*_cli_command(), *args],
            cwd=str(cwd or tmp_path),
            env=full,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
