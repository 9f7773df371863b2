"""The venuepulse command line, run as a person would (subprocess)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

UNREACHABLE = "postgresql://u:secret@127.0.0.1:1/x"


def assert_one_line_error(res: subprocess.CompletedProcess, *forbidden: str) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("venuepulse: ")
    for word in forbidden:
        assert word not in res.stderr and word not in res.stdout
    return err


def test_unreachable_server_is_one_line_without_password(run_cli):
    res = run_cli("db", "status", "--database-url", UNREACHABLE)
    err = assert_one_line_error(res, "secret")
    assert "127.0.0.1:1/x" in err


def test_unreachable_server_from_env_fails_migrate_cleanly(run_cli):
    res = run_cli("migrate", env={"VENUEPULSE_DATABASE_URL": UNREACHABLE})
    assert_one_line_error(res, "secret")


def test_global_flag_before_subcommand_also_works(run_cli):
    res = run_cli("--database-url", UNREACHABLE, "up")
    assert_one_line_error(res, "secret")


def test_malformed_url_is_one_sentence(run_cli):
    res = run_cli("db", "url", "--database-url", "mysql://root:hunter2@db/app")
    err = assert_one_line_error(res, "hunter2")
    assert "not a PostgreSQL URL" in err


def test_db_url_prints_the_configured_url_without_starting_anything(run_cli, tmp_path):
    res = run_cli("db", "url", env={"VENUEPULSE_DATABASE_URL": "postgres://a:b@h:5433/d"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "postgresql://a:b@h:5433/d"
    assert not (tmp_path / "data").exists()


def test_db_url_reads_secrets_toml_in_the_working_directory(run_cli, tmp_path):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('database_url = "postgresql://s@h/d"\n')
    res = run_cli("db", "url")
    assert res.stdout.strip() == "postgresql://s@h/d"


def test_db_start_refuses_when_an_external_database_is_configured(run_cli):
    res = run_cli("db", "start", "--database-url", "postgresql://u@h/d")
    err = assert_one_line_error(res)
    assert "embedded" in err


def test_db_status_of_an_external_database_reports_it_not_migrated(run_cli, empty_db_url):
    res = run_cli("db", "status", env={"VENUEPULSE_DATABASE_URL": empty_db_url})
    assert res.returncode == 0, res.stderr
    assert "source:     env" in res.stdout
    assert "not migrated" in res.stdout
    assert empty_db_url.rsplit("/", 1)[1].split("?")[0] in res.stdout


def test_help_lists_the_commands(run_cli):
    res = run_cli("--help")
    assert res.returncode == 0
    for name in ("up", "db", "migrate"):
        assert name in res.stdout


@pytest.mark.slow
def test_embedded_lifecycle_url_psql_status_stop(run_cli, tmp_path):
    data = tmp_path / "data"
    try:
        res = run_cli("db", "url")
        assert res.returncode == 0, res.stderr
        url = res.stdout.strip()
        assert url.startswith("postgresql://postgres@/venuepulse?host=/")
        if Path("/usr/bin/psql").exists():
            q = subprocess.run(["/usr/bin/psql", url, "-tAc", "select 1"], capture_output=True, text=True)
            assert q.returncode == 0 and q.stdout.strip() == "1", q.stderr

        status = run_cli("db", "status")
        assert status.returncode == 0, status.stderr
        assert "source:     embedded" in status.stdout
        assert "pg_stat_statements: loaded" in status.stdout
        assert str(data) in status.stdout

        again = run_cli("db", "start")
        assert "already running" in again.stdout

        stop = run_cli("db", "stop")
        assert stop.returncode == 0 and "stopped" in stop.stdout
        down = run_cli("db", "status")
        assert down.returncode == 1 and "not running" in down.stdout
    finally:
        run_cli("db", "stop")
