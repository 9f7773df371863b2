"""The embedded PostgreSQL: configuration, persistence, sharing, robustness."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from venuepulse import embedded

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ddir():
    d = Path(tempfile.mkdtemp(prefix="vpe-", dir="/tmp"))
    try:
        yield d
    finally:
        embedded.stop(d)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fresh_dir():
    d = Path(tempfile.mkdtemp(prefix="vpf-", dir="/tmp"))
    try:
        yield d
    finally:
        embedded.stop(d)
        shutil.rmtree(d, ignore_errors=True)


def _start_in_subprocess(d: Path) -> subprocess.Popen:
    code = "import sys; from pathlib import Path; from venuepulse import embedded; print(embedded.ensure_running(Path(sys.argv[1])))"
    return subprocess.Popen([sys.executable, "-c", code, str(d)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_preloads_pg_stat_statements_and_auto_explain(ddir):
    url = embedded.ensure_running(ddir)
    with psycopg.connect(url) as c:
        libs = {x.strip() for x in c.execute("SHOW shared_preload_libraries").fetchone()[0].split(",")}
        assert {"pg_stat_statements", "auto_explain"} <= libs
        assert c.execute("SHOW auto_explain.log_min_duration").fetchone()[0] == "1s"
        assert c.execute("SHOW pg_stat_statements.track").fetchone()[0] == "all"
        assert c.execute("SHOW max_connections").fetchone()[0] == "200"
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        assert c.execute("SELECT count(*) >= 0 FROM pg_stat_statements").fetchone()[0]


def test_url_is_a_unix_socket_url_for_the_venuepulse_database(ddir):
    url = embedded.ensure_running(ddir)
    assert url.startswith("postgresql://postgres@/venuepulse?host=/")
    with psycopg.connect(url) as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "venuepulse"


@pytest.mark.skipif(not Path("/usr/bin/psql").exists(), reason="no /usr/bin/psql on this machine")
def test_url_works_with_psql(ddir):
    url = embedded.ensure_running(ddir)
    out = subprocess.run(["/usr/bin/psql", url, "-tAc", "select 1"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_data_survives_stop_and_start(ddir):
    url = embedded.ensure_running(ddir)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS keepme (v int)")
        c.execute("INSERT INTO keepme VALUES (42)")
    assert embedded.stop(ddir) is True
    assert not embedded.is_running(ddir)
    assert embedded.stop(ddir) is False  # stopping a stopped server is a no-op
    url = embedded.ensure_running(ddir)
    with psycopg.connect(url) as c:
        assert c.execute("SELECT v FROM keepme").fetchall() == [(42,)]


def test_server_keeps_running_after_the_starting_process_exits(ddir):
    embedded.stop(ddir)
    p = _start_in_subprocess(ddir)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert embedded.is_running(ddir)
    with psycopg.connect(out.strip()) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_stale_postmaster_pid_does_not_block_startup(ddir):
    embedded.ensure_running(ddir)
    embedded.stop(ddir)
    pidfile = ddir / "pg" / "postmaster.pid"
    # A pid file left by a crash whose pid now belongs to an unrelated live process (this one).
    pidfile.write_text(f"{os.getpid()}\n{ddir / 'pg'}\n0\n5432\n{ddir / 'pg'}\n\n 0 0\nready\n")
    url = embedded.ensure_running(ddir)
    with psycopg.connect(url) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_two_processes_starting_a_new_data_dir_at_once_share_one_server(fresh_dir):
    procs = [_start_in_subprocess(fresh_dir) for _ in range(3)]
    results = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1] for r in results]
    urls = {r[0].strip() for r in results}
    assert len(urls) == 1
    with psycopg.connect(urls.pop()) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
