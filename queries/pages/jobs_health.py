"""Reads behind the "Jobs & health" page: job runs, failures, view freshness, partitions, counter drift, and
what the jobs' database role may do."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops.job_runs import _status


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



def role_privileges(db: Database) -> dict[str, Any]:
    """The jobs' role's privilege checklist as the ``check_privileges`` job last recorded it, and what the
    connected (dashboard) role itself may see.

    ``{"checklist": {...} | None, "checked_at": datetime | None, "viewer": {"role", "reads_all_stats"}}``;
    the checklist is None until the job has run (the dashboard's read-only role cannot examine another role).
    """
    from venuepulse.queries.access import privileges

    recorded = db.one("privileges.recorded", cache=False)
    me = privileges.role_facts(db)
    return {"checklist": recorded["checklist"] if recorded else None,
            "checked_at": recorded["checked_at"] if recorded else None,
            "viewer": {"role": me.get("role_name"),
                       "reads_all_stats": bool(me.get("pg_read_all_stats") or me.get("pg_monitor"))}}


def rollup_lag(db: Database) -> list[dict[str, Any]]:
    """Per rollup consumer (activity, pairs, venue_stats): its last fold (as_of, folded_at, last_changes,
    last_ms) and what it has not folded yet (tail_rows, oldest_unfolded_at, lag_seconds: the fold job's lag)."""
    rows = db.run("rollups.status")
    for r in rows:
        for key in ("last_ms", "lag_seconds"):
            if r[key] is not None:
                r[key] = float(r[key])
    return rows


def replication(db: Database) -> dict[str, Any]:
    """The primary's streaming replication: ``{"standbys": [...], "slots": [...], "hidden": bool}``.

    Read on the primary even when the page reads from a replica (``db.primary`` of a read router): only the
    primary knows its WAL senders and slots. ``hidden`` is true when standbys are connected but their
    positions are NULL to this role (it lacks pg_read_all_stats, which pg_monitor includes).
    """
    primary = getattr(db, "primary", None) or db
    standbys = primary.run("replication.standbys", cache=False)
    slots = primary.run("replication.slots", cache=False)
    for r in standbys:
        for key in ("write_lag_s", "flush_lag_s", "replay_lag_s"):
            if r[key] is not None:
                r[key] = float(r[key])
    return {"standbys": standbys, "slots": slots, "hidden": any(not r["visible"] for r in standbys)}
