"""Queries that read the raw timing log and the hourly rollup together give the raw log's answer.

An hourly rollup bucket covers [hour, hour + 1h); a window that starts or ends inside an hour cuts it, so
such a bucket can neither count as "before the window" nor as "in the window": the raw log decides. These
tests pin that for "New queries" (issue 19) and compare every other window query of the Query performance
page with a brute-force recount of the raw rows, after a rollup up to an arbitrary cut. All times are fixed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.timings import load
from venuepulse.queries.pages import query_performance as perf

HOUR = timedelta(hours=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def new_names(db, now, window=HOUR):
    return [r["query_name"] for r in perf.new_queries(db, now=now, window=window)]


# -- New queries: the reproduction and its counterpart ---------------------------------------------


def test_a_query_first_run_inside_the_window_stays_new_after_its_hour_is_rolled_up(db, conn):
    load(conn, [("reports.new_export", 12.0, 3, at("2026-11-20 09:45"))])
    now = at("2026-11-20 10:30")
    assert new_names(db, now) == ["reports.new_export"]
    assert perf.rollup_histograms(db, upto=at("2026-11-20 10:05")) == 1  # the 09:00 hour, which straddles 09:30
    (row,) = perf.new_queries(db, now=now, window=HOUR)
    assert (row["query_name"], row["first_seen"], row["calls"]) == ("reports.new_export", at("2026-11-20 09:45"), 1)


def test_a_query_first_run_in_an_hour_wholly_before_the_window_is_not_new(db, conn):
    load(conn, [("reports.old_export", 5.0, 1, at("2026-11-20 08:10")),
                ("reports.old_export", 6.0, 1, at("2026-11-20 10:00"))])
    now = at("2026-11-20 10:30")
    perf.rollup_histograms(db, upto=at("2026-11-20 10:05"))
    conn.execute("DELETE FROM query_performance_log WHERE created_at < %s", (at("2026-11-20 09:00"),))
    # only the rollup still knows the 08:00 hour, which ended before the window began
    assert new_names(db, now) == []


def test_a_run_before_the_window_start_in_the_straddling_hour_is_seen_in_the_raw_log(db, conn):
    load(conn, [("reports.early", 5.0, 1, at("2026-11-20 09:20")),
                ("reports.early", 6.0, 1, at("2026-11-20 09:50")),
                ("reports.edge", 7.0, 1, at("2026-11-20 09:30"))])  # exactly at the window start: inside
    perf.rollup_histograms(db, upto=at("2026-11-20 10:05"))
    assert new_names(db, at("2026-11-20 10:30")) == ["reports.edge"]


def test_a_straddling_hour_whose_raw_rows_are_gone_counts_as_before_the_window(db, conn):
    # A retention shorter than the window could drop the straddling hour's raw rows: the rollup alone cannot
    # tell whether a run in that hour came before the window start, so the query is not claimed to be new.
    load(conn, [("reports.unsure", 5.0, 1, at("2026-11-20 09:50")),
                ("reports.unsure", 6.0, 1, at("2026-11-20 10:10"))])
    perf.rollup_histograms(db, upto=at("2026-11-20 10:05"))
    conn.execute("DELETE FROM query_performance_log WHERE created_at < %s", (at("2026-11-20 10:00"),))
    assert new_names(db, at("2026-11-20 10:30")) == []


# -- every window query against the raw log, after a rollup to an arbitrary cut ----------------------------

BASE = at("2026-11-20 00:00")
NAMES = [f"q.{c}" for c in "abcdefgh"]  # many names, few rows each: some are new in most windows


def percentile_cont(values, p):
    s = sorted(values)
    rank = p * (len(s) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


def date_bin(width: timedelta, t: datetime) -> datetime:
    origin = at("2000-01-03 00:00")
    return origin + (t - origin) // width * width


def within_documented_error(estimate: float, values: list[float], p: float) -> bool:
    """docs/queries.md: a histogram percentile is within 2^(1/8) - 1 (one bucket, about 9.05%) of the exact one."""
    exact = percentile_cont(values, p)
    return abs(estimate - exact) <= (2 ** (1 / 8) - 1) * exact * (1 + 1e-9)


def brute_new(rows, start, end):
    out = {}
    for name in sorted({r[0] for r in rows if start <= r[3] < end}):
        if any(r[0] == name and r[3] < start for r in rows):
            continue
        mine = [r for r in rows if r[0] == name and start <= r[3] < end]
        out[name] = {"first_seen": min(r[3] for r in mine), "calls": len(mine),
                     "p95_ms": percentile_cont([r[1] for r in mine], 0.95), "max_ms": max(r[1] for r in mine)}
    return out


def brute_regressions(rows, now, window, min_calls, factor):
    week = timedelta(days=7)
    out = {}
    for name in sorted({r[0] for r in rows}):
        def ms(lo, hi, name=name):
            return [r[1] for r in rows if r[0] == name and lo <= r[3] < hi]
        cur, prev, wk = ms(now - window, now), ms(now - 2 * window, now - window), ms(now - week - window, now - week)
        if len(cur) < min_calls:
            continue
        p95 = percentile_cont(cur, 0.95)
        slower_prev = len(prev) >= min_calls and p95 > factor * percentile_cont(prev, 0.95)
        slower_week = len(wk) >= min_calls and p95 > factor * percentile_cont(wk, 0.95)
        if slower_prev or slower_week:
            out[name] = {"calls": len(cur), "p95_ms": p95, "prev_calls": len(prev), "week_calls": len(wk),
                         "slower_than_previous": slower_prev, "slower_than_week_ago": slower_week}
    return out


def brute_summary(rows, start, end):
    out = {}
    for name in sorted({r[0] for r in rows if start <= r[3] < end}):
        mine = [r for r in rows if r[0] == name and start <= r[3] < end]
        out[name] = {"calls": len(mine), "failed": sum(r[2] is None for r in mine),
                     "total_ms": sum(r[1] for r in mine), "min_ms": min(r[1] for r in mine),
                     "max_ms": max(r[1] for r in mine), "total_rows": sum(r[2] or 0 for r in mine),
                     "values": [r[1] for r in mine]}
    return out


duration = st.one_of(st.sampled_from([0.5, 1.0, 2.0, 40.0]), st.floats(0.01, 1e5, allow_nan=False))


@st.composite
def scenarios(draw):
    """A window [start, end) starting mid-hour in a 12-hour day, a rollup cut, and rows
    at whole seconds (minute-grained, so they often land exactly on the start or an hour): anywhere in the
    day, or in the hours the window cuts, where the boundary matters; some a week earlier, for the
    regressions' week-ago baseline. ``late`` rows arrive after the rollup."""
    start = BASE + timedelta(hours=draw(st.integers(0, 10)), minutes=draw(st.integers(1, 59)))
    window = timedelta(minutes=draw(st.integers(1, 6 * 60)))
    cut_hours = [start.replace(minute=0), (start + window).replace(minute=0)]

    def minute_in(hour):
        return st.integers(0, 59).map(lambda m: hour - BASE + timedelta(minutes=m))

    offset = st.one_of(st.integers(0, 12 * 60 - 1).map(lambda m: timedelta(minutes=m)), *map(minute_in, cut_hours))
    at_ = st.builds(lambda off, s, back: BASE + off + timedelta(seconds=s) - back, offset,
                    st.sampled_from([0, 0, 1, 59]), st.sampled_from([timedelta(0)] * 3 + [timedelta(days=7)]))
    row = st.tuples(st.sampled_from(NAMES), duration, st.one_of(st.none(), st.integers(0, 5)), at_)
    # the cut anywhere, or just after an hour the window cuts, which is then rolled up
    cut = draw(st.one_of(st.integers(0, 13 * 60).map(lambda m: BASE + timedelta(minutes=m)),
                         *(st.integers(60, 119).map(lambda m, h=h: h + timedelta(minutes=m)) for h in cut_hours)))
    return {"start": start, "window": window, "cut": cut,
            "first": draw(st.lists(row, max_size=60)), "late": draw(st.lists(row, max_size=30)),
            "bucket": draw(st.sampled_from(["10m", "15m", "1h", "6h"]))}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=scenarios())
