"""Slow-query analytics on known rows: exact stats, series, slowest, regressions, new names, the hourly
histogram rollup, and pg_stat_statements snapshots."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.timings import load
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import query_performance as perf

HOUR = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a fixed hour: every query here is given its window or its now


def percentile_cont(values, p):
    s = sorted(values)
    rank = p * (len(s) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


def test_query_stats_count_exactly_and_estimate_percentiles_within_the_stated_bound(db, conn):
    rng = random.Random(7)
    a = [rng.lognormvariate(1, 1) for _ in range(500)]
    b = [rng.uniform(10, 20) for _ in range(40)]
    load(conn, [("t.a", ms, 2, HOUR + timedelta(seconds=i)) for i, ms in enumerate(a)]
         + [("t.b", ms, None, HOUR + timedelta(seconds=i)) for i, ms in enumerate(b)]
         + [("t.a", 9999.0, 1, HOUR + timedelta(hours=1))])  # outside the window (end is exclusive)
    stats = {r["query_name"]: r for r in perf.query_stats(db, HOUR, HOUR + timedelta(hours=1))}
    exact = {r["query_name"]: r for r in perf.exact_query_stats(db, HOUR, HOUR + timedelta(hours=1))}
    sa = stats["t.a"]
    assert sa["calls"] == 500 and sa["failed"] == 0 and sa["total_rows"] == 1000 and sa["mean_rows"] == 2
    for key, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        assert exact["t.a"][key] == pytest.approx(percentile_cont(a, p), rel=1e-12)
        assert abs(sa[key] - percentile_cont(a, p)) <= perf.PERCENTILE_BOUND * percentile_cont(a, p)
    assert sa["mean_ms"] == pytest.approx(sum(a) / 500) and sa["max_ms"] == max(a)
    assert stats["t.b"]["failed"] == 40 and stats["t.b"]["total_rows"] == 0 and stats["t.b"]["mean_rows"] is None
    only_b = perf.query_stats(db, HOUR, HOUR + timedelta(hours=1), names=["t.b"])
    assert [r["query_name"] for r in only_b] == ["t.b"]


def test_time_series_buckets_align_to_the_clock(db, conn):
    load(conn, [("t.a", float(m), 1, HOUR + timedelta(minutes=m)) for m in range(30)])
    rows = perf.time_series(db, HOUR, HOUR + timedelta(hours=1), "10m")
    assert [(r["bucket_start"], r["calls"]) for r in rows] == [
        (HOUR + timedelta(minutes=10 * k), 10) for k in range(3)]
    assert rows[1]["p50_ms"] == pytest.approx(14.5) and rows[2]["max_ms"] == 29
    with pytest.raises(ValueError, match="bucket"):
        perf.time_series(db, HOUR, HOUR + timedelta(hours=1), "fortnightly")
    with pytest.raises(ValueError, match="more than"):
        perf.time_series(db, HOUR, HOUR + timedelta(days=30), "1s")
    with pytest.raises(ValueError, match="after start"):
        perf.time_series(db, HOUR, HOUR, "1m")


def test_slowest_single_executions_over_a_threshold(db, conn):
    load(conn, [("t.a", ms, 1, HOUR + timedelta(seconds=i)) for i, ms in enumerate([5, 900, 1200, 3000, 1500])])
    assert [r["execution_time_ms"] for r in perf.slowest(db, HOUR, HOUR + timedelta(hours=1))] == [3000, 1500, 1200]
    assert [r["execution_time_ms"] for r in perf.slowest(db, HOUR, HOUR + timedelta(hours=1), 500, limit=2)] == [3000, 1500]
    assert [r["execution_time_ms"] for r in perf.slowest(db, HOUR, HOUR + timedelta(hours=1), 2000)] == [3000]


@pytest.mark.clock  # the template's own partitions are made around the day the session started
def test_the_one_second_route_can_use_the_partial_index_in_generic_plans(db_url, conn):
    # Rows at fixed times in daily partitions the test makes, across a midnight. Which plan the planner
    # prefers for a few thousand rows is a cost question that the partitions' contents decide (issue 20), so
    # the plans are taken with sequential scans priced out: what remains shows which indexes the query can use.
    day = datetime(2026, 3, 2, tzinfo=UTC)
    conn.execute("SELECT count(*) FROM vp_ensure_partitions('query_performance_log', %s, %s)",
                 (day, day + timedelta(days=2)))
    load(conn, [("t.x", float(i % 50), 1, day + timedelta(seconds=7 * i)) for i in range(30_000)]
         + [("t.x", 2000.0 + i, 1, day + timedelta(hours=20 + 2 * i)) for i in range(5)])
    conn.execute("ANALYZE query_performance_log")
    # the review's partial index (execution_time_ms > 1000) is on every partition, the default one included
    partitions = {r[0]: r[1] for r in conn.execute("""
        SELECT c.relname, (SELECT array_agg(i.indexrelid::regclass::text) FROM pg_index i
                           WHERE i.indrelid = c.oid AND i.indisvalid
                             AND pg_get_expr(i.indpred, i.indrelid) = '(execution_time_ms > (1000)::double precision)')
        FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
        WHERE h.inhparent = 'query_performance_log'::regclass""")}
    assert {"query_performance_log_default", "query_performance_log_p2026_03_02",
            "query_performance_log_p2026_03_03"} <= set(partitions)
    assert all(indexes and len(indexes) == 1 for indexes in partitions.values()), partitions
    partial = {indexes[0] for indexes in partitions.values()}

    conn.execute(f'ALTER DATABASE "{conn.info.dbname}" SET enable_seqscan = off')
    with Database(db_url, record=False) as strict:  # new connections: the setting applies
        over_1s = strict.explain("performance.slowest_over_1s")
        any_threshold = strict.explain("performance.slowest")
    assert "Seq Scan" not in over_1s
    assert {"query_performance_log_p2026_03_02_execution_time_ms_idx",
            "query_performance_log_p2026_03_03_execution_time_ms_idx"} <= {p for p in partial if p in over_1s}
    # with the threshold a parameter, no generic plan may use it: the index's condition is not implied
    assert not [p for p in partial if p in any_threshold]


def test_regressions_against_the_previous_window_and_a_week_earlier(db, conn, boundary_now):
    now = boundary_now  # windows that straddle midnight, a month's first day, a Monday 00:00
    cur, prev, week = now - timedelta(minutes=30), now - timedelta(minutes=90), now - timedelta(days=7, minutes=30)
    rows = []
    for i in range(30):
        rows += [("t.slower", 30.0 + i % 3, 1, cur), ("t.slower", 10.0 + i % 3, 1, prev),
                 ("t.steady", 10.0 + i % 3, 1, cur), ("t.steady", 10.0 + i % 3, 1, prev),
                 ("t.weekly", 40.0, 1, cur), ("t.weekly", 40.0, 1, prev), ("t.weekly", 10.0, 1, week)]
    rows += [("t.few", 100.0, 1, cur)] * 5 + [("t.few", 1.0, 1, prev)] * 30
    load(conn, rows)
    got = {r["query_name"]: r for r in perf.regressions(db, now=now, window=timedelta(hours=1), min_calls=20)}
    assert set(got) == {"t.slower", "t.weekly"}
    assert got["t.slower"]["slower_than_previous"] and got["t.slower"]["vs_previous"] == pytest.approx(32 / 12)
    assert got["t.slower"]["week_calls"] == 0 and not got["t.slower"]["slower_than_week_ago"]
    assert got["t.weekly"]["slower_than_week_ago"] and not got["t.weekly"]["slower_than_previous"]
    assert got["t.weekly"]["vs_week_ago"] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="factor"):
        perf.regressions(db, now=now, factor=1)


def test_new_queries_are_names_never_seen_before_the_window(db, conn, boundary_now):
    now = boundary_now
    load(conn, [("t.old", 1.0, 1, now - timedelta(hours=3)), ("t.old", 1.0, 1, now - timedelta(minutes=5)),
                ("t.new", 2.0, 1, now - timedelta(minutes=10)), ("t.new", 4.0, 1, now - timedelta(minutes=5)),
                ("t.rolled", 1.0, 1, now - timedelta(minutes=5))])
    conn.execute("INSERT INTO query_perf_hourly (query_name, hour, calls, total_ms, min_ms, max_ms)"
                 " VALUES ('t.rolled', %s, 1, 1, 1, 1)",
                 (now.replace(minute=0, second=0, microsecond=0) - timedelta(days=40),))
    rows = perf.new_queries(db, now=now, window=timedelta(hours=1))
    assert [(r["query_name"], r["calls"], r["max_ms"]) for r in rows] == [("t.new", 2, 4.0)]


def test_rollup_is_idempotent_and_histogram_percentiles_stay_within_one_bucket(db, conn):
    rng = random.Random(11)
    samples = {h: [rng.lognormvariate(0.5 + h / 2, 0.8) for _ in range(3000)] for h in range(3)}
    load(conn, [("t.q", ms, 1, HOUR + timedelta(hours=h, seconds=i % 3600))
                for h, values in samples.items() for i, ms in enumerate(values)])
    upto = HOUR + timedelta(hours=3)
    assert perf.rollup_histograms(db, upto=upto) == 3
    assert perf.rollup_histograms(db, upto=upto) == 0
    merged = [ms for values in samples.values() for ms in values]
    conn.execute("DELETE FROM query_performance_log")  # raw rows aged out: the rollup still answers
    (row,) = perf.histogram_percentiles(db, HOUR, upto)
    assert row["calls"] == 9000 and row["hours"] == 3
    assert row["mean_ms"] == pytest.approx(sum(merged) / len(merged))
    for key, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        exact = percentile_cont(merged, p)
        lower, upper = perf.bucket_bounds(perf.bucket_of(exact))
        assert abs(row[key] - exact) <= upper - lower, key
    (one,) = perf.histogram_percentiles(db, HOUR + timedelta(hours=2), upto)
    assert one["calls"] == 3000


def test_the_sql_and_python_bucket_functions_agree(conn):
    for ms in (0.0, 0.0005, 0.001, 0.0011, 0.37, 1.0, 2.0, 999.9, 1e5, 1e9):
        assert conn.execute("SELECT vp_perf_bucket(%s)", (ms,)).fetchone()[0] == perf.bucket_of(ms), ms
        lower = conn.execute("SELECT vp_perf_bucket_lower(%s)", (perf.bucket_of(ms),)).fetchone()[0]
        assert lower == pytest.approx(perf.bucket_bounds(perf.bucket_of(ms))[0])


def test_cache_stats_rows_end_with_the_totals(db, conn):
    db.run("venues.featured", {"limit": 3})
    db.run("venues.featured", {"limit": 3})
    rows = perf.cache_stats(db)
    assert rows[-1]["query_name"] == "(all)" and rows[-1]["hits"] == 1
    assert {"query_name": "venues.featured", "hits": 1, "misses": 1}.items() <= rows[0].items()


@pytest.fixture
def pgss(db):
    status = perf.stat_statements_status(db)
    if not status["available"]:
        pytest.skip(f"pg_stat_statements unavailable on this server: {status['message']}")
    return status


def test_snapshots_store_differences_joined_to_query_names(db, conn, pgss):
    reset_before = conn.execute("SELECT stats_reset FROM pg_stat_statements_info").fetchone()[0]
    start = datetime.now(UTC) - timedelta(seconds=1)
    assert perf.snapshot_stat_statements(db) == 0  # the first one is the baseline
    for _ in range(7):
        db.run("health.ping")
    assert perf.snapshot_stat_statements(db) > 0
    for _ in range(3):
        db.run("health.ping")
    perf.snapshot_stat_statements(db)
    rows = perf.stat_statements(db, start, datetime.now(UTC) + timedelta(seconds=1))
    ping = [r for r in rows if r["query_name"] == "health.ping"]
    assert sum(r["calls"] for r in ping) == 10 and ping[0]["snapshots"] == 2
    assert conn.execute("SELECT stats_reset FROM pg_stat_statements_info").fetchone()[0] == reset_before


@pytest.mark.superuser("drops the pg_stat_statements extension, which only its owner, a superuser, may")
def test_a_database_without_the_extension_is_told_how_to_enable_it(db, conn, pgss):
    conn.execute("DROP EXTENSION pg_stat_statements")
    status = perf.stat_statements_status(db)
    assert not status["available"]
    assert status["message"].startswith("pg_stat_statements is not enabled")
    assert "CREATE EXTENSION pg_stat_statements" in status["message"]
    assert perf.snapshot_stat_statements(db) == 0
