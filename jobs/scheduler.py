"""The jobs process: one APScheduler ``BlockingScheduler`` running the jobs of :mod:`jobs.definitions`.

Every run goes through :meth:`JobRunner.run`, which

- opens a dedicated connection and takes the job's PostgreSQL advisory lock (``pg_try_advisory_lock``):
  when another scheduler process holds it, the run is recorded as ``skipped`` and says who holds it;
- writes a ``job_runs`` row (scheduled and actual start, finish, status, rows affected, error, details);
- times the job into ``query_performance_log`` as ``job.<name>``;
- logs with the job's name and run id, and captures any exception (the scheduler carries on);
- when the database is unreachable, keeps the failed run in a bounded in-memory queue and writes it to
  ``job_runs`` as soon as the database answers again.

The scheduler keeps its jobs in a ``MemoryJobStore`` of its own (never shared between processes), with
``coalesce=True``, ``max_instances=1`` and a misfire grace time per job. ``run_scheduler(url)`` blocks
until SIGTERM/SIGINT or until ``stop_event`` is set; ``venuepulse up`` starts it in a child process.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from venuepulse.durations import parse_duration
from venuepulse.errors import ConfigError, DatabaseUnavailable, describe_url, error_line
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import job_runs as jobsdb
from venuepulse.queries.pages import jobs_health

from .definitions import JOBS, JobContext, JobSpec, get_job

log = logging.getLogger("venuepulse.jobs")

ENV_PREFIX = "VENUEPULSE_JOB_"
PENDING_MAX = 1000


# -- schedules ---------------------------------------------------------------------------------------------


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def parse_schedule(text: str, where: str = "schedule") -> BaseTrigger | None:
    """``interval:300`` / ``interval:5m`` / ``cron:*/5 * * * *`` (UTC) / ``off`` -> a trigger (None for off)."""
    raw = (text or "").strip()
    kind, sep, value = raw.partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if raw.lower() == "off":
        return None
    if sep and kind == "interval":
        try:
            seconds = parse_duration(value, default_unit="s").total_seconds()
        except ValueError:
            seconds = 0
        if seconds <= 0:
            raise ConfigError(f"{where}: {raw!r} needs a positive interval such as interval:300, interval:5m or interval:1h.")
        return IntervalTrigger(seconds=seconds, timezone=UTC)
    if sep and kind == "cron":
        try:
            return CronTrigger.from_crontab(value, timezone=UTC)
        except ValueError as exc:
            raise ConfigError(f"{where}: {raw!r} is not a 5-field crontab expression ({exc}).") from None
    raise ConfigError(f"{where}: {raw!r} is not a schedule; use interval:<seconds>, cron:<crontab> or off.")


def effective_schedule(spec: JobSpec, env: Mapping[str, str] | None = None) -> str:
    """The job's schedule text: ``VENUEPULSE_JOB_<NAME>`` if set, else its default."""
    env = os.environ if env is None else env
    return (env.get(env_var(spec.name)) or spec.schedule).strip()


def schedules(env: Mapping[str, str] | None = None) -> dict[str, tuple[str, BaseTrigger | None]]:
    """Every job's schedule text and trigger; a bad ``VENUEPULSE_JOB_*`` value is a ConfigError naming it."""
    env = os.environ if env is None else env
    known = {env_var(n) for n in JOBS}
    unknown = sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise ConfigError(f"{unknown[0]} names no job; jobs are {', '.join(JOBS)}.")
    out = {}
    for name, spec in JOBS.items():
        text = effective_schedule(spec, env)
        where = env_var(name) if env.get(env_var(name)) else f"default schedule of {name}"
        out[name] = (text, parse_schedule(text, where))
    return out


# -- runs --------------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunRecord:
    """The outcome of one run, as written (or to be written) to job_runs."""

    job: str
    status: str  # succeeded | failed | skipped
    scheduled_at: datetime | None
    started_at: datetime
    finished_at: datetime
    run_id: int | None = None
    rows: int | None = None
    error: str | None = None
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return (self.finished_at - self.started_at).total_seconds() * 1000.0


