"""Offers: the offers of a period with live status, the ordered funnel per offer and across offers,
conversion over time, and time to claim and to redeem.  Venue owners see only their own venues' offers
(the database's row-level security keeps them apart; this page does not filter by owner)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from venuepulse.dashboard.context import PageContext
from venuepulse.dashboard.widgets import (
    alerts_banner,
    download_csv,
    empty_state,
    fmt_int,
    fmt_pct,
    freshness,
    panel,
    range_bounds,
    url_date_range,
    url_select,
    url_text,
)
from venuepulse.durations import format_duration
from venuepulse.errors import VenuePulseError
from venuepulse.queries.ops import owner_reports
from venuepulse.queries.pages import offers

ALL = "all"
LIVE_REFRESH = timedelta(seconds=60)
LIST_LIMIT = offers.LIST_LIMIT
BEST_MEMO = "vp_offers_best"  # this run's best converting offers, from the funnel the page already asked for
SEED_HINT = "Load demo data with `venuepulse seed --scale small`, or keep `venuepulse simulate` running for live offers."

FUNNEL_HELP = """**How the funnel counts.** For each offer, over its window [start, end):
**Targeted** is the number of users its push went to (`push_recipient_count`).
**Viewed**: users with a view of the offer inside the window.
**Clicked**: of those, users with a click inside the window at or after their first view.
**Claimed**: of those, users whose claim was made inside the window at or after their first such click.
**Redeemed**: of those, users whose claim is redeemed.
A step done out of order or outside the window does not count here, but does count in the raw counters
(every view, click, claim and redemption ever recorded).  Across several offers, users are counted once
per offer.  *% of first* is relative to Targeted, *% of previous* to the step before.
**Time to claim** runs from the user's first view to the claim; **time to redeem** from the claim to the
redemption (median and 90th percentile, over the users the funnel counts).
Offers whose window is still open are **not final**: their numbers can still grow."""


def _offer_label(df: pd.DataFrame):
    labels = {str(r["offer_id"]): f"{r['title']} — {r['venue_name']} ({r['start_time']:%Y-%m-%d})"
              for r in df.to_dict("records")}

    def fmt(value: str) -> str:
        return "All offers shown below" if value == ALL else labels.get(value, value)

    return fmt


def render(ctx: PageContext) -> None:
    owner = ctx.account.is_owner
    st.title("Offers" if not owner else "Your offers")
    alerts_banner(ctx, "offers")
    st.caption("Flash offers with their live status and how they convert: targeted → viewed → clicked → "
               "claimed → redeemed.", help=FUNNEL_HELP)

    _offers(ctx, owner)
    if owner:
        with panel("Weekly report by e-mail"):
            _weekly_report(ctx)


def _offers(ctx: PageContext, owner: bool) -> None:
    venues = offers.venues_with_offers(ctx.db)
    if venues.empty:
        empty_state("Your venues have no flash offers yet." if owner else "There are no flash offers yet.",
                    "Create an offer in the app to see it here." if owner else SEED_HINT)
        return

    c1, c2, c3 = st.columns([2, 2, 3])
    with c1:
        start, end = url_date_range(default_days=30, key="offers_range")
    lo, hi = range_bounds(start, end)
    with c2:
        venue_id = _venue_filter(ctx, venues, owner)

    listed = offers.offer_list(ctx.db, lo, hi, venue_id=venue_id, limit=LIST_LIMIT)
    with c3:
        offer = url_select("Offer", [ALL, *(str(o) for o in listed["offer_id"])], param="offer",
                           format_func=_offer_label(listed))
    offer_id = None if offer in (None, ALL) else offer

    if listed.empty:
        empty_state(f"No offers ran between {start} and {end}" + (" at this venue." if venue_id else "."),
                    "Widen the date range or pick another venue.")
        return
    if len(listed) >= LIST_LIMIT:
        st.info(f"Showing the {LIST_LIMIT} most recent offers of the period; narrow the dates or pick a venue "
                "to see the others (the funnel's totals count every offer of the period).")
    st.session_state.pop(BEST_MEMO, None)  # set again by this run's funnel
    _live(ctx, lo, hi, venue_id, offer_id)
    with panel("When it works"):
        _when(ctx, lo, hi, venue_id)
    if owner:
        with panel("Against similar venues"):
            _benchmarks(ctx, listed, offer_id)


def _venue_filter(ctx: PageContext, venues, owner: bool) -> str | None:
    """A select while the venues with offers fit a list; past FILTER_VENUES, a search (the way Metabase's
    filters switch): up to SEARCH_VENUES venues whose name or city contains the text, plus the URL's venue."""
    everyone = "All your venues" if owner else "All venues"
    if len(venues) <= offers.FILTER_VENUES:
        names = {str(r["venue_id"]): f"{r['name']} ({r['city']})" for r in venues.to_dict("records")}
        venue = url_select("Venue", [ALL, *names], param="venue",
                           format_func=lambda v: everyone if v == ALL else names.get(v, v))
        return None if venue in (None, ALL) else venue
    q = url_text("Find a venue", param="venue_q", placeholder="Name or city")
    found = offers.venues_with_offers(ctx.db, q=q, limit=offers.SEARCH_VENUES) if q else venues.iloc[:0]
    current = st.query_params.get("venue")
    if current and current != ALL and current not in {str(v) for v in found["venue_id"]}:
        try:
            found = pd.concat([offers.venues_with_offers(ctx.db, venue_id=current, limit=1), found])
        except ValueError:
            pass  # not a venue id: url_select says so and falls back to all venues
    names = {str(r["venue_id"]): f"{r['name']} ({r['city']})" for r in found.to_dict("records")}
    if q and len(found) >= offers.SEARCH_VENUES:
        st.caption(f"The first {offers.SEARCH_VENUES} matches; type more to narrow them.")
    elif q and found.empty:
        st.caption("No venue with offers matches.")
    venue = url_select("Venue", [ALL, *names], param="venue",
                       format_func=lambda v: everyone if v == ALL else names.get(v, v))
    return None if venue in (None, ALL) else venue


