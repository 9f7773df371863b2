"""Query-performance analytics: what the "Query performance" page and the jobs call.

Every function takes a :class:`~queries.runner.Database` and returns **plain lists of dicts** (one
dict per row, keys as documented; ``pandas.DataFrame(result)`` turns one into a table), except the
status and overhead functions, which return one dict. Times are milliseconds (float); windows are
half-open ``[start, end)`` of timezone-aware datetimes. Percentiles from raw rows and the hourly
trend's are exact (``percentile_cont``); a window's (:func:`query_stats`) and those merged from the
histograms are estimates within :data:`PERCENTILE_BOUND` (about 9%).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from venuepulse.durations import parse_duration
from venuepulse.errors import QueryError
from venuepulse.queries.access.privileges import PGSS_CREATE_HOW, PGSS_LOAD_HOW
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import changes, plans

# Histogram buckets (must match vp_perf_bucket in migration 0002): bucket b covers
# [BASE_MS * 2^(b/PER_DOUBLING), BASE_MS * 2^((b+1)/PER_DOUBLING)).
BASE_MS = 0.001
PER_DOUBLING = 8
LAST_BUCKET = 255
MAX_SERIES_BUCKETS = 10_000
# A histogram percentile is within this fraction of percentile_cont (one bucket's width, see
# estimate_percentile).
PERCENTILE_BOUND = 2 ** (1 / PER_DOUBLING) - 1
# The rollup job leaves an hour alone until this long after it ends: the recorder stamps a timing when
# the query ran and writes it about a second later (up to ~30 s while it backs off from a failed
# write), and a row that reaches an hour already rolled is not added to the rollup.
ROLLUP_GRACE = timedelta(minutes=5)



def _aware(value: Any, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, not {value!r}")
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware (a naive datetime is ambiguous)")
    return value


def _window(start: Any, end: Any) -> tuple[datetime, datetime]:
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    return start, end


def _names(names: Sequence[str] | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        return [names]
    out = [str(n) for n in names]
    return out or None


def parse_bucket(bucket: str | timedelta) -> timedelta:
    """``"5m"``, ``"1 hour"``, ``"15 minutes"``, ``"1d"`` or a timedelta -> timedelta (1 s .. 31 days)."""
    if isinstance(bucket, timedelta):
        delta = bucket
    else:
        try:
            delta = parse_duration(bucket)
        except ValueError:
            raise ValueError(f"bucket {bucket!r} is not a duration such as '1m', '5 minutes', '1h' or '1d'") from None
    if not timedelta(seconds=1) <= delta <= timedelta(days=31):
        raise ValueError(f"bucket {bucket!r} must be between 1 second and 31 days")
    return delta


# --- exact, from raw rows --------------------------------------------------------------------------------


def query_stats(db: Database, start: datetime, end: datetime, names: Sequence[str] | None = None) -> list[dict]:
    """Per query name in the window: calls, failed, mean_ms, p50_ms, p95_ms, p99_ms, min_ms, max_ms,
    total_ms, total_rows, mean_rows; heaviest (total_ms) first.

    Read from the rollup plus the raw rows it does not cover, so the cost follows the window's days and
    hours, not its rows: whole UTC days from ``query_perf_daily``, other whole rolled hours from
    ``query_perf_hourly``, the rest (hours cut by the window, hours not rolled yet) from raw rows. Calls,
    failed, min, max and the sums are the raw log's (a row that reached the log more than
    :data:`ROLLUP_GRACE` after its hour ended, once the hour was rolled, is not in them; rows whose raw
    log expired still are). p50/p95/p99 are estimates from the merged histograms, within
    :data:`PERCENTILE_BOUND` of percentile_cont; :func:`exact_query_stats` reads every raw row instead."""
    start, end = _window(start, end)
    merged: dict[str, dict[str, Any]] = {}
    for piece in db.run("performance.window_pieces", {"start": start, "end": end, "names": _names(names)}):
        m = merged.get(piece["query_name"])
        if m is None:
            m = merged[piece["query_name"]] = {"query_name": piece["query_name"], "calls": 0, "failed": 0,
                                               "total_ms": 0.0, "min_ms": None, "max_ms": None, "total_rows": 0,
                                               "histogram": {}}
        m["calls"] += piece["calls"]
        m["failed"] += piece["failed"]
        m["total_ms"] += piece["total_ms"]
        m["total_rows"] += piece["total_rows"]
        m["min_ms"] = piece["min_ms"] if m["min_ms"] is None else min(m["min_ms"], piece["min_ms"])
        m["max_ms"] = piece["max_ms"] if m["max_ms"] is None else max(m["max_ms"], piece["max_ms"])
        hist = m["histogram"]
        for b, c in zip(piece["buckets"] or [], piece["bucket_calls"] or [], strict=True):
            hist[b] = hist.get(b, 0) + c
    out = []
    for m in merged.values():
        hist = m.pop("histogram")
        buckets = sorted(hist)
        counts = [hist[b] for b in buckets]
        succeeded = m["calls"] - m["failed"]
        m["mean_ms"] = m["total_ms"] / m["calls"]
        m["mean_rows"] = m["total_rows"] / succeeded if succeeded else None
        for label, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            m[label] = estimate_percentile(buckets, counts, p, m["min_ms"], m["max_ms"])
        out.append(m)
    out.sort(key=lambda r: (-r["total_ms"], r["query_name"]))
    return out


def exact_query_stats(db: Database, start: datetime, end: datetime,
                      names: Sequence[str] | None = None) -> list[dict]:
    """:func:`query_stats` from every raw row of the window, percentiles exact (percentile_cont); its
    cost grows with the window's rows, and rows whose raw log expired are not in it."""
    start, end = _window(start, end)
    return db.run("performance.query_stats", {"start": start, "end": end, "names": _names(names)})


