"""Job bookkeeping: ``job_runs`` rows and per-job advisory locks.

The scheduler (``jobs/scheduler.py``) keeps one dedicated autocommit connection per run for the job's
advisory lock and its ``job_runs`` row, separate from the pool the job's own work uses; the functions
here run on such a connection. The "Jobs & health" page reads through ``pages/jobs_health.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from venuepulse.queries.core.connect import connect
from venuepulse.queries.core.execute import execute

JOB_RUN_STATUSES = ("running", "succeeded", "failed", "skipped")
_dumps = partial(json.dumps, default=str, sort_keys=True)


def jsonb(value: Any) -> Jsonb:
    """A JSON parameter; datetimes, UUIDs and Decimals become strings."""
    return Jsonb(value, dumps=_dumps)


def run_on(conn: psycopg.Connection, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run named query ``name`` on an existing connection (inside its current transaction, if any).

    Used where several statements must share one transaction or session (locks). Runs through
    :func:`execute`: the query's timeout for this statement only; a lost connection becomes
    :class:`DatabaseUnavailable`, a statement timeout :class:`QueryTimeout`, any other driver error
    :class:`QueryError`.
    """
    return execute(conn, name, params)


def dedicated_connection(url: str, application_name: str = "venuepulse-jobs") -> psycopg.Connection:
    """An autocommit connection of its own (advisory locks are per session); DatabaseUnavailable if down."""
    return connect(url, autocommit=True, connect_timeout=5, application_name=application_name)


# -- advisory locks ----------------------------------------------------------------------------------------


def try_lock(conn: psycopg.Connection, job: str) -> bool:
    """Take job ``job``'s session advisory lock without waiting; False when another session holds it."""
    return bool(run_on(conn, "jobs.try_lock", {"job": job})[0]["locked"])


def unlock(conn: psycopg.Connection, job: str) -> bool:
    return bool(run_on(conn, "jobs.unlock", {"job": job})[0]["unlocked"])


def lock_holder(conn: psycopg.Connection, job: str) -> dict[str, Any] | None:
    """The backend holding job ``job``'s lock (pid, application_name, client_addr), if any."""
    rows = run_on(conn, "jobs.lock_holder", {"job": job})
    return rows[0] if rows else None


# -- job_runs writes ---------------------------------------------------------------------------------------


def _status(status: str) -> str:
    if status not in JOB_RUN_STATUSES:
        raise ValueError(f"job run status must be one of {', '.join(JOB_RUN_STATUSES)}, not {status!r}")
    return status


def abandon_running(conn: psycopg.Connection, job: str) -> list[int]:
    """Mark job ``job``'s 'running' rows failed (call only while holding its lock: their process is gone)."""
    return [r["id"] for r in run_on(conn, "jobs.abandon_running", {"job": job})]


def start_run(conn: psycopg.Connection, job: str, *, scheduled_at: datetime | None, started_at: datetime,
              details: Mapping[str, Any] | None = None) -> int:
    """Insert a 'running' row for a run of ``job``; returns its id."""
    row = run_on(conn, "jobs.start_run", {"job": job, "scheduled_at": scheduled_at, "started_at": started_at,
                                           "details": jsonb(dict(details or {}))})
    return row[0]["id"]


def finish_run(conn: psycopg.Connection, run_id: int, *, status: str, finished_at: datetime,
               rows: int | None = None, error: str | None = None,
               details: Mapping[str, Any] | None = None) -> None:
    """Close run ``run_id`` with its outcome; ``details`` are merged into the row's details."""
    run_on(conn, "jobs.finish_run", {"id": run_id, "status": _status(status), "finished_at": finished_at,
                                     "rows": rows, "error": error, "details": jsonb(dict(details or {}))})


def insert_run(conn: psycopg.Connection, job: str, *, status: str, scheduled_at: datetime | None,
               started_at: datetime, finished_at: datetime, rows: int | None = None, error: str | None = None,
               details: Mapping[str, Any] | None = None) -> int:
    """Insert a complete run (a skipped run, or one that failed while the database was unreachable)."""
    row = run_on(conn, "jobs.insert_run", {
        "job": job, "status": _status(status), "scheduled_at": scheduled_at, "started_at": started_at,
        "finished_at": finished_at, "rows": rows, "error": error, "details": jsonb(dict(details or {}))})
    return row[0]["id"]


def record_timing(conn: psycopg.Connection, name: str, elapsed_ms: float, row_count: int | None = None) -> None:
    """Write one timing into query_performance_log directly (used when no recorder is available)."""
    run_on(conn, "jobs.record_timing", {"name": name, "ms": max(0.0, float(elapsed_ms)),
                                        "rows": None if row_count is None else max(0, int(row_count))})
