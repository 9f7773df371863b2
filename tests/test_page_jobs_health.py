"""The "Jobs & health" page, in-process with AppTest against a real database holding known job history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures import pages
from tests.fixtures.clock import within_one_utc_day
from tests.fixtures.pages import metric, table_with
from venuepulse.jobs.definitions import JOBS
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import jobs_health as jobs


def run_page(params: dict[str, str] | None = None) -> AppTest:
    return pages.run_page("jobs_health", params, username="eng-user", role="engineer")


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


def _add_run(conn, job, status, started, seconds, error=None, rows=None) -> int:
    return conn.execute(
        "INSERT INTO job_runs (job_name, scheduled_at, started_at, finished_at, status, rows_affected, error)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (job, started, started, started + timedelta(seconds=seconds), status, rows, error),
    ).fetchone()[0]


@pytest.fixture
def history(conn):
    """Known runs: refresh ok twice, reconcile failed last, partitions ok; two drifted counters; one row in
    check_ins' default partition (a check-in dated far past the partitions made ahead)."""
    now = datetime.now(UTC)
    _add_run(conn, "refresh_venue_stats", "succeeded", now - timedelta(hours=2), 1.5, rows=3)
    _add_run(conn, "refresh_venue_stats", "succeeded", now - timedelta(minutes=10), 0.5, rows=3)
    ok = _add_run(conn, "reconcile_counters", "succeeded", now - timedelta(hours=3), 2.0, rows=2)
    _add_run(conn, "reconcile_counters", "failed", now - timedelta(minutes=30), 0.25,
             error="QueryError: maintenance.venue_counter_drift took longer than its statement timeout")
    _add_run(conn, "maintain_partitions", "succeeded", now - timedelta(days=3), 4.0, rows=0)
    conn.execute(
        "INSERT INTO counter_drift (job_run_id, detected_at, kind, entity, stored, expected, repaired) VALUES"
        " (%s, %s, 'venue_counters', %s, %s, %s, true), (%s, %s, 'flash_offer_counters', %s, %s, %s, true)",
        (ok, now - timedelta(hours=3), json.dumps({"venue_id": "v-1"}), json.dumps({"total_check_in_count": 5}),
         json.dumps({"total_check_in_count": 6}),
         ok, now - timedelta(hours=3), json.dumps({"offer_id": "o-1"}), json.dumps({"claimed_count": 2}),
         json.dumps({"claimed_count": 1})))
    user = conn.execute("INSERT INTO users (username, display_name) VALUES ('u1', 'U One') RETURNING id").fetchone()[0]
    venue = conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES ('Cafe', 'cafe', 'Oslo', 59.9, 10.7)"
                         " RETURNING id").fetchone()[0]
    conn.execute("SELECT check_in(%s, %s, %s)", (user, venue, now + timedelta(days=3650)))
    return now


def test_empty_database_tells_the_engineer_to_start_the_jobs(page_env):
    at = run_page()
    infos = " ".join(_texts(at.info))
    assert "No job has run yet" in infos
    assert "venuepulse jobs" in infos
    assert "No job runs in this date range" in infos
    assert any("No counter drift" in s.value for s in at.success)
    assert any("No failed runs" in s.value for s in at.success)


def test_job_overview_shows_each_jobs_last_run_as_the_queries_layer_computes_it(page_env, history):
    with Database(page_env, record=False) as db:
        expected = jobs.job_overview(db, expected=JOBS)
    at = run_page()
    table = table_with(at, "last_status").set_index("job_name")
    assert list(table.index) == [r["job_name"] for r in expected]
    assert set(table.index) == set(JOBS)  # jobs that never ran are listed too
    assert list(table.loc[["maintain_partitions", "reconcile_counters", "refresh_venue_stats"], "last_status"]) \
        == ["succeeded", "failed", "succeeded"]
    assert table["last_status"].isna().sum() == len(JOBS) - 3
    assert list(table.loc[["maintain_partitions", "reconcile_counters", "refresh_venue_stats"], "runs_24h"]) \
        == [0, 2, 2]
    assert table.loc["refresh_venue_stats", "last_duration_ms"] == pytest.approx(500.0)
    assert table.loc["refresh_venue_stats", "schedule"] == JOBS["refresh_venue_stats"].schedule
    assert metric(at, "Jobs") == str(len(JOBS))
    assert metric(at, "Never ran") == str(len(JOBS) - 3)
    assert metric(at, "Last run failed") == "1"
    assert metric(at, "Runs, last 24 h") == "4"
    assert metric(at, "Failures, last 24 h") == "1"
    errors = " ".join(_texts(at.error))
    assert "reconcile_counters" in errors and "statement timeout" in errors


