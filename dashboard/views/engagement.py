"""Engagement (product managers and engineers): how engagement is spread over venues and user-venue pairs,
the most engaged pairs (named only where the user's privacy allows), and notification delivery → read →
click by category and channel.  Venue owners do not get this page (dashboard/views/__init__.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

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
    url_int,
    url_select,
)
from venuepulse.queries.pages import engagement

ALL = "all"
BUCKETS = 20
LIVE_REFRESH = timedelta(seconds=60)
SEED_HINT = "Load demo data with `venuepulse seed --scale small` (or run `venuepulse up`)."

VENUE_HELP = ("Venue engagement = check-ins + 5 × reviews + 3 × users who favorited + 2 × users who claimed "
              "an offer (venue_stats, refreshed every 5 minutes).")
PAIR_HELP = ("User-venue engagement = 10 × check-ins + 50 × review + 100 × favorited + 25 × collections holding "
             "the venue + 5 × offer claims (venue_interactions, kept live).")
PRIVACY_HELP = ("A user is named only if both their profile and their activity feed are public in their privacy "
                "settings. Everyone else is only counted.")
NOTIF_HELP = ("Per channel: **sent** = the notification asked for the channel; **delivered** = sent and a delivery "
              "time was recorded for the channel; **read** / **clicked** = delivered on the channel and read / "
              "clicked (read and click belong to the notification, so one delivered on two channels counts "
              "under both). Rates: delivered ÷ sent, read ÷ delivered, clicked ÷ delivered.")


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def render(ctx: PageContext) -> None:
    st.title("Engagement")
    st.caption("How engaged venues and users are, who leads, and how notifications perform.")

    c1, c2, c3 = st.columns([2, 2, 1])
    with c1:
        category = url_select("Venue category", [ALL, *engagement.VENUE_CATEGORIES], param="category",
                              format_func=lambda v: "All categories" if v == ALL else _label(v))
    with c2:
        start, end = url_date_range(default_days=30, key="engagement_range")
    with c3:
        top_n = url_int("Top pairs", param="top", default=20, min_value=5, max_value=200, step=5)
    venue_category = None if category in (None, ALL) else category
    lo, hi = range_bounds(start, end)

    with panel("Venue engagement"):
        _venues(ctx, venue_category)
    _pairs(ctx, venue_category, top_n)

    st.divider()
    st.subheader("Notifications: delivered → read → clicked")
    st.caption(f"Notifications created from {start} to {end} (UTC).", help=NOTIF_HELP)
    n1, n2 = st.columns(2)
    with n1:
        ncat = url_select("Notification category", [ALL, *engagement.NOTIFICATION_CATEGORIES], param="ncat",
                          format_func=lambda v: "All categories" if v == ALL else _label(v))
    with n2:
        channel = url_select("Channel", [ALL, *engagement.CHANNELS], param="channel",
                             format_func=lambda v: "All channels" if v == ALL else _label(v))
    _notifications(ctx, lo, hi, None if ncat in (None, ALL) else ncat, None if channel in (None, ALL) else channel)


def _histogram(df: pd.DataFrame, count_col: str, what: str):
    labels = [f"{int(a)}–{int(b) - 1}" if b - a > 1 else f"{int(a)}" for a, b in
              zip(df["bucket_start"], df["bucket_end"], strict=True)]
    fig = go.Figure(go.Bar(x=labels, y=df[count_col], name=what))
    fig.update_layout(xaxis_title="engagement score", yaxis_title=what, bargap=0.05, height=300,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def _venues(ctx: PageContext, category: str | None) -> None:
    st.caption(VENUE_HELP)
    summary = engagement.venue_summary(ctx.db, category=category)
    freshness(summary.get("refreshed_at"), "venue_stats")
    if not summary["venues"]:
        empty_state("No venue engagement to show yet" + (" in this category." if category else "."),
                    "If venues exist, venue_stats may not have been refreshed since: run "
                    "`venuepulse jobs --once refresh_venue_stats`. Otherwise: " + SEED_HINT)
        return
    m = st.columns(5)
    m[0].metric("Venues", fmt_int(summary["venues"]))
    m[1].metric("Median venue score", fmt_int(round(summary["p50"])))
    m[2].metric("90th percentile", fmt_int(round(summary["p90"])))
    m[3].metric("Highest", fmt_int(summary["max_score"]))
    m[4].metric("Venues with no engagement", fmt_pct(summary["zero_venues"] / summary["venues"]))
    left, right = st.columns(2)
    with left:
        hist = engagement.venue_histogram(ctx.db, category=category, buckets=BUCKETS)
        st.plotly_chart(_histogram(hist, "venues", "venues"), key="venue_hist")
        download_csv(hist, "venue_engagement_histogram.csv", key="csv_venue_hist")
    with right:
        by_cat = engagement.venue_by_category(ctx.db)
        fig = px.bar(by_cat, x="category", y="p50", error_y=by_cat["p90"] - by_cat["p50"],
                     labels={"p50": "median score (bar) to p90 (whisker)", "category": ""}, height=300)
        fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10})
        st.plotly_chart(fig, key="venue_by_category_chart")
    st.dataframe(by_cat, hide_index=True, key="venue_by_category", column_config={
        "p50": st.column_config.NumberColumn("median", format="%.1f"),
        "p90": st.column_config.NumberColumn("p90", format="%.1f"),
        "total_score": st.column_config.NumberColumn("total score", format="%.0f"),
    })
    download_csv(by_cat, "venue_engagement_by_category.csv", key="csv_venue_by_category")


@st.fragment(run_every=LIVE_REFRESH)
def _pairs(ctx: PageContext, category: str | None, top_n: int) -> None:
    with panel("User-venue engagement"):
        st.caption(PAIR_HELP)
        summary = engagement.pair_summary(ctx.db, category=category)
        freshness(summary.get("as_of"), "Live counts")
        _rollups_caption(engagement.rollup_freshness(ctx.db))
        if not summary["pairs"]:
            empty_state("No user has interacted with a venue yet" + (" in this category." if category else "."),
                        SEED_HINT)
            return
        m = st.columns(5)
        m[0].metric("User-venue pairs", fmt_int(summary["pairs"]))
        m[1].metric("Users", fmt_int(summary["users"]))
        m[2].metric("Median pair score", fmt_int(round(summary["p50"])))
        m[3].metric("90th percentile", fmt_int(round(summary["p90"])))
        m[4].metric("Highest", fmt_int(summary["max_score"]))
        hist = engagement.pair_histogram(ctx.db, category=category, buckets=BUCKETS)
        st.plotly_chart(_histogram(hist, "pairs", "pairs"), key="pair_hist")
        download_csv(hist, "pair_engagement_histogram.csv", key="csv_pair_hist")

    with panel(f"Top {top_n} user-venue pairs"):
        st.caption(PRIVACY_HELP)
        top = engagement.top_pairs(ctx.db, limit=top_n, category=category)
        rows = top["rows"]
        if rows.empty and not top["private_users"]:
            empty_state("No pairs to rank yet.", SEED_HINT)
            return
        shown = rows.drop(columns=["user_id", "venue_id"])
        if not rows.empty:
            st.dataframe(shown, hide_index=True, key="top_pairs", column_config={
                "rank": st.column_config.NumberColumn("#", width="small"),
                "engagement_score": st.column_config.NumberColumn("score"),
                "last_interaction_at": st.column_config.DatetimeColumn("last interaction",
                                                                       format="YYYY-MM-DD HH:mm"),
            })
            download_csv(shown, "top_pairs.csv", key="csv_top_pairs")
        if top["private_users"]:
            lead = "…and" if not rows.empty else "All of them belong to"
            st.caption(f"{lead} {fmt_int(top['private_users'])} private "
                       f"user{'s' if top['private_users'] != 1 else ''} "
                       f"({fmt_int(top['private_pairs'])} of the top {top_n} pairs, not listed).")


@st.fragment(run_every=LIVE_REFRESH)
def _notifications(ctx: PageContext, lo, hi, category: str | None, channel: str | None) -> None:
    with panel("By category and channel"):
        ch = engagement.notification_channels(ctx.db, lo, hi, category=category, channel=channel)
        if ch.empty:
            empty_state("No notifications were sent in this period" + (" with these filters." if category or channel
                                                                        else "."),
                        "Widen the date range or clear the filters. " + SEED_HINT)
            return
        long = ch.melt(id_vars=["category", "channel"], value_vars=["sent", "delivered", "read", "clicked"],
                       var_name="step", value_name="notifications")
        fig = px.bar(long, x="category", y="notifications", color="step", barmode="group", facet_col="channel",
                     height=340, category_orders={"step": ["sent", "delivered", "read", "clicked"]})
        fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10})
        st.plotly_chart(fig, key="notif_chart")
        rates = {c: st.column_config.NumberColumn(format="percent") for c in ("delivery_rate", "read_rate",
                                                                              "click_rate")}
        st.dataframe(ch, hide_index=True, key="notif_channels", column_config=rates)
        download_csv(ch, "notifications_by_category_channel.csv", key="csv_notif_channels")

    with panel("By category (each notification once)"):
        cats = engagement.notification_categories(ctx.db, lo, hi, category=category)
        freshness(datetime.now(UTC), "Live counts")
        st.dataframe(cats, hide_index=True, key="notif_categories", column_config={
            "minutes_to_read_p50": st.column_config.NumberColumn("median min to read", format="%.1f", help=_MEDIAN_HELP),
            "minutes_to_click_p50": st.column_config.NumberColumn("median min to click", format="%.1f",
                                                                  help=_MEDIAN_HELP),
        })
        download_csv(cats, "notifications_by_category.csv", key="csv_notif_categories")


_MEDIAN_HELP = ("Each notification's minutes from creation to read (click), to the nearest 0.1 minute; the median is "
                "the middle one, or the lower of the two middle ones. Exact, from the delay rollups and the changes "
                "since their last fold.")


def _rollups_caption(f: dict) -> None:
    if f.get("folded_at") is None:
        return
    live = int(f.get("live_changes") or 0)
    st.caption(f"Rollups folded at {f['folded_at']:%H:%M:%S} UTC"
               + (f"; {fmt_int(live)} newer changes are read live" if live else "")
               + ", so these numbers are exact and current.")