def time_series(db: Database, start: datetime, end: datetime, bucket: str | timedelta,
                names: Sequence[str] | None = None) -> list[dict]:
    """Per clock-aligned bucket and query name: bucket_start, query_name, calls, failed, mean_ms,
    p50_ms, p95_ms, p99_ms, max_ms. Buckets without calls are absent.

    One-hour buckets read each whole rolled hour from ``query_perf_hourly`` (the rollup took its exact
    percentiles) and the rest of the window from raw rows, so their cost follows the window's hours; a
    rolled hour keeps the rollup's numbers (see :func:`query_stats` on rows arriving late). Where an hour
    was rolled before its percentiles were kept and its raw rows expired, they are estimated from its
    histogram (within :data:`PERCENTILE_BOUND`). Other widths read raw rows."""
    start, end = _window(start, end)
    width = parse_bucket(bucket)
    if (end - start) / width > MAX_SERIES_BUCKETS:
        raise ValueError(f"{bucket!r} buckets over this window would make more than {MAX_SERIES_BUCKETS} points; "
                         "choose a wider bucket")
    if width != timedelta(hours=1):
        return db.run("performance.time_series",
                      {"start": start, "end": end, "bucket": width, "names": _names(names)})
    rows = db.run("performance.time_series_hourly", {"start": start, "end": end, "names": _names(names)})
    for r in rows:
        buckets, counts = r.pop("buckets"), r.pop("bucket_calls")
        lo, hi = r.pop("min_ms"), r["max_ms"]
        if r["p50_ms"] is None and buckets:
            for label, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
                r[label] = estimate_percentile(buckets, counts, p, lo, hi)
    return rows


def slowest(db: Database, start: datetime, end: datetime, threshold_ms: float = 1000, limit: int = 50) -> list[dict]:
    """The slowest single executions over ``threshold_ms``: query_name, execution_time_ms, row_count,
    user_id, created_at, failed. Thresholds of 1000 ms and more use the review's partial index."""
    start, end = _window(start, end)
    if isinstance(threshold_ms, bool) or not isinstance(threshold_ms, int | float) or threshold_ms < 0:
        raise ValueError(f"threshold_ms must be a number of milliseconds >= 0, not {threshold_ms!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be a whole number from 1 to 10000, not {limit!r}")
    name = "performance.slowest_over_1s" if threshold_ms >= 1000 else "performance.slowest"
    return db.run(name, {"start": start, "end": end, "threshold_ms": float(threshold_ms), "limit": limit})


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else _aware(now, "now")