@st.fragment(run_every=LIVE_REFRESH)
def _live(ctx: PageContext, lo, hi, venue_id: str | None, offer_id: str | None) -> None:
    with panel("Funnel"):
        _funnel(ctx, lo, hi, venue_id, offer_id)
    with panel("Conversion over time"):
        _over_time(ctx, lo, hi, venue_id, offer_id)
    with panel("Offers"):
        _offer_table(ctx, lo, hi, venue_id)


def _funnel(ctx: PageContext, lo, hi, venue_id, offer_id) -> None:
    show_all = bool(st.session_state.get("offers_funnel_all"))
    result = offers.funnel(ctx.db, lo, hi, venue_id=venue_id, offer_id=offer_id,
                           top=None if show_all else offers.TOP_OFFERS)
    if not offer_id:  # "when it works" below ranks the same offers: one funnel query per page, not two
        st.session_state[BEST_MEMO] = ((lo, hi, venue_id), result["best"])
    total = result["total"]
    freshness(total["as_of"], "Live counts")
    _rollups_caption(offers.rollup_freshness(ctx.db))
    if not total["offers"]:
        empty_state("The chosen offer did not run in this period.", "Pick another offer or widen the dates.")
        return
    scope = "this offer" if offer_id else f"{fmt_int(total['offers'])} offers (users counted once per offer)"
    st.markdown(f"Funnel of {scope}.")
    if not total["is_final"]:
        st.warning(f"Not final: {fmt_int(total['offers_open'])} of these offers "
                   f"{'is' if total['offers_open'] == 1 else 'are'} still running, so the numbers can still grow.",
                   icon=":material/timelapse:")

    m = st.columns(6)
    m[0].metric("Targeted", fmt_int(total["targeted"]), help="Users the offer push went to.")
    m[1].metric("Viewed", fmt_int(total["viewed_users"]))
    m[2].metric("Claimed", fmt_int(total["claimed_users"]),
                help="Users who viewed, then clicked, then claimed, inside the window.")
    m[3].metric("Redeemed", fmt_int(total["redeemed_users"]))
    m[4].metric("Time to claim (median / p90)",
                f"{format_duration(total['time_to_claim_p50_s'])} / {format_duration(total['time_to_claim_p90_s'])}",
                help="From the user's first view to the claim.")
    m[5].metric("Time to redeem (median / p90)",
                f"{format_duration(total['time_to_redeem_p50_s'])} / {format_duration(total['time_to_redeem_p90_s'])}",
                help="From the claim to the redemption.")

    steps = offers.funnel_steps(total)
    fig = go.Figure()
    fig.add_trace(go.Funnel(name="Unique users (in order, in the window)", y=steps["step"],
                            x=steps["unique_users"], textinfo="value+percent initial+percent previous"))
    fig.add_trace(go.Funnel(name="Raw counters", y=steps["step"], x=steps["counter"], textinfo="value"))
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=360,
                      legend={"orientation": "h", "y": -0.1})
    st.plotly_chart(fig, key="offers_funnel_chart")
    shown = pd.DataFrame({
        "Step": steps["step"],
        "Unique users": steps["unique_users"],
        "% of first": [fmt_pct(v) if pd.notna(v) else "–" for v in steps["unique_of_first"]],
        "% of previous": [fmt_pct(v) if pd.notna(v) else "–" for v in steps["unique_of_previous"]],
        "Raw counter": steps["counter"],
        "Counter % of first": [fmt_pct(v) if pd.notna(v) else "–" for v in steps["counter_of_first"]],
        "Counter % of previous": [fmt_pct(v) if pd.notna(v) else "–" for v in steps["counter_of_previous"]],
    })
    st.dataframe(shown, hide_index=True, key="offers_funnel_steps")
    download_csv(steps, "offer_funnel_steps.csv", key="csv_funnel_steps")

    per = result["offers"]
    if not offer_id and total["offers"] > 1:
        st.markdown("**Funnel by offer**")
        if total["offers"] > offers.TOP_OFFERS:
            st.toggle(f"Show all {fmt_int(total['offers'])} offers", key="offers_funnel_all",
                      help=f"Off: the {offers.TOP_OFFERS} offers with the most claimed users. The totals above "
                           "count every offer either way.")
            if not show_all:
                st.caption(f"The {offers.TOP_OFFERS} offers with the most claimed users of "
                           f"{fmt_int(total['offers'])}.")
        table = pd.DataFrame({
            "Offer": per["title"],
            "Final": per["is_final"],
            "Targeted": per["targeted"],
            "Viewed": per["viewed_users"],
            "Clicked": per["clicked_users"],
            "Claimed": per["claimed_users"],
            "Redeemed": per["redeemed_users"],
            "Claimed % of viewed": [v / w if w else None for v, w in zip(per["claimed_users"], per["viewed_users"],
                                                                        strict=True)],
            "Time to claim p50 (s)": per["time_to_claim_p50_s"],
            "Time to redeem p50 (s)": per["time_to_redeem_p50_s"],
            "offer_id": per["offer_id"].astype(str),
        }).sort_values(["Claimed", "Viewed"], ascending=False)
        st.dataframe(table, hide_index=True, key="offers_funnel_by_offer", column_config={
            "Claimed % of viewed": st.column_config.NumberColumn(format="percent"),
            "Time to claim p50 (s)": st.column_config.NumberColumn(format="%.0f"),
            "Time to redeem p50 (s)": st.column_config.NumberColumn(format="%.0f"),
        })
        download_csv(table, "offer_funnel_by_offer.csv", key="csv_funnel_by_offer")


