"""``venuepulse jobs --list`` and ``--once NAME`` as a person runs them."""

from __future__ import annotations

from tests.fixtures.jobs_data import job_runs, user, venue
from venuepulse.jobs.definitions import JOBS


def test_list_shows_every_job_with_its_schedule_and_last_run(run_cli, db_url, conn):
    first = run_cli("jobs", "--list", "--database-url", db_url)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    for name, spec in JOBS.items():
        row = next(line for line in lines if line.startswith(name + " "))
        assert spec.schedule in row and "never ran" in row

    assert run_cli("jobs", "--once", "expire_claims", "--database-url", db_url).returncode == 0
    env = {"VENUEPULSE_JOB_PROBE_QUERIES": "cron:*/10 * * * *", "VENUEPULSE_JOB_RECONCILE_COUNTERS": "off"}
    second = run_cli("jobs", "--list", "--database-url", db_url, env=env)
    assert second.returncode == 0, second.stderr
    rows = {line.split()[0]: line for line in second.stdout.splitlines() if line.split()}
    assert "succeeded" in rows["expire_claims"]
    assert "cron:*/10 * * * *" in rows["probe_queries"]
    assert rows["reconcile_counters"].split()[1] == "off"


def test_once_runs_a_job_now_and_prints_what_it_did(run_cli, db_url, conn):
    v = venue(conn)
    conn.execute("SELECT check_in(%s, %s)", (user(conn), v))
    conn.execute("INSERT INTO venue_counter_shards (venue_id, shard, total_check_ins) VALUES (%s, 99, 8)", (v,))

    out = run_cli("jobs", "--once", "reconcile_counters", "--database-url", db_url)

    assert out.returncode == 0, out.stderr
    [run] = job_runs(conn, "reconcile_counters")
    assert out.stdout.startswith(f"reconcile_counters run {run['id']} succeeded in ")
    assert "1 drifted (1 venue_counters), 1 repaired" in out.stdout
    assert '"venue_counters": {"drifted": 1' in out.stdout
    assert run["details"]["trigger"] == "manual" and run["scheduled_at"] is None
    assert conn.execute("SELECT v.total_check_in_count FROM venues v WHERE id = %s", (v,)).fetchone()[0] == 1


def test_once_with_an_unknown_job_names_the_jobs_there_are(run_cli, db_url):
    out = run_cli("jobs", "--once", "refresh_everything", "--database-url", db_url)
    assert out.returncode == 2
    assert out.stderr.startswith("venuepulse: no job named 'refresh_everything'; jobs are refresh_venue_stats,")


def test_a_bad_schedule_in_the_environment_is_reported_by_name(run_cli, db_url):
    out = run_cli("jobs", "--list", "--database-url", db_url, env={"VENUEPULSE_JOB_EXPIRE_CLAIMS": "every minute"})
    assert out.returncode == 2
    assert "VENUEPULSE_JOB_EXPIRE_CLAIMS" in out.stderr and "'every minute' is not a schedule" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_once_against_an_unreachable_database_fails_with_a_readable_line(run_cli):
    url = "postgresql://postgres@/venuepulse?host=/nonexistent/vp-no-server"
    out = run_cli("jobs", "--once", "expire_claims", "--database-url", url)
    assert out.returncode == 1
    assert "expire_claims run (not recorded yet) failed" in out.stdout
    assert "error: database unavailable: could not connect to PostgreSQL" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