def test_window_queries_over_mid_hour_windows_give_the_raw_logs_answer_after_a_rollup(db, conn, case):
    for table in ("query_performance_log", "query_perf_hourly_buckets", "query_perf_hourly", "query_perf_rollups",
                  "query_perf_daily", "query_perf_daily_marks"):
        conn.execute(f"DELETE FROM {table}")
    rows = list(case["first"])
    load(conn, rows)
    perf.rollup_histograms(db, upto=case["cut"])
    rolled = {r[0] for r in conn.execute("SELECT hour FROM query_perf_rollups")}
    # rows that arrive later, in hours not rolled yet (rows reaching a rolled hour are documented as not added)
    tail = [r for r in case["late"] if r[3].replace(minute=0, second=0) not in rolled]
    load(conn, tail)
    rows += tail

    start, window, bucket = case["start"], case["window"], case["bucket"]
    end = start + window

    got = {r["query_name"]: r for r in perf.new_queries(db, now=end, window=window)}
    want = brute_new(rows, start, end)
    assert set(got) == set(want)
    for name, w in want.items():
        g = got[name]
        assert (g["first_seen"], g["calls"], g["max_ms"]) == (w["first_seen"], w["calls"], w["max_ms"])
        assert g["p95_ms"] == pytest.approx(w["p95_ms"], rel=1e-9)

    got = {r["query_name"]: r for r in perf.regressions(db, now=end, window=window, min_calls=2, factor=1.5)}
    want = brute_regressions(rows, end, window, 2, 1.5)
    assert set(got) == set(want)
    for name, w in want.items():
        for key in ("calls", "prev_calls", "week_calls", "slower_than_previous", "slower_than_week_ago"):
            assert got[name][key] == w[key], (name, key)
        assert got[name]["p95_ms"] == pytest.approx(w["p95_ms"], rel=1e-9)

    width = perf.parse_bucket(bucket)
    got = {(r["bucket_start"], r["query_name"]): r for r in perf.time_series(db, start, end, bucket)}
    want_series: dict[tuple[datetime, str], list[float]] = {}
    for n, ms, _, t in rows:
        if start <= t < end:
            want_series.setdefault((date_bin(width, t), n), []).append(ms)
    assert set(got) == set(want_series)
    for key, values in want_series.items():
        assert got[key]["calls"] == len(values) and got[key]["max_ms"] == max(values)
        assert got[key]["p95_ms"] == pytest.approx(percentile_cont(values, 0.95), rel=1e-9)

    # the page's per-query table: counts, sums and extremes exact, percentiles within the stated bound;
    # exact_query_stats reads every raw row and gives percentile_cont itself
    exact = brute_summary(rows, start, end)
    got = {r["query_name"]: r for r in perf.query_stats(db, start, end)}
    raw = {r["query_name"]: r for r in perf.exact_query_stats(db, start, end)}
    assert set(got) == set(exact) == set(raw)
    for name, w in exact.items():
        assert (got[name]["calls"], got[name]["failed"], got[name]["min_ms"], got[name]["max_ms"],
                got[name]["total_rows"]) == (w["calls"], w["failed"], w["min_ms"], w["max_ms"], w["total_rows"])
        assert got[name]["total_ms"] == pytest.approx(w["total_ms"], rel=1e-9)
        for key, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            assert raw[name][key] == pytest.approx(percentile_cont(w["values"], p), rel=1e-9)
            assert within_documented_error(got[name][key], w["values"], p), (name, key, got[name][key])

    # the histogram summary reads whole rolled hours from the rollup and the rest from raw rows: the same
    # counts, sums and extremes as the raw log, percentiles within the documented bucket
    got = {r["query_name"]: r for r in perf.histogram_percentiles(db, start, end)}
    assert set(got) == set(exact)
    for name, w in exact.items():
        g = got[name]
        assert (g["calls"], g["failed"], g["min_ms"], g["max_ms"], g["total_rows"]) == (
            w["calls"], w["failed"], w["min_ms"], w["max_ms"], w["total_rows"])
        assert g["total_ms"] == pytest.approx(w["total_ms"], rel=1e-9)
        for key, p in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            assert within_documented_error(g[key], w["values"], p), (name, key, g[key])


