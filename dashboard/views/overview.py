"""Overview: today so far vs the same hours a week ago (live), and trends over the chosen date range.

URL parameters: ``from`` / ``to`` (dates, inclusive, UTC) and ``grain`` (hour, day or week).
"""

from __future__ import annotations

import logging
import uuid

import plotly.express as px
import streamlit as st

from venuepulse.dashboard import markers as change_markers
from venuepulse.dashboard.context import PageContext
from venuepulse.dashboard.widgets import (
    download_csv,
    empty_state,
    fmt_int,
    fmt_pct,
    freshness,
    panel,
    range_bounds,
    url_date_range,
    url_select,
)
from venuepulse.queries.pages import overview

log = logging.getLogger("venuepulse.dashboard")

KPI_REFRESH_SECONDS = 60
GRAIN_LABELS = {"hour": "Hour", "day": "Day", "week": "Week (Monday to Sunday)"}
TREND_LABELS = {"check_ins": "Check-ins", "unique_visitors": "Unique visitors", "reviews": "Reviews",
                "claims": "Offer claims", "redemptions": "Redemptions"}
KPI_HELP = {
    "check_ins": "Check-ins started (checked_in_at) in the window.",
    "active_check_ins": "Today: check-ins active right now. Last week: check-ins whose [check-in, check-out) "
                        "interval held the same moment 7 days ago.",
    "reviews": "Reviews written (created_at) in the window.",
    "claims": "Flash-offer claims made (created_at) in the window.",
    "redemptions": "Claims redeemed (redeemed_at) in the window.",
}
SEED_HINT = "Load demo data with `venuepulse seed --scale small`, or point VenuePulse at your app's database."


def render(ctx: PageContext) -> None:
    st.title("Overview")
    presence = overview.presence(ctx.db)
    if presence["venue_count"] == 0:
        if ctx.account.is_owner:
            empty_state("No venues are linked to your account yet.",
                        "Ask a VenuePulse administrator to add you as an owner of your venues.")
        else:
            empty_state("There are no venues in this database yet.", SEED_HINT)
        return
    if ctx.account.is_owner:
        n = presence["venue_count"]
        st.caption(f"These numbers cover your {n} venue{'s' if n != 1 else ''} only.")
    if not presence["has_activity"]:
        empty_state("No check-ins, reviews or offer claims have been recorded yet.",
                    "Generate live traffic with `venuepulse simulate`, or load history with "
                    "`venuepulse seed --scale small`.")
    _kpis(ctx.db)
    st.divider()
    _trends(ctx)


def _delta(m: dict) -> str:
    if m["change"] is None:
        return f"{m['delta']:+,} (none last week)"
    return f"{m['delta']:+,} ({m['change'] * 100:+.1f}%)"


@st.fragment(run_every=KPI_REFRESH_SECONDS)
def _kpis(db) -> None:
    # A fragment re-runs on its own, outside the page's error boundary: keep tracebacks out here too.
    try:
        with panel("Today so far vs the same time last week"):
            k = overview.kpis(db)
            as_of, day_start = k["as_of"], k["day_start"]
            st.caption(
                f"**Today** is {day_start:%a %Y-%m-%d} 00:00–{as_of:%H:%M} UTC; it is compared with "
                f"**{k['compare_start']:%a %Y-%m-%d} 00:00–{k['compare_end']:%H:%M} UTC**, the same hours "
                "7 days earlier, so a day in progress compares fairly. Active check-ins compare right now "
                f"with {k['compare_end']:%H:%M} UTC that day. Updates every minute.")
            cols = st.columns(len(k["metrics"]))
            for col, (key, m) in zip(cols, k["metrics"].items(), strict=True):
                col.metric(m["label"], fmt_int(m["today"]), delta=_delta(m),
                           delta_color="off" if m["delta"] == 0 else "normal",
                           help=f"{KPI_HELP[key]} Same time last week: {fmt_int(m['last_week'])}.", border=True)
            freshness(as_of, "Live counts")
            _rollups_caption(overview.rollup_freshness(db))
            with st.expander("As a table"):
                table = overview.kpi_table(k)
                st.dataframe(table, hide_index=True, column_config={
                    "metric": "Metric", "today": "Today so far", "same_time_last_week": "Same time last week",
                    "difference": "Difference",
                    "change": st.column_config.NumberColumn("Change", format="percent")})
                download_csv(table, f"overview_kpis_{as_of:%Y%m%d_%H%M}.csv", key="csv_kpis")
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("overview KPIs failed (ref %s)", ref)
        st.error(f"The live numbers could not be drawn. It has been logged with reference {ref}.")