def _positive(window: Any) -> timedelta:
    if not isinstance(window, timedelta) or window <= timedelta(0):
        raise ValueError(f"window must be a positive timedelta, not {window!r}")
    return window


def regressions(db: Database, now: datetime | None = None, window: timedelta = timedelta(hours=1),
                min_calls: int = 20, factor: float = 1.5) -> list[dict]:
    """Queries whose p95 over ``[now - window, now)`` is more than ``factor`` times the p95 of the
    previous window or of the same window a week earlier (each baseline counts only with at least
    ``min_calls`` calls, as does the current window). Rows: query_name, calls, p95_ms, prev_calls,
    prev_p95_ms, week_calls, week_p95_ms, vs_previous, vs_week_ago (ratios), slower_than_previous,
    slower_than_week_ago; worst first."""
    if isinstance(min_calls, bool) or not isinstance(min_calls, int) or min_calls < 1:
        raise ValueError(f"min_calls must be a whole number >= 1, not {min_calls!r}")
    if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 1:
        raise ValueError(f"factor must be a number above 1, not {factor!r}")
    return db.run("performance.regressions", {"now": _now(now), "window": _positive(window),
                                              "min_calls": min_calls, "factor": float(factor)})


def new_queries(db: Database, now: datetime | None = None, window: timedelta = timedelta(hours=1)) -> list[dict]:
    """Query names first recorded in ``[now - window, now)`` (never before, in the raw log or the
    hourly rollup): query_name, first_seen, calls, p95_ms, max_ms."""
    return db.run("performance.new_queries", {"now": _now(now), "window": _positive(window)})


# --- hourly histograms -----------------------------------------------------------------------------------


def bucket_of(ms: float) -> int:
    """The histogram bucket of a duration (same as the SQL function vp_perf_bucket)."""
    if ms <= BASE_MS:
        return 0
    return max(0, min(LAST_BUCKET, math.floor(PER_DOUBLING * math.log(ms / BASE_MS) / math.log(2))))


def bucket_bounds(b: int) -> tuple[float, float]:
    """``[lower, upper)`` of bucket ``b`` in milliseconds."""
    return BASE_MS * 2 ** (b / PER_DOUBLING), BASE_MS * 2 ** ((b + 1) / PER_DOUBLING)


def rollup_histograms(db: Database, upto: datetime | None = None, since: datetime | None = None) -> int:
    """Roll every complete UTC hour before ``upto`` (default: :data:`ROLLUP_GRACE` before now) that is not rolled yet into
    ``query_perf_hourly`` (+ buckets). Idempotent; returns the (query_name, hour) rows written.
    Hours from ``since`` on are looked at (default: 48 hours before the newest rolled hour).
    Rows that reach the raw log after their hour was rolled are not added to it, hence the grace. Then
    each UTC day whose rolled hours changed is merged into ``query_perf_daily`` (readers take a day from
    it only while it holds all the day's rolled hours, and read its unrolled hours from raw rows)."""
    start = None if since is None else _aware(since, "since")
    upto = _now(None) - ROLLUP_GRACE if upto is None else _aware(upto, "upto")
    rows = int(db.scalar("performance.rollup", {"upto": upto, "since": start}) or 0)
    db.scalar("performance.rollup_daily")
    return rows


def _estimated_sample(buckets: Sequence[int], counts: Sequence[int], i: int) -> float:
    """The ``i``-th smallest sample (from 0), taking a bucket's samples as spread evenly (geometrically)
    across it: always inside the bucket that holds the real one."""
    seen = 0
    for b, c in zip(buckets, counts, strict=True):
        if i < seen + c:
            lower, upper = bucket_bounds(b)
            return lower * (upper / lower) ** ((i - seen + 0.5) / c)
        seen += c
    raise ValueError(f"sample {i} is past the histogram's {seen} samples")