def _over_time(ctx: PageContext, lo, hi, venue_id, offer_id) -> None:
    st.caption("Users grouped by the day (UTC) of their first view of an offer: of those who first saw an offer "
               "that day, the share who clicked and claimed (in order, inside the window), and of the claimers "
               "the share who redeemed.")
    df = offers.conversion_by_day(ctx.db, lo, hi, venue_id=venue_id, offer_id=offer_id)
    if df.empty:
        empty_state("Nobody viewed these offers in this period yet.",
                    "Views appear as users open offers in the app (or run `venuepulse simulate`).")
        return
    fig = go.Figure()
    fig.add_trace(go.Bar(x=df["day"], y=df["viewed_users"], name="Viewers", yaxis="y2", opacity=0.35))
    for col, name in (("click_rate", "Clicked / viewed"), ("claim_rate", "Claimed / viewed"),
                      ("redeem_rate", "Redeemed / claimed")):
        fig.add_trace(go.Scatter(x=df["day"], y=df[col], name=name, mode="lines+markers"))
    fig.update_layout(yaxis={"tickformat": ".0%", "title": "conversion", "rangemode": "tozero"},
                      yaxis2={"overlaying": "y", "side": "right", "title": "viewers", "showgrid": False},
                      margin={"l": 10, "r": 10, "t": 10, "b": 10}, height=320,
                      legend={"orientation": "h", "y": -0.2})
    st.plotly_chart(fig, key="offers_over_time_chart")
    st.dataframe(df, hide_index=True, key="offers_over_time", column_config={
        c: st.column_config.NumberColumn(format="percent") for c in ("click_rate", "claim_rate", "redeem_rate")})
    download_csv(df, "offer_conversion_by_day.csv", key="csv_over_time")


