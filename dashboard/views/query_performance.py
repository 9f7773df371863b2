"""Query performance (engineers): per-query percentiles for a window, trends, regressions and new queries,
the slowest executions, EXPLAIN on demand, pg_stat_statements and cache hit rates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from venuepulse.dashboard import markers as change_markers
from venuepulse.dashboard.context import PageContext
from venuepulse.dashboard.widgets import (
    alerts_banner,
    download_csv,
    empty_state,
    fmt_int,
    fmt_pct,
    panel,
    range_bounds,
    url_date_range,
    url_int,
    url_select,
)
from venuepulse.errors import QueryError
from venuepulse.queries.core.registry import registry
from venuepulse.queries.pages import query_performance as performance

ALL = "(all queries)"
BUCKETS = {"5 min": "5m", "15 min": "15m", "1 hour": "1h", "6 hours": "6h", "1 day": "1d"}
METRICS = {"p95": "p95_ms", "p50": "p50_ms", "p99": "p99_ms", "mean": "mean_ms", "max": "max_ms", "calls": "calls"}
WINDOWS = {"15 min": timedelta(minutes=15), "1 hour": timedelta(hours=1), "6 hours": timedelta(hours=6),
           "24 hours": timedelta(hours=24)}
TREND_LINES = 10  # with every query selected, chart the heaviest ones only
SLOW_LIMIT = 50
LIVE_REFRESH = timedelta(seconds=60)
NO_TIMINGS_HINT = ("Timings are recorded as the app's named queries run: start `venuepulse up` (its probe job "
                   "times the key queries every minute) or `venuepulse simulate` for live traffic.")


def _frame(rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)


def _ms_col(label: str) -> Any:
    return st.column_config.NumberColumn(label, format="%.2f")


def _default_bucket(start, end) -> str:
    # the default range (7 days) gets hourly buckets: read from the hourly rollup, not from raw timings
    days = (end - start).days + 1
    return "15 min" if days <= 1 else "1 hour" if days <= 7 else "6 hours" if days <= 31 else "1 day"


def render(ctx: PageContext) -> None:
    st.title("Query performance")
    alerts_banner(ctx, "query_performance")
    st.caption("How long VenuePulse's named queries take, from the timings recorded in query_performance_log "
               "and their hourly and daily rollups, and pg_stat_statements.")

    window_label = url_select("Regression window", list(WINDOWS), param="window", default="1 hour")
    _live(ctx, window_label)
    st.divider()

    c1, c2 = st.columns([2, 3])
    with c1:
        start, end = url_date_range(default_days=7, key="perf_range")
    lo, hi = range_bounds(start, end)
    stats = _stats(ctx, lo, hi)
    names = sorted(set(stats["query_name"]) if not stats.empty else set())
    with c2:
        query = url_select("Query", [ALL, *names], param="query")
    selected = None if query in (None, ALL) else [query]

    _percentiles(stats, selected)
    _trend(ctx, lo, hi, start, end, selected, stats)
    _slowest(ctx, lo, hi)
    _waits(ctx, lo, hi, selected)
    _stat_statements(ctx, lo, hi)
    _stat_statements_integrity(ctx, lo, hi)
    _plan_changes(ctx, lo, hi)
    _cache(ctx)
    _explain(ctx)


def _stats(ctx: PageContext, lo: datetime, hi: datetime) -> pd.DataFrame:
    try:
        return _frame(performance.query_stats(ctx.db, lo, hi))
    except QueryError as exc:
        st.warning(f"Per-query statistics are not available right now: {exc}")
        return pd.DataFrame()


# -- live: regressions and new queries ---------------------------------------------------------------------


@st.fragment(run_every=LIVE_REFRESH)
def _live(ctx: PageContext, window_label: str) -> None:
    window = WINDOWS[window_label]
    now = datetime.now(UTC)
    st.caption(f"Regressions and new queries over the last {window_label}, checked at {now:%H:%M:%S} UTC "
               f"(refreshes every {int(LIVE_REFRESH.total_seconds())} s).")
    left, right = st.columns(2)
    with left, panel("Regressions"):
        reg = _frame(performance.regressions(ctx.db, now=now, window=window))
        if reg.empty:
            st.success(f"No query's p95 over the last {window_label} is more than 1.5× its previous window "
                       "or the same hours a week ago (queries with at least 20 calls).")
        else:
            near_plans = _near_plan_changes(ctx, reg, now, window)
            near_changes = _markers(ctx, now - 2 * window, now)
            for _, r in reg.iterrows():
                ratios = [x for x in (r["vs_previous"], r["vs_week_ago"]) if x is not None and pd.notna(x)]
                worse = f"{max(ratios):.1f}× its baseline" if ratios else "slower than its baseline"
                st.error(f"**{r['query_name']}** p95 {r['p95_ms']:.1f} ms is {worse}.")
                _regression_plan_changes(near_plans.get(r["query_name"], []))
                for line in change_markers.near_lines(near_changes, now - 2 * window, now):
                    st.markdown(line)
            shown = reg[["query_name", "calls", "p95_ms", "prev_p95_ms", "vs_previous", "week_p95_ms",
                         "vs_week_ago"]]
            st.dataframe(shown, hide_index=True, column_config={
                "query_name": "Query", "calls": "Calls", "p95_ms": _ms_col("p95 (ms)"),
                "prev_p95_ms": _ms_col("Previous p95 (ms)"),
                "vs_previous": st.column_config.NumberColumn("× previous", format="%.2f"),
                "week_p95_ms": _ms_col("Week-ago p95 (ms)"),
                "vs_week_ago": st.column_config.NumberColumn("× week ago", format="%.2f")})
            download_csv(shown, "regressions.csv", key="csv_regressions")
    with right, panel("New queries"):
        new = _frame(performance.new_queries(ctx.db, now=now, window=window))
        if new.empty:
            st.success(f"No query name was recorded for the first time in the last {window_label}.")
        else:
            st.warning(f"{len(new)} query name(s) recorded for the first time in the last {window_label}.")
            st.dataframe(new, hide_index=True, column_config={
                "query_name": "Query",
                "first_seen": st.column_config.DatetimeColumn("First seen (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                "calls": "Calls", "p95_ms": _ms_col("p95 (ms)"), "max_ms": _ms_col("Max (ms)")})
            download_csv(new, "new_queries.csv", key="csv_new_queries")


# -- the chosen window -------------------------------------------------------------------------------------


def _percentiles(stats: pd.DataFrame, selected: list[str] | None) -> None:
    with panel("Per-query percentiles"):
        if stats.empty:
            empty_state("No query timings in this date range.", NO_TIMINGS_HINT)
            return
        if selected:
            stats = stats[stats["query_name"].isin(selected)]
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Queries", fmt_int(len(stats)))
        c2.metric("Calls", fmt_int(stats["calls"].sum()))
        c3.metric("Failed", fmt_int(stats["failed"].sum()))
        c4.metric("Total time", f"{stats['total_ms'].sum() / 1000:,.1f} s")
        st.caption(f"p50 / p95 / p99 are estimates from log-spaced histograms, each within "
                   f"{performance.PERCENTILE_BOUND:.1%} of the exact percentile; calls, failed, mean, max and totals "
                   "are exact (whole days and hours from the rollups, the rest from the raw timings, so they "
                   "outlive the raw timings' retention). Heaviest (total time) first. Timings reach the log about "
                   "a second after each query runs, so today's numbers are live.")
        cols = [c for c in ("query_name", "calls", "failed", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms",
                            "total_ms", "mean_rows") if c in stats.columns]
        shown = stats[cols]
        st.dataframe(shown, hide_index=True, column_config={
            "query_name": "Query", "calls": "Calls", "failed": "Failed",
            "p50_ms": _ms_col("≈ p50 (ms)"), "p95_ms": _ms_col("≈ p95 (ms)"), "p99_ms": _ms_col("≈ p99 (ms)"),
            "mean_ms": _ms_col("Mean (ms)"), "max_ms": _ms_col("Max (ms)"), "total_ms": _ms_col("Total (ms)"),
            "mean_rows": st.column_config.NumberColumn("Mean rows", format="%.1f")})
        download_csv(shown, "query_percentiles.csv", key="csv_query_percentiles")


def _trend(ctx: PageContext, lo: datetime, hi: datetime, start, end, selected: list[str] | None,
           stats: pd.DataFrame) -> None:
    with panel("Trend"):
        c1, c2 = st.columns(2)
        with c1:
            bucket_label = url_select("Bucket", list(BUCKETS), param="bucket", default=_default_bucket(start, end))
        with c2:
            metric_label = url_select("Show", list(METRICS), param="metric", default="p95")
        names = selected
        if names is None and not stats.empty and len(stats) > TREND_LINES:
            names = list(stats.sort_values("total_ms", ascending=False)["query_name"].head(TREND_LINES))
            st.caption(f"Charting the {TREND_LINES} queries with the most total time; pick one above to see another.")
        try:
            series = _frame(performance.time_series(ctx.db, lo, hi, BUCKETS[bucket_label], names=names))
        except ValueError as exc:
            st.warning(f"{exc}.")
            return
        if series.empty:
            empty_state("No query timings in this date range to chart.", NO_TIMINGS_HINT)
            return
        st.caption("Each point's percentiles are exact for its bucket. Hourly buckets (the default for the default "
                   "7-day range) come from the hourly rollup, which keeps each hour's exact percentiles; an hour "
                   "rolled up before it kept them, whose raw timings expired, is estimated from its histogram "
                   f"(within {performance.PERCENTILE_BOUND:.1%}).")
        col = METRICS[metric_label]
        fig = px.line(series, x="bucket_start", y=col, color="query_name", markers=True,
                      labels={"bucket_start": f"Time (UTC, {bucket_label} buckets)",
                              col: metric_label if col == "calls" else f"{metric_label} (ms)", "query_name": "Query"})
        fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10})
        marks = _markers(ctx, lo, hi)
        change_markers.draw(fig, marks)
        st.plotly_chart(fig, width="stretch")
        change_markers.caption(marks)
        with st.expander("Chart data"):
            change_markers.table(marks, "query_trend_changes")
            st.dataframe(series, hide_index=True, column_config={
                "bucket_start": st.column_config.DatetimeColumn("Bucket start (UTC)", format="YYYY-MM-DD HH:mm"),
                "query_name": "Query", "p50_ms": _ms_col("p50 (ms)"), "p95_ms": _ms_col("p95 (ms)"),
                "p99_ms": _ms_col("p99 (ms)"), "mean_ms": _ms_col("Mean (ms)"), "max_ms": _ms_col("Max (ms)")})
            download_csv(series, "query_trend.csv", key="csv_query_trend")


def _slowest(ctx: PageContext, lo: datetime, hi: datetime) -> None:
    with panel("Slowest executions"):
        threshold = url_int("Slower than (ms)", param="slow_ms", default=1000, min_value=0, max_value=3_600_000,
                            step=100)
        rows = _frame(performance.slowest(ctx.db, lo, hi, threshold_ms=threshold, limit=SLOW_LIMIT))
        if rows.empty:
            st.success(f"No execution took longer than {threshold:,} ms in this date range.")
            return
        shown = rows[["created_at", "query_name", "execution_time_ms", "row_count", "failed", "user_id"]]
        st.dataframe(shown, hide_index=True, column_config={
            "created_at": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "query_name": "Query", "execution_time_ms": _ms_col("Time (ms)"), "row_count": "Rows",
            "failed": "Failed", "user_id": "User"})
        if len(rows) == SLOW_LIMIT:
            st.caption(f"The {SLOW_LIMIT} slowest are listed.")
        download_csv(shown, "slowest_executions.csv", key="csv_slowest")


def _stat_statements(ctx: PageContext, lo: datetime, hi: datetime) -> None:
    with panel("pg_stat_statements"):
        status = performance.stat_statements_status(ctx.db)
        if not status.get("available"):
            empty_state("pg_stat_statements is not available on this database.", status.get("message", ""))
            return
        st.caption(status.get("message", ""))
        rows = _frame(performance.stat_statements(ctx.db, lo, hi))
        if rows.empty:
            empty_state("No pg_stat_statements snapshots in this date range.",
                        "The snapshot job stores one every 5 minutes; take one now with "
                        "`venuepulse jobs --once snapshot_stat_statements` (the first only sets the baseline).")
            return
        hits = rows["cache_hit_ratio"].dropna()
        c1, c2, c3 = st.columns(3)
        c1.metric("Statements", fmt_int(len(rows)))
        c2.metric("Calls", fmt_int(rows["calls"].sum()))
        c3.metric("Median buffer cache hit rate", fmt_pct(hits.median()) if not hits.empty else "–",
                  help="Per statement: shared blocks found in PostgreSQL's buffer cache / blocks needed.")
        shown = rows[["query_name", "calls", "total_ms", "mean_ms", "rows", "cache_hit_ratio", "shared_blks_read",
                      "temp_blks_written", "query"]]
        st.dataframe(shown, hide_index=True, column_config={
            "query_name": "Named query", "calls": "Calls", "total_ms": _ms_col("Total (ms)"),
            "mean_ms": _ms_col("Mean (ms)"), "rows": "Rows",
            "cache_hit_ratio": st.column_config.ProgressColumn("Cache hit rate", min_value=0.0, max_value=1.0,
                                                               format="percent"),
            "shared_blks_read": "Blocks read", "temp_blks_written": "Temp blocks written",
            "query": st.column_config.TextColumn("Statement", width="large")})
        download_csv(shown, "stat_statements.csv", key="csv_stat_statements")


# -- change markers and pg_stat_statements integrity ---------------------------------------------------------

PGSS_SERIES = 5


def _markers(ctx: PageContext, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    """The changes in [lo, hi); none (and a note) when they cannot be read."""
    try:
        return performance.change_markers(ctx.db, lo, hi)
    except QueryError as exc:
        st.caption(f"Change markers are not available right now: {exc}")
        return []


def _stat_statements_integrity(ctx: PageContext, lo: datetime, hi: datetime) -> None:
    with panel("pg_stat_statements integrity"):
        try:
            status = performance.stat_statements_status(ctx.db)
            if not status.get("available"):
                st.caption("Not available: pg_stat_statements is not enabled here (see the panel above).")
                return
            info = performance.stat_statements_integrity(ctx.db, lo, hi)
            series = _frame(performance.stat_statements_series(ctx.db, lo, hi, limit=PGSS_SERIES))
            capture = performance.change_capture_status(ctx.db)
        except QueryError as exc:
            st.warning(f"Snapshot integrity is not available right now: {exc}")
            return
        st.caption(f"Change markers: {capture['message']}.")
        if not info["snapshots"]:
            empty_state("No pg_stat_statements snapshots in this date range.")
            return
        if not info["info_available"]:
            st.warning("Not available: pg_stat_statements_info could not be read by some snapshots, so resets and "
                       "evictions are not detected there (only entries whose counters went down).")
        share = info["captured_share"]
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Gaps", fmt_int(info["gaps"]), help="Snapshot intervals where statistics were lost: a reset, "
                  "evictions (pg_stat_statements.max reached), or entries that started over or disappeared.")
        c2.metric("Resets", fmt_int(info["resets"]))
        c3.metric("Evictions", fmt_int(info["evictions"]),
                  help="Deallocations counted by pg_stat_statements_info.dealloc: raise pg_stat_statements.max.")
        c4.metric("Execution time captured", fmt_pct(share) if share is not None else "–",
                  help="Top-level execution time the snapshots stored ÷ the time this database's sessions were "
                       "active (pg_stat_database.active_time, which also counts parsing, planning and sending "
                       "results, so 100% is not expected; a drop means statistics were lost).")
        if not series.empty:
            series["statement"] = series["query_name"].fillna(series["queryid"].astype(str))
            fig = px.line(series, x="taken_at", y="total_ms", color="statement", markers=True,
                          labels={"taken_at": "Snapshot (UTC)", "total_ms": "Execution time since the previous "
                                  "snapshot (ms)", "statement": "Statement"})
            fig.update_traces(connectgaps=False)
            fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10})
            change_markers.draw(fig, _markers(ctx, lo, hi))
            st.plotly_chart(fig, width="stretch")
            st.caption(f"The {PGSS_SERIES} heaviest statements per snapshot; a break in a line is a gap (the reason "
                       "is in the chart data), never a dip to zero.")
        with st.expander("Chart data"):
            snaps = _frame(info["snapshots"])
            st.dataframe(snaps, hide_index=True)
            download_csv(snaps, "stat_statements_snapshots.csv", key="csv_pgss_snapshots")
            if not series.empty:
                st.dataframe(series, hide_index=True)
                download_csv(series, "stat_statements_series.csv", key="csv_pgss_series")


# -- plans over time ---------------------------------------------------------------------------------------

PLAN_CHANGES_LIMIT = 50
PLAN_CHANGES_ANCHOR = "#plan-changes"  # the anchor Streamlit gives the section's heading


def _near_plan_changes(ctx: PageContext, reg: pd.DataFrame, now: datetime, window: timedelta) -> dict[str, list]:
    """The plan changes near each regression's start; none (and a note) when they cannot be read."""
    try:
        return performance.regression_plan_changes(ctx.db, reg.to_dict("records"), now=now, window=window)
    except QueryError as exc:
        st.caption(f"Plan changes near these regressions cannot be read right now: {exc}")
        return {}