def estimate_percentile(buckets: Sequence[int], counts: Sequence[int], p: float,
                        lo: float | None = None, hi: float | None = None) -> float | None:
    """Percentile ``p`` (0..1) of a histogram the way percentile_cont computes it from samples: linear
    between the samples at ranks floor and ceil of ``p * (n - 1)``, each estimated inside its bucket;
    clamped to [lo, hi] when given. Each estimated sample is off by less than its bucket's width (under
    2^(1/8) - 1, about 9.05%, of the sample), so the result is within 9.05% of the exact percentile for
    durations from 0.001 ms to the last bucket (about 71 minutes)."""
    n = sum(counts)
    if n == 0:
        return None
    rank = p * (n - 1)
    below = math.floor(rank)
    value = _estimated_sample(buckets, counts, below)
    if rank > below:
        above = _estimated_sample(buckets, counts, below + 1)
        value += (above - value) * (rank - below)
    if lo is not None:
        value = max(value, lo)
    if hi is not None:
        value = min(value, hi)
    return value


def histogram_percentiles(db: Database, start: datetime, end: datetime,
                          names: Sequence[str] | None = None) -> list[dict]:
    """Histogram summary over ``[start, end)``: query_name, calls, failed, mean_ms, p50_ms, p95_ms, p99_ms
    (estimates, see :func:`estimate_percentile`), min_ms, max_ms, total_ms, total_rows, hours (rolled-up
    hours read). Whole UTC hours already rolled up come from the rollup, so it works long after the raw
    rows are gone; the rest of the window (hours cut by ``start`` or ``end``, hours not rolled yet) comes
    from raw rows. Where the raw rows still exist, calls, failed, min, max and the sums are the raw log's
    (rows that reached the log after their hour was rolled up excepted)."""
    start, end = _window(start, end)
    out = []
    for row in db.run("performance.histograms", {"start": start, "end": end, "names": _names(names)}):
        buckets, counts = row.pop("buckets") or [], row.pop("bucket_calls") or []
        lo, hi = row["min_ms"], row["max_ms"]
        row["mean_ms"] = row["total_ms"] / row["calls"] if row["calls"] else None
        for label, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            row[label] = estimate_percentile(buckets, counts, p, lo, hi) if buckets else None
        out.append(row)
    return out


# --- pg_stat_statements ---------------------------------------------------------------------------------

_ENABLE_HOW = f"{PGSS_LOAD_HOW}, then run {PGSS_CREATE_HOW}"


def stat_statements_status(db: Database) -> dict[str, Any]:
    """``{"available": bool, "message": str, ...details}``; the message says how to enable it when it is off."""
    state = db.one("performance.stat_statements_state") or {}
    preload = state.get("preload")
    preloaded = state.get("loaded") or (None if preload is None else
                                        "pg_stat_statements" in re.split(r"[\s,\"]+", preload))
    info = {"installed": state.get("installed", False), "preloaded": preloaded,
            "snapshots_ready": state.get("snapshots_ready", False),
            "reads_all_stats": state.get("reads_all_stats", False)}
    if not state.get("available") and not state.get("installed"):
        return {**info, "available": False, "message":
                "pg_stat_statements is not enabled — this server has no pg_stat_statements extension: install "
                "PostgreSQL's contrib modules (e.g. the postgresql-contrib package), then " + _ENABLE_HOW}
    if not state.get("installed"):
        if preloaded:
            how = f"it is loaded; in this database run {PGSS_CREATE_HOW}"
        else:
            how = _ENABLE_HOW
        return {**info, "available": False, "message": f"pg_stat_statements is not enabled — here is how: {how}"}
    try:
        db.run("performance.stat_statements_probe")
    except QueryError as exc:
        return {**info, "available": False, "message":
                f"pg_stat_statements is installed but not loaded ({exc.detail}) — here is how: {_ENABLE_HOW}"}
    if not state.get("snapshots_ready"):
        return {**info, "available": False, "message":
                "pg_stat_statements is enabled, but this database lacks the snapshot tables: run 'venuepulse migrate'"}
    message = "pg_stat_statements is enabled; snapshots store the differences between readings (it is never reset)"
    if not state.get("info_readable"):
        message += ("; pg_stat_statements_info is not readable (run ALTER EXTENSION pg_stat_statements UPDATE, or "
                    "GRANT SELECT ON pg_stat_statements_info to this role), so resets and evictions cannot be "
                    "detected, only entries whose counters went down")
    if not state.get("reads_all_stats"):
        message += ("; this role cannot see other roles' statement text "
                    "(GRANT pg_read_all_stats TO it to see all of it)")
    return {**info, "available": True, "message": message}


