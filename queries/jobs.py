"""Job bookkeeping (``job_runs``, per-job advisory locks) and the reads behind the "Jobs & health" page.

The scheduler (``jobs/scheduler.py``) keeps one dedicated autocommit connection per run for the job's
advisory lock and its ``job_runs`` row, separate from the pool the job's own work uses; the functions
taking ``conn`` run on such a connection. The page functions take a :class:`queries.runner.Database`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .db import connect
from .errors import DatabaseUnavailable, QueryError
from .registry import get
from .runner import Database

JOB_RUN_STATUSES = ("running", "succeeded", "failed", "skipped")
_dumps = partial(json.dumps, default=str, sort_keys=True)


def jsonb(value: Any) -> Jsonb:
    """A JSON parameter; datetimes, UUIDs and Decimals become strings."""
    return Jsonb(value, dumps=_dumps)


def run_on(conn: psycopg.Connection, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run named query ``name`` on an existing connection (inside its current transaction, if any).

    Used where several statements must share one transaction or session (locks). A lost connection
    becomes :class:`DatabaseUnavailable`, any other driver error :class:`QueryError`.
    """
    q = get(name)
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            if not conn.autocommit:
                cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(q.timeout_ms),))
            cur.execute(q.tagged_sql, params or {})
            return cur.fetchall() if cur.description else []
    except psycopg.OperationalError as exc:
        if isinstance(exc, psycopg.errors.QueryCanceled) or not conn.closed and not conn.broken:
            raise QueryError(name, exc) from exc
        raise DatabaseUnavailable(f"lost the connection to PostgreSQL during {name}: {exc}") from exc
    except psycopg.Error as exc:
        raise QueryError(name, exc) from exc


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


# -- reads for the "Jobs & health" page ---------------------------------------------------------------------


def job_overview(db: Database, expected: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One row per job: last run (status, start, finish, duration, rows, error), last success, 24 h counts.

    ``expected`` (the scheduler's job names) adds jobs that never ran, with ``last_status`` None.
    """
    rows = {r["job_name"]: r for r in db.run("jobs.last_runs")}
    for name in expected or ():
        rows.setdefault(name, {"job_name": name, "last_run_id": None, "last_scheduled_at": None,
                               "last_started_at": None, "last_finished_at": None, "last_status": None,
                               "last_rows": None, "last_error": None, "last_duration_ms": None,
                               "last_success_at": None, "runs_24h": 0, "failed_24h": 0, "skipped_24h": 0})
    for r in rows.values():
        if r["last_duration_ms"] is not None:
            r["last_duration_ms"] = float(r["last_duration_ms"])
    return [rows[k] for k in sorted(rows)]


def job_runs(db: Database, job: str | None = None, start: datetime | None = None, end: datetime | None = None,
             limit: int = 200, status: str | None = None) -> list[dict[str, Any]]:
    """Runs newest first, optionally of one job, one status, and started in [start, end)."""
    if not isinstance(limit, int) or not 1 <= limit <= 100_000:
        raise ValueError(f"limit must be an integer from 1 to 100000, not {limit!r}")
    if status is not None:
        _status(status)
    rows = db.run("jobs.runs", {"job": job, "start": start, "end": end, "status": status, "limit": limit})
    for r in rows:
        for key in ("duration_ms", "start_delay_ms"):
            if r[key] is not None:
                r[key] = float(r[key])
    return rows


def drift_history(db: Database, start: datetime, end: datetime, limit: int = 10_000) -> list[dict[str, Any]]:
    """Every drifted number reconcile_counters found in [start, end): kind, entity, stored vs expected."""
    if start is None or end is None:
        raise ValueError("drift_history needs both a start and an end")
    if end <= start:
        raise ValueError(f"drift_history: end ({end}) must be after start ({start})")
    return db.run("jobs.drift_history", {"start": start, "end": end, "limit": limit})


def drift_daily(db: Database, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Drifted numbers found per day and kind in [start, end)."""
    if end <= start:
        raise ValueError(f"drift_daily: end ({end}) must be after start ({start})")
    return db.run("jobs.drift_daily", {"start": start, "end": end})


def partition_status(db: Database) -> list[dict[str, Any]]:
    """Per partitioned table: partitions, contiguous coverage from now (periods ahead), rows in default."""
    return db.run("jobs.partition_status")


def view_freshness(db: Database) -> dict[str, Any]:
    """venue_stats: populated?, refreshed_at, age in seconds, rows (None values when never populated)."""
    populated = bool(db.scalar("jobs.view_populated"))
    out: dict[str, Any] = {"view_name": "venue_stats", "populated": populated, "refreshed_at": None,
                           "age_seconds": None, "row_count": None}
    if populated:
        row = db.one("jobs.view_freshness") or {}
        out.update(row)
        if out["age_seconds"] is not None:
            out["age_seconds"] = float(out["age_seconds"])
    return out