def _regression_plan_changes(changes: list[dict[str, Any]]) -> None:
    for c in changes:
        st.markdown(f"↳ [Plan changed]({PLAN_CHANGES_ANCHOR}) at {c['detected_at']:%Y-%m-%d %H:%M} UTC: "
                    f"{c['summary']}")
        with st.expander(f"Plan diff of {c['query_name']} at {c['detected_at']:%H:%M}"):
            st.code(c["diff"], language="diff")


def _plan_changes(ctx: PageContext, lo: datetime, hi: datetime) -> None:
    with panel("Plan changes"):
        status = performance.plan_status(ctx.db)
        if not status["queries"]:
            empty_state("No query plan has been captured yet.",
                        "The capture_plans job EXPLAINs every registered read query every 10 minutes and records "
                        "when a plan's shape changes; run it now with `venuepulse jobs --once capture_plans`.")
            return
        st.caption(f"Generic plans of {fmt_int(status['queries'])} named queries, last captured "
                   f"{status['last_captured_at']:%Y-%m-%d %H:%M} UTC. A change is a different shape (node types, "
                   "relations, indexes, join types; never costs or row estimates). `-` lines are only in the old "
                   "plan, `+` lines only in the new one.")
        rows = performance.plan_changes(ctx.db, lo, hi, limit=PLAN_CHANGES_LIMIT)
        if not rows:
            st.success("No query's plan changed in this date range.")
            return
        for c in rows:
            with st.expander(f"{c['detected_at']:%Y-%m-%d %H:%M} · {c['query_name']} — {c['summary']}"):
                st.caption(f"Between the captures of {c['previous_captured_at']:%Y-%m-%d %H:%M:%S} and "
                           f"{c['detected_at']:%Y-%m-%d %H:%M:%S} UTC; fingerprint {c['before_fingerprint']} → "
                           f"{c['after_fingerprint']}.")
                st.code(c["diff"], language="diff")
        if len(rows) == PLAN_CHANGES_LIMIT:
            st.caption(f"The {PLAN_CHANGES_LIMIT} most recent are listed.")
        shown = pd.DataFrame(rows)[["detected_at", "query_name", "summary", "before_fingerprint", "after_fingerprint",
                                    "diff"]]
        download_csv(shown, "plan_changes.csv", key="csv_plan_changes")