def snapshot_stat_statements(db: Database) -> int:
    """Store the differences since the last snapshot; returns delta rows stored (0 for the first,
    baseline, snapshot, and 0 doing nothing when pg_stat_statements is unavailable)."""
    if not stat_statements_status(db)["available"]:
        return 0
    return int(db.scalar("performance.snapshot_stat_statements") or 0)


def stat_statements(db: Database, start: datetime, end: datetime, limit: int = 200) -> list[dict]:
    """Sum of the snapshot deltas taken in ``(start, end]``, per statement: queryid, toplevel,
    query_name (from the ``/*query_name='...'*/`` tag; None for statements VenuePulse did not send),
    query, calls, total_ms, mean_ms, rows, cache_hit_ratio, shared_blks_read, temp_blks_written,
    snapshots; heaviest first."""
    start, end = _window(start, end)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be a whole number from 1 to 10000, not {limit!r}")
    return db.run("performance.stat_statements", {"start": start, "end": end, "limit": limit})


# --- plans over time (queries/ops/plans.py) -------------------------------------------------------------


def plan_status(db: Database) -> dict[str, Any]:
    """queries (with a captured plan), last_captured_at (None before the first capture), changes (ever)."""
    return db.one("plans.status") or {"queries": 0, "last_captured_at": None, "changes": 0}


def plan_changes(db: Database, start: datetime, end: datetime, names: Sequence[str] | None = None,
                 limit: int = 50) -> list[dict]:
    """Plan changes detected in ``[start, end)``, newest first: id, query_name, detected_at,
    previous_captured_at (the change happened after it), before_fingerprint, after_fingerprint,
    before_shape, after_shape, summary (one sentence) and diff (the tree, lines only before ``- ``, only
    after ``+ ``)."""
    start, end = _window(start, end)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be a whole number from 1 to 10000, not {limit!r}")
    rows = db.run("plans.changes", {"start": start, "end": end, "names": _names(names), "limit": limit})
    return plans.with_diffs(rows)


def regression_plan_changes(db: Database, regression_rows: Sequence[dict], now: datetime | None = None,
                            window: timedelta = timedelta(hours=1)) -> dict[str, list[dict]]:
    """The plan changes near each regression's start, by query name: those of the regressed query detected
    from the start of its previous window to ``now`` (``[now - 2 * window, now]``), since the slowdown
    began somewhere in the current window or just before it. Rows as :func:`plan_changes`; queries
    without such a change are absent."""
    names = sorted({r["query_name"] for r in regression_rows})
    if not names:
        return {}
    now, window = _now(now), _positive(window)
    out: dict[str, list[dict]] = {}
    for row in plan_changes(db, now - 2 * window, now + timedelta(microseconds=1), names=names, limit=1000):
        out.setdefault(row["query_name"], []).append(row)
    return out


def stat_statements_integrity(db: Database, start: datetime, end: datetime) -> dict[str, Any]:
    """How complete the snapshots taken in ``(start, end]`` are: ``snapshots`` (rows: taken_at, gap, reset_seen,
    evictions, entry_gaps, info_available, captured_ms, active_ms, ...), ``gaps`` (snapshots that are gaps),
    ``resets``, ``evictions``, ``captured_ms``, ``active_ms`` and ``captured_share`` (captured execution time
    over the database's active time in the snapshots where both are known; None where unknown) and
    ``info_available`` (False when some snapshot could not read pg_stat_statements_info)."""
    start, end = _window(start, end)
    snaps = db.run("performance.stat_statements_integrity", {"start": start, "end": end})
    counted = [s for s in snaps if not s["baseline_only"]]
    both = [s for s in counted if s["captured_ms"] is not None and s["active_ms"]]
    captured = sum(s["captured_ms"] for s in both)
    active = sum(s["active_ms"] for s in both)
    return {"snapshots": snaps, "gaps": sum(1 for s in counted if s["gap"]),
            "resets": sum(1 for s in counted if s["reset_seen"]),
            "evictions": sum(s["evictions"] or 0 for s in counted),
            "captured_ms": captured, "active_ms": active,
            "captured_share": min(captured / active, 1.0) if active > 0 else None,
            "info_available": all(s["info_available"] for s in snaps)}


