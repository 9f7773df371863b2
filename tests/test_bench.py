"""`venuepulse bench` end to end at tiny scale: the JSON it writes (no timing assertions)."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.fixtures.databases import with_database

BENCH_DB = "venuepulse_bench_tiny"
HISTORY_DB = "venuepulse_bench_tiny_history_x4"


@pytest.fixture
def bench_server(pg_server_url: str):
    """The test server's URL; the bench database the command creates there is dropped afterwards."""
    try:
        yield pg_server_url
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            for name in (BENCH_DB, HISTORY_DB):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_bench_refresh_pages_and_history_at_tiny_scale_writes_the_expected_json(bench_server, run_cli, tmp_path):
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    proc = run_cli("--database-url", bench_server, "bench", "--scale", "tiny", "--only", "refresh,pages,history",
                   "--repeats", "1", "--json", str(out), "--markdown", str(md), timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout

    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["scale"] == "tiny"
    assert result["postgres"].startswith("PostgreSQL ")
    assert result["machine"]["cpus"] >= 1 and len(result["machine"]["load_average_at_end"]) == 3
    assert result["data"]["venues"] > 0 and result["data"]["check_ins"] > 0
    assert set(result["scenarios"]) == {"refresh", "pages", "history"}

    refresh = result["scenarios"]["refresh"]
    for key in ("refresh_ms", "floor_ms", "concurrent_refresh_ms"):
        assert set(refresh[key]) == {"median", "min", "max", "n"} and refresh[key]["n"] == 1
    assert refresh["ratio"] > 0 and refresh["target"] == 1.3

    review = refresh["review_sql_sample"]
    assert review["venues"] == 20
    if review["wrong_venues"] is None:  # the review's SQL ran into the statement timeout
        assert review["ms"] is None and "timeout" in review["error"]
    else:
        assert 0 <= review["wrong_venues"] <= review["venues"]
        assert review["ms"] > 0 and review["worst_check_in_inflation"] >= 1

    pages = result["scenarios"]["pages"]
    assert pages["target_ratio"] == 1.5
    assert "ratio" not in pages  # tiny is the smallest scale: nothing to compare with
    assert set(pages["tiny"]) == {"overview", "venues", "engagement", "offers", "query_performance", "jobs_health"}
    for page in pages["tiny"].values():
        assert page["n"] == 1 and page["calls"] and all(ms >= 0 for ms in page["calls"].values())

    history = result["scenarios"]["history"]
    assert history["factor"] == 4 and history["target_ratio"] == 1.5
    assert set(history["ratio"]) == set(pages["tiny"]) and all(r > 0 for r in history["ratio"].values())
    longer, own = history["data"]["longer"], history["data"]["own"]
    # the same business (users, venues) with four times the check-ins over four times the days
    assert longer["users"] == own["users"] and longer["venues"] == own["venues"]
    assert longer["check_ins"] == 4 * own["check_ins"]

    table = md.read_text(encoding="utf-8")
    assert "Scale `tiny`" in table and "refresh ÷ floor (target ≤ 1.3)" in table
    assert "4x the history ÷ its own" in table
    assert f"wrote {out}" in proc.stdout + proc.stderr

    with psycopg.connect(bench_server, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)).fetchone()


def test_bench_rollups_at_tiny_scale_reports_incremental_venue_stats_fold_cost_and_capture(bench_server, run_cli,
                                                                                           tmp_path):
    out = tmp_path / "bench.json"
    proc = run_cli("--database-url", bench_server, "bench", "--scale", "tiny", "--only", "rollups",
                   "--repeats", "1", "--json", str(out), timeout=900)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    r = json.loads(out.read_text(encoding="utf-8"))["scenarios"]["rollups"]
    (one,) = r["rounds"]
    assert one["check_ins"] == 10_000 and one["log_rows"] >= 10_000
    assert one["venue_stats_changes"] >= 10_000 and one["activity_changes"] >= 10_000
    assert r["incremental_vs_full"] > 0 and r["target"] == 0.01
    assert r["capture"]["ratio"] > 0 and r["capture"]["with_tps"]["n"] == 1
    with psycopg.connect(with_database(bench_server, BENCH_DB), autocommit=True) as conn:
        # what was written without the capture was rebuilt: venue_stats equals its recount
        conn.execute("SELECT vp_fold_venue_stats()")
        assert conn.execute("SELECT count(*) FROM vp_venue_stats_drift()").fetchone()[0] == 0


@pytest.mark.slow
def test_bench_writes_measure_with_triggers_and_skip_the_bare_baselines_a_role_may_not_run(bench_server, pg_role):
    from venuepulse.jobs import bench

    said: list[str] = []
    result = bench.run(bench_server, "tiny", ["writes"], repeats=1, write_seconds=1, clients=2, progress=False,
                       say=said.append)
    writes = result["scenarios"]["writes"]
    assert writes["tps"]["check_in_spread"]["median"] > 0 and writes["hot_vs_spread"] > 0
    if pg_role["superuser"]:
        assert writes["check_in_vs_bare"] > 0 and set(writes["triggers_vs_bare"]) == set(bench.qb.WRITES)
    else:  # a managed service's admin role may not set session_replication_role: said once, not a failure
        assert writes["check_in_vs_bare"] is None and writes["triggers_vs_bare"] == {}
        assert not any(k.endswith("_bare") or k == "bare_insert" for k in writes["tps"])
        assert sum("session_replication_role" in line for line in said) == 1
    assert ("writes", "hot venue ÷ spread (target ≥ 0.5)") in {r[:2] for r in bench.table_rows(result)}