def _cache(ctx: PageContext) -> None:
    with panel("Result cache"):
        st.caption("Hits and misses of this dashboard process's cache of named-query results (queries with a "
                   "`-- cache:` option), since the dashboard started.")
        rows = _frame(performance.cache_stats(ctx.db))
        total = rows[rows["query_name"] == "(all)"]
        per_query = rows[rows["query_name"] != "(all)"]
        if per_query.empty:
            empty_state("No cached query has run in this dashboard process yet.",
                        "Open the Overview or Venues pages: their queries are cached.")
            return
        t = total.iloc[0] if not total.empty else None
        c1, c2, c3 = st.columns(3)
        c1.metric("Hit rate", fmt_pct(t["hit_rate"]) if t is not None else "–")
        c2.metric("Hits", fmt_int(t["hits"]) if t is not None else "–")
        c3.metric("Misses", fmt_int(t["misses"]) if t is not None else "–")
        cols = [c for c in ("query_name", "hits", "misses", "hit_rate", "size", "evictions", "expirations",
                            "invalidations") if c in per_query.columns]
        shown = per_query[cols]
        st.dataframe(shown, hide_index=True, column_config={
            "query_name": "Query", "hit_rate": st.column_config.ProgressColumn(
                "Hit rate", min_value=0.0, max_value=1.0, format="percent")})
        download_csv(shown, "result_cache.csv", key="csv_result_cache")