def stat_statements_series(db: Database, start: datetime, end: datetime, limit: int = 5,
                           queryids: Sequence[int] | None = None) -> list[dict]:
    """Per snapshot in ``(start, end]`` and statement (the ``limit`` heaviest, or ``queryids``): taken_at,
    queryid, query_name, calls and total_ms since the previous snapshot — None where that interval is a gap for
    the statement (gap True, gap_reason: reset, recreated, counter_down, evicted, evictions, info unreadable),
    so a chart draws a gap, never a dip — and calls_counted (what the delta stored, a lower bound in a gap)."""
    start, end = _window(start, end)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
        raise ValueError(f"limit must be a whole number from 1 to 50, not {limit!r}")
    ids = None if queryids is None else [int(q) for q in queryids]
    return db.run("performance.stat_statements_series",
                  {"start": start, "end": end, "limit": limit, "queryids": ids})


def change_markers(db: Database, start: datetime, end: datetime) -> list[dict]:
    """Changes (DDL, deploys, notes) in ``[start, end)`` for the trend chart, newest first (queries.ops.changes)."""
    return changes.markers(db, *_window(start, end))


def change_capture_status(db: Database) -> dict[str, Any]:
    """How DDL is captured here (event triggers, or snapshots where they are not available)."""
    return changes.capture_status(db)


# --- cache and recorder ---------------------------------------------------------------------------------


def cache_stats(db: Database) -> list[dict]:
    """One row per cached query name (query_name, hits, misses, hit_rate, evictions, expirations,
    invalidations, size) and a last row with query_name ``"(all)"`` holding the totals and maxsize."""
    stats = db.cache_stats()
    total = stats.pop("total")
    return [{"query_name": k, **v} for k, v in stats.items()] + [{"query_name": "(all)", **total}]


