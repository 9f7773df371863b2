"""Test harness: one PostgreSQL server per session, a migrated template database, a fresh copy per test.

``VENUEPULSE_TEST_DATABASE_URL`` points the suite at an existing server (the URL's database is used as the
maintenance database); otherwise an embedded PostgreSQL 18 is started in a temp dir and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.databases import new_database, template_database
from venuepulse import embedded
from venuepulse.config import normalize_url

TEST_URL_ENV = "VENUEPULSE_TEST_DATABASE_URL"
# Fixed instants, the `clock` marker and the boundary run's checks (docs/testing.md, "Time and the test suite");
# a streaming replica of the embedded server (tests/fixtures/replica.py).
pytest_plugins = ("tests.fixtures.clock", "tests.fixtures.replica")


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


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> str:
    """Name of a database migrated to head once per session; tests copy it."""
    from venuepulse.queries.schema.migrate import upgrade

    with template_database(pg_server_url, "vp_template_", lambda url: upgrade(url, "head")) as name:
        yield name


@pytest.fixture
def db_url(pg_server_url: str, template_db: str) -> str:
    """URL of a fresh database copied from the migrated template; dropped after the test."""
    with new_database(pg_server_url, "vp_t_", template_db) as (_, url):
        yield url


@pytest.fixture
def empty_db_url(pg_server_url: str) -> str:
    """URL of a fresh, never-migrated database; dropped after the test."""
    with new_database(pg_server_url, "vp_e_") as (_, url):
        yield url


@pytest.fixture(scope="session")
def legacy_template(pg_server_url: str) -> str:
    """Name of a database holding the tiny legacy app database (L0), seeded once per session."""
    from venuepulse.jobs.legacy_seed import seed_legacy

    with template_database(pg_server_url, "vp_legacy_tmpl_", lambda url: seed_legacy(url, "tiny", seed=7)) as name:
        yield name


@pytest.fixture
def legacy_url(pg_server_url: str, legacy_template: str) -> str:
    """A fresh copy of the seeded legacy database (at L0); dropped after the test."""
    with new_database(pg_server_url, "vp_l_", legacy_template) as (_, url):
        yield url


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
    user's). Pass ``env={...}`` to add variables, ``input=`` for its stdin. Returns the CompletedProcess
    (text mode).
    """
    import subprocess

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300,
            input: str | None = None):
        full = {k: v for k, v in os.environ.items() if not k.startswith("VENUEPULSE_")}
        full["VENUEPULSE_DATA_DIR"] = str(tmp_path / "data")
        full.update(env or {})
        return subprocess.run(
            [*_cli_command(), *args],
            cwd=str(cwd or tmp_path),
            env=full,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def db(db_url: str):
    """A Database on the test's fresh database, not recording timings."""
    from venuepulse.queries.core.runner import Database

    with Database(db_url, record=False) as d:
        yield d


@pytest.fixture
def page_env(db_url: str, monkeypatch) -> str:
    """Dashboard pages run in the test (tests/fixtures/pages.py) read the test's database."""
    monkeypatch.setenv("VENUEPULSE_DASHBOARD_DATABASE_URL", db_url)
    monkeypatch.setenv("VENUEPULSE_SIGNIN_DATABASE_URL", db_url)  # account state (owners' report subscriptions)
    return db_url