def _offer_table(ctx: PageContext, lo, hi, venue_id) -> None:
    df = offers.offer_list(ctx.db, lo, hi, venue_id=venue_id, limit=LIST_LIMIT)
    if df.empty:
        empty_state("No offers in this period.", "Widen the date range.")
        return
    freshness(df["as_of"].iloc[0], "Status")
    table = pd.DataFrame({
        "Offer": df["title"],
        "Venue": df["venue_name"],
        "Status": df["status"],
        "Final": ~df["window_open"].astype(bool),
        "Starts": df["start_time"],
        "Ends": df["end_time"],
        "Targeted": df["push_recipient_count"],
        "Views": df["view_count"],
        "Clicks": df["click_count"],
        "Claimed": df["claimed_count"],
        "Max claims": df["max_claims"],
        "Redeemed": df["redeemed_count"],
        "offer_id": df["offer_id"].astype(str),
    })
    st.dataframe(table, hide_index=True, key="offers_table", column_config={
        "Starts": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "Ends": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "Final": st.column_config.CheckboxColumn(help="False while the offer's window is still open."),
    })
    download_csv(table, "offers.csv", key="csv_offers")


def _when(ctx: PageContext, lo, hi, venue_id) -> None:
    st.caption("Claims and redemptions of the period's offers by day of week and hour of day, in each venue's "
               "local time; below, the offers that turned the most viewers into claimers.")
    df = offers.when_it_works(ctx.db, lo, hi, venue_id=venue_id)
    if df.empty:
        empty_state("Nobody claimed these offers in this period yet.",
                    "Claims appear as users take offers in the app (or run `venuepulse simulate`).")
    else:
        cols = st.columns(2)
        for col, kind in zip(cols, ("claims", "redemptions"), strict=True):
            part = df[df["kind"] == kind]
            grid = [[0] * 24 for _ in offers.WEEKDAYS]
            for r in part.to_dict("records"):
                grid[int(r["weekday"]) - 1][int(r["hour"])] = int(r["n"])
            fig = go.Figure(go.Heatmap(z=grid, x=list(range(24)), y=list(offers.WEEKDAYS), colorscale="Blues",
                                       hovertemplate="%{y} %{x}:00 — %{z} " + kind + "<extra></extra>"))
            fig.update_layout(title=kind.capitalize(), xaxis={"title": "hour (venue's local time)", "dtick": 3},
                              yaxis={"autorange": "reversed"}, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                              height=280)
            with col:
                st.plotly_chart(fig, key=f"offers_when_{kind}")
        download_csv(df, "offer_claims_by_hour.csv", key="csv_when")

    memo = st.session_state.get(BEST_MEMO)
    if memo is not None and memo[0] == (lo, hi, venue_id):
        best = memo[1]
    else:
        best = offers.funnel(ctx.db, lo, hi, venue_id=venue_id, top=offers.TOP_OFFERS)["best"]
    st.markdown("**Best converting offers**")
    if best.empty:
        st.caption(f"No offer of the period has {offers.MIN_VIEWERS_TO_RANK} or more viewers yet.")
        return
    table = pd.DataFrame({
        "Best offer": best["title"],
        "Viewed": best["viewed_users"],
        "Claimed": best["claimed_users"],
        "Claimed ÷ viewed": best["claim_rate"],
        "Redeemed ÷ claimed": best["redeem_rate"],
        "Final": best["is_final"],
    })
    st.dataframe(table, hide_index=True, key="offers_best", column_config={
        "Claimed ÷ viewed": st.column_config.NumberColumn(format="percent"),
        "Redeemed ÷ claimed": st.column_config.NumberColumn(format="percent")})
    download_csv(table, "offers_best_converting.csv", key="csv_best")


BENCHMARK_HELP = f"""Each offer against the offers of similar venues (same category and city; wider when
fewer than {offers.MIN_PEER_VENUES} venues are alike): the lower quartile, median and upper quartile over those
venues, each venue counted once.  Only ended offers of other venues count, and the database answers only when at
least {offers.MIN_PEER_VENUES} other venues are in the group, so no number describes one venue."""