def test_failures_list_the_error_text_of_each_failed_run(page_env, history):
    at = run_page()
    failures = table_with(at, "error")
    assert list(failures["job_name"]) == ["reconcile_counters"]
    assert "statement timeout" in failures["error"].iloc[0]
    assert failures["duration_ms"].iloc[0] == pytest.approx(250.0)


def test_duration_summary_matches_the_runs_in_range(page_env, history):
    at = run_page()
    summary = table_with(at, "p95_ms").set_index("job_name")
    # the default range is the last 7 days: all five runs, each finished
    assert summary.loc["refresh_venue_stats", "runs"] == 2
    assert summary.loc["refresh_venue_stats", "median_ms"] == pytest.approx(1000.0)
    assert summary.loc["refresh_venue_stats", "max_ms"] == pytest.approx(1500.0)
    assert summary.loc["maintain_partitions", "max_ms"] == pytest.approx(4000.0)
    assert len(at.get("plotly_chart")) >= 2  # duration trend and drift bars


def test_job_filter_round_trips_through_the_url(page_env, history):
    at = run_page({"job": "refresh_venue_stats"})
    assert at.query_params["job"] == ["refresh_venue_stats"] or at.query_params["job"] == "refresh_venue_stats"
    summary = table_with(at, "p95_ms")
    assert list(summary["job_name"]) == ["refresh_venue_stats"]
    assert any("No failed runs" in s.value for s in at.success)
    assert "from" in at.query_params and "to" in at.query_params


def test_unknown_job_in_the_url_is_ignored_with_a_warning(page_env, history):
    at = run_page({"job": "no_such_job"})
    assert any("job=no_such_job" in w.value for w in at.warning)
    summary = table_with(at, "p95_ms")
    assert at.query_params["job"] in ("(all jobs)", ["(all jobs)"])
    assert set(summary["job_name"]) == {"refresh_venue_stats", "reconcile_counters", "maintain_partitions"}


def test_date_range_from_the_url_limits_history(page_env, history):
    today = history.date()
    at = run_page({"from": (today - timedelta(days=10)).isoformat(), "to": (today - timedelta(days=5)).isoformat()})
    assert "No job runs in this date range" in " ".join(_texts(at.info))
    assert any("No counter drift" in s.value for s in at.success)


def test_counter_drift_is_charted_and_listed(page_env, history):
    at = run_page()
    drift = table_with(at, "expected")
    assert sorted(drift["kind"]) == ["flash_offer_counters", "venue_counters"]
    row = drift[drift["kind"] == "venue_counters"].iloc[0]
    assert json.loads(row["stored"]) == {"total_check_in_count": 5}
    assert json.loads(row["expected"]) == {"total_check_in_count": 6}
    assert any("2 drifted numbers" in c.value for c in at.caption)


@pytest.mark.clock
def test_rows_in_a_default_partition_are_flagged(page_env, history):
    within_one_utc_day(30)  # periods ahead count from the current month: read twice, not across its end
    with Database(page_env, record=False) as db:
        expected = {r["parent_table"]: r for r in jobs.partition_status(db)}
    at = run_page()
    table = table_with(at, "rows_in_default").set_index("parent_table")
    assert table.loc["check_ins", "rows_in_default"] == 1 == expected["check_ins"]["rows_in_default"]
    assert table.loc["query_performance_log", "rows_in_default"] == 0
    assert table.loc["check_ins", "periods_ahead"] == expected["check_ins"]["periods_ahead"]
    assert any("check_ins" in w.value and "default" in w.value for w in at.warning)


def test_venue_stats_without_venues_says_to_seed(page_env):
    at = run_page()
    assert any("venue_stats holds no venues" in i.value and "venuepulse seed" in i.value for i in at.info)


def test_venue_stats_freshness_is_shown_after_a_refresh(page_env, conn):
    conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES ('Bar', 'bar', 'Oslo', 59.9, 10.7)")
    conn.execute("SELECT refresh_venue_stats()")
    at = run_page()
    assert any("1 venues in the view" in c.value for c in at.caption)
    assert any("venue_stats as of" in c.value for c in at.caption)
    assert metric(at, "Age").endswith(" s")


def test_every_table_shown_has_a_csv_download(page_env, history):
    at = run_page()
    buttons = at.get("download_button")
    assert len(buttons) == len(at.dataframe) >= 4