class PendingRuns:
    """Runs that could not be written because the database was unreachable (bounded, oldest dropped)."""

    def __init__(self, maxlen: int = PENDING_MAX):
        self._items: deque[RunRecord] = deque()
        self._maxlen = maxlen
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, rec: RunRecord) -> None:
        with self._lock:
            if len(self._items) >= self._maxlen:
                self._items.popleft()
                self.dropped += 1
            self._items.append(rec)

    def __len__(self) -> int:
        return len(self._items)

    def flush(self, conn: psycopg.Connection) -> int:
        """Write the queued runs in order; stops (keeping the rest) at the first failure. Returns how many."""
        written = 0
        with self._lock:
            while self._items:
                rec = self._items[0]
                details = {**rec.details, "recorded_late": True}
                if self.dropped:
                    details["runs_dropped_before"] = self.dropped
                if rec.run_id is not None:
                    jobsdb.finish_run(conn, rec.run_id, status=rec.status, finished_at=rec.finished_at,
                                      rows=rec.rows, error=rec.error, details=details)
                else:
                    rec.run_id = jobsdb.insert_run(conn, rec.job, status=rec.status, scheduled_at=rec.scheduled_at,
                                                   started_at=rec.started_at, finished_at=rec.finished_at,
                                                   rows=rec.rows, error=rec.error, details=details)
                self._items.popleft()
                self.dropped = 0
                written += 1
        return written


def _is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, DatabaseUnavailable) or (
        isinstance(exc, psycopg.OperationalError) and not isinstance(exc, psycopg.errors.QueryCanceled))


