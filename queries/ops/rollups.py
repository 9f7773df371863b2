"""Rollups (docs/rollups.md): folding the change log into the rollups, their freshness, rebuilding them from
raw history while the app keeps writing, and reconciling venue_stats with a full recount.

The folds are SQL functions (migration 0007) that take their consumer's advisory lock themselves, so any
client may run them at any time, concurrently or not. A rebuild batch recomputes whole UTC days from raw
rows in the *same snapshot* as the fold before it (REPEATABLE READ), under the same lock taken first by
the session, so its days equal the raw rows of that snapshot and every later change is folded on top.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from venuepulse.queries.core.connect import connect
from venuepulse.queries.ops.job_runs import run_on

CONSUMERS = ("activity", "pairs", "venue_stats", "delays")
DAY = timedelta(days=1)


def fold(db, consumers: tuple[str, ...] = CONSUMERS) -> dict[str, dict[str, Any]]:
    """Fold each consumer's unfolded changes (its own transaction each); per consumer its result and ms."""
    out: dict[str, dict[str, Any]] = {}
    for consumer in consumers:
        started = time.perf_counter()
        row = db.one(f"rollups.fold_{consumer}") or {}
        out[consumer] = {**row, "ms": (time.perf_counter() - started) * 1000.0}
    return out


def status(db) -> list[dict[str, Any]]:
    """Per consumer: as_of, folded_at, last fold's changes and ms, live tail rows, oldest unfolded change, lag."""
    return db.run("rollups.status")


@contextmanager
def _locked_repeatable_read(conn: psycopg.Connection, consumer: str):
    """One REPEATABLE READ transaction on ``conn`` taken after ``consumer``'s lock, so its snapshot sees
    every fold that committed before it (a snapshot taken while waiting would not)."""
    conn.autocommit = True
    run_on(conn, "rollups.lock", {"consumer": consumer})
    try:
        conn.autocommit = False
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            yield conn
    finally:
        conn.autocommit = True
        run_on(conn, "rollups.unlock", {"consumer": consumer})


def _utc_day(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def rebuild(url: str, *, from_day: date | datetime | None = None, batch_days: int = 1,
            progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Recompute the rollups from raw rows, from ``from_day`` (default: the first day with data) to the
    last, one batch of ``batch_days`` UTC days per transaction, then the pair rollups and venue_stats.

    Resumable: an unfinished rebuild from the same day continues where it stopped. Safe while the app
    writes (see the module docstring). ``progress`` gets a dict per batch (day, next_day, done, total).
    """
    if not isinstance(batch_days, int) or batch_days < 1:
        raise ValueError(f"batch_days must be a whole number of days from 1, not {batch_days!r}")
    started = time.perf_counter()
    with connect(url, autocommit=True, application_name="venuepulse-rollups") as conn:
        bounds = run_on(conn, "rollups.rebuild_bounds")[0]
        first = _utc_day(from_day) if from_day is not None else bounds["first_day"]
        end = max(bounds["end_day"], first + DAY)
        job = next(iter(run_on(conn, "rollups.rebuild_resume", {"from_day": first})), None)
        resumed = job is not None
        if job is None:
            job = run_on(conn, "rollups.rebuild_start", {"from_day": first, "to_day": end})[0]
        else:
            run_on(conn, "rollups.rebuild_extend", {"id": job["id"], "to_day": end})
        day = job["next_day"]
        total = max(1, (end - first) // DAY)
        batches = 0
        while day < end:
            nxt = min(day + batch_days * DAY, end)
            with _locked_repeatable_read(conn, "activity"):
                run_on(conn, "rollups.fold_activity")
                run_on(conn, "rollups.rebuild_activity", {"from": day, "to": nxt})
                run_on(conn, "rollups.rebuild_offers", {"from": day, "to": nxt})
                run_on(conn, "rollups.rebuild_progress", {"id": job["id"], "next_day": nxt})
            with _locked_repeatable_read(conn, "delays"):
                run_on(conn, "rollups.fold_delays")
                run_on(conn, "rollups.rebuild_delays", {"from": day, "to": nxt})
            batches += 1
            day = nxt
            if progress:
                progress({"day": day - batch_days * DAY, "next_day": nxt, "done": (nxt - first) // DAY,
                          "total": total})
        # each takes its own lock and records the snapshot it read as its consumer's
        run_on(conn, "rollups.rebuild_pairs")
        run_on(conn, "rollups.venue_stats_full")
        run_on(conn, "rollups.rebuild_finish", {"id": job["id"]})
    return {"from_day": first, "to_day": end, "days": total, "batches": batches, "resumed": resumed,
            "seconds": time.perf_counter() - started}


def rebuild_all(url: str, *, venue_stats: bool = True) -> dict[str, float]:
    """Every rollup from raw rows, set-based in few statements (after a bulk load); seconds per part.
    ``venue_stats=False`` leaves venue_stats to the caller (the seed recomputes it as its own step)."""
    steps: dict[str, float] = {}
    with connect(url, autocommit=True, application_name="venuepulse-rollups") as conn:
        t0 = time.perf_counter()
        with _locked_repeatable_read(conn, "activity"):
            run_on(conn, "rollups.fold_activity")
            run_on(conn, "rollups.rebuild_activity", {"from": datetime.min.replace(tzinfo=UTC),
                                                      "to": datetime.max.replace(tzinfo=UTC)})
            run_on(conn, "rollups.rebuild_offers", {"from": None, "to": None})
        steps["activity"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with _locked_repeatable_read(conn, "delays"):
            run_on(conn, "rollups.fold_delays")
            run_on(conn, "rollups.rebuild_delays", {"from": datetime.min.replace(tzinfo=UTC),
                                                    "to": datetime.max.replace(tzinfo=UTC)})
        steps["delays"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_on(conn, "rollups.rebuild_pairs")
        steps["pairs"] = time.perf_counter() - t0
        if venue_stats:
            t0 = time.perf_counter()
            run_on(conn, "rollups.venue_stats_full")
            steps["venue_stats"] = time.perf_counter() - t0
    return steps


def venue_stats_drift(url: str, *, repair: bool = False) -> list[dict[str, Any]]:
    """venue_stats rows that differ from a full recount from raw rows (folded first, in one snapshot and at
    one clock, so any difference is drift); ``repair`` replaces them with the recount."""
    with connect(url, autocommit=True, application_name="venuepulse-rollups") as conn:
        with _locked_repeatable_read(conn, "venue_stats"):
            run_on(conn, "rollups.fold_venue_stats")
            return run_on(conn, "rollups.venue_stats_drift", {"repair": repair})
