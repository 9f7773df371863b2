"""Database health (engineers): connections, long-running and blocked queries, indexes, tables, wraparound,
sequences and cache hit ratios. Every finding shows the statement to run; the page never runs one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from venuepulse.dashboard.context import PageContext
from venuepulse.dashboard.widgets import alerts_banner, download_csv, empty_state, fmt_int, fmt_pct, panel
from venuepulse.durations import format_duration
from venuepulse.queries.pages import database_health as health

LIVE_REFRESH = timedelta(seconds=15)
MB = 1024 * 1024


def _mb(n: Any) -> float | None:
    return None if n is None else round(int(n) / MB, 2)


def render(ctx: PageContext) -> None:
    st.title("Database health")
    alerts_banner(ctx, "database_health")
    me = health.viewer(ctx.db)
    reset = me.get("stats_reset")
    st.caption(f"Read-only, as {me.get('role_name')}. Each finding gives the statement to run; nothing here runs "
               f"one. Scan counts are since the statistics were last reset"
               f"{f' ({reset:%Y-%m-%d %H:%M} UTC)' if reset else ''}. The session panels refresh every "
               f"{int(LIVE_REFRESH.total_seconds())} s.")
    _sessions(ctx, me)
    _indexes(ctx)
    _tables(ctx)
    _wraparound(ctx)
    _sequences(ctx)
    _cache(ctx)


def _findings(rows: list[dict[str, Any]], describe) -> None:
    for r in rows:
        st.warning(describe(r))


# -- sessions ---------------------------------------------------------------------------------------------------


@st.fragment(run_every=LIVE_REFRESH)
def _sessions(ctx: PageContext, me: dict[str, Any]) -> None:
    st.caption(f"Sessions checked at {datetime.now(UTC):%H:%M:%S} UTC.")
    _connections(ctx, me)
    _long_running(ctx, me)
    _blocked(ctx, me)


def _connections(ctx: PageContext, me: dict[str, Any]) -> None:
    with panel("Connections"):
        rows = pd.DataFrame(health.connections(ctx.db))
        limit = me.get("max_connections") or 0
        total = int(rows["sessions"].sum()) if not rows.empty else 0
        c1, c2, c3 = st.columns(3)
        c1.metric("Client sessions", fmt_int(total))
        c2.metric("max_connections", fmt_int(limit))
        c3.metric("Used", fmt_pct(total / limit if limit else None))
        if limit and total >= 0.8 * (limit - (me.get("superuser_reserved_connections") or 0)):
            st.warning(f"{total} of {limit} connections in use: pool connections (PgBouncer) or raise the limit: "
                       "ALTER SYSTEM SET max_connections = …; then restart.")
        if not me["reads_all_stats"]:
            st.warning(health.missing_stats(me["role_name"], "Connections"))
        if rows.empty:
            empty_state("No client sessions.")
            return
        shown = rows[["database", "role_name", "application", "state", "sessions"]]
        st.dataframe(shown, hide_index=True, column_config={
            "database": "Database", "role_name": "Role", "application": "Application", "state": "State",
            "sessions": "Sessions"})
        download_csv(shown, "connections.csv", key="csv_connections")


def _long_running(ctx: PageContext, me: dict[str, Any]) -> None:
    title = "Long-running queries and idle transactions"
    with panel(title):
        if not me["reads_all_stats"]:
            st.warning(health.missing_stats(me["role_name"], title) + " Only its own sessions are listed.")
        rows = health.long_running(ctx.db)
        if not rows:
            st.success(f"No statement has run, and no transaction has sat idle, for {int(health.LONG_RUNNING_S)} s.")
            return
        _findings(rows, lambda r: (
            f"pid {r['pid']} ({r['application'] or r['role_name']}) {r['state']} for "
            f"{format_duration(r['seconds'])}{' running ' + r['query_name'] if r['query_name'] else ''}: "
            f"`{r['fix']}`"))
        shown = pd.DataFrame(rows)[["pid", "role_name", "application", "state", "seconds", "query_name",
                                    "wait_event_type", "wait_event", "query", "fix"]]
        st.dataframe(shown, hide_index=True, column_config={
            "pid": "pid", "role_name": "Role", "application": "Application", "state": "State",
            "seconds": st.column_config.NumberColumn("For (s)", format="%.0f"), "query_name": "Named query",
            "wait_event_type": "Wait type", "wait_event": "Wait", "query": st.column_config.TextColumn(
                "Query", width="large"), "fix": "Statement to run"})
        download_csv(shown, "long_running.csv", key="csv_long_running")


def _blocked(ctx: PageContext, me: dict[str, Any]) -> None:
    with panel("Blocked queries"):
        if not me["reads_all_stats"]:
            st.warning(health.missing_stats(me["role_name"], "Blocked queries") +
                       " Blocked sessions are still found, without other roles' queries.")
        rows = health.blocking(ctx.db)
        if not rows:
            st.success("No session is waiting on another's lock.")
            return
        _findings(rows, lambda r: (
            f"pid {r['pid']}{' (' + r['query_name'] + ')' if r['query_name'] else ''} has waited "
            f"{format_duration(r['query_seconds'] or 0)}; chain {' ← '.join(map(str, r['chain']))}: the root, "
            f"pid {r['root_pid']}, is {r['root_state'] or 'not visible'}"
            f"{' running ' + r['root_query_name'] if r['root_query_name'] else ''}: `{r['fix']}`"))
        frame = pd.DataFrame(rows)
        frame["chain"] = frame["chain"].map(lambda c: " ← ".join(map(str, c)))
        frame["blocking_pids"] = frame["blocking_pids"].map(lambda c: ", ".join(map(str, c)))
        shown = frame[["pid", "query_name", "application", "query_seconds", "blocking_pids", "chain", "root_state",
                       "query", "fix"]]
        st.dataframe(shown, hide_index=True, column_config={
            "pid": "Blocked pid", "query_name": "Named query", "application": "Application",
            "query_seconds": st.column_config.NumberColumn("Waiting (s)", format="%.1f"),
            "blocking_pids": "Blocked by", "chain": "Chain (blocked ← root)", "root_state": "Root's state",
            "query": st.column_config.TextColumn("Query", width="large"), "fix": "Statement to run"})
        download_csv(shown, "blocked.csv", key="csv_blocked")


# -- indexes and tables -------------------------------------------------------------------------------------------


def _indexes(ctx: PageContext) -> None:
    with panel("Indexes"):
        info = health.indexes(ctx.db)
        for r in info["duplicates"]:
            what = "duplicates" if r["kind"] == "duplicate" else "is covered by"
            st.warning(f"{r['qualified_name']} {what} {r['covered_by']} (same table, leading columns, predicate "
                       f"and expressions): `{r['fix']}`")
        if info["unused"]:
            unused = pd.DataFrame(info["unused"])
            st.info(f"{len(unused)} indexes ({_mb(unused['size_bytes'].sum())} MB) enforce nothing and have not been "
                    "scanned since the statistics were reset. Scans are counted per server: check the replicas' "
                    "before dropping one.")
            shown = unused[["qualified_name", "table_name", "size_bytes", "definition", "fix"]].assign(
                size_bytes=unused["size_bytes"].map(_mb))
            st.dataframe(shown, hide_index=True, column_config={
                "qualified_name": "Unused index", "table_name": "Table",
                "size_bytes": st.column_config.NumberColumn("Size (MB)", format="%.2f"),
                "definition": st.column_config.TextColumn("Definition", width="large"), "fix": "Statement to run"})
            download_csv(shown, "unused_indexes.csv", key="csv_unused_indexes")
        if not info["duplicates"] and not info["unused"]:
            st.success("No duplicate, covered or unused index.")
        rows = pd.DataFrame(info["all"])
        if rows.empty:
            empty_state("No indexes.", "Run `venuepulse migrate`.")
            return
        rows["size_mb"] = rows["size_bytes"].map(_mb)
        shown = rows.sort_values("size_bytes", ascending=False)[
            ["qualified_name", "table_name", "size_mb", "idx_scan", "is_unique", "constraint_name", "definition"]]
        st.dataframe(shown, hide_index=True, column_config={
            "qualified_name": "Index", "table_name": "Table", "size_mb": st.column_config.NumberColumn(
                "Size (MB)", format="%.2f"), "idx_scan": "Scans", "is_unique": "Unique",
            "constraint_name": "Constraint", "definition": st.column_config.TextColumn("Definition", width="large")})
        download_csv(shown, "indexes.csv", key="csv_indexes")


def _tables(ctx: PageContext) -> None:
    with panel("Tables"):
        rows = health.tables(ctx.db)
        if not rows:
            empty_state("No tables.", "Run `venuepulse migrate`.")
            return
        for r in rows:
            for f in r["findings"]:
                st.warning(f"{r['qualified_name']}: {f}")
        frame = pd.DataFrame(rows)
        for k in ("total_bytes", "table_bytes", "index_bytes"):
            frame[k] = frame[k].map(_mb)
        frame["last_vacuumed"] = frame[["last_vacuum", "last_autovacuum"]].max(axis=1)
        frame["last_analyzed"] = frame[["last_analyze", "last_autoanalyze"]].max(axis=1)
        shown = frame[["qualified_name", "total_bytes", "table_bytes", "index_bytes", "live_rows", "dead_rows",
                       "seq_scan", "idx_scan", "last_vacuumed", "last_analyzed"]]
        st.dataframe(shown, hide_index=True, column_config={
            "qualified_name": "Table", "total_bytes": st.column_config.NumberColumn("Total (MB)", format="%.2f"),
            "table_bytes": st.column_config.NumberColumn("Table (MB)", format="%.2f"),
            "index_bytes": st.column_config.NumberColumn("Indexes (MB)", format="%.2f"),
            "live_rows": "Live rows", "dead_rows": "Dead rows", "seq_scan": "Seq scans", "idx_scan": "Index scans",
            "last_vacuumed": st.column_config.DatetimeColumn("Last (auto)vacuum", format="YYYY-MM-DD HH:mm"),
            "last_analyzed": st.column_config.DatetimeColumn("Last (auto)analyze", format="YYYY-MM-DD HH:mm")})
        download_csv(shown, "tables.csv", key="csv_tables")


# -- wraparound, sequences, cache -----------------------------------------------------------------------------------


def _wraparound(ctx: PageContext) -> None:
    with panel("Transaction-ID wraparound"):
        info = health.wraparound(ctx.db)
        dbs, tabs = pd.DataFrame(info["databases"]), pd.DataFrame(info["tables"])
        for r in [*info["databases"], *info["tables"]]:
            if r["fix"]:
                st.warning(f"{r.get('qualified_name') or r['database']} is at {fmt_pct(r['xid_share'])} of "
                           f"autovacuum_freeze_max_age (multixacts {fmt_pct(r['mxid_share'])}): `{r['fix']}`")
        if dbs.empty:
            empty_state("No databases to check.")
            return
        if not any(r["fix"] for r in info["databases"]):
            st.success("Every database is well below autovacuum_freeze_max_age.")
        st.dataframe(dbs[["database", "xid_age", "xid_share", "xid_limit_share", "mxid_age", "mxid_share"]],
                     hide_index=True, column_config={
                         "database": "Database", "xid_age": "XID age",
                         "xid_share": st.column_config.NumberColumn("of freeze_max_age", format="percent"),
                         "xid_limit_share": st.column_config.NumberColumn("of wraparound", format="percent"),
                         "mxid_age": "Multixact age",
                         "mxid_share": st.column_config.NumberColumn("of multixact freeze_max_age", format="percent")})
        if not tabs.empty:
            st.caption("This database's oldest tables:")
            shown = tabs[["qualified_name", "xid_age", "xid_share", "mxid_age", "fix"]]
            st.dataframe(shown, hide_index=True, column_config={
                "qualified_name": "Table", "xid_age": "XID age",
                "xid_share": st.column_config.NumberColumn("of freeze_max_age", format="percent"),
                "mxid_age": "Multixact age", "fix": "Statement to run"})
            download_csv(shown, "wraparound.csv", key="csv_wraparound")


def _sequences(ctx: PageContext) -> None:
    with panel("Sequences"):
        rows = health.sequences(ctx.db)
        if not rows:
            st.success("No sequences: VenuePulse's keys are UUIDs.")
            return
        hidden = [r["qualified_name"] for r in rows if not r["readable"]]
        if hidden:
            st.warning(f"Sequence use not available for {', '.join(hidden)}: the dashboard's role may not read them "
                       "(GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO venuepulse_reader).")
        for r in rows:
            if r["fix"]:
                st.warning(f"{r['qualified_name']} has used {fmt_pct(r['used_share'])} of its range: `{r['fix']}`")
        shown = pd.DataFrame(rows)[["qualified_name", "data_type", "last_value", "max_value", "used_share",
                                    "owned_by_table", "owned_by_column"]]
        st.dataframe(shown, hide_index=True, column_config={
            "qualified_name": "Sequence", "data_type": "Type", "last_value": "Last value", "max_value": "Maximum",
            "used_share": st.column_config.NumberColumn("Used", format="percent"), "owned_by_table": "Table",
            "owned_by_column": "Column"})


def _cache(ctx: PageContext) -> None:
    with panel("Cache hit ratios"):
        rows = health.cache_hits(ctx.db)
        cols = st.columns(len(rows))
        for col, r in zip(cols, rows, strict=True):
            col.metric(r["scope"].capitalize(), fmt_pct(r["ratio"], 2),
                       help=f"{fmt_int(r['hits'])} blocks from shared buffers, {fmt_int(r['reads'])} read in.")
            if r["fix"]:
                st.warning(f"Cache hit ratio of the {r['scope']} is {fmt_pct(r['ratio'], 2)}, {r['fix']}.")