class JobRunner:
    """Runs jobs by name with lock, bookkeeping, timing and failure capture. Thread-safe."""

    def __init__(self, url: str, jobs: Mapping[str, JobSpec] | None = None, pending_max: int = PENDING_MAX):
        self.url = url
        self.jobs = dict(JOBS if jobs is None else jobs)
        self.pending = PendingRuns(pending_max)
        self._db: Database | None = None
        self._db_lock = threading.Lock()
        self._ident = {"pid": os.getpid(), "host": socket.gethostname()}
        self.stopping = threading.Event()  # set on shutdown: long-running jobs (sample_waits) end early

    # the pool the jobs' own work uses; dropped whenever the database was found unreachable
    def db(self) -> Database:
        with self._db_lock:
            if self._db is None:
                self._db = Database(self.url, min_size=1, max_size=4, application_name="venuepulse-jobs").open()
            return self._db

    def reset_db(self) -> None:
        with self._db_lock:
            db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except Exception:  # closing a pool whose server is gone may complain; it is discarded anyway
                log.debug("closing the jobs' pool failed", exc_info=True)

    def close(self) -> None:
        self.reset_db()

    def _record_timing(self, conn: psycopg.Connection, rec: RunRecord) -> None:
        name = f"job.{rec.job}"
        db = self._db
        recorder = getattr(db, "record", None) if db is not None else None
        try:
            if recorder is not None:
                recorder(name, rec.duration_ms, row_count=rec.rows)
            else:
                jobsdb.record_timing(conn, name, rec.duration_ms, rec.rows)
        except Exception as exc:  # timing is never worth failing a run for
            log.warning("[%s run %s] could not record its duration: %s", rec.job, rec.run_id, error_line(exc))

    def _unreachable(self, rec: RunRecord, exc: BaseException) -> RunRecord:
        rec.status, rec.finished_at = "failed", _now()
        rec.error = rec.error or f"database unavailable: {exc}"
        self.pending.add(rec)
        self.reset_db()
        log.error("[%s run %s] failed: %s (kept in memory, %d runs waiting for the database)",
                  rec.job, rec.run_id if rec.run_id is not None else "-", rec.error, len(self.pending))
        return rec

    def run(self, name: str, scheduled_at: datetime | None = None, trigger: str = "schedule") -> RunRecord:
        """Run job ``name`` now. Never raises for the job's own failures: the RunRecord says what happened."""
        spec = get_job(name, self.jobs)
        rec = RunRecord(name, "failed", scheduled_at, _now(), _now(),
                        details={**self._ident, "trigger": trigger})
        try:
            conn = jobsdb.dedicated_connection(self.url, application_name=f"venuepulse-job:{name}"[:63])
        except DatabaseUnavailable as exc:
            return self._unreachable(rec, exc)
        try:
            with conn:
                return self._run_locked(spec, conn, rec)
        except Exception as exc:
            if _is_unavailable(exc):
                return self._unreachable(rec, exc)
            # bookkeeping itself failed (not the job): say so and carry on
            rec.status, rec.finished_at, rec.error = "failed", _now(), error_line(exc)
            log.exception("[%s run %s] bookkeeping failed", name, rec.run_id)
            return rec

    def _run_locked(self, spec: JobSpec, conn: psycopg.Connection, rec: RunRecord) -> RunRecord:
        name = spec.name
        if len(self.pending):
            n = self.pending.flush(conn)
            log.info("database reachable again: recorded %d runs that failed while it was not", n)
        if not jobsdb.try_lock(conn, name):
            holder = jobsdb.lock_holder(conn, name)
            who = (f"backend pid {holder['pid']} ({holder['application_name'] or 'unnamed'}"
                   f"{', ' + holder['client_addr'] if holder.get('client_addr') else ''})") if holder else "another session"
            rec.status, rec.finished_at = "skipped", _now()
            rec.error = f"skipped: another scheduler process is running {name} ({who} holds its lock)"
            rec.summary = rec.error
            rec.run_id = jobsdb.insert_run(conn, name, status="skipped", scheduled_at=rec.scheduled_at,
                                           started_at=rec.started_at, finished_at=rec.finished_at,
                                           error=rec.error, details=rec.details)
            log.info("[%s run %s] %s", name, rec.run_id, rec.error)
            return rec
        try:
            abandoned = jobsdb.abandon_running(conn, name)
            if abandoned:
                log.warning("[%s] runs %s were left 'running' by a process that stopped; marked failed", name, abandoned)
            rec.started_at = _now()
            rec.run_id = jobsdb.start_run(conn, name, scheduled_at=rec.scheduled_at, started_at=rec.started_at,
                                          details=rec.details)
            log.info("[%s run %s] started%s", name, rec.run_id,
                     f" (scheduled {rec.scheduled_at:%H:%M:%S})" if rec.scheduled_at else "")
            t0 = time.perf_counter()
            try:
                outcome = spec.func(self.db(), JobContext(name, rec.run_id, rec.scheduled_at, rec.details["trigger"],
                                                          self.stopping))
            except Exception as exc:
                elapsed = time.perf_counter() - t0
                rec.status, rec.error = "failed", error_line(exc)
                rec.details.update(getattr(exc, "details", None) or {})
                if _is_unavailable(exc):
                    rec.finished_at = rec.started_at + timedelta(seconds=elapsed)
                    raise
                log.error("[%s run %s] failed after %.0f ms: %s", name, rec.run_id, elapsed * 1000, rec.error,
                          exc_info=not hasattr(exc, "details") and not isinstance(exc, ConfigError))
            else:
                elapsed = time.perf_counter() - t0
                rec.status, rec.rows, rec.summary = "succeeded", int(outcome.rows), outcome.summary
                rec.details.update(outcome.details)
                rec.details["summary"] = outcome.summary
                log.info("[%s run %s] succeeded in %.0f ms: %s", name, rec.run_id, elapsed * 1000, outcome.summary)
            rec.finished_at = rec.started_at + timedelta(seconds=elapsed)
            self._record_timing(conn, rec)
            jobsdb.finish_run(conn, rec.run_id, status=rec.status, finished_at=rec.finished_at, rows=rec.rows,
                              error=rec.error, details=rec.details)
            return rec
        finally:
            if not conn.closed and not conn.broken:
                try:
                    jobsdb.unlock(conn, name)
                except Exception:  # closing the session releases it anyway
                    log.debug("unlock of %s failed", name, exc_info=True)

    def record_missed(self, name: str, scheduled_at: datetime, late_by: float) -> None:
        """A run APScheduler dropped because it started later than the job's grace time (coalesced)."""
        rec = RunRecord(name, "skipped", scheduled_at, _now(), _now(),
                        error=f"missed: started {late_by:.0f} s after its time, past the job's grace time",
                        details={**self._ident, "trigger": "schedule"})
        try:
            with jobsdb.dedicated_connection(self.url) as conn:
                rec.run_id = jobsdb.insert_run(conn, name, status="skipped", scheduled_at=scheduled_at,
                                               started_at=rec.started_at, finished_at=rec.finished_at,
                                               error=rec.error, details=rec.details)
        except Exception as exc:
            if not _is_unavailable(exc):
                log.warning("[%s] could not record a missed run: %s", name, error_line(exc))
                return
            self.pending.add(rec)


