"""Venues: the venue_stats table (searched, sorted and paginated in SQL), the engagement leaderboard, and
one venue's detail (``?venue=<uuid>``).

URL parameters — list: ``q`` (search), ``category``, ``sort``, ``order`` (desc/asc), ``size``, ``page``,
``top`` (leaderboard length); detail: ``venue`` and ``from`` / ``to`` (check-in trend dates, UTC).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from uuid import UUID

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
    url_int,
    url_select,
    url_text,
)
from venuepulse.queries.pages import venues as venue_stats

log = logging.getLogger("venuepulse.dashboard")

ALL = "all"
ORDERS = {"desc": "Highest first", "asc": "Lowest first"}
LIVE_REFRESH_SECONDS = 30
MAX_PAGE = 1_000_000
REFRESH_HINT = ("Venues added since the last refresh appear after the next one (every 5 minutes, or now with "
                "`venuepulse jobs --once refresh_venue_stats`).")

TABLE_COLUMNS: dict[str, Any] = {
    "name": "Venue", "category": "Category", "city": "City",
    "engagement_score": st.column_config.NumberColumn(
        "Engagement", help="check-ins + 5×reviews + 3×favorites + 2×offer claimers"),
    "total_check_ins": "Check-ins", "check_ins_last_7_days": "Last 7 days", "active_check_ins": "Active",
    "total_unique_visitors": "Unique visitors", "review_count": "Reviews",
    "avg_rating": st.column_config.NumberColumn("Avg rating", format="%.2f"),
    "verified_review_count": "Verified reviews", "favorite_count": "Favorites", "collection_count": "Collections",
    "flash_offer_count": "Offers", "flash_offer_claim_count": "Offer claimers",
    "last_check_in_at": st.column_config.DatetimeColumn("Last check-in (UTC)", format="YYYY-MM-DD HH:mm"),
    "last_review_at": st.column_config.DatetimeColumn("Last review (UTC)", format="YYYY-MM-DD HH:mm"),
    "details": st.column_config.LinkColumn("Details", display_text="Open"),
}


def render(ctx: PageContext) -> None:
    st.title("Venues")
    alerts_banner(ctx, "venues")
    raw = st.query_params.get("venue")
    if raw is not None:
        try:
            vid = venue_stats.parse_venue_id(raw)
        except ValueError:
            st.warning(f"Ignored `venue={raw[:40]}` in the address: it is not a venue id.")
            del st.query_params["venue"]
        else:
            _detail(ctx, vid)
            return

    summary = venue_stats.summary(ctx.db)
    if summary["venue_count"] == 0:
        if ctx.account.is_owner:
            empty_state("None of your venues is in the venue statistics yet.",
                        "Ask a VenuePulse administrator to add you as an owner of your venues. " + REFRESH_HINT)
        else:
            empty_state("There are no venues in the venue statistics yet.",
                        "Load demo data with `venuepulse seed --scale small`. " + REFRESH_HINT)
        return
    freshness(summary["refreshed_at"], "Venue statistics (refreshed every 5 minutes)")
    if ctx.account.is_owner:
        st.caption("Only your venues are listed.")

    c1, c2 = st.columns([3, 1])
    with c1:
        q = url_text("Search", param="q", placeholder="Part of a venue's name or city")
    with c2:
        cats = venue_stats.categories(ctx.db)
        category = url_select("Category", [ALL, *cats], param="category", default=ALL,
                              format_func=lambda c: "All categories" if c == ALL else c)
    category = None if category == ALL else category
    _table(ctx, q, category)
    st.divider()
    _leaderboard(ctx, category)


# -- the table -------------------------------------------------------------------------------------------


def _open_selected() -> None:
    chosen = st.session_state.get("open_venue")
    if chosen:
        st.query_params["venue"] = chosen
        st.session_state["open_venue"] = ""


def _table(ctx: PageContext, q: str, category: str | None) -> None:
    st.subheader("All venues")
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    with c1:
        sort = url_select("Sort by", list(venue_stats.SORTS), param="sort", default="engagement_score",
                          format_func=venue_stats.SORTS.get)
    with c2:
        order = url_select("Order", list(ORDERS), param="order", default="desc", format_func=ORDERS.get)
    with c3:
        size = int(url_select("Rows per page", [str(s) for s in venue_stats.PAGE_SIZES], param="size", default="50"))
    # a new search, filter or sort starts again from page 1
    signature = (q, category, sort, order, size)
    previous = st.session_state.get("venues_table_signature")
    st.session_state["venues_table_signature"] = signature
    if previous is not None and previous != signature:
        st.query_params["page"] = "1"
        st.session_state.pop("url_page", None)
    with c4:
        requested = url_int("Page", param="page", default=1, min_value=1, max_value=MAX_PAGE)

    with panel():
        result = venue_stats.page(ctx.db, q=q, category=category, sort=sort, descending=order == "desc",
                                  page=requested, page_size=size)
        rows, total = result["rows"], result["total"]
        if total == 0:
            what = f" matching “{q}”" if q else ""
            empty_state(f"No venues{what}{' in ' + category if category else ''}.",
                        "Try a shorter search text or another category.")
            return
        if result["page"] != requested:
            st.info(f"Page {requested} is past the end; showing the last page, {result['page']}.")
            st.query_params["page"] = str(result["page"])
        first = (result["page"] - 1) * size + 1
        st.caption(f"Venues {first:,}–{first + len(rows) - 1:,} of {total:,} · page {result['page']:,} of "
                   f"{result['pages']:,}. Sorted by {venue_stats.SORTS[sort].lower()}, "
                   f"{ORDERS[order].lower()} (empty values last).")
        shown = rows.assign(details="venues?venue=" + rows["venue_id"])
        st.dataframe(shown, hide_index=True, column_order=list(TABLE_COLUMNS), column_config=TABLE_COLUMNS)
        c1, c2 = st.columns([1, 3])
        with c1:
            download_csv(rows, f"venues_page{result['page']}.csv", key="csv_venues")
        with c2:
            # numbered, so two venues with the same name and city stay distinguishable
            labels = {vid: f"{first + i}. {name} — {city}"
                      for i, (vid, name, city) in enumerate(zip(rows["venue_id"], rows["name"], rows["city"],
                                                                strict=True))}
            st.selectbox("Open a venue's details", ["", *labels], key="open_venue", on_change=_open_selected,
                         format_func=lambda v: labels.get(v, "Choose a venue on this page…"))


def _leaderboard(ctx: PageContext, category: str | None) -> None:
    st.subheader("Engagement leaderboard")
    top = url_int("How many", param="top", default=10, min_value=3, max_value=100)
    with panel():
        board = venue_stats.leaderboard(ctx.db, category=category, limit=top)
        if board.empty:
            empty_state("No venue has any engagement yet.",
                        "Engagement counts check-ins, reviews, favorites and offer claims; generate some with "
                        "`venuepulse simulate`. " + REFRESH_HINT)
            return
        st.caption("Engagement score = check-ins + 5 × reviews + 3 × favorites + 2 × offer claimers "
                   "(distinct users), from venue_stats. Ties share a rank.")
        parts = {"from_check_ins": "Check-ins", "from_reviews": "5 × reviews", "from_favorites": "3 × favorites",
                 "from_claims": "2 × offer claimers"}
        long = board.melt(id_vars=["rank", "name"], value_vars=list(parts), var_name="part", value_name="points")
        long["part"] = long["part"].map(parts)
        long["venue"] = long["rank"].astype(str) + ". " + long["name"]
        fig = px.bar(long, x="points", y="venue", color="part", orientation="h",
                     labels={"points": "Engagement score", "venue": "", "part": ""})
        fig.update_layout(yaxis={"categoryorder": "array", "categoryarray": list(
            (board["rank"].astype(str) + ". " + board["name"])[::-1])},
            margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=120 + 26 * len(board),
            legend={"orientation": "h", "y": -0.15})
        st.plotly_chart(fig, width="stretch")
        shown = board.assign(details="venues?venue=" + board["venue_id"])
        st.dataframe(shown, hide_index=True, column_order=["rank", "name", "category", "city", "engagement_score",
                                                           *parts, "details"],
                     column_config={"rank": "Rank", **{k: v for k, v in TABLE_COLUMNS.items()
                                                       if k in ("name", "category", "city", "engagement_score",
                                                                "details")}, **parts})
        download_csv(board, "venues_leaderboard.csv", key="csv_leaderboard")


# -- one venue -------------------------------------------------------------------------------------------


def _back() -> None:
    if "venue" in st.query_params:
        del st.query_params["venue"]
    for p in ("from", "to"):
        if p in st.query_params:
            del st.query_params[p]


def _detail(ctx: PageContext, vid: UUID) -> None:
    st.button("← All venues", on_click=_back, key="back_to_venues")
    d = venue_stats.venue_detail(ctx.db, vid)
    if d is None:
        empty_state("Venue not found.", "It may have been deleted, or it is not one of the venues you can see. "
                    "Go back to all venues to pick another.")
        return
    v, stats = d["venue"], d["stats"]
    st.header(v["name"])
    st.caption(" · ".join(str(x) for x in (v["category"], v["city"], v.get("address")) if x))
    _live(ctx.db, vid)

    with panel("Statistics"):
        if stats is None:
            empty_state("This venue is not in the venue statistics yet.", REFRESH_HINT)
        else:
            _stats(stats)

    with panel("Top reviews"):
        reviews = d["top_reviews"]
        if reviews.empty:
            empty_state("No reviews yet.", "Reviews appear here as soon as people write them.")
        else:
            st.caption("The three most helpful reviews (ties: newest first). Reviewers who keep their profile "
                       "or reviews private are not named.")
            st.dataframe(reviews.assign(username=reviews["username"].fillna("(private)")), hide_index=True, column_config={
                "username": "By", "rating": st.column_config.NumberColumn("Rating", format="%d ★"),
                "body": st.column_config.TextColumn("Review", width="large"), "helpful_count": "Helpful",
                "is_verified": "Verified",
                "created_at": st.column_config.DatetimeColumn("Written (UTC)", format="YYYY-MM-DD HH:mm")})
            download_csv(reviews, f"venue_{vid}_top_reviews.csv", key="csv_reviews")

    with panel("Check-ins per day"):
        start_d, end_d = url_date_range(30, key="venue_trend")
        start, end = range_bounds(start_d, end_d)
        trend = venue_stats.check_in_trend(ctx.db, vid, start, end)
        if int(trend["check_ins"].sum()) == 0:
            empty_state(f"No check-ins between {start_d} and {end_d}.", "Pick a wider date range.")
        else:
            long = trend.melt(id_vars="day", value_vars=["check_ins", "unique_visitors"], var_name="series",
                              value_name="count")
            long["series"] = long["series"].map({"check_ins": "Check-ins", "unique_visitors": "Unique visitors"})
            fig = px.line(long, x="day", y="count", color="series", markers=len(trend) <= 62,
                          labels={"day": "Day (UTC)", "count": "Count", "series": ""})
            fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, hovermode="x unified",
                              legend={"orientation": "h", "y": -0.2})
            st.plotly_chart(fig, width="stretch")
            st.dataframe(trend, hide_index=True, column_config={
                "day": st.column_config.DatetimeColumn("Day (UTC)", format="YYYY-MM-DD"),
                "check_ins": "Check-ins", "unique_visitors": "Unique visitors"})
            download_csv(trend, f"venue_{vid}_check_ins_{start_d}_{end_d}.csv", key="csv_trend")

    with panel("Flash offers"):
        offers = venue_stats.offers(ctx.db, vid)
        if offers.empty:
            empty_state("This venue has no flash offers.", "Offers the venue creates are listed here with "
                        "their claims and redemptions.")
        else:
            st.caption("Newest first (at most 100). Status is computed now: scheduled, active, full or expired.")
            st.dataframe(offers.drop(columns=["offer_id"]), hide_index=True, column_config={
                "title": "Offer", "status": "Status",
                "start_time": st.column_config.DatetimeColumn("Starts (UTC)", format="YYYY-MM-DD HH:mm"),
                "end_time": st.column_config.DatetimeColumn("Ends (UTC)", format="YYYY-MM-DD HH:mm"),
                "max_claims": "Max claims", "claimed_count": "Claimed", "redeemed_count": "Redeemed",
                "view_count": "Views", "click_count": "Clicks", "push_recipient_count": "Push recipients"})
            download_csv(offers, f"venue_{vid}_offers.csv", key="csv_offers")

    with panel("Interactions"):
        s = venue_stats.interaction_summary(ctx.db, vid)
        if not s["users"]:
            empty_state("Nobody has interacted with this venue yet.")
        else:
            st.caption("From venue_interactions: one row per person who checked in, reviewed, favorited, "
                       "collected or claimed an offer here; per-person score = 10×check-ins + 50×review + "
                       "100×favorite + 25×collections + 5×claims.")
            cols = st.columns(5)
            cols[0].metric("People", fmt_int(s["users"]))
            cols[1].metric("Repeat visitors", fmt_int(s["repeat_visitors"]), help="Two or more check-ins.")
            cols[2].metric("Favorited", fmt_int(s["favorited"]))
            cols[3].metric("In collections", fmt_int(s["in_collections"]))
            cols[4].metric("Offer claimers", fmt_int(s["claimers"]))
            st.caption(f"Average per-person engagement score {s['avg_engagement_score']:,.1f}; "
                       f"highest {fmt_int(s['max_engagement_score'])}.")


def _stats(stats: dict[str, Any]) -> None:
    freshness(stats.get("refreshed_at"), "Statistics")
    rating = stats.get("avg_rating")
    items = [
        ("Engagement score", fmt_int(stats["engagement_score"])),
        ("Check-ins", fmt_int(stats["total_check_ins"])),
        ("Last 7 days", fmt_int(stats["check_ins_last_7_days"])),
        ("Unique visitors", fmt_int(stats["total_unique_visitors"])),
        ("Reviews", f"{fmt_int(stats['review_count'])} ({fmt_int(stats['verified_review_count'])} verified)"),
        ("Average rating", "–" if rating is None else f"{float(rating):.2f} ★"),
        ("Favorites", fmt_int(stats["favorite_count"])),
        ("Collections", fmt_int(stats["collection_count"])),
        ("Flash offers", fmt_int(stats["flash_offer_count"])),
        ("Offer claimers", fmt_int(stats["flash_offer_claim_count"])),
    ]
    for row in (items[:5], items[5:]):
        for col, (label, value) in zip(st.columns(5), row, strict=True):
            col.metric(label, value)
    with st.expander("All statistics as a table"):
        table = pd.DataFrame([{k: (float(v) if k in ("avg_rating", "engagement_score") and v is not None else v)
                               for k, v in stats.items()}])
        table["venue_id"] = table["venue_id"].astype(str)
        st.dataframe(table, hide_index=True)
        download_csv(table, f"venue_{stats['venue_id']}_stats.csv", key="csv_stats")


@st.fragment(run_every=LIVE_REFRESH_SECONDS)
def _live(db, vid: UUID) -> None:
    # A fragment re-runs on its own, outside the page's error boundary: keep tracebacks out here too.
    try:
        with panel():
            live = venue_stats.live_counters(db, vid)
            if live is None:
                return
            c1, c2, c3 = st.columns(3)
            c1.metric("Active check-ins now", fmt_int(live["active_check_in_count"]), border=True)
            c2.metric("Check-ins (all time)", fmt_int(live["total_check_in_count"]), border=True)
            last = live["last_check_in_at"]
            c3.metric("Last check-in (UTC)", "–" if last is None else f"{last:%Y-%m-%d %H:%M}", border=True)
            st.caption(f"Live counters, kept by the database as check-ins happen; updated every "
                       f"{LIVE_REFRESH_SECONDS} seconds.")
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("venue live counters failed (ref %s)", ref)
        st.error(f"The live counters could not be drawn. It has been logged with reference {ref}.")
