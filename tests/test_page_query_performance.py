"""The "Query performance" page, in-process with AppTest against a real database holding known timings.

The dashboard times its own queries into the same log while the page runs, so the checks look at the
test's own query names (``t.*``) and compare them with a brute-force percentile computed here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures import pages
from tests.fixtures.pages import metric, param, table_with
from tests.fixtures.recount import percentile_cont
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import query_performance as performance


def run_page(params: dict[str, str] | None = None) -> AppTest:
    return pages.run_page("query_performance", params, username="eng-user", role="engineer")


A_TIMES = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 50.0]
B_TIMES = [20.0, 30.0, 2500.0]


def _log(conn, name: str, ms: float, at: datetime, rows: int | None = 1) -> None:
    conn.execute("INSERT INTO query_performance_log (query_name, execution_time_ms, row_count, created_at)"
                 " VALUES (%s, %s, %s, %s)", (name, ms, rows, at))


@pytest.fixture
def timings(conn):
    """t.a: ten calls; t.b: three, one slow (2.5 s) and one failed; t.reg: 25 calls at 10 ms 90 minutes
    ago and 25 at 100 ms in the last half hour (a regression over a 1-hour window); t.new: first seen
    ten minutes ago."""
    now = datetime.now(UTC)
    for i, ms in enumerate(A_TIMES):
        _log(conn, "t.a", ms, now - timedelta(minutes=20 + i))
    _log(conn, "t.b", B_TIMES[0], now - timedelta(minutes=40))
    _log(conn, "t.b", B_TIMES[1], now - timedelta(minutes=41), rows=None)
    _log(conn, "t.b", B_TIMES[2], now - timedelta(minutes=42))
    for i in range(25):
        _log(conn, "t.reg", 10.0, now - timedelta(minutes=90, seconds=i))
        _log(conn, "t.reg", 100.0, now - timedelta(minutes=30, seconds=i))
    _log(conn, "t.new", 7.0, now - timedelta(minutes=10))
    return now


def test_empty_database_explains_where_timings_come_from(page_env):
    at = run_page()
    infos = " ".join(i.value for i in at.info)
    assert "No query timings in this date range" in infos
    assert "venuepulse up" in infos
    assert any("No execution took longer than 1,000 ms" in s.value for s in at.success)


@pytest.mark.clock  # timings of the last 90 minutes in the page's default range ("today" and 6 days before)
def test_counts_match_a_brute_force_recount_and_percentiles_are_labelled_estimates_within_their_bound(
        page_env, timings):
    at = run_page()
    table = table_with(at, "p95_ms", "calls", "failed").set_index("query_name")
    bound = performance.PERCENTILE_BOUND
    a = table.loc["t.a"]
    assert a["calls"] == 10 and a["failed"] == 0
    for key, p in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        assert abs(a[key] - percentile_cont(A_TIMES, p)) <= bound * percentile_cont(A_TIMES, p) * (1 + 1e-9)
    assert a["max_ms"] == pytest.approx(50.0)
    assert a["mean_ms"] == pytest.approx(sum(A_TIMES) / 10)
    b = table.loc["t.b"]
    assert b["calls"] == 3 and b["failed"] == 1  # a failed execution has no row count
    assert abs(b["p50_ms"] - 30.0) <= bound * 30.0
    assert any(f"estimates from log-spaced histograms, each within {bound:.1%}" in c.value for c in at.caption)


def test_query_filter_round_trips_through_the_url_and_narrows_the_numbers(page_env, timings):
    at = run_page({"query": "t.a"})
    assert param(at, "query") == "t.a"
    assert metric(at, "Queries") == "1"
    assert metric(at, "Calls") == "10"
    assert metric(at, "Failed") == "0"
    series = table_with(at, "bucket_start")
    assert set(series["query_name"]) == {"t.a"}
    assert series["calls"].sum() == 10
    for key in ("from", "to", "bucket", "metric", "window", "slow_ms"):
        assert key in at.query_params


@pytest.mark.clock  # yesterday and today by the clock: just after midnight the timings are yesterday's
def test_trend_matches_the_queries_layer_for_the_chosen_bucket(page_env, timings):
    start = (timings - timedelta(days=1)).date()
    at = run_page({"query": "t.reg", "bucket": "1 hour", "from": start.isoformat(),
                   "to": timings.date().isoformat()})
    with Database(page_env, record=False) as db:
        lo = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
        hi = datetime.combine(timings.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        expected = performance.time_series(db, lo, hi, "1h", names=["t.reg"])
    series = table_with(at, "bucket_start")
    assert list(series["calls"]) == [r["calls"] for r in expected]
    assert list(series["p95_ms"]) == pytest.approx([r["p95_ms"] for r in expected])
    assert len(at.get("plotly_chart")) == 1


def test_bad_bucket_in_the_url_falls_back_with_a_warning(page_env, timings):
    at = run_page({"bucket": "7 weeks"})
    assert any("bucket=7 weeks" in w.value for w in at.warning)
    assert param(at, "bucket") == "1 hour"  # the default for a 7-day range


def test_regressions_and_new_queries_are_highlighted(page_env, timings):
    at = run_page()
    reg = table_with(at, "vs_previous")
    assert list(reg["query_name"]) == ["t.reg"]
    assert reg["p95_ms"].iloc[0] == pytest.approx(100.0)
    assert reg["prev_p95_ms"].iloc[0] == pytest.approx(10.0)
    assert any("t.reg" in e.value and "10.0×" in e.value for e in at.error)
    new = table_with(at, "first_seen")
    assert {"t.new", "t.a", "t.b"} <= set(new["query_name"])  # all first recorded within the hour
    assert "t.reg" not in set(new["query_name"])  # seen 90 minutes ago
    assert new.set_index("query_name").loc["t.a", "calls"] == 10


def test_slowest_executions_respect_the_threshold_from_the_url(page_env, timings):
    at = run_page()
    slow = table_with(at, "execution_time_ms")
    assert list(slow["query_name"]) == ["t.b"]
    assert slow["execution_time_ms"].iloc[0] == pytest.approx(2500.0)
    at = run_page({"slow_ms": "40"})
    slow = table_with(at, "execution_time_ms")
    mine = slow[slow["query_name"].str.startswith("t.")]
    assert list(mine["execution_time_ms"]) == [2500.0] + [100.0] * 25 + [50.0]
    assert param(at, "slow_ms") == "40"


def test_explain_shows_the_plan_of_a_registered_query(page_env, timings):
    at = run_page({"explain": "performance.slowest"})
    assert param(at, "explain") == "performance.slowest"
    form_button = next(b for b in at.button if b.label == "Explain")
    form_button.click().run()
    assert not at.exception
    plans = [c.value for c in at.code if "query_performance_log" in c.value and "Scan" in c.value]
    assert plans, [c.value for c in at.code]


def test_explain_refuses_unusable_parameter_values_readably(page_env):
    at = run_page({"explain": "performance.slowest"})
    at.text_area[0].input("{not json")
    next(b for b in at.button if b.label == "Explain").click().run()
    assert any("not valid JSON" in e.value for e in at.error)
    at.text_area[0].input('{"nope": 1}')
    next(b for b in at.button if b.label == "Explain").click().run()
    assert any("no parameter named nope" in e.value for e in at.error)
    at.text_area[0].input('{"limit": 5}')
    at.checkbox[0].check()
    next(b for b in at.button if b.label == "Explain").click().run()
    assert any("needs values for" in e.value or "missing parameters" in e.value for e in at.error)
    assert not at.exception


def test_explain_analyze_runs_with_given_values(page_env, timings):
    at = run_page({"explain": "performance.slowest"})
    now = datetime.now(UTC)
    at.text_area[0].input(
        f'{{"start": "{(now - timedelta(days=1)).isoformat()}", "end": "{now.isoformat()}", '
        '"threshold_ms": 40, "limit": 5}')
    at.checkbox[0].check()
    next(b for b in at.button if b.label == "Explain").click().run()
    assert any("actual time" in c.value for c in at.code), [e.value for e in at.error]


def test_stat_statements_panel_shows_status_and_snapshots(page_env, timings):
    with Database(page_env, record=False) as db:
        status = performance.stat_statements_status(db)
        if status["available"]:
            performance.snapshot_stat_statements(db)  # baseline
            db.run("health.ping")
            performance.snapshot_stat_statements(db)
    at = run_page()
    if not status["available"]:
        assert any(status["message"][:60] in i.value for i in at.info)
        return
    table = table_with(at, "cache_hit_ratio", "query")
    assert "health.ping" in set(table["query_name"])
    assert metric(at, "Statements") == str(len(table))


def test_result_cache_hit_rate_is_that_of_the_dashboard_process(page_env, timings):
    from venuepulse.dashboard.shell import _database

    db = _database(page_env)  # the very pool the page uses (st.cache_resource, keyed by URL)
    db.run("venues.featured", {"limit": 5})
    db.run("venues.featured", {"limit": 5})
    db.run("venues.featured", {"limit": 5})
    at = run_page()
    cache = table_with(at, "hits", "misses").set_index("query_name")
    assert cache.loc["venues.featured", "hits"] == 2
    assert cache.loc["venues.featured", "misses"] == 1
    assert metric(at, "Hit rate") == "66.7%"


def test_every_table_shown_has_a_csv_download(page_env, timings):
    at = run_page()
    assert len(at.get("download_button")) == len(at.dataframe) >= 5