# -- the scheduler ------------------------------------------------------------------------------------------


class _RecordingExecutor(ThreadPoolExecutor):
    """A thread pool that remembers each submission's scheduled time (APScheduler's events carry none to
    the job itself). With max_instances=1 a job has at most one submission in flight."""

    def __init__(self, max_workers: int = 4):
        super().__init__(max_workers)
        self._scheduled: dict[str, datetime] = {}
        self._lock_scheduled = threading.Lock()

    def _do_submit_job(self, job, run_times):
        with self._lock_scheduled:
            self._scheduled[job.id] = run_times[-1]
        super()._do_submit_job(job, run_times)

    def scheduled_for(self, job_id: str) -> datetime | None:
        with self._lock_scheduled:
            return self._scheduled.get(job_id)


def build_scheduler(runner: JobRunner, env: Mapping[str, str] | None = None,
                    run_at_start: bool = True) -> BlockingScheduler:
    """A BlockingScheduler with every job not switched off. Interval jobs also run once at start
    (staggered by a second each) so a fresh process brings views, partitions and counters up to date."""
    # one worker is nearly always busy with sample_waits (a run samples for most of its minute)
    executor = _RecordingExecutor(max_workers=5)
    scheduler = BlockingScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": executor},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=UTC,
    )

    def fire(name: str) -> None:
        runner.run(name, scheduled_at=executor.scheduled_for(name), trigger="schedule")

    start = _now()
    for i, (name, (text, trigger)) in enumerate(schedules(env).items()):
        spec = runner.jobs[name]
        if trigger is None:
            log.info("job %s is off (%s=off)", name, env_var(name))
            continue
        first = {}
        if run_at_start and isinstance(trigger, IntervalTrigger):
            first["next_run_time"] = start + timedelta(seconds=1 + i)
        scheduler.add_job(fire, trigger, args=[name], id=name, name=name, coalesce=True, max_instances=1,
                          misfire_grace_time=spec.grace_seconds, replace_existing=True, **first)
        log.info("job %s: %s (grace %d s)", name, text, spec.grace_seconds)

    def on_event(event) -> None:
        if event.code == EVENT_JOB_MISSED and isinstance(event, JobExecutionEvent):
            late = (_now() - event.scheduled_run_time).total_seconds()
            log.warning("[%s] run of %s missed by %.0f s (coalesced)", event.job_id, event.scheduled_run_time, late)
            runner.record_missed(event.job_id, event.scheduled_run_time, late)
        elif event.code == EVENT_JOB_MAX_INSTANCES and isinstance(event, JobSubmissionEvent):
            log.info("[%s] previous run still going; this run skipped (coalesced)", event.job_id)
        elif event.code == EVENT_JOB_ERROR:
            log.error("[%s] wrapper raised: %s", event.job_id, event.exception)

    scheduler.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
    return scheduler


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("venuepulse").setLevel(logging.INFO)
    # APScheduler's own info lines duplicate ours; psycopg_pool retries are summarised by our errors
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