# -- EXPLAIN on demand -------------------------------------------------------------------------------------


def _explain(ctx: PageContext) -> None:
    st.subheader("EXPLAIN")
    reg = registry()
    readable = sorted(n for n, q in reg.items() if q.kind == "read")
    name = url_select("Named query", readable, param="explain")
    if name is None:
        return
    q = reg[name]
    with st.expander("SQL", expanded=False):
        st.code(q.sql, language="sql")
    with st.form("explain_form"):
        hint = ", ".join(f'"{p}": …' for p in q.params)
        raw = st.text_area("Parameter values (JSON object, optional)", value="",
                           placeholder="{" + hint + "}" if q.params else "this query takes no parameters",
                           help="Without values you get the generic plan. ANALYZE runs the query (inside a "
                                "transaction that is rolled back) and needs a value for every parameter.")
        analyze = st.checkbox("ANALYZE (run it and show actual times and buffers)")
        go = st.form_submit_button("Explain", icon=":material/account_tree:")
    if not go:
        st.caption("Shows the plan PostgreSQL chooses for the registered SQL of the query.")
        return
    params = _parse_params(raw, q.params)
    if params is False:
        return
    try:
        plan = ctx.db.explain(name, params, analyze=analyze)
    except ValueError as exc:
        st.error(str(exc))
        return
    except QueryError as exc:
        st.error(f"PostgreSQL could not explain {name}: {exc.detail or exc}")
        return
    st.code(plan, language="text")
    st.download_button("Download plan", plan.encode("utf-8"), file_name=f"plan_{name}.txt", mime="text/plain",
                       key="dl_plan")