def _benchmarks(ctx: PageContext, listed: pd.DataFrame, offer_id: str | None) -> None:
    st.caption("How your offers convert compared with similar venues.", help=BENCHMARK_HELP)
    ids = [offer_id] if offer_id else [str(o) for o in listed["offer_id"]]
    df = offers.benchmarks(ctx.db, ids)
    if df.empty:
        empty_state("No offers to compare.", "Pick another period or offer.")
        return
    if df["peer_scope"].isna().all():
        st.info(f"Fewer than {offers.MIN_PEER_VENUES} similar venues have ended offers yet, so there is nothing "
                "to compare with without describing one venue.", icon=":material/group_off:")
        return

    def quartiles(r, col: str, fmt, unit: str = "") -> str:
        qs = [r[f"{col}_p{q}{unit}"] for q in (25, 50, 75)]
        return "–" if any(pd.isna(q) for q in qs) else " / ".join(fmt(q) for q in qs)

    def pct(v) -> str:
        return "–" if v is None or pd.isna(v) else fmt_pct(v)

    def dur(v) -> str:
        return "–" if v is None or pd.isna(v) else format_duration(v)

    rows = []
    for r in df.to_dict("records"):
        scope = r["peer_scope"]
        rows.append({
            "Offer": r["title"],
            "Starts": r["start_time"],
            "Claim rate": pct(r["claim_rate"]),
            "Similar: claim rate p25 / median / p75": quartiles(r, "claim_rate", pct),
            "Redemption rate": pct(r["redeem_rate"]),
            "Similar: redemption rate p25 / median / p75": quartiles(r, "redeem_rate", pct),
            "Time to claim": dur(r["time_to_claim_s"]),
            "Similar: time to claim p25 / median / p75": quartiles(r, "time_to_claim", dur, "_s"),
            "Compared with": (f"{int(r['peer_venues'])} venues, {offers.PEER_SCOPES[scope]}" if scope
                              else f"fewer than {offers.MIN_PEER_VENUES} similar venues"),
        })
    table = pd.DataFrame(rows)
    st.dataframe(table, hide_index=True, key="offers_benchmarks", column_config={
        "Starts": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
    download_csv(table, "offer_benchmarks.csv", key="csv_benchmarks")


REPORT_NOTICE = "vp_weekly_report_notice"


def _weekly_report(ctx: PageContext) -> None:
    """Subscribe or unsubscribe the signed-in owner (through the sign-in role: the owner role only reads)."""
    from venuepulse.dashboard.auth import signin_database

    st.caption("Every Monday morning (UTC), an e-mail with the funnels of your offers that ran the week before "
               "and the table attached as CSV. A week in which none of your offers ran sends nothing.")
    username = ctx.account.username
    try:
        accounts_db = signin_database()
        sub = owner_reports.subscription(accounts_db, username)
    except VenuePulseError as exc:
        st.warning(f"Weekly reports cannot be changed at the moment: {exc}")
        return
    if sub is None:
        st.info("Weekly reports are sent to venue-owner accounts only.")
        return
    notice = st.session_state.pop(REPORT_NOTICE, None)
    with st.form("vp_weekly_report", enter_to_submit=False):
        st.text_input("E-mail address", value=sub["email"] or sub["account_email"] or "", max_chars=254,
                      placeholder="name@example.com", key="weekly_report_email")
        c1, c2, _ = st.columns([1, 1, 3])
        c1.form_submit_button("Update address" if sub["active"] else "Subscribe", type="primary",
                              on_click=_change_report, args=(accounts_db, username, True))
        c2.form_submit_button("Unsubscribe", disabled=not sub["active"],
                              on_click=_change_report, args=(accounts_db, username, False))
    if notice:
        kind, text = notice
        (st.success if kind == "success" else st.error)(text)
    if sub["active"]:
        st.markdown(f"**Subscribed** — the weekly report goes to {sub['email']}.")
    else:
        st.markdown("**Not subscribed.**")
    sent = owner_reports.history(accounts_db, username)
    if not sent.empty:
        table = pd.DataFrame({
            "Week of": sent["week_start"],
            "Report": [("skipped: " + r) if s == "skipped" else f"{o} offers" for s, r, o
                       in zip(sent["status"], sent["reason"], sent["offers"], strict=True)],
            "E-mail": [d or "–" for d in sent["delivery"]],
            "Delivered": sent["delivered_at"],
        })
        st.dataframe(table, hide_index=True, key="offers_weekly_reports", column_config={
            "Delivered": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})


def _change_report(accounts_db, username: str, subscribe: bool) -> None:
    # a callback: it runs before the page is drawn again, so the form shows the new state at once
    try:
        if subscribe:
            row = owner_reports.subscribe(accounts_db, username, st.session_state.get("weekly_report_email"))
            notice = ("success", f"Subscribed: the weekly report goes to {row['email']}.")
        else:
            owner_reports.unsubscribe(accounts_db, username)
            notice = ("success", "Unsubscribed: no more weekly reports.")
    except owner_reports.ReportError as exc:
        notice = ("error", f"Nothing was changed: {exc}.")
    except VenuePulseError as exc:
        notice = ("error", f"Nothing was changed: the subscription could not be saved ({exc}).")
    st.session_state[REPORT_NOTICE] = notice


def _rollups_caption(f: dict) -> None:
    if f.get("folded_at") is None:
        return
    live = int(f.get("live_changes") or 0)
    st.caption(f"Rollups folded at {f['folded_at']:%H:%M:%S} UTC"
               + (f"; {fmt_int(live)} newer changes are read live" if live else "")
               + ", so these numbers are exact and current.")
