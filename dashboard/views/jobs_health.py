"""Jobs & health (engineers): each job's last run, duration trend and failures; venue_stats freshness;
partitions made ahead; rows in default partitions; counter drift history; what the jobs' database role may do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from venuepulse.dashboard.context import PageContext
from venuepulse.dashboard.widgets import (
    alerts_banner,
    download_csv,
    empty_state,
    fmt_int,
    freshness,
    panel,
    range_bounds,
    url_date_range,
    url_select,
)
from venuepulse.durations import format_duration
from venuepulse.jobs.definitions import JOBS
from venuepulse.queries.pages import jobs_health as jobs

LIVE_REFRESH = timedelta(seconds=30)
STALE_AFTER_S = 15 * 60  # venue_stats is refreshed every 5 minutes: three missed refreshes is stale
ALL = "(all jobs)"
RUN_LIMIT = 2_000
SEED_HINT = "Run `venuepulse jobs` (or `venuepulse up`) so the scheduler records its runs; " \
            "`venuepulse jobs --once NAME` runs one job now."


def _frame(rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)


def render(ctx: PageContext) -> None:
    st.title("Jobs & health")
    alerts_banner(ctx, "jobs_health")
    st.caption("Scheduled jobs, materialized-view freshness, partitions and counter drift. "
               f"The panels at the top refresh every {int(LIVE_REFRESH.total_seconds())} s.")
    _live(ctx)
    st.divider()
    start, end = url_date_range(default_days=7, key="jobs_range")
    lo, hi = range_bounds(start, end)
    _history(ctx, lo, hi)
    _drift(ctx, lo, hi)
    _privileges(ctx)


# -- live panels -------------------------------------------------------------------------------------------


@st.fragment(run_every=LIVE_REFRESH)
def _live(ctx: PageContext) -> None:
    _job_overview(ctx)
    left, right = st.columns(2)
    with left:
        _freshness(ctx)
        _rollups(ctx)
    with right:
        _partitions(ctx)
        _replication(ctx)


def _job_overview(ctx: PageContext) -> None:
    with panel("Jobs"):
        rows = _frame(jobs.job_overview(ctx.db, expected=JOBS))
        st.caption(f"Checked at {datetime.now(UTC):%H:%M:%S} UTC.")
        if rows.empty:
            empty_state("No job is defined or has run.", SEED_HINT)
            return
        never = rows["last_status"].isna()
        if never.all():
            empty_state("No job has run yet.", SEED_HINT)
        failing = rows[rows["last_status"] == "failed"]
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.metric("Jobs", fmt_int(len(rows)))
        c2.metric("Never ran", fmt_int(never.sum()))
        c3.metric("Last run failed", fmt_int(len(failing)))
        c4.metric("Runs, last 24 h", fmt_int(rows["runs_24h"].sum()))
        c5.metric("Failures, last 24 h", fmt_int(rows["failed_24h"].sum()))
        rows["schedule"] = rows["job_name"].map(lambda n: JOBS[n].schedule if n in JOBS else "not scheduled")
        for _, r in failing.iterrows():
            st.error(f"**{r['job_name']}** failed at {r['last_started_at']:%Y-%m-%d %H:%M} UTC: "
                     f"{r['last_error'] or 'no error text recorded'}")
        shown = rows[["job_name", "schedule", "last_status", "last_started_at", "last_duration_ms", "last_rows",
                      "last_success_at", "runs_24h", "failed_24h", "skipped_24h", "last_error"]]
        st.dataframe(shown, hide_index=True, column_config={
            "job_name": "Job", "schedule": "Default schedule", "last_status": "Last status",
            "last_started_at": st.column_config.DatetimeColumn("Last started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "last_duration_ms": st.column_config.NumberColumn("Last duration (ms)", format="%.1f"),
            "last_rows": st.column_config.NumberColumn("Rows"),
            "last_success_at": st.column_config.DatetimeColumn("Last success (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "runs_24h": "Runs 24 h", "failed_24h": "Failed 24 h", "skipped_24h": "Skipped 24 h",
            "last_error": "Last error",
        })
        download_csv(shown, "jobs.csv", key="csv_jobs")


def _freshness(ctx: PageContext) -> None:
    with panel("venue_stats freshness"):
        info = jobs.view_freshness(ctx.db)
        if not info.get("populated"):
            st.warning("venue_stats has never been refreshed, so venue pages have nothing to show.")
            empty_state("The view fills on its first refresh.",
                        "Run `venuepulse jobs --once refresh_venue_stats` or `venuepulse seed --scale small`.")
            return
        if not info.get("row_count"):
            empty_state("venue_stats holds no venues, so its age is unknown.",
                        "Load demo data with `venuepulse seed --scale small`.")
            return
        age = info.get("age_seconds")
        st.metric("Age", "–" if age is None else format_duration(age),
                  help="Time since venue_stats was last brought current (fold_rollups every 15 s, "
                       "refresh_venue_stats every 5 minutes).")
        freshness(info.get("refreshed_at"), "venue_stats")
        if age is not None and age > STALE_AFTER_S:
            st.warning(f"venue_stats is stale: last refreshed {format_duration(age)} ago; the refresh job runs every "
                       "5 minutes. Check the refresh_venue_stats runs below.")
        st.caption(f"{fmt_int(info['row_count'])} venues in the view.")


def _rollups(ctx: PageContext) -> None:
    with panel("Rollups: fold lag"):
        rows = _frame(jobs.rollup_lag(ctx.db))
        if rows.empty:
            empty_state("No rollups are installed.", "Run `venuepulse migrate`.")
            return
        waiting = int(rows["tail_rows"].sum())
        lag = rows["lag_seconds"].max() if waiting else 0.0
        st.metric("Oldest change not folded", "none" if not waiting else format_duration(lag),
                  help="The pages read changes the fold_rollups job has not folded yet straight from the change "
                       "log, so their numbers stay exact; a long lag only makes them slower.")
        if waiting and lag > STALE_AFTER_S:
            st.warning(f"{fmt_int(waiting)} changes have waited up to {format_duration(lag)} to be folded: check the "
                       "fold_rollups runs below.")
        shown = rows[["consumer", "folded_at", "last_changes", "last_ms", "tail_rows", "oldest_unfolded_at"]]
        st.dataframe(shown, hide_index=True, column_config={
                         "consumer": "Rollups", "folded_at": st.column_config.DatetimeColumn(
                             "Last fold (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                         "last_changes": "Changes folded", "last_ms": st.column_config.NumberColumn(
                             "Fold ms", format="%.1f"),
                         "tail_rows": "Not folded yet", "oldest_unfolded_at": st.column_config.DatetimeColumn(
                             "Oldest not folded (UTC)", format="YYYY-MM-DD HH:mm:ss")})
        download_csv(shown, "rollups.csv", key="csv_rollups")


def _partitions(ctx: PageContext) -> None:
    with panel("Partitions"):
        rows = _frame(jobs.partition_status(ctx.db))
        if rows.empty:
            empty_state("No partitioned tables are configured.", "Run `venuepulse migrate` to install the schema.")
            return
        for _, r in rows.iterrows():
            if r["rows_in_default"]:
                st.warning(f"{fmt_int(r['rows_in_default'])} rows of **{r['parent_table']}** sit in its default "
                           "partition: the maintenance job moves them when it makes their partition "
                           "(`venuepulse jobs --once maintain_partitions`).")
            if r["periods_ahead"] < r["ahead_wanted"]:
                st.warning(f"**{r['parent_table']}** has partitions for {r['periods_ahead']} {r['period']}(s) "
                           f"ahead, fewer than the {r['ahead_wanted']} its policy wants.")
        shown = rows[["parent_table", "period", "partitions", "periods_ahead", "ahead_wanted", "covered_until",
                      "rows_in_default", "oldest_in_default", "retention"]]
        st.dataframe(shown, hide_index=True, column_config={
            "parent_table": "Table", "period": "Period", "partitions": "Partitions",
            "periods_ahead": "Periods ahead", "ahead_wanted": "Wanted ahead",
            "covered_until": st.column_config.DatetimeColumn("Covered until (UTC)", format="YYYY-MM-DD HH:mm"),
            "rows_in_default": "Rows in default",
            "oldest_in_default": st.column_config.DatetimeColumn("Oldest in default", format="YYYY-MM-DD HH:mm"),
            "retention": "Retention",
        })
        download_csv(shown, "partitions.csv", key="csv_partitions")


def _replication(ctx: PageContext) -> None:
    with panel("Replication"):
        status = ctx.reads.status() if ctx.reads is not None else None
        if status is not None and status.source != "primary":
            (st.warning if status.source == "fallback" else st.caption)(f"This dashboard: {status.describe()}")
        else:
            st.caption("This dashboard reads from the primary (no read replica is configured: "
                       "VENUEPULSE_READ_DATABASE_URL, docs/scaling.md).")
        info = jobs.replication(ctx.db)
        standbys, slots = _frame(info["standbys"]), _frame(info["slots"])
        if standbys.empty and slots.empty:
            empty_state("No standby is connected to the primary and it has no replication slot.",
                        "`venuepulse db replica create` makes a streaming replica of the embedded server.")
            return
        if info["hidden"]:
            st.warning("Standby positions and lag are not available: the dashboard's role lacks "
                       "pg_read_all_stats (GRANT pg_monitor TO venuepulse_reader, docs/managed-postgresql.md).")
        if not standbys.empty:
            lag = standbys["replay_lag_s"].max()
            st.metric("Replay lag (slowest standby)", "–" if pd.isna(lag) else f"{lag:.1f} s",
                      help="pg_stat_replication.replay_lag: how long the standby took to replay recent WAL; "
                           "empty while the primary is idle.")
            shown = standbys[["application_name", "client_addr", "state", "sync_state", "replay_behind_bytes",
                              "write_lag_s", "flush_lag_s", "replay_lag_s", "reply_time"]]
            st.dataframe(shown, hide_index=True, column_config={
                "application_name": "Standby", "client_addr": "From", "state": "State", "sync_state": "Sync",
                "replay_behind_bytes": st.column_config.NumberColumn("Replay behind (bytes)"),
                "write_lag_s": st.column_config.NumberColumn("Write lag (s)", format="%.3f"),
                "flush_lag_s": st.column_config.NumberColumn("Flush lag (s)", format="%.3f"),
                "replay_lag_s": st.column_config.NumberColumn("Replay lag (s)", format="%.3f"),
                "reply_time": st.column_config.DatetimeColumn("Last reply (UTC)", format="YYYY-MM-DD HH:mm:ss")})
            download_csv(shown, "replication_standbys.csv", key="csv_replication_standbys")
        else:
            st.warning("No standby is connected to the primary.")
        if not slots.empty:
            for _, r in slots.iterrows():
                if r["wal_status"] == "lost":
                    st.error(f"Replication slot **{r['slot_name']}** is invalidated (wal_status lost): its standby "
                             "can no longer catch up and must be made again (`venuepulse db replica create`).")
                elif not r["active"]:
                    st.warning(f"Replication slot **{r['slot_name']}** has no standby connected and holds back "
                               f"{fmt_int(r['retained_bytes'])} bytes of WAL on the primary.")
            shown = slots[["slot_name", "slot_type", "active", "wal_status", "retained_bytes", "safe_wal_size"]]
            st.dataframe(shown, hide_index=True, column_config={
                "slot_name": "Slot", "slot_type": "Type", "active": "Standby connected", "wal_status": "WAL status",
                "retained_bytes": st.column_config.NumberColumn("WAL held (bytes)"),
                "safe_wal_size": st.column_config.NumberColumn("Room before invalidation (bytes)")})
            download_csv(shown, "replication_slots.csv", key="csv_replication_slots")


# -- history in the chosen range ---------------------------------------------------------------------------


def _history(ctx: PageContext, lo: datetime, hi: datetime) -> None:
    names = sorted({r["job_name"] for r in jobs.job_overview(ctx.db, expected=JOBS)})
    job = url_select("Job", [ALL, *names], param="job")
    job = None if job in (None, ALL) else job

    with panel("Duration trend"):
        runs = _frame(jobs.job_runs(ctx.db, job=job, start=lo, end=hi, limit=RUN_LIMIT))
        if runs.empty:
            empty_state("No job runs in this date range.", SEED_HINT)
        else:
            done = runs[runs["duration_ms"].notna()]
            if done.empty:
                st.caption("No finished runs in this range yet.")
            else:
                fig = px.scatter(done, x="started_at", y="duration_ms", color="job_name", symbol="status",
                                 labels={"started_at": "Started (UTC)", "duration_ms": "Duration (ms)",
                                         "job_name": "Job", "status": "Status"})
                fig.update_traces(mode="lines+markers")
                fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 10, "b": 10})
                st.plotly_chart(fig, width="stretch")
            if len(runs) == RUN_LIMIT:
                st.caption(f"Showing the latest {RUN_LIMIT:,} runs of the range.")
            summary = (done.groupby("job_name")["duration_ms"]
                       .agg(runs="count", median_ms="median", p95_ms=lambda s: s.quantile(0.95), max_ms="max")
                       .reset_index()) if not done.empty else pd.DataFrame()
            if not summary.empty:
                st.dataframe(summary, hide_index=True, column_config={
                    "job_name": "Job", "runs": "Finished runs",
                    "median_ms": st.column_config.NumberColumn("Median (ms)", format="%.1f"),
                    "p95_ms": st.column_config.NumberColumn("p95 (ms)", format="%.1f"),
                    "max_ms": st.column_config.NumberColumn("Max (ms)", format="%.1f")})
                download_csv(summary, "job_durations.csv", key="csv_job_durations")

    with panel("Failures"):
        failed = _frame(jobs.job_runs(ctx.db, job=job, start=lo, end=hi, limit=RUN_LIMIT, status="failed"))
        if failed.empty:
            st.success("No failed runs in this date range.")
        else:
            shown = failed[["started_at", "job_name", "duration_ms", "error"]]
            st.dataframe(shown, hide_index=True, column_config={
                "started_at": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                "job_name": "Job", "duration_ms": st.column_config.NumberColumn("Duration (ms)", format="%.1f"),
                "error": st.column_config.TextColumn("Error", width="large")})
            download_csv(shown, "job_failures.csv", key="csv_job_failures")


def _drift(ctx: PageContext, lo: datetime, hi: datetime) -> None:
    with panel("Counter drift"):
        st.caption("Denormalized numbers the hourly reconcile job found different from a recount of the rows "
                   "(and repaired). Zero is the goal: every counter is kept by triggers.")
        daily = _frame(jobs.drift_daily(ctx.db, lo, hi))
        if daily.empty:
            st.success("No counter drift found in this date range.")
            last = jobs.job_runs(ctx.db, job="reconcile_counters", limit=1)
            if last:
                freshness(last[0]["started_at"], "Last reconcile run")
            else:
                st.caption("The reconcile job has not run yet: `venuepulse jobs --once reconcile_counters`.")
            return
        daily["drifted"] = daily["drifted"].astype(int)
        fig = px.bar(daily, x="day", y="drifted", color="kind",
                     labels={"day": "Day (UTC)", "drifted": "Numbers drifted", "kind": "Kind"})
        fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10})
        st.plotly_chart(fig, width="stretch")
        detail = _frame(jobs.drift_history(ctx.db, lo, hi, limit=500))
        for col in ("entity", "stored", "expected"):
            detail[col] = detail[col].map(lambda v: "" if v is None else _json(v))
        shown = detail[["detected_at", "kind", "entity", "stored", "expected", "repaired", "job_run_id"]]
        st.dataframe(shown, hide_index=True, column_config={
            "detected_at": st.column_config.DatetimeColumn("Detected (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "kind": "Kind", "entity": "Which", "stored": "Stored", "expected": "Recount",
            "repaired": "Repaired", "job_run_id": "Run"})
        st.caption(f"{fmt_int(daily['drifted'].sum())} drifted numbers in the range; the latest 500 are listed.")
        download_csv(shown, "counter_drift.csv", key="csv_counter_drift")


def _privileges(ctx: PageContext) -> None:
    with panel("Database role privileges"):
        info = jobs.role_privileges(ctx.db)
        viewer = info["viewer"]
        sees = ("sees every role's sessions and statements (pg_read_all_stats)" if viewer["reads_all_stats"] else
                "sees only its own statements in pg_stat_statements and pg_stat_activity (no pg_read_all_stats)")
        report = info["checklist"]
        if not report:
            empty_state("The check_privileges job has not recorded the jobs' role yet.",
                        "Run `venuepulse jobs --once check_privileges`, or `venuepulse db status` for the same "
                        f"checklist in a terminal. This page connects as {viewer['role']}, which {sees}.")
            return
        st.caption(f"What the jobs' and migrations' role **{report['role']}** may do on {report['database']}, "
                   f"as the check_privileges job recorded it (hourly; `venuepulse db status` prints the same). "
                   f"This page itself connects as {viewer['role']}, a read-only role, which {sees}.")
        freshness(info["checked_at"], "Privilege check")
        rows = _frame(report["checks"])
        needed = rows[rows["ok"].map(lambda ok: ok is False) & rows["needed"]]
        for _, r in needed.iterrows():
            st.error(f"**{r['label']}** is missing, which VenuePulse needs: {r['missing']}.")
        rows["status"] = rows["ok"].map(lambda ok: "n/a" if ok is None else "yes" if ok else "no")
        shown = rows[["label", "status", "gates", "missing"]]
        st.dataframe(shown, hide_index=True, column_config={
            "label": "Privilege or library", "status": "Has it",
            "gates": st.column_config.TextColumn("What it gates", width="large"),
            "missing": st.column_config.TextColumn("When missing", width="large")})
        download_csv(shown, "role_privileges.csv", key="csv_role_privileges")


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str, sort_keys=True)
