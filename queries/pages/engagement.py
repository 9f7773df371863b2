"""Engagement: how engaged venues and user-venue pairs are, who leads, and how notifications perform.

* Venue engagement is ``venue_stats.engagement_score`` (check-ins + 5·reviews + 3·favorites + 2·claiming
  users), read through ``venue_stats_visible`` and as fresh as its last refresh.
* User-venue engagement is ``venue_interactions.engagement_score`` (10·check-ins + 50·review +
  100·favorited + 25·collections + 5·claims), kept live by triggers.
* Top pairs name a user only when the privacy layer's ``vp_user_label(user, 'activity_feed')`` does
  (profile and activity feed both public); other users are returned as a count, never as a name or id.
* Notifications, per category and channel: sent (the channel was asked for), delivered (sent and a
  delivery time recorded for the channel), read and clicked (delivered on the channel and read/clicked).

Every function takes a database handle (anything with ``.run(name, params)``) and returns a DataFrame
or a plain dict.  Bad arguments raise ``ValueError`` naming the argument.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from venuepulse.queries.pages import common

VENUE_CATEGORIES = ("restaurant", "bar", "cafe", "nightclub", "museum", "park", "gym", "theater", "shop",
                    "hotel", "other")
NOTIFICATION_CATEGORIES = ("flash_offer", "friend_request", "venue_share", "collection_activity",
                           "review_response", "check_in_nearby", "system")
CHANNELS = ("push", "in_app", "email")
MAX_BUCKETS = 200
MAX_TOP = 500

_SUMMARY_KEYS = ("min_score", "p50", "p90", "p99", "max_score", "mean_score")
_PAIR_COLUMNS = ["rank", "username", "venue_name", "category", "city", "engagement_score", "check_in_count",
                 "review_count", "is_favorited", "collection_count", "flash_offer_claim_count",
                 "last_interaction_at", "user_id", "venue_id"]
_CHANNEL_COLUMNS = ["category", "channel", "sent", "delivered", "read", "clicked"]
_CATEGORY_COLUMNS = ["category", "notifications", "delivered", "read", "clicked", "minutes_to_read_p50",
                     "minutes_to_click_p50", "last_created_at"]


def _category(value: str | None, allowed: tuple[str, ...], name: str = "category") -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {str(value)[:40]!r}")
    return value


def _buckets(buckets: int) -> int:
    if not isinstance(buckets, int) or not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be a whole number from 1 to {MAX_BUCKETS}, got {buckets!r}")
    return buckets


def _float_summary(row: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(row or {})
    for k in _SUMMARY_KEYS:
        out[k] = None if out.get(k) is None else float(out[k])
    return out


# -- venues -----------------------------------------------------------------------------------------------


def venue_summary(db, *, category: str | None = None) -> dict[str, Any]:
    """venues, zero_venues, min_score, p50, p90, p99, max_score, mean_score, refreshed_at (of venue_stats)."""
    row = db.one("engagement.venue_summary", {"category": _category(category, VENUE_CATEGORIES)})
    return _float_summary(row)


def venue_histogram(db, *, category: str | None = None, buckets: int = 20) -> pd.DataFrame:
    """Venues per engagement bucket: bucket_start, bucket_end (exclusive), venues.  Empty buckets are left out."""
    rows = db.run("engagement.venue_histogram", {"category": _category(category, VENUE_CATEGORIES),
                                                  "buckets": _buckets(buckets)})
    return common.frame(rows, ["bucket_start", "bucket_end", "venues"])


def venue_by_category(db) -> pd.DataFrame:
    """Per venue category: venues, p50, p90, max_score, total_score."""
    df = common.frame(db.run("engagement.venue_by_category"), ["category", "venues", "p50", "p90", "max_score",
                                                          "total_score"])
    for c in ("p50", "p90"):
        df[c] = df[c].astype(float)
    return df


# -- user-venue pairs -------------------------------------------------------------------------------------


def pair_summary(db, *, category: str | None = None) -> dict[str, Any]:
    """pairs, users, venues, min_score, p50, p90, p99, max_score, mean_score, as_of (now: the pair rollups
    plus the pairs changed since their last fold are exact and current)."""
    row = db.one("engagement.pair_summary", {"category": _category(category, VENUE_CATEGORIES)})
    return _float_summary(row)


def pair_histogram(db, *, category: str | None = None, buckets: int = 20) -> pd.DataFrame:
    """User-venue pairs per engagement bucket: bucket_start, bucket_end (exclusive), pairs."""
    rows = db.run("engagement.pair_histogram", {"category": _category(category, VENUE_CATEGORIES),
                                                 "buckets": _buckets(buckets)})
    return common.frame(rows, ["bucket_start", "bucket_end", "pairs"])


def top_pairs(db, *, limit: int = 20, category: str | None = None) -> dict[str, Any]:
    """The ``limit`` most engaged user-venue pairs.

    Returns ``{"rows": DataFrame of the pairs whose user may be named (with their rank among all),
    "private_users": distinct users among the top pairs who are not named, "private_pairs": their pairs}``.
    Private users' names and ids never leave the database.
    """
    if not isinstance(limit, int) or not 1 <= limit <= MAX_TOP:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_TOP}, got {limit!r}")
    rows = db.run("engagement.top_pairs", {"limit": limit, "category": _category(category, VENUE_CATEGORIES)})
    public = [r for r in rows if r["is_public"]]
    return {
        "rows": common.frame(public, _PAIR_COLUMNS),
        "private_users": int(rows[0]["private_users"]) if rows else 0,
        "private_pairs": len(rows) - len(public),
    }


# -- notifications ----------------------------------------------------------------------------------------


def notification_channels(db, start: datetime, end: datetime, *, category: str | None = None,
                          channel: str | None = None) -> pd.DataFrame:
    """Per (category, channel) for notifications created in [start, end): sent, delivered, read, clicked
    and the rates delivery_rate (delivered/sent), read_rate (read/delivered), click_rate (clicked/delivered)."""
    params = {**common.period(start, end), "category": _category(category, NOTIFICATION_CATEGORIES),
              "channel": _category(channel, CHANNELS, "channel")}
    df = common.frame(db.run("engagement.notification_channels", params), _CHANNEL_COLUMNS)
    df["delivery_rate"] = [common.ratio(a, b) for a, b in zip(df["delivered"], df["sent"], strict=True)]
    df["read_rate"] = [common.ratio(a, b) for a, b in zip(df["read"], df["delivered"], strict=True)]
    df["click_rate"] = [common.ratio(a, b) for a, b in zip(df["clicked"], df["delivered"], strict=True)]
    return df


def notification_categories(db, start: datetime, end: datetime, *, category: str | None = None) -> pd.DataFrame:
    """Per category, each notification created in [start, end) once: notifications, delivered (on at least
    one channel it was sent on), read, clicked, minutes_to_read_p50, minutes_to_click_p50, last_created_at."""
    params = {**common.period(start, end), "category": _category(category, NOTIFICATION_CATEGORIES)}
    df = common.frame(db.run("engagement.notification_categories", params), _CATEGORY_COLUMNS)
    for c in ("minutes_to_read_p50", "minutes_to_click_p50"):
        df[c] = [None if v is None else float(v) for v in df[c]]
    return df


def rollup_freshness(db) -> dict[str, Any]:
    """When the rollups behind this page were last folded (``folded_at``) and how many newer changes the
    numbers read live (``live_changes``, the oldest at ``oldest_live_at``): the numbers are exact and
    current either way (docs/rollups.md); a long tail only makes the page slower."""
    rows = db.run("rollups.freshness", {"consumer": "pairs"})
    return rows[0] if rows else {"folded_at": None, "live_changes": 0, "oldest_live_at": None, "as_of": None}
