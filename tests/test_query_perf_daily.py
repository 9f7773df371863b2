"""The Query performance page's window summaries read days from query_perf_daily, hours from the hourly
rollup and the rest from raw rows (revision 0018): counts, sums and extremes equal a brute-force recount
of the raw rows, the per-query percentiles are within the stated bound of percentile_cont, and the hourly
trend's percentiles are percentile_cont itself, before and after rollups at random points (run twice, or
with a `since` that leaves part of a day unrolled) and after the raw rows expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.recount import percentile_cont
from tests.fixtures.timings import load
from venuepulse.queries.pages import query_performance as perf

DAY0 = datetime(2026, 11, 20, tzinfo=UTC)
NAMES = ["q.a", "q.b", "q.c"]
TABLES = ("query_performance_log", "query_perf_hourly_buckets", "query_perf_hourly", "query_perf_rollups",
          "query_perf_daily", "query_perf_daily_marks")


def within_bound(estimate: float, values: list[float], p: float) -> bool:
    exact = percentile_cont(values, p)
    return abs(estimate - exact) <= perf.PERCENTILE_BOUND * exact * (1 + 1e-9)


def check_window(db, rows, start, end):
    inside = [r for r in rows if start <= r[3] < end]
    got = {r["query_name"]: r for r in perf.query_stats(db, start, end)}
    assert set(got) == {r[0] for r in inside}
    for name, g in got.items():
        mine = [r for r in inside if r[0] == name]
        values = [r[1] for r in mine]
        assert (g["calls"], g["failed"], g["min_ms"], g["max_ms"], g["total_rows"]) == (
            len(mine), sum(r[2] is None for r in mine), min(values), max(values), sum(r[2] or 0 for r in mine))
        assert g["total_ms"] == pytest.approx(sum(values), rel=1e-9)
        for key, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            assert within_bound(g[key], values, p), (name, key, g[key])
    series = {(r["bucket_start"], r["query_name"]): r for r in perf.time_series(db, start, end, "1h")}
    want: dict[tuple[datetime, str], list[float]] = {}
    for name, ms, _, t in inside:
        want.setdefault((t.replace(minute=0, second=0, microsecond=0), name), []).append(ms)
    assert set(series) == set(want)
    for key, values in want.items():
        s = series[key]
        assert (s["calls"], s["max_ms"]) == (len(values), max(values))
        assert s["mean_ms"] == pytest.approx(sum(values) / len(values), rel=1e-9)
        for col, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            assert s[col] == pytest.approx(percentile_cont(values, p), rel=1e-9), (key, col)


ms = st.one_of(st.sampled_from([1.0, 2.0, 40.0]), st.floats(0.01, 1e4, allow_nan=False))
at = st.integers(0, 3 * 24 * 60 - 1).map(lambda m: DAY0 + timedelta(minutes=m))
row = st.tuples(st.sampled_from(NAMES), ms, st.one_of(st.none(), st.integers(0, 5)), at)
cut = st.integers(0, 4 * 24).map(lambda h: DAY0 + timedelta(hours=h, minutes=1))
boundary = st.one_of(st.integers(0, 3).map(lambda d: DAY0 + timedelta(days=d)),
                     st.integers(0, 3 * 24 * 60).map(lambda m: DAY0 + timedelta(minutes=m)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(row, max_size=60), later=st.lists(row, max_size=30), cuts=st.lists(cut, min_size=1, max_size=3),
       since_hours=st.one_of(st.none(), st.integers(0, 72)), a=boundary, b=boundary)
def test_window_summaries_equal_a_recount_whatever_the_rollups_did(db, conn, first, later, cuts, since_hours, a, b):
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")
    start, end = min(a, b), max(a, b)
    if start == end:
        end = start + timedelta(days=1)
    rows = list(first)
    load(conn, rows)
    since = None if since_hours is None else DAY0 + timedelta(hours=since_hours)
    check_window(db, rows, start, end)  # nothing rolled: all raw
    for upto in cuts:  # rollups at random points, the same one possibly twice, some skipping early hours
        perf.rollup_histograms(db, upto=upto, since=since)
    rolled = {r[0] for r in conn.execute("SELECT hour FROM query_perf_rollups")}
    # rows arriving later, in hours not rolled yet (a row reaching a rolled hour is documented as not added)
    tail = [r for r in later if r[3].replace(minute=0) not in rolled]
    load(conn, tail)
    rows += tail
    check_window(db, rows, start, end)
    perf.rollup_histograms(db, upto=max(cuts), since=DAY0)  # everything up to the last cut, days made whole
    check_window(db, rows, start, end)


def test_a_days_unrolled_hours_are_read_raw_and_a_day_whose_rolled_hours_changed_falls_back_to_them(db, conn):
    day = DAY0
    rows = [("q.a", 2.0, 1, day + timedelta(hours=1, minutes=5)), ("q.a", 8.0, None, day + timedelta(hours=20)),
            ("q.b", 3.0, 4, day + timedelta(hours=20, minutes=30))]
    load(conn, rows)
    # the job was off: this rollup looks back only to 10:00, so the 01:00 hour stays unrolled
    perf.rollup_histograms(db, upto=day + timedelta(days=1, hours=1), since=day + timedelta(hours=10))
    assert conn.execute("SELECT hours FROM query_perf_daily_marks").fetchall() == [(1,)]
    check_window(db, rows, day, day + timedelta(days=1))  # 20:00 from the daily row, 01:00 raw
    perf.rollup_histograms(db, upto=day + timedelta(days=1, hours=1), since=day)
    assert conn.execute("SELECT hours FROM query_perf_daily_marks").fetchall() == [(2,)]
    check_window(db, rows, day, day + timedelta(days=1))
    # an hour rolled into the day after its daily row was built: the day falls back to its hours
    late = [("q.c", 5.0, 1, day + timedelta(hours=3))]
    load(conn, late)
    conn.execute("DELETE FROM query_perf_rollups WHERE hour = %s", (day + timedelta(hours=3),))
    perf.rollup_histograms(db, upto=day + timedelta(hours=4), since=day)  # rolls 03:00 only: the day is stale
    conn.execute("UPDATE query_perf_daily_marks SET hours = 2")  # as if the daily statement had not run yet
    check_window(db, rows + late, day, day + timedelta(days=1))
    perf.rollup_histograms(db, upto=day + timedelta(days=1, hours=1), since=day)
    assert conn.execute("SELECT hours FROM query_perf_daily_marks").fetchall() == [(3,)]
    check_window(db, rows + late, day, day + timedelta(days=1))


def test_the_summaries_outlive_the_raw_rows(db, conn):
    rows = [("q.a", 1.0 + i, 1, DAY0 + timedelta(hours=i % 30, minutes=i)) for i in range(50)]
    load(conn, rows)
    perf.rollup_histograms(db, upto=DAY0 + timedelta(days=2), since=DAY0)
    conn.execute("DELETE FROM query_performance_log")  # retention dropped the partitions
    (got,) = perf.query_stats(db, DAY0, DAY0 + timedelta(days=2))
    assert (got["calls"], got["min_ms"], got["max_ms"]) == (50, 1.0, 50.0)
    values = [r[1] for r in rows]
    for key, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        assert within_bound(got[key], values, p)
    # an hour rolled before 0018 kept its percentiles has none: its histogram estimates them
    conn.execute("UPDATE query_perf_hourly SET p50_ms = NULL, p95_ms = NULL, p99_ms = NULL")
    series = perf.time_series(db, DAY0, DAY0 + timedelta(days=2), "1h")
    assert sum(r["calls"] for r in series) == 50
    for r in series:
        mine = [v[1] for v in rows if v[3].replace(minute=0) == r["bucket_start"]]
        assert within_bound(r["p95_ms"], mine, 0.95)