def _parse_params(raw: str, expected: tuple[str, ...]) -> dict[str, Any] | None | bool:
    """The JSON object typed in, None when empty, False (after showing why) when it is not usable."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        st.error(f"The parameter values are not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).")
        return False
    if not isinstance(value, dict):
        st.error("The parameter values must be a JSON object such as {\"limit\": 10}.")
        return False
    unknown = sorted(set(value) - set(expected))
    if unknown:
        st.error(f"This query has no parameter named {', '.join(unknown)}; "
                 f"its parameters are: {', '.join(expected) or 'none'}.")
        return False
    return value


# -- waits ------------------------------------------------------------------------------------------------

WAIT_CHART_QUERIES = 15


def _waits(ctx: PageContext, lo: datetime, hi: datetime, selected: list[str] | None) -> None:
    with panel("Waits"):
        sampler = performance.wait_sampler(ctx.db, lo, hi)
        hidden = performance.waits_unavailable(sampler)
        if hidden:
            st.warning(hidden)
        rows = _frame(performance.wait_time(ctx.db, lo, hi, names=selected))
        if rows.empty:
            empty_state("No wait samples in this date range.",
                        "The sample_waits job reads pg_stat_activity every few seconds "
                        "(VENUEPULSE_WAIT_SAMPLE_INTERVAL, 5 s by default) while `venuepulse up` or `venuepulse jobs` "
                        "runs, and adds each active session's wait to its named query.")
            return
        lo_s, hi_s = rows["interval_min_s"].min(), rows["interval_max_s"].max()
        every = f"{lo_s:g} s" if abs(hi_s - lo_s) < 1e-6 else f"{lo_s:g}–{hi_s:g} s"
        n = int(sampler.get("samples") or 0)
        taken = f" from {fmt_int(n)} sample{'' if n == 1 else 's'}" if n else ""
        st.caption(f"Where each query's time goes, by wait type: estimated seconds = sessions seen × the sampling "
                   f"interval (every {every}){taken} of this database's active sessions. CPU means running or in a "
                   "wait PostgreSQL does not instrument; Lock, blocked by another session (see Database health). "
                   "An estimate: a wait shorter than the interval is seen in proportion to how often it happens.")
        by_type = _frame(performance.wait_time_by_type(rows.to_dict("records")))
        top = list(dict.fromkeys(by_type["query"]))[:WAIT_CHART_QUERIES]
        chart = by_type[by_type["query"].isin(top)]
        fig = px.bar(chart, x="seconds", y="query", color="wait_event_type", orientation="h",
                     labels={"seconds": "Estimated seconds", "query": "Query", "wait_event_type": "Wait type"})
        fig.update_layout(height=max(240, 28 * len(top) + 120), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                          yaxis={"categoryorder": "total ascending"})
        st.plotly_chart(fig, width="stretch")
        if len(top) < by_type["query"].nunique():
            st.caption(f"Charting the {WAIT_CHART_QUERIES} queries with the most sampled time; the table has all.")
        shown = by_type[["query", "wait_event_type", "seconds", "share", "samples", "events"]]
        st.dataframe(shown, hide_index=True, column_config={
            "query": "Query", "wait_event_type": "Wait type",
            "seconds": st.column_config.NumberColumn("Estimated seconds", format="%.1f"),
            "share": st.column_config.ProgressColumn("Share of the query's time", min_value=0.0, max_value=1.0,
                                                     format="percent"),
            "samples": "Sessions seen", "events": "Wait events"})
        download_csv(shown, "waits_by_type.csv", key="csv_waits_by_type")
        with st.expander("By wait event"):
            events = rows[["query_name", "query_id", "statement", "wait_event_type", "wait_event", "samples", "seconds"]]
            st.dataframe(events, hide_index=True, column_config={
                "query_name": "Named query", "query_id": "query_id (unnamed)",
                "statement": st.column_config.TextColumn("Statement (unnamed)", width="large"),
                "wait_event_type": "Wait type", "wait_event": "Wait event", "samples": "Sessions seen",
                "seconds": st.column_config.NumberColumn("Estimated seconds", format="%.1f")})
            download_csv(events, "waits_by_event.csv", key="csv_waits_by_event")