def run_scheduler(url: str, stop_event: Any = None, env: Mapping[str, str] | None = None) -> None:
    """Run the jobs process until SIGTERM/SIGINT (in the main thread) or until ``stop_event`` is set.

    ``stop_event`` is anything with ``wait()``/``is_set()`` (threading or multiprocessing Event).
    """
    _configure_logging()
    runner = JobRunner(url)
    scheduler = build_scheduler(runner, env)
    log.info("jobs process %s on %s: %d jobs scheduled", os.getpid(), describe_url(url),
             len(scheduler.get_jobs()))

    def stop(*_: Any) -> None:
        runner.stopping.set()
        if scheduler.running:
            log.info("jobs process stopping")
            scheduler.shutdown(wait=False)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    if stop_event is not None:
        def watch() -> None:
            stop_event.wait()
            while not scheduler.running and not getattr(scheduler, "_venuepulse_done", False):
                time.sleep(0.05)
            stop()

        threading.Thread(target=watch, name="jobs-stop-watch", daemon=True).start()
    try:
        scheduler.start()
    finally:
        scheduler._venuepulse_done = True  # type: ignore[attr-defined]
        runner.close()
        log.info("jobs process stopped")


def run_once(url: str, name: str) -> RunRecord:
    """Run job ``name`` once now (with its lock and job_runs row), as ``venuepulse jobs --once``."""
    get_job(name)
    runner = JobRunner(url)
    try:
        return runner.run(name, scheduled_at=None, trigger="manual")
    finally:
        runner.close()


def job_table(url: str | None, env: Mapping[str, str] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Every job with its schedule, grace time and last run; the second value says why last runs are
    missing (database unreachable), else None."""
    scheds = schedules(env)
    last: dict[str, dict[str, Any]] = {}
    problem = None
    if url is not None:
        db = Database(url, min_size=0, max_size=1, application_name="venuepulse-jobs-list")
        try:
            last = {r["job_name"]: r for r in jobs_health.job_overview(db, JOBS)}
        except DatabaseUnavailable as exc:
            problem = str(exc)
        finally:
            db.close()
    rows = []
    for name, spec in JOBS.items():
        text, trigger = scheds[name]
        r = last.get(name, {})
        rows.append({"job": name, "schedule": text, "grace_seconds": spec.grace_seconds,
                     "next": None if trigger is None else trigger.get_next_fire_time(None, _now()),
                     "description": spec.description, **{k: v for k, v in r.items() if k != "job_name"}})
    return rows, problem


def _when(value: Any) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else "-"


def format_job_table(rows: list[dict[str, Any]], problem: str | None) -> list[str]:
    """``venuepulse jobs --list`` lines: job, schedule, next run, last run (status, start, duration, rows)."""
    head = ("job", "schedule", "next run (UTC)", "last run (UTC)", "status", "ms", "rows")
    table = [head]
    for r in rows:
        dur = r.get("last_duration_ms")
        table.append((r["job"], r["schedule"], _when(r["next"]), _when(r.get("last_started_at")),
                      r.get("last_status") or ("never ran" if problem is None else "unknown"),
                      "-" if dur is None else f"{dur:.0f}",
                      "-" if r.get("last_rows") is None else str(r["last_rows"])))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    for r in rows:
        if r.get("last_status") == "failed" and r.get("last_error"):
            lines.append(f"{r['job']} last error: {r['last_error']}")
    if problem:
        lines.append(f"last runs unknown: {problem}")
    lines.append(f"schedules: {ENV_PREFIX}<NAME>=interval:<seconds>|cron:<crontab>|off (see docs/jobs.md)")
    return lines