def _trends(ctx: PageContext) -> None:
    st.subheader("Trends")
    c1, c2 = st.columns([3, 1])
    with c1:
        start_d, end_d = url_date_range(30)
    with c2:
        grain = url_select("Per", list(GRAIN_LABELS), param="grain", default="day", format_func=GRAIN_LABELS.get)
    start, end = range_bounds(start_d, end_d)
    if grain == "hour" and end - start > overview.MAX_HOURLY_RANGE:
        st.info("Hourly trends cover at most 14 days, so this range is shown per day. Pick a shorter range "
                "for hours.")
        grain = "day"
    st.caption(f"UTC {GRAIN_LABELS[grain].lower()}s from {start_d} to {end_d} (inclusive).")
    total_check_ins = None
    with panel():
        df = overview.trends(ctx.db, start, end, grain)
        total_check_ins = int(df["check_ins"].sum())
        if int(df[list(TREND_LABELS)].to_numpy().sum()) == 0:
            empty_state(f"Nothing happened between {start_d} and {end_d}.",
                        "Pick a wider date range above, or generate traffic with `venuepulse simulate`.")
        else:
            long = df.melt(id_vars="bucket", value_vars=list(TREND_LABELS), var_name="metric", value_name="count")
            long["metric"] = long["metric"].map(TREND_LABELS)
            fig = px.line(long, x="bucket", y="count", color="metric", markers=len(df) <= 62,
                          labels={"bucket": f"{GRAIN_LABELS[grain]} (UTC)", "count": "Count", "metric": ""})
            fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, hovermode="x unified",
                              legend={"orientation": "h", "y": -0.2})
            marks = [] if ctx.account.is_owner else overview.change_markers(ctx.db, start, end)
            change_markers.draw(fig, marks)
            st.plotly_chart(fig, width="stretch")
            change_markers.caption(marks)
            st.dataframe(df, hide_index=True, column_config={
                "bucket": st.column_config.DatetimeColumn(f"{GRAIN_LABELS[grain]} (UTC)",
                                                          format="YYYY-MM-DD HH:mm" if grain == "hour"
                                                          else "YYYY-MM-DD"),
                **TREND_LABELS})
            download_csv(df, f"overview_trends_{start_d}_{end_d}_{grain}.csv", key="csv_trends")

    with panel("Most visited venues in this range"):
        top = overview.top_venues(ctx.db, start, end, limit=10)
        if top.empty:
            empty_state(f"No check-ins between {start_d} and {end_d}.", "Pick a wider date range above.")
        else:
            shown = top.assign(details="venues?venue=" + top["venue_id"])
            st.dataframe(shown, hide_index=True, column_order=["name", "category", "city", "check_ins",
                                                                "unique_visitors", "details"],
                         column_config={
                             "name": "Venue", "category": "Category", "city": "City", "check_ins": "Check-ins",
                             "unique_visitors": "Unique visitors",
                             "details": st.column_config.LinkColumn("Details", display_text="Open")})
            if total_check_ins:
                st.caption(f"These venues had {fmt_pct(int(top['check_ins'].sum()) / total_check_ins)} "
                           "of all check-ins in the range.")
            download_csv(top, f"overview_top_venues_{start_d}_{end_d}.csv", key="csv_top_venues")


def _rollups_caption(f: dict) -> None:
    if f.get("folded_at") is None:
        return
    live = int(f.get("live_changes") or 0)
    st.caption(f"Rollups folded at {f['folded_at']:%H:%M:%S} UTC"
               + (f"; {fmt_int(live)} newer changes are read live" if live else "")
               + ", so these numbers are exact and current.")