def measure_recording_overhead(url: str, runs: int = 20_000, rounds: int = 5,
                               query: str = "health.ping") -> dict[str, Any]:
    """Time ``runs`` executions of ``query`` with recording and ``runs`` without, on two pools of one
    connection each, interleaved: each of ``rounds`` rounds alternates blocks of up to 100 runs
    (recorded, unrecorded, then the other way round), so both sides see the same load on the machine.

    Returns runs, rounds, block, recorded_us / unrecorded_us (median over rounds of the mean time per
    run, in microseconds), overhead_pct (from the median over block pairs of recorded / unrecorded
    time: robust against load that changes during the measurement), the per-round lists, and the
    recorder's written / dropped / failed counts after its final flush. The recorded timings are real
    rows in query_performance_log.
    """
    if rounds < 1 or runs < 2 * rounds:
        raise ValueError("rounds must be at least 1 and runs at least twice rounds")
    per_round = runs // rounds
    block = max(1, min(100, per_round // 10))
    blocks = per_round // block
    recorded = Database(url, record=True, min_size=1, max_size=1)
    plain = Database(url, record=False, min_size=1, max_size=1)
    rec_times: list[float] = []
    plain_times: list[float] = []
    ratios: list[float] = []

    def timed(db: Database) -> float:
        t0 = time.perf_counter()
        for _ in range(block):
            db.run(query, cache=False)
        return time.perf_counter() - t0

    try:
        for db in (recorded, plain):  # warm up: connections, prepared statements
            for _ in range(min(200, per_round)):
                db.run(query, cache=False)
        recorded.flush()
        for _ in range(rounds):
            rec_total = plain_total = 0.0
            for j in range(blocks):
                if j % 2:
                    p, r = timed(plain), timed(recorded)
                else:
                    r, p = timed(recorded), timed(plain)
                rec_total += r
                plain_total += p
                ratios.append(r / p)
            rec_times.append(rec_total / (blocks * block) * 1e6)
            plain_times.append(plain_total / (blocks * block) * 1e6)
    finally:
        plain.close()
        recorded.close()
    stats = recorded.recorder_stats()
    return {
        "query": query,
        "runs": blocks * block * rounds,
        "rounds": rounds,
        "block": block,
        "recorded_us": statistics.median(rec_times),
        "unrecorded_us": statistics.median(plain_times),
        "overhead_pct": (statistics.median(ratios) - 1.0) * 100.0,
        "recorded_rounds_us": rec_times,
        "unrecorded_rounds_us": plain_times,
        "written": stats.get("written", 0),
        "dropped": stats.get("dropped", 0),
        "failed": stats.get("failed", 0),
    }


# --- waits (queries/ops/waits.py samples them) ------------------------------------------------------------


def wait_time(db: Database, start: datetime, end: datetime, names: Sequence[str] | None = None) -> list[dict]:
    """Estimated time per query and wait event in ``[start, end)`` from the wait samples, most first:
    query_name (None for a statement VenuePulse did not name: then query_id and, where a pg_stat_statements
    snapshot saw it, statement), wait_event_type, wait_event ('CPU'/'CPU': active, waiting on nothing
    instrumented), samples (sessions seen), seconds (samples x the sampling interval), interval_min_s and
    interval_max_s (the interval the samples were taken at)."""
    start, end = _window(start, end)
    return db.run("waits.by_query", {"start": start, "end": end, "names": _names(names)}, cache=False)


def wait_sampler(db: Database, start: datetime, end: datetime) -> dict[str, Any]:
    """The sampler in ``[start, end)``: runs, samples and hidden_max (most sessions of other roles it could
    not see in one sample) there, and its latest run: last_status, last_started_at, last_finished_at,
    last_error, last_interval_s, last_reads_all_stats, last_role."""
    start, end = _window(start, end)
    return dict(db.one("waits.sampler_runs", {"start": start, "end": end}, cache=False) or {})


def waits_unavailable(sampler: dict[str, Any]) -> str | None:
    """The 'not available' sentence when the sampler's role cannot see other roles' sessions, else None."""
    if sampler.get("last_reads_all_stats") is not False:
        return None
    role = sampler.get("last_role") or "the jobs' role"
    return (f"Waits of other roles' sessions not available: the sampler's role {role} is not a member of "
            "pg_monitor or pg_read_all_stats, so PostgreSQL shows it no state, query or wait for them (only its "
            f"own sessions are sampled). GRANT pg_monitor TO {role} as a superuser or the provider's admin user "
            "(see docs/managed-postgresql.md).")


def wait_time_by_type(rows: Sequence[dict]) -> list[dict]:
    """:func:`wait_time` rows summed per query and wait_event_type: query (the name, or ``statement <id>``
    for an unnamed one), wait_event_type, samples, seconds, share (of that query's sampled time),
    events (its wait events, most first); heaviest query first."""
    per: dict[tuple[str, str], dict[str, Any]] = {}
    totals: dict[str, float] = {}
    for r in rows:
        label = r["query_name"] or (f"statement {r['query_id']}" if r.get("query_id") else "(no name, no query_id)")
        key = (label, r["wait_event_type"])
        agg = per.setdefault(key, {"query": label, "wait_event_type": r["wait_event_type"], "samples": 0,
                                   "seconds": 0.0, "events": []})
        agg["samples"] += int(r["samples"])
        agg["seconds"] += float(r["seconds"])
        agg["events"].append(r["wait_event"])
        totals[label] = totals.get(label, 0.0) + float(r["seconds"])
    out = list(per.values())
    for agg in out:
        agg["share"] = agg["seconds"] / totals[agg["query"]] if totals[agg["query"]] else None
        agg["events"] = ", ".join(agg["events"])
    out.sort(key=lambda a: (-totals[a["query"]], a["query"], -a["seconds"]))
    return out
