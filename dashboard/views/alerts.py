"""Alerts (engineers; product managers read only): what is firing now, the rules, transitions over time,
notifications and their delivery, failed attempts, channels. Rules and channels are managed with
`venuepulse alerts` (the dashboard's database roles only read); engineers see the commands here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from venuepulse.dashboard.context import PageContext
from venuepulse.dashboard.widgets import (
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
from venuepulse.queries.pages import alerts as data

LIVE_REFRESH = timedelta(seconds=30)
ALL = "(all)"
STATUSES = (ALL, "pending", "delivered", "failed", "dropped")
TIME = "YYYY-MM-DD HH:mm:ss"


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def render(ctx: PageContext) -> None:
    st.title("Alerts")
    manager = ctx.account.role == "engineer"
    st.caption("Rules evaluated every minute by the evaluate_alerts job; notifications sent by "
               "deliver_notifications to webhooks and e-mail. "
               + ("Manage them with `venuepulse alerts` (commands at the bottom of this page)." if manager else
                  "Engineers manage the rules; this page shows them."))
    _live(ctx)
    st.divider()
    start, end = url_date_range(default_days=7, key="alerts_range")
    lo, hi = range_bounds(start, end)
    _history(ctx, lo, hi)
    _deliveries(ctx, lo, hi)
    _rules(ctx, manager)
    _channels(ctx)
    if manager:
        _manage()


@st.fragment(run_every=LIVE_REFRESH)
def _live(ctx: PageContext) -> None:
    with panel("Firing now"):
        s = data.summary(ctx.db)
        c1, c2, c3, c4, c5, c6 = st.columns(6)
        c1.metric("Firing", fmt_int(s.get("firing")))
        c2.metric("Pending", fmt_int(s.get("pending")), help="Condition holds; fires after the rule's pending period.")
        c3.metric("Rules", fmt_int(s.get("rules")))
        c4.metric("Muted rules", fmt_int(s.get("muted")))
        c5.metric("Undelivered", fmt_int(s.get("undelivered")), help="Notifications waiting in the outbox.")
        c6.metric("Given up", fmt_int(s.get("given_up")), help="Notifications that will not be retried.")
        freshness(s.get("last_evaluated_at"), "Last evaluation")
        if s.get("erroring"):
            st.error(f"{fmt_int(s['erroring'])} rule(s) could not be evaluated last time: see Rules below.")
        if s.get("oldest_undelivered_at") is not None:
            age = (datetime.now(UTC) - s["oldest_undelivered_at"]).total_seconds()
            if age > 300:
                st.warning(f"The oldest undelivered notification waits for {format_duration(age)}: a channel may be "
                           "down (see Failed delivery attempts). It is retried with backoff.")
        if not s.get("rules"):
            empty_state("No alert rules yet, so nothing can fire.",
                        "Engineers add rules with `venuepulse alerts add` (see docs/alerts.md).")
            return
        rows = _frame(data.firing_now(ctx.db))
        if rows.empty:
            st.success("Nothing is firing.")
            return
        rows["subject"] = rows["subject"].replace("", "–")
        shown = rows[["state", "severity", "rule_name", "subject", "firing_since", "since", "summary", "muted_until"]]
        st.dataframe(shown, hide_index=True, column_config={
            "state": "State", "severity": "Severity", "rule_name": "Rule", "subject": "Subject",
            "firing_since": st.column_config.DatetimeColumn("Firing since (UTC)", format=TIME),
            "since": st.column_config.DatetimeColumn("In this state since (UTC)", format=TIME),
            "summary": st.column_config.TextColumn("What", width="large"),
            "muted_until": st.column_config.DatetimeColumn("Muted until (UTC)", format=TIME)})
        download_csv(shown, "alerts_firing.csv", key="csv_alerts_firing")


def _history(ctx: PageContext, lo: datetime, hi: datetime) -> None:
    with panel("History"):
        rows = _frame(data.history(ctx.db, lo, hi))
        if rows.empty:
            st.caption("No state changes in this date range.")
            return
        shown = rows[["at", "rule_name", "severity", "subject", "from_state", "to_state", "episode", "notified",
                      "summary"]]
        st.dataframe(shown, hide_index=True, column_config={
            "at": st.column_config.DatetimeColumn("At (UTC)", format=TIME), "rule_name": "Rule",
            "severity": "Severity", "subject": "Subject", "from_state": "From", "to_state": "To",
            "episode": "Episode", "notified": "Notified", "summary": st.column_config.TextColumn("What", width="large")})
        if len(rows) == data.LIMIT:
            st.caption(f"Showing the latest {data.LIMIT:,} state changes of the range.")
        download_csv(shown, "alert_history.csv", key="csv_alert_history")


def _deliveries(ctx: PageContext, lo: datetime, hi: datetime) -> None:
    with panel("Deliveries"):
        status = url_select("Delivery status", STATUSES, param="delivery")
        rows = _frame(data.deliveries(ctx.db, lo, hi, status=None if status in (None, ALL) else status))
        if rows.empty:
            st.caption("No notifications in this date range.")
        else:
            shown = rows[["created_at", "channel_name", "title", "status", "attempts", "delivered_at",
                          "next_attempt_at", "last_error"]]
            st.dataframe(shown, hide_index=True, column_config={
                "created_at": st.column_config.DatetimeColumn("Written (UTC)", format=TIME),
                "channel_name": "Channel", "title": st.column_config.TextColumn("Notification", width="medium"),
                "status": "Status", "attempts": "Attempts",
                "delivered_at": st.column_config.DatetimeColumn("Delivered (UTC)", format=TIME),
                "next_attempt_at": st.column_config.DatetimeColumn("Next attempt (UTC)", format=TIME),
                "last_error": st.column_config.TextColumn("Last error", width="large")})
            download_csv(shown, "alert_deliveries.csv", key="csv_alert_deliveries")
    with panel("Failed delivery attempts"):
        failed = _frame(data.failed_attempts(ctx.db, lo, hi))
        if failed.empty:
            st.success("No failed delivery attempts in this date range.")
            return
        shown = failed[["started_at", "channel_name", "outbox_id", "attempt", "status_code", "error",
                        "notification_status"]]
        st.dataframe(shown, hide_index=True, column_config={
            "started_at": st.column_config.DatetimeColumn("Attempted (UTC)", format=TIME), "channel_name": "Channel",
            "outbox_id": "Notification", "attempt": "Attempt", "status_code": "Status code",
            "error": st.column_config.TextColumn("Error", width="large"), "notification_status": "Now"})
        download_csv(shown, "alert_failed_attempts.csv", key="csv_alert_failed_attempts")


def _rules(ctx: PageContext, manager: bool) -> None:
    with panel("Rules"):
        rows = _frame(data.rules(ctx.db))
        if rows.empty:
            empty_state("No rules.", "`venuepulse alerts add NAME --kind KIND`" if manager else "")
            return
        rows["condition"] = rows["kind"].map(data.condition)
        rows["pending_for"] = rows["pending_seconds"].map(format_duration)
        rows["keep_firing_for"] = rows["keep_firing_seconds"].map(format_duration)
        rows["params"] = rows["params"].map(_params)
        rows["channels"] = rows["channels"].map(lambda c: ", ".join(c) or "(every channel)")
        shown = rows[["name", "kind", "severity", "firing", "pending", "params", "pending_for", "keep_firing_for",
                      "channels", "muted_until", "last_evaluated_at", "last_error", "condition"]]
        st.dataframe(shown, hide_index=True, column_config={
            "name": "Rule", "kind": "Kind", "severity": "Severity", "firing": "Firing", "pending": "Pending",
            "params": "Parameters", "pending_for": "Pending period", "keep_firing_for": "Keep firing",
            "channels": "Channels", "muted_until": st.column_config.DatetimeColumn("Muted until (UTC)", format=TIME),
            "last_evaluated_at": st.column_config.DatetimeColumn("Last evaluated (UTC)", format=TIME),
            "last_error": st.column_config.TextColumn("Last error", width="medium"),
            "condition": st.column_config.TextColumn("Condition", width="large")})
        download_csv(shown, "alert_rules.csv", key="csv_alert_rules")


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value(k, v)}" for k, v in sorted(params.items()))


def _value(key: str, value: Any) -> str:
    if key in ("window", "max_age", "usual") and isinstance(value, int | float):
        return format_duration(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_duration(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _channels(ctx: PageContext) -> None:
    with panel("Channels"):
        rows = _frame(data.channels(ctx.db))
        if rows.empty:
            st.caption("No channels: firing alerts are recorded here but sent nowhere.")
            return
        rows["target"] = rows["settings"].map(lambda s: s.get("target", ""))
        rows["format"] = [s.get("format", "") if k == "webhook" else s.get("tls", "")
                          for k, s in zip(rows["kind"], rows["settings"], strict=True)]
        rows["rules"] = rows["rules"].map(lambda r: ", ".join(r) or "(rules without channels)")
        shown = rows[["name", "kind", "target", "format", "rules", "pending", "last_delivered_at"]]
        st.dataframe(shown, hide_index=True, column_config={
            "name": "Channel", "kind": "Kind", "target": "Target", "format": "Format / TLS", "rules": "Rules",
            "pending": "Undelivered",
            "last_delivered_at": st.column_config.DatetimeColumn("Last delivered (UTC)", format=TIME)})


def _manage() -> None:
    with st.expander("Manage rules and channels (command line)"):
        st.caption("The dashboard only reads; these commands change rules and channels (docs/alerts.md).")
        st.code("venuepulse alerts list --kinds                       # every kind and its exact condition\n"
                "venuepulse alerts add NAME --kind KIND [--pending 5m] [--keep-firing 10m] [--channel C]\n"
                "venuepulse alerts test NAME                          # what it finds now; changes nothing\n"
                "venuepulse alerts mute NAME --for 2h                 # --off to unmute\n"
                "venuepulse alerts remove NAME\n"
                "venuepulse alerts channel add NAME --webhook - --format slack < url.txt\n"
                "venuepulse alerts channel test NAME", language="bash")