# -- the histogram summary over a window that cuts hours ---------------------------------------------------


def test_histogram_summary_reads_whole_rolled_hours_from_the_rollup_and_cut_hours_from_raw_rows(db, conn):
    load(conn, [("t.q", 1.0, 1, at("2026-11-20 09:20")),   # before the window
                ("t.q", 2.0, 1, at("2026-11-20 09:40")),   # in the cut 09:00 hour, inside
                ("t.q", 4.0, 1, at("2026-11-20 10:10")),   # the whole 10:00 hour
                ("t.q", 8.0, None, at("2026-11-20 11:10")),  # in the cut 11:00 hour, inside
                ("t.q", 16.0, 1, at("2026-11-20 11:50"))])  # after the window
    assert perf.rollup_histograms(db, upto=at("2026-11-20 12:05")) == 3
    start, end = at("2026-11-20 09:30"), at("2026-11-20 11:30")
    (row,) = perf.histogram_percentiles(db, start, end)
    assert (row["calls"], row["failed"], row["min_ms"], row["max_ms"], row["total_ms"], row["hours"]) == (
        3, 1, 2.0, 8.0, 14.0, 1)
    # once the raw rows are gone only the whole hour is left: the rollup cannot split the cut ones
    conn.execute("DELETE FROM query_performance_log")
    (row,) = perf.histogram_percentiles(db, start, end)
    assert (row["calls"], row["min_ms"], row["max_ms"], row["hours"]) == (1, 4.0, 4.0, 1)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(duration, min_size=1, max_size=200), p=st.floats(0, 1))
def test_a_histogram_percentile_is_within_one_bucket_of_percentile_cont(values, p):
    counts: dict[int, int] = {}
    for v in values:
        counts[perf.bucket_of(v)] = counts.get(perf.bucket_of(v), 0) + 1
    buckets = sorted(counts)
    estimate = perf.estimate_percentile(buckets, [counts[b] for b in buckets], p, min(values), max(values))
    assert within_documented_error(estimate, values, p)
