"""The viewers scenario's arithmetic and report rows (the browser run itself is `venuepulse bench --only viewers`,
too long for the suite)."""

from __future__ import annotations

from venuepulse.jobs import bench, bench_viewers

MB = 2**20


def _round(times_by_session: list[tuple[str, list[float], list[str]]], seconds: float, probe) -> dict:
    outs = [{"role": role, "times": times, "errors": errors} for role, times, errors in times_by_session]
    return {"outs": outs, "seconds": seconds, "probe": probe, "window": 60.0}


def test_summary_counts_views_per_second_percentiles_errors_and_memory_per_connected_session():
    r = _round([("pm", [1.0, 2.0, 3.0, 4.0], []), ("venue_owner", [5.0, 6.0], ["offers: 'could not load its data'"])],
               seconds=12.0, probe=((300 * MB, 10.0), (340 * MB, 40.0)))
    s = bench_viewers._summary(2, r, idle_rss=280 * MB)
    assert s["views"] == 6 and s["views_per_s"] == 0.5
    assert s["p50_s"] == 3.5 and s["p95_s"] == 5.75  # interpolated, as percentile_cont
    assert s["errors"] == 1 and s["error_samples"] == ["offers: 'could not load its data'"]
    assert s["rss_per_session_mb"] == 30.0  # (340 - 280) / 2 sessions
    assert s["server_cpu"] == 0.5  # 30 CPU seconds over a 60 s window
    assert s["by_role"] == {"pm": {"views": 4, "p50_s": 2.5}, "venue_owner": {"views": 2, "p50_s": 5.5}}


def test_summary_without_proc_reports_no_memory_or_cpu_rather_than_a_wrong_number():
    s = bench_viewers._summary(1, _round([("pm", [], [])], 60.0, ((None, None), (None, None))), idle_rss=None)
    assert s["views"] == 0 and s["p50_s"] is None
    assert s["rss_per_session_mb"] is None and s["server_cpu"] is None


def test_rows_say_the_scaling_against_its_target_or_why_the_scenario_was_skipped():
    entry = bench_viewers._summary(1, _round([("pm", [2.0, 2.0], [])], 4.0, ((100 * MB, 0.0), (120 * MB, 30.0))),
                                   idle_rss=100 * MB)
    rows = bench.viewer_rows({"by_k": {"1": entry}, "rss_idle_mb": 100.0, "scaling": 1.2})
    assert rows[0][1].startswith("K=1") and "0.50 (2 views in 4 s); 2.00 / 2.00 s; 0 errors" in rows[0][2]
    assert "20.0 MB per session" in rows[0][2] and "server CPU 0.50 cores" in rows[0][2]
    assert rows[-1] == ("viewers", "views/s at the largest K ÷ K=1 (target ≥ 1.5)", "1.20")
    skipped = bench.viewer_rows({"skipped": "no Chromium at /x"})
    assert skipped == [("viewers", "K browser sessions at once", "skipped: no Chromium at /x")]
