"""Overview numbers: today vs the same hours a week ago, and trends over a date range (SQL: overview.sql).

Every function takes a db handle (anything with ``.run(name, params)``: a ``Database`` or the dashboard's
``ScopedDatabase``) and reads tables that row-level security filters, so a venue owner's numbers cover
their own venues only.  All times are UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from venuepulse.errors import QueryError
from venuepulse.queries.ops import changes

METRICS: dict[str, str] = {
    "check_ins": "Check-ins",
    "active_check_ins": "Active check-ins",
    "reviews": "Reviews",
    "claims": "Offer claims",
    "redemptions": "Redemptions",
}
GRAINS: tuple[str, ...] = ("hour", "day", "week")
MAX_HOURLY_RANGE = timedelta(days=14)
TREND_COLUMNS = ["bucket", "check_ins", "unique_visitors", "reviews", "claims", "redemptions"]
TOP_VENUE_COLUMNS = ["venue_id", "name", "category", "city", "check_ins", "unique_visitors"]


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"{what} must carry a time zone (UTC), got a naive datetime {value.isoformat()}")
    return value


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    _aware(start, "start")
    _aware(end, "end")
    if end <= start:
        raise ValueError(f"the range is empty: end {end.isoformat()} is not after start {start.isoformat()}")
    return start, end


def presence(db) -> dict[str, Any]:
    """``venue_count`` visible to the caller and whether any check-in, review or claim exists."""
    row = db.run("overview.presence", {})[0]
    return {"venue_count": int(row["venue_count"]), "has_activity": bool(row["has_activity"])}


def change(today: int, last_week: int) -> float | None:
    """Relative change today vs last week (0.25 = +25 %); None when last week was 0."""
    if not last_week:
        return None
    return (today - last_week) / last_week


def kpis(db, now: datetime | None = None) -> dict[str, Any]:
    """Today so far vs the same UTC hours 7 days earlier, per metric of :data:`METRICS`.

    ``now`` (default: the database's clock) fixes the comparison windows: today is
    [UTC midnight of ``now``, ``now``), last week is that window minus 7 days.  Active check-ins "today"
    are those active now; a week ago, those whose [checked_in_at, checked_out_at) held ``now - 7 days``.

    Returns ``{"as_of", "day_start", "compare_start", "compare_end", "metrics": {key: {"label",
    "today", "last_week", "delta", "change"}}}``.
    """
    if now is not None:
        _aware(now, "now")
    row = db.run("overview.kpis", {"now": now})[0]
    metrics = {}
    for key, label in METRICS.items():
        today, last = int(row[f"{key}_today"]), int(row[f"{key}_last_week"])
        metrics[key] = {"label": label, "today": today, "last_week": last, "delta": today - last,
                        "change": change(today, last)}
    return {"as_of": row["now_at"], "day_start": row["day_start"], "compare_start": row["prev_day_start"],
            "compare_end": row["prev_now"], "metrics": metrics}


def kpi_table(k: dict[str, Any]) -> pd.DataFrame:
    """The KPIs of :func:`kpis` as a table (one row per metric), as shown and downloaded."""
    rows = [{"metric": m["label"], "today": m["today"], "same_time_last_week": m["last_week"],
             "difference": m["delta"], "change": m["change"]} for m in k["metrics"].values()]
    return pd.DataFrame(rows, columns=["metric", "today", "same_time_last_week", "difference", "change"])


def trends(db, start: datetime, end: datetime, grain: str = "day") -> pd.DataFrame:
    """Check-ins, unique visitors, reviews, claims and redemptions per UTC ``grain`` in [start, end).

    One row per bucket (zeros included); ``bucket`` is the bucket's UTC start.  ``hour`` is allowed for
    ranges up to 14 days.
    """
    start, end = _range(start, end)
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}: choose one of {', '.join(GRAINS)}")
    if grain == "hour" and end - start > MAX_HOURLY_RANGE:
        raise ValueError("hourly trends are limited to ranges of 14 days; choose day or week")
    rows = db.run("overview.trends", {"start": start, "end": end, "grain": grain})
    df = pd.DataFrame(rows, columns=TREND_COLUMNS)
    for col in TREND_COLUMNS[1:]:
        df[col] = df[col].astype("int64")
    df["bucket"] = pd.to_datetime(df["bucket"], utc=True)
    return df


def top_venues(db, start: datetime, end: datetime, limit: int = 10) -> pd.DataFrame:
    """The ``limit`` venues with the most check-ins in [start, end), with their unique visitors."""
    start, end = _range(start, end)
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError(f"limit must be a whole number from 1 to 1000, got {limit!r}")
    rows = db.run("overview.top_venues", {"start": start, "end": end, "limit": limit})
    df = pd.DataFrame(rows, columns=TOP_VENUE_COLUMNS)
    df["venue_id"] = df["venue_id"].astype(str)
    for col in ("check_ins", "unique_visitors"):
        df[col] = df[col].astype("int64")
    return df


def rollup_freshness(db) -> dict[str, Any]:
    """When the rollups behind this page were last folded (``folded_at``) and how many newer changes the
    numbers read live (``live_changes``, the oldest at ``oldest_live_at``): the numbers are exact and
    current either way (docs/rollups.md); a long tail only makes the page slower."""
    rows = db.run("rollups.freshness", {"consumer": "activity"})
    return rows[0] if rows else {"folded_at": None, "live_changes": 0, "oldest_live_at": None, "as_of": None}


def change_markers(db, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Changes (deploys, DDL, notes) in ``[start, end)`` to draw on the trends, newest first; none when they
    cannot be read (the markers are context, never a reason for the trends to fail)."""
    try:
        return changes.markers(db, *_range(start, end))
    except QueryError:
        return []
