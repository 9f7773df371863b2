"""The run wrapper (lock, job_runs row, timing, failure capture, the queue kept while the database is
unreachable), schedules from the environment, and the scheduler itself in-process."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tests.fixtures.jobs_data import job_runs, now, running_offer, user, venue
from venuepulse.errors import ConfigError
from venuepulse.jobs import scheduler
from venuepulse.jobs.definitions import JOBS, JobSpec
from venuepulse.queries.ops.maintenance import MaintenanceError, Outcome

UNREACHABLE = "postgresql://postgres@/venuepulse?host=/nonexistent/vp-no-server"


def _all_off(**on: str) -> dict[str, str]:
    env = {scheduler.env_var(n): "off" for n in JOBS}
    env.update({scheduler.env_var(k): v for k, v in on.items()})
    return env


def test_a_run_writes_its_job_runs_row_and_times_itself(conn, db_url):
    v = venue(conn)
    o = running_offer(conn, v)
    conn.execute("SELECT claim_flash_offer(%s, %s)", (o, user(conn)))
    conn.execute("UPDATE flash_offer_claims SET expires_at = now() - interval '1 second'")
    runner = scheduler.JobRunner(db_url)
    planned = now() - timedelta(seconds=2)
    try:
        rec = runner.run("expire_claims", scheduled_at=planned)
    finally:
        runner.close()  # flushes the buffered timings

    assert (rec.status, rec.rows, rec.error) == ("succeeded", 1, None)
    [row] = job_runs(conn, "expire_claims")
    assert row["id"] == rec.run_id
    assert row["status"] == "succeeded" and row["rows_affected"] == 1 and row["error"] is None
    assert row["scheduled_at"] == planned
    assert planned < row["started_at"] <= row["finished_at"]
    assert row["details"]["trigger"] == "schedule" and row["details"]["expired"] == 1
    assert isinstance(row["details"]["pid"], int)
    timing = conn.execute(
        "SELECT row_count FROM query_performance_log WHERE query_name = 'job.expire_claims'").fetchall()
    assert timing == [(1,)]


def test_a_run_whose_lock_is_held_elsewhere_is_skipped_and_says_who_holds_it(conn, db_url):
    runner = scheduler.JobRunner(db_url)
    with psycopg.connect(db_url, autocommit=True, application_name="other-scheduler") as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended('venuepulse.job:' || 'expire_claims', 0))")
        pid = other.info.backend_pid
        skipped = runner.run("expire_claims")
    after = runner.run("expire_claims")
    runner.close()

    assert skipped.status == "skipped"
    assert "other-scheduler" in skipped.error and str(pid) in skipped.error
    assert after.status == "succeeded"
    assert [(r["status"], r["error"] is None) for r in job_runs(conn, "expire_claims")] == [
        ("skipped", False), ("succeeded", True)]


def test_a_failing_job_is_recorded_and_the_runner_carries_on(conn, db_url):
    def boom(db, ctx):
        raise ValueError("the bad thing happened")

    def partial(db, ctx):
        raise MaintenanceError("2 of 3 done", {"done": 2})

    jobs = {"boom": JobSpec("boom", boom, "interval:60", 30, "fails"),
            "partial": JobSpec("partial", partial, "interval:60", 30, "fails with details"),
            "fine": JobSpec("fine", lambda db, ctx: Outcome(7, "seven"), "interval:60", 30, "works")}
    runner = scheduler.JobRunner(db_url, jobs=jobs)
    results = [runner.run(n) for n in ("boom", "partial", "fine")]
    runner.close()

    assert [r.status for r in results] == ["failed", "failed", "succeeded"]
    rows = {r["job_name"]: r for r in job_runs(conn)}
    assert rows["boom"]["error"] == "ValueError: the bad thing happened"
    assert rows["boom"]["finished_at"] >= rows["boom"]["started_at"]
    assert rows["partial"]["details"]["done"] == 2
    assert (rows["fine"]["rows_affected"], rows["fine"]["details"]["summary"]) == (7, "seven")


def test_a_run_left_running_by_a_process_that_died_is_marked_failed(conn, db_url):
    stale = conn.execute("INSERT INTO job_runs (job_name, started_at) VALUES ('expire_claims', now() - interval '1 hour') "
                         "RETURNING id").fetchone()[0]
    runner = scheduler.JobRunner(db_url)
    runner.run("expire_claims")
    runner.close()
    rows = {r["id"]: r for r in job_runs(conn, "expire_claims")}
    assert rows[stale]["status"] == "failed" and rows[stale]["error"].startswith("abandoned")
    assert [r["status"] for i, r in rows.items() if i != stale] == ["succeeded"]


def test_runs_while_the_database_is_unreachable_are_kept_and_recorded_once_it_answers(conn, db_url):
    runner = scheduler.JobRunner(UNREACHABLE)
    down = [runner.run("expire_claims", scheduled_at=now()), runner.run("refresh_venue_stats")]
    assert [r.status for r in down] == ["failed", "failed"]
    assert all(r.error.startswith("database unavailable") for r in down)
    assert len(runner.pending) == 2
    assert job_runs(conn) == []

    runner.url = db_url  # the database answers again (the real restart is in test_jobs_processes)
    back = runner.run("expire_claims")
    runner.close()

    assert back.status == "succeeded" and len(runner.pending) == 0
    rows = job_runs(conn)
    assert [(r["job_name"], r["status"]) for r in rows] == [
        ("expire_claims", "failed"), ("refresh_venue_stats", "failed"), ("expire_claims", "succeeded")]
    assert all(r["details"]["recorded_late"] and r["error"].startswith("database unavailable") for r in rows[:2])
    assert rows[0]["scheduled_at"] == down[0].scheduled_at
    assert rows[0]["started_at"] == down[0].started_at


def test_the_queue_of_unrecorded_runs_is_bounded_and_counts_what_it_dropped(db_url, conn):
    runner = scheduler.JobRunner(UNREACHABLE, pending_max=3)
    for _ in range(5):
        runner.run("expire_notifications")
    assert len(runner.pending) == 3 and runner.pending.dropped == 2
    runner.url = db_url
    runner.run("expire_notifications")
    runner.close()
    failed = [r for r in job_runs(conn) if r["status"] == "failed"]
    assert len(failed) == 3
    assert failed[0]["details"]["runs_dropped_before"] == 2


# -- schedules ---------------------------------------------------------------------------------------------


def test_schedules_parse_intervals_crontabs_and_off():
    assert scheduler.parse_schedule("interval:300").interval == timedelta(seconds=300)
    assert scheduler.parse_schedule("interval:5m").interval == timedelta(minutes=5)
    assert scheduler.parse_schedule(" interval: 1h ").interval == timedelta(hours=1)
    assert isinstance(scheduler.parse_schedule("cron:*/5 * * * *"), CronTrigger)
    assert scheduler.parse_schedule("off") is None
    for bad in ("every minute", "interval:0", "interval:soon", "cron:* * *", "", "cron:"):
        with pytest.raises(ConfigError):
            scheduler.parse_schedule(bad)


def test_environment_overrides_name_the_variable_when_wrong():
    env = {"VENUEPULSE_JOB_PROBE_QUERIES": "cron:0 3 * * *", "VENUEPULSE_JOB_EXPIRE_CLAIMS": "off"}
    out = scheduler.schedules(env)
    assert out["probe_queries"][0] == "cron:0 3 * * *" and isinstance(out["probe_queries"][1], CronTrigger)
    assert out["expire_claims"] == ("off", None)
    assert out["refresh_venue_stats"][0] == "interval:300"
    with pytest.raises(ConfigError, match="VENUEPULSE_JOB_REFRESH_VENUE_STATS"):
        scheduler.schedules({"VENUEPULSE_JOB_REFRESH_VENUE_STATS": "hourly"})
    with pytest.raises(ConfigError, match="VENUEPULSE_JOB_REFRESH_STATS names no job"):
        scheduler.schedules({"VENUEPULSE_JOB_REFRESH_STATS": "off"})


def test_every_job_is_scheduled_with_coalescing_one_instance_and_its_grace_time(db_url):
    runner = scheduler.JobRunner(db_url)
    sched = scheduler.build_scheduler(runner, env={"VENUEPULSE_JOB_MAINTAIN_PARTITIONS": "off"})
    jobs = {j.id: j for j in sched.get_jobs()}
    assert set(jobs) == set(JOBS) - {"maintain_partitions"}
    for name, job in jobs.items():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == JOBS[name].grace_seconds
        assert isinstance(job.trigger, CronTrigger if name == "send_owner_reports" else IntervalTrigger)
    assert jobs["refresh_venue_stats"].trigger.interval == timedelta(minutes=5)
    assert jobs["reconcile_counters"].trigger.interval == timedelta(hours=1)
    assert jobs["send_offer_pushes"].trigger.interval == timedelta(minutes=1)
    assert isinstance(sched._lookup_executor("default"), scheduler._RecordingExecutor)
    runner.close()


def test_the_scheduler_runs_jobs_on_time_and_stops_on_its_event(conn, db_url):
    stop = threading.Event()
    env = _all_off(expire_notifications="interval:1")
    t = threading.Thread(target=scheduler.run_scheduler, args=(db_url, stop, env))
    t.start()
    try:
        deadline = time.monotonic() + 30
        while len([r for r in job_runs(conn) if r["status"] == "succeeded"]) < 3:
            assert time.monotonic() < deadline, "the scheduler did not run its job"
            time.sleep(0.2)
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()
    rows = job_runs(conn)
    assert {r["job_name"] for r in rows} == {"expire_notifications"}
    assert all(r["scheduled_at"] is not None and r["scheduled_at"] <= r["started_at"] for r in rows)
    # the schedule's own times (whole seconds apart), not the moments the runs happened to start
    times = [r["scheduled_at"] for r in rows]
    assert all((b - a) % timedelta(seconds=1) == timedelta(0) and b > a for a, b in zip(times, times[1:], strict=False))


def test_every_job_runs_through_the_wrapper_on_a_small_world(conn, db_url):
    v = venue(conn)
    u = user(conn)
    conn.execute("SELECT check_in(%s, %s)", (u, v))
    running_offer(conn, v)
    runner = scheduler.JobRunner(db_url)
    try:
        results = {name: runner.run(name, trigger="manual") for name in JOBS}
    finally:
        runner.close()
    assert {n: (r.status, r.error) for n, r in results.items()} == {n: ("succeeded", None) for n in JOBS}
    assert results["send_offer_pushes"].rows == 1
    logged = {r[0] for r in conn.execute("SELECT DISTINCT query_name FROM query_performance_log")}
    assert {f"job.{n}" for n in JOBS} <= logged
    assert "health.ping" in logged  # a probe, recorded like live traffic
