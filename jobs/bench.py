"""`venuepulse bench`: performance figures as ratios measured side by side in one run.

Scenarios (see BENCHMARKS.md): load, refresh, recording, pages, writes, rollups, plans, viewers (browser
sessions at once: jobs/bench_viewers.py). Each runs against the bench's
own database for the scale (`venuepulse_bench_<scale>` on the same server), seeded when needed.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from venuepulse.errors import ConfigError
from venuepulse.queries.core.connect import server_info
from venuepulse.queries.ops import bench as qb

SCENARIOS = ("load", "refresh", "recording", "pages", "history", "writes", "rollups", "plans", "viewers", "waits")
SMALLER = {"small": "tiny", "medium": "small", "large": "medium"}


def _spread(values: list[float]) -> dict[str, float]:
    vals = sorted(values)
    return {"median": statistics.median(vals), "min": vals[0], "max": vals[-1], "n": len(vals)}


def _load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (None where the platform has none): the runs are ratios because
    the machine may be busy, and this says how busy."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _seed(url: str, scale: str, *, reset: bool, progress: bool, history_factor: int = 1) -> dict[str, Any] | None:
    from venuepulse.jobs.seed import seed

    rows = qb.app_rows(url)
    if rows["venues"] and not reset:
        return None
    return seed(url, scale=scale, seed=42, mode="reset" if rows["venues"] else "empty", progress=progress,
                history_factor=history_factor)


def bench_database(url: str, scale: str, *, reset: bool = False, progress: bool = True,
                   longer_history: bool = False) -> tuple[str, dict | None]:
    """The migrated, seeded bench database for ``scale`` (with qb.HISTORY_FACTOR times its history when
    ``longer_history``); the seed summary when it was (re)loaded now."""
    from venuepulse.queries.schema.migrate import upgrade

    burl, _ = qb.ensure_bench_database(url, scale, longer_history=longer_history)
    upgrade(burl, "head")
    factor = qb.HISTORY_FACTOR if longer_history else 1
    return burl, _seed(burl, scale, reset=reset, progress=progress, history_factor=factor)


def page_workload(db: Any) -> dict[str, list[tuple[str, Callable[[], Any]]]]:
    """Each dashboard page's data as the page computes it: its queries module's calls, by page (every call the
    page makes for the admin and reader roles with no filter set; the Offers page's per-offer benchmarks are
    shown to venue owners only and are left out)."""
    from venuepulse.queries.pages import engagement, offers, overview
    from venuepulse.queries.pages import jobs_health as jobs
    from venuepulse.queries.pages import query_performance as performance
    from venuepulse.queries.pages import venues as venue_stats

    now = datetime.now(UTC)
    # the date-range pages ask for whole UTC days, the last 30 by default (widgets.url_date_range/range_bounds);
    # Jobs & health the last 7
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    lo, hi = today - timedelta(days=29), today + timedelta(days=1)
    # Query performance: the last 7 days by default, hourly buckets for 7 days (_default_bucket), the
    # trend charting the 10 heaviest queries of the page's own per-query table (TREND_LINES)
    week = today - timedelta(days=6)
    page_stats: list[dict] = []

    def perf_stats() -> Any:
        page_stats[:] = performance.query_stats(db, week, hi)
        return page_stats

    def perf_trend() -> Any:
        names = [r["query_name"] for r in page_stats[:10]] if len(page_stats) > 10 else None
        return performance.time_series(db, week, hi, "1 hour", names=names)

    return {
        "overview": [
            ("overview.presence", lambda: overview.presence(db)),
            ("overview.kpis", lambda: overview.kpis(db)),
            ("overview.rollup_freshness", lambda: overview.rollup_freshness(db)),
            ("overview.trends", lambda: overview.trends(db, lo, hi, "day")),
            ("overview.top_venues", lambda: overview.top_venues(db, lo, hi)),
            ("overview.change_markers", lambda: overview.change_markers(db, lo, hi)),
        ],
        "venues": [
            ("venue_stats.summary", lambda: venue_stats.summary(db)),
            ("venue_stats.categories", lambda: venue_stats.categories(db)),
            ("venue_stats.count", lambda: venue_stats.count(db)),
            ("venue_stats.page", lambda: venue_stats.page(db)),
            ("venue_stats.leaderboard", lambda: venue_stats.leaderboard(db)),
        ],
        "engagement": [
            ("engagement.venue_summary", lambda: engagement.venue_summary(db)),
            ("engagement.venue_histogram", lambda: engagement.venue_histogram(db)),
            ("engagement.venue_by_category", lambda: engagement.venue_by_category(db)),
            ("engagement.pair_summary", lambda: engagement.pair_summary(db)),
            ("engagement.rollup_freshness", lambda: engagement.rollup_freshness(db)),
            ("engagement.pair_histogram", lambda: engagement.pair_histogram(db)),
            ("engagement.top_pairs", lambda: engagement.top_pairs(db)),
            ("engagement.notification_channels", lambda: engagement.notification_channels(db, lo, hi)),
            ("engagement.notification_categories", lambda: engagement.notification_categories(db, lo, hi)),
        ],
        "offers": [
            ("offers.venues_with_offers", lambda: offers.venues_with_offers(db, limit=offers.MAX_VENUES)),
            ("offers.offer_list", lambda: offers.offer_list(db, lo, hi, limit=offers.LIST_LIMIT)),
            ("offers.funnel", lambda: offers.funnel(db, lo, hi, top=offers.TOP_OFFERS)),
            ("offers.rollup_freshness", lambda: offers.rollup_freshness(db)),
            ("offers.conversion_by_day", lambda: offers.conversion_by_day(db, lo, hi)),
            ("offers.when_it_works", lambda: offers.when_it_works(db, lo, hi)),
        ],
        "query_performance": [
            ("performance.query_stats", perf_stats),
            ("performance.time_series", perf_trend),
            ("performance.slowest", lambda: performance.slowest(db, week, hi)),
            ("performance.regressions", lambda: performance.regressions(db, now)),
            ("performance.new_queries", lambda: performance.new_queries(db, now)),
        ],
        "jobs_health": [
            ("jobs.job_overview", lambda: jobs.job_overview(db)),
            ("jobs.partition_status", lambda: jobs.partition_status(db)),
            ("jobs.view_freshness", lambda: jobs.view_freshness(db)),
            ("jobs.rollup_lag", lambda: jobs.rollup_lag(db)),
            ("jobs.replication", lambda: jobs.replication(db)),
            ("jobs.job_runs", lambda: jobs.job_runs(db, start=week, end=hi, limit=2_000)),
            ("jobs.failed_runs", lambda: jobs.job_runs(db, start=week, end=hi, limit=2_000, status="failed")),
            ("jobs.drift_daily", lambda: jobs.drift_daily(db, week, hi)),
            ("jobs.drift_history", lambda: jobs.drift_history(db, week, hi, limit=500)),
            ("jobs.role_privileges", lambda: jobs.role_privileges(db)),
        ],
    }


def time_pages(url: str, repeats: int) -> dict[str, dict[str, Any]]:
    """Per page: the spread of the whole page's time (ms) and, under "calls", each call's median ms."""
    return time_pages_side_by_side([url], repeats)[0]


def time_pages_side_by_side(urls: list[str], repeats: int) -> list[dict[str, dict[str, Any]]]:
    """:func:`time_pages` for several databases at once, their calls alternating call by call (the order
    flipping each round), so the machine's drift hits them alike and their ratios can be read.

    The result cache is emptied before every call, so each one computes its data in the database
    (the pages cache some queries for 30-600 s; a hit would time a dictionary lookup).
    """
    from contextlib import ExitStack

    from venuepulse.queries.core.registry import registry
    from venuepulse.queries.core.runner import Database

    cached = [f"query:{name}" for name, q in registry().items() if q.cached]

    with ExitStack() as stack:
        dbs = [stack.enter_context(Database(url, record=False)) for url in urls]

        def uncached(db: Any, fn: Callable[[], Any]) -> Callable[[], Any]:
            def call() -> Any:
                for tag in cached:
                    db.invalidate(tag)
                return fn()
            return call

        works = [{page: [(name, uncached(db, fn)) for name, fn in calls] for page, calls in page_workload(db).items()}
                 for db in dbs]
        for work in works:  # warm-up: connections, plans, buffer cache
            for calls in work.values():
                for _, fn in calls:
                    fn()
        outs: list[dict[str, dict[str, Any]]] = [{} for _ in dbs]
        for page in works[0]:
            totals: list[list[float]] = [[] for _ in dbs]
            per_call: list[dict[str, list[float]]] = [{name: [] for name, _ in w[page]} for w in works]
            for round_ in range(repeats):
                order = list(range(len(dbs)))
                if round_ % 2:
                    order.reverse()
                total = [0.0] * len(dbs)
                for k in range(len(works[0][page])):
                    for i in order:
                        name, fn = works[i][page][k]
                        t0 = time.perf_counter()
                        fn()
                        ms = (time.perf_counter() - t0) * 1000.0
                        per_call[i][name].append(ms)
                        total[i] += ms
                for i in range(len(dbs)):
                    totals[i].append(total[i])
            for i in range(len(dbs)):
                outs[i][page] = {**_spread(totals[i]),
                                 "calls": {n: statistics.median(v) for n, v in per_call[i].items()}}
    return outs


def run(url: str, scale: str = "small", only: list[str] | None = None, *, repeats: int = 5,
        write_seconds: int = 6, clients: int = 16, progress: bool = True, viewer_seconds: float = 60.0,
        say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the chosen scenarios at ``scale``; returns the results (also what --json writes)."""
    chosen = list(only or SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise ConfigError(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    started = time.perf_counter()
    burl, loaded = bench_database(url, scale, reset="load" in chosen, progress=progress)
    info = server_info(burl)
    result: dict[str, Any] = {
        "scale": scale,
        "postgres": info["version"].split(" on ")[0],
        "server_version_num": info["server_version_num"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": _load_average()},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": qb.app_rows(burl),
        "scenarios": {},
    }
    sc = result["scenarios"]

    if "load" in chosen and loaded:
        sc["load"] = {"seconds": loaded.get("seconds"), "tables": loaded.get("tables"),
                      "steps": loaded.get("steps"), "strategy": loaded.get("strategy")}
        say(f"load: {scale} seeded in {loaded.get('seconds', 0):.1f}s")

    if "refresh" in chosen:
        say("refresh: venue_stats full refresh vs one aggregate pass ...")
        r = qb.refresh_vs_floor(burl, repeats)
        ratio = statistics.median(r["refresh_ms"]) / statistics.median(r["floor_ms"])
        review = qb.review_sql_on_sample(burl)
        sc["refresh"] = {"refresh_ms": _spread(r["refresh_ms"]), "floor_ms": _spread(r["floor_ms"]),
                         "concurrent_refresh_ms": _spread(r["concurrent_refresh_ms"]),
                         "ratio": ratio, "target": 1.3, "review_sql_sample": review}
        outcome = (f"got {review['wrong_venues']} of them wrong" if review["wrong_venues"] is not None
                   else f"did not finish ({review['error']})")
        say(f"refresh: {ratio:.2f}x the floor; the review's SQL on {review['venues']} venues {outcome}")

    if "recording" in chosen:
        from venuepulse.queries.pages.query_performance import measure_recording_overhead

        say("recording: 20,000 runs recorded vs unrecorded ...")
        m = measure_recording_overhead(burl, runs=20_000, rounds=repeats)
        sc["recording"] = {**m, "target_pct": 3.0}
        say(f"recording: {m['overhead_pct']:.2f}% overhead")

    if "pages" in chosen:
        other = SMALLER.get(scale)
        say(f"pages: each page's data at {scale}" + (f" and {other}" if other else "") + " ...")
        qb.fold_everything(burl)  # as the fold job keeps it (an earlier run's writes may be waiting)
        entry: dict[str, Any] = {"target_ratio": 1.5}
        if other:
            surl, _ = bench_database(url, other, progress=progress)
            qb.fold_everything(surl)
            big, small = time_pages_side_by_side([burl, surl], repeats)
            entry[scale], entry[other] = big, small
            entry["ratio"] = {p: big[p]["median"] / small[p]["median"] for p in big}
        else:
            entry[scale] = time_pages(burl, repeats)
        sc["pages"] = entry

    if "history" in chosen:
        # the pages' cost as history grows and the business does not: what rollups are for (issue 13)
        factor = qb.HISTORY_FACTOR
        say(f"history: each page's data at {scale} with {factor}x its history and with its own ...")
        hurl, _ = bench_database(url, scale, progress=progress, longer_history=True)
        qb.fold_everything(hurl)
        qb.fold_everything(burl)
        longer, own = time_pages_side_by_side([hurl, burl], repeats)
        sc["history"] = {"factor": factor, "longer": longer, "own": own, "target_ratio": 1.5,
                         "data": {"longer": qb.app_rows(hurl), "own": qb.app_rows(burl)},
                         "ratio": {p: longer[p]["median"] / own[p]["median"] for p in longer}}

    if "writes" in chosen:
        say(f"writes: pgbench, {clients} clients, {write_seconds}s per run ...")
        counts = qb.prepare_writers(burl)
        bare = qb.may_turn_triggers_off(burl)
        if not bare:
            say("writes: the bare (no trigger) baselines are skipped: this role may not set session_replication_role, "
                "which needs a superuser or GRANT SET ON PARAMETER session_replication_role")
        runs: dict[str, list[float]] = {k: [] for k in qb.SCRIPTS if bare or not qb.triggers_off(k)}
        try:
            for _ in range(max(1, (repeats + 1) // 2)):
                for script in runs:  # interleaved so drift hits every script alike
                    runs[script].append(qb.pgbench(burl, script, clients=clients, seconds=write_seconds,
                                                   users=counts["users"], venues=counts["venues"],
                                                   offers=counts["offers"]))
            say("writes: where one check_in() spends its time (pg_stat_statements, track = all) ...")
            breakdown = qb.check_in_breakdown(burl)
        finally:
            qb.drop_writers(burl)
        med = {k: statistics.median(v) for k, v in runs.items()}
        sc["writes"] = {"tps": {k: _spread(v) for k, v in runs.items()}, "clients": clients,
                        "check_in_vs_bare": med["check_in_spread"] / med["bare_insert"] if bare else None,
                        "hot_vs_spread": med["check_in_hot"] / med["check_in_spread"],
                        "triggers_vs_bare": {k: med[k] / med[k + "_bare"] for k in qb.WRITES} if bare else {},
                        "targets": {"check_in_vs_bare": 0.5, "hot_vs_spread": 0.5},
                        "check_in_breakdown": breakdown}
        vs_bare = f" vs bare insert {med['bare_insert']:.0f} tps" if bare else ""
        say(f"writes: check_in {med['check_in_spread']:.0f} tps{vs_bare}; hot venue {med['check_in_hot']:.0f} tps")

    if "rollups" in chosen:
        say("rollups: 10,000 check-ins spread over the venues, then venue_stats brought current vs recomputed, "
            "and the folds ...")
        inc = qb.rollups_incremental(burl, check_ins=10_000, rounds=max(1, (repeats + 1) // 2))
        rounds = inc["rounds"]
        vs, full = [r["venue_stats_ms"] for r in rounds], [r["full_ms"] for r in rounds]
        fold = [r["activity_ms"] + r["pairs_ms"] + r["venue_stats_ms"] for r in rounds]
        say("rollups: capture overhead, pgbench check_in() with and without the capture triggers ...")
        cap = qb.capture_overhead(burl, clients=clients, seconds=write_seconds, runs=max(1, (repeats + 1) // 2))
        qb.fold_everything(burl)
        sc["rollups"] = {
            "rounds": rounds, "venue_stats_ms": _spread(vs), "full_ms": _spread(full),
            "incremental_vs_full": statistics.median(vs) / statistics.median(full), "target": 0.01,
            "fold_ms_per_10k_check_ins": _spread(fold),
            "log_rows_per_10k_check_ins": statistics.median(r["log_rows"] for r in rounds),
            "capture": {"with_tps": _spread(cap["with_capture_tps"]), "without_tps": _spread(cap["without_capture_tps"]),
                        "ratio": statistics.median(cap["with_capture_tps"]) / statistics.median(cap["without_capture_tps"]),
                        "clients": clients},
        }
        say(f"rollups: venue_stats current in {statistics.median(vs):.0f} ms vs {statistics.median(full):.0f} ms "
            f"in full; capture keeps {sc['rollups']['capture']['ratio']:.2f} of check_in() TPS")

    if "plans" in chosen:
        say("plans: capture passes over every named query's generic plan (the capture_plans job) ...")
        pc = qb.plan_capture(burl, passes=max(3, repeats))
        sc["plans"] = {**pc, "pass_ms": _spread(pc["pass_ms"])}
        say(f"plans: {pc['captured']} plans captured in {sc['plans']['pass_ms']['median']:.0f} ms per pass")

    if "viewers" in chosen:
        from venuepulse.jobs import bench_viewers

        qb.fold_everything(burl)
        sc["viewers"] = v = bench_viewers.run(burl, seconds=viewer_seconds, say=say)
        if "skipped" in v:
            say(f"viewers: skipped: {v['skipped']}")

    if "waits" in chosen:
        seconds = max(write_seconds, 10)
        say(f"waits: pgbench check_in() without the wait sampler and with it every 5 s and every 1 s, {seconds}s per run ...")
        w = qb.sampler_overhead(burl, clients=clients, seconds=seconds, runs=max(3, repeats))
        med = {k: statistics.median(v) for k, v in w["tps"].items()}
        sc["waits"] = {"tps": {k: _spread(v) for k, v in w["tps"].items()}, "clients": clients, "seconds": seconds,
                       "ratio": {k: med[k] / med["off"] for k in med if k != "off"},
                       "sample_ms": {k: _spread(v) for k, v in w["sample_ms"].items() if v}, "target_cost": 0.01,
                       "sample_cpu_ms": w["sample_cpu_ms"], "samples": w["samples"],
                       "core_share": {k: (c / 1000.0) / float(k.split()[1]) for k, c in w["sample_cpu_ms"].items()
                                      if c is not None}}
        say("waits: " + "; ".join(f"sampler {k} keeps {r:.3f} of the TPS" for k, r in sc["waits"]["ratio"].items()))

    result["seconds"] = time.perf_counter() - started
    result["machine"]["load_average_at_end"] = _load_average()
    return result


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(scenario, figure, value) rows for the printed table and BENCHMARKS.md."""
    rows: list[tuple[str, str, str]] = []
    sc = result["scenarios"]
    if "load" in sc and sc["load"].get("tables"):
        for table, t in sc["load"]["tables"].items():
            rate = t.get("rows_per_second") if isinstance(t, dict) else None
            n = t.get("rows") if isinstance(t, dict) else t
            rows.append(("load", f"{table} rows/s (COPY)", f"{rate:,.0f} ({n:,} rows)" if rate else f"{n:,} rows"))
        if sc["load"].get("steps"):
            rows.append(("load", "seconds per step", ", ".join(f"{k} {v:.1f}" for k, v in sc["load"]["steps"].items())))
        rows.append(("load", "total seconds", f"{sc['load']['seconds']:.1f}"))
    if "refresh" in sc:
        r = sc["refresh"]
        rows.append(("refresh", "full recompute ms (refresh_venue_stats(true); median, min–max)",
                     f"{r['refresh_ms']['median']:.0f} ({r['refresh_ms']['min']:.0f}–{r['refresh_ms']['max']:.0f})"))
        rows.append(("refresh", "aggregate floor ms", f"{r['floor_ms']['median']:.0f} "
                     f"({r['floor_ms']['min']:.0f}–{r['floor_ms']['max']:.0f})"))
        rows.append(("refresh", "refresh ÷ floor (target ≤ 1.3)", f"{r['ratio']:.2f}"))
        if "concurrent_refresh_ms" in r:
            c = r["concurrent_refresh_ms"]
            rows.append(("refresh", "refresh job ms (incremental, nothing changed; for reference)",
                         f"{c['median']:.0f} ({c['min']:.0f}–{c['max']:.0f})"))
        rv = r["review_sql_sample"]
        took = f"{rv['ms']:.0f} ms" if rv.get("ms") is not None else f"did not finish ({rv.get('error')})"
        rows.append(("refresh", f"review's literal SQL on {rv['venues']} sampled venues", took))
        if rv.get("wrong_venues") is not None:
            rows.append(("refresh", "  venues it got wrong", f"{rv['wrong_venues']} of {rv['venues']}"
                         f" (check-ins inflated up to {rv['worst_check_in_inflation']:.0f}x)"))
    if "recording" in sc:
        m = sc["recording"]
        rec, plain = m.get("recorded_rounds_us") or [0], m.get("unrecorded_rounds_us") or [0]
        rows.append(("recording", f"µs per {m['query']} recorded / unrecorded (median of rounds, min–max)",
                     f"{m['recorded_us']:.1f} ({min(rec):.0f}–{max(rec):.0f}) / "
                     f"{m['unrecorded_us']:.1f} ({min(plain):.0f}–{max(plain):.0f})"))
        rows.append(("recording", "overhead (target ≤ 3%)", f"{m['overhead_pct']:.2f}%"))
    if "pages" in sc:
        p = sc["pages"]
        scales = [k for k in p if k not in ("ratio", "target_ratio")]
        for page in p[scales[0]]:
            vals = " / ".join(f"{s}: {p[s][page]['median']:.0f} ms" for s in scales)
            ratio = f"; ratio {p['ratio'][page]:.2f} (target ≤ 1.5)" if "ratio" in p else ""
            calls = p[scales[0]][page].get("calls") or {}
            slowest = max(calls, key=calls.get) if calls else None
            most = f"; slowest call at {scales[0]}: {slowest} {calls[slowest]:.0f} ms" if slowest else ""
            rows.append(("pages", f"{page} (median per page)", vals + ratio + most))
    if "history" in sc:
        h = sc["history"]
        x = h["factor"]
        for page in h["longer"]:
            calls = h["longer"][page].get("calls") or {}
            slowest = max(calls, key=calls.get) if calls else None
            most = f"; slowest call with {x}x: {slowest} {calls[slowest]:.0f} ms" if slowest else ""
            rows.append(("history", f"{page}: {x}x the history ÷ its own (median per page)",
                         f"{h['longer'][page]['median']:.0f} / {h['own'][page]['median']:.0f} ms; ratio "
                         f"{h['ratio'][page]:.2f} (target ≤ 1.5){most}"))
    if "writes" in sc:
        w = sc["writes"]
        for k, v in w["tps"].items():
            rows.append(("writes", f"{k} tps ({w['clients']} clients)",
                         f"{v['median']:.0f} ({v['min']:.0f}–{v['max']:.0f})"))
        rows.append(("writes", "check_in ÷ bare insert (target ≥ 0.5)", "not measured (needs session_replication_role)"
                     if w["check_in_vs_bare"] is None else f"{w['check_in_vs_bare']:.2f}"))
        rows.append(("writes", "hot venue ÷ spread (target ≥ 0.5)", f"{w['hot_vs_spread']:.2f}"))
        for k, ratio in (w.get("triggers_vs_bare") or {}).items():
            rows.append(("writes", f"{k}: with triggers ÷ without", f"{ratio:.2f}"))
        rows += breakdown_rows(w.get("check_in_breakdown"))
    if "rollups" in sc:
        r = sc["rollups"]
        vs, full = r["venue_stats_ms"], r["full_ms"]
        rows.append(("rollups", "venue_stats brought current after 10,000 check-ins spread over venues, ms",
                     f"{vs['median']:.0f} ({vs['min']:.0f}–{vs['max']:.0f})"))
        rows.append(("rollups", "venue_stats recomputed in full, ms", f"{full['median']:.0f} ({full['min']:.0f}–{full['max']:.0f})"))
        rows.append(("rollups", "incremental ÷ full (target ≤ 1%)", f"{r['incremental_vs_full']:.2%}"))
        f = r["fold_ms_per_10k_check_ins"]
        rows.append(("rollups", "fold job per 10,000 check-ins (activity + pairs + venue_stats), ms",
                     f"{f['median']:.0f} ({f['min']:.0f}–{f['max']:.0f}); {r['log_rows_per_10k_check_ins']:,.0f} log rows"))
        last = r["rounds"][-1]
        rows.append(("rollups", "  of which activity / pairs / venue_stats, ms (last round)",
                     f"{last['activity_ms']:.0f} / {last['pairs_ms']:.0f} / {last['venue_stats_ms']:.0f}"))
        c = r["capture"]
        rows.append(("rollups", f"check_in() tps with / without capture ({c['clients']} clients)",
                     f"{c['with_tps']['median']:.0f} / {c['without_tps']['median']:.0f}"))
        rows.append(("rollups", "capture overhead: tps with ÷ without", f"{c['ratio']:.2f}"))
    if "waits" in sc:
        w = sc["waits"]
        off = w["tps"]["off"]
        rows.append(("waits", f"check_in() tps without the wait sampler ({w['clients']} clients, {w['seconds']} s runs)",
                     f"{off['median']:.0f} ({off['min']:.0f}–{off['max']:.0f})"))
        for k, ratio in w["ratio"].items():
            t, ms = w["tps"][k], w["sample_ms"].get(k)
            cost = f"; one sample {ms['median']:.1f} ms wall (max {ms['max']:.1f})" if ms else ""
            cpu = (w.get("sample_cpu_ms") or {}).get(k)
            if cpu is not None:
                cost += f", {cpu:.2f} ms server CPU = {w['core_share'][k]:.3%} of one core"
            rows.append(("waits", f"  with the sampler {k}: tps, with ÷ without (target ≥ 0.99)",
                         f"{t['median']:.0f} ({t['min']:.0f}–{t['max']:.0f}); {ratio:.3f}{cost}"))
    if "plans" in sc:
        p = sc["plans"]
        ms = p["pass_ms"]
        rows.append(("plans", f"one capture pass over {p['captured']} named queries' generic plans, ms "
                     f"({p['skipped']} skipped, {p['failed']} failed)",
                     f"{ms['median']:.0f} ({ms['min']:.0f}–{ms['max']:.0f})"))
        rows.append(("plans", "  a pass ÷ one health.ping round trip on the same pool (median)",
                     f"{ms['median'] / p['ping_ms']:.0f} (ping {p['ping_ms']:.1f} ms)"))
        rows.append(("plans", "  slowest to EXPLAIN, ms (median of passes)",
                     ", ".join(f"{k} {v:.1f}" for k, v in p["slowest_explain_ms"].items())))
    if "viewers" in sc:
        rows += viewer_rows(sc["viewers"])
    return rows


def viewer_rows(v: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Rows for K browser sessions at once: throughput, page time, errors, the server's memory and CPU."""
    if "skipped" in v:
        return [("viewers", "K browser sessions at once", f"skipped: {v['skipped']}")]
    rows = []
    for k, e in v["by_k"].items():
        mem = (f"; server RSS {v.get('rss_idle_mb') or 0:.0f} MB idle → {e['rss_end_mb']:.0f} MB, "
               f"{e['rss_per_session_mb']:.1f} MB per session" if e.get("rss_per_session_mb") is not None else "")
        cpu = f"; server CPU {e['server_cpu']:.2f} cores" if e.get("server_cpu") is not None else ""
        p50, p95 = e["p50_s"] or 0.0, e["p95_s"] or 0.0
        rows.append(("viewers", f"K={k}: page views/s, p50 / p95 page time, errors",
                     f"{e['views_per_s']:.2f} ({e['views']} views in {e['seconds']:.0f} s); {p50:.2f} / {p95:.2f} s; "
                     f"{e['errors']} errors{mem}{cpu}"))
        if e.get("error_samples"):
            rows.append(("viewers", f"  K={k} errors (first)", "; ".join(e["error_samples"])))
    if "scaling" in v:
        rows.append(("viewers", "views/s at the largest K ÷ K=1 (target ≥ 1.5)", f"{v['scaling']:.2f}"))
    return rows


def breakdown_rows(b: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """Rows for where one check_in() spends its time: functions' self time (adds up to the whole), then the
    costliest statements (a statement's time includes what it calls)."""
    if not b:
        return []
    if "error" in b:
        return [("writes", "check_in() cost breakdown", f"not measured: {b['error']}")]
    rows = [("writes", f"check_in() cost breakdown ({b['calls']:,} calls)",
             f"{b['us_per_call']:.0f} µs per call in the server")]
    fns = ", ".join(f"{f['function']} {f['share']:.0%}" for f in b["functions"] if f["share"] >= 0.005)
    rows.append(("writes", "  self time by function (sums to 100%)", fns))
    for st in b["statements"][:8]:
        rows.append(("writes", f"  {st['share']:.0%} · {st['total_ms'] * 1000.0 / b['calls']:.0f} µs/call",
                     f"`{st['query'][:100]}`"))
    return rows


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    load = ""
    if m.get("load_average_at_start"):
        load = (f" · load average {m['load_average_at_start'][0]:.1f} at start, "
                f"{(m.get('load_average_at_end') or [0])[0]:.1f} at end")
    head = (f"Scale `{result['scale']}` · {result['postgres']} · {m['cpus']} CPUs{load} · "
            f"{result['started_at']} · {result['seconds']:.0f}s in all\n\n")
    lines = ["| scenario | figure | value |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in table_rows(result)]
    return head + "\n".join(lines) + "\n"


def write_json(result: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
