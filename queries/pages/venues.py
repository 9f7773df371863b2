"""The Venues page's data: the venue_stats table, the engagement leaderboard and one venue's detail.

SQL lives in ``queries/sql/venue_stats.sql``.  venue_stats is read through ``venue_stats_visible`` (the
security-barrier view that keeps venue owners to their venues); the other tables carry row-level
security.  Functions take a db handle (anything with ``.run(name, params)``) and return pandas
DataFrames or plain dicts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pandas as pd

from venuepulse.queries import services

# Sort keys accepted by :func:`page`, with their labels.  The SQL maps each key to a fixed column
# expression; nothing from the caller ever becomes an identifier.
SORTS: dict[str, str] = {
    "engagement_score": "Engagement score",
    "total_check_ins": "Check-ins (all time)",
    "check_ins_last_7_days": "Check-ins (last 7 days)",
    "active_check_ins": "Active check-ins",
    "total_unique_visitors": "Unique visitors",
    "review_count": "Reviews",
    "avg_rating": "Average rating",
    "favorite_count": "Favorites",
    "collection_count": "Collections",
    "flash_offer_count": "Flash offers",
    "flash_offer_claim_count": "Offer claimers",
    "last_check_in_at": "Last check-in",
    "last_review_at": "Last review",
    "name": "Name",
    "city": "City",
    "category": "Category",
}
PAGE_SIZES: tuple[int, ...] = (25, 50, 100, 250)
MAX_PAGE_SIZE = 500
MAX_SEARCH = 200

PAGE_COLUMNS = [
    "venue_id", "name", "category", "city", "engagement_score", "total_check_ins", "check_ins_last_7_days",
    "active_check_ins", "total_unique_visitors", "review_count", "avg_rating", "verified_review_count",
    "favorite_count", "collection_count", "flash_offer_count", "flash_offer_claim_count",
    "last_check_in_at", "last_review_at",
]
LEADERBOARD_COLUMNS = ["rank", "venue_id", "name", "category", "city", "engagement_score",
                       "from_check_ins", "from_reviews", "from_favorites", "from_claims"]
TREND_COLUMNS = ["day", "check_ins", "unique_visitors"]
OFFER_COLUMNS = ["offer_id", "title", "status", "start_time", "end_time", "max_claims", "claimed_count",
                 "redeemed_count", "view_count", "click_count", "push_recipient_count"]
REVIEW_COLUMNS = ["username", "rating", "body", "helpful_count", "is_verified", "created_at"]
# The dashboard's people are not app users: the batch call gets a viewer that matches no one, so
# user_interaction is None unless a real app user id is passed.
NO_VIEWER = UUID(int=0)
_TIMES = ("last_check_in_at", "last_review_at", "start_time", "end_time", "created_at", "day")


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    for col in columns:
        if col.endswith("_id"):
            df[col] = df[col].astype(str)
        elif col in _TIMES:
            df[col] = pd.to_datetime(df[col], utc=True)
    return df


def parse_venue_id(raw: Any) -> UUID:
    """A venue id from text (e.g. a URL parameter); ValueError naming the bad value otherwise."""
    if isinstance(raw, UUID):
        return raw
    try:
        return UUID(str(raw).strip())
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{str(raw)[:40]!r} is not a venue id (a UUID like 3f2b…-…)") from None


def _search(q: str | None) -> str:
    q = (q or "").replace("\x00", "").strip()
    if len(q) > MAX_SEARCH:
        raise ValueError(f"the search text is longer than {MAX_SEARCH} characters")
    return q


def _category(category: str | None) -> str | None:
    if category is None or category == "":
        return None
    if not isinstance(category, str) or len(category) > 30:
        raise ValueError(f"{str(category)[:40]!r} is not a venue category")
    return category


def summary(db) -> dict[str, Any]:
    """How many venues the caller can see in venue_stats and when the view was last refreshed."""
    row = db.run("venue_stats.summary", {})[0]
    return {"venue_count": int(row["venue_count"]), "refreshed_at": row["refreshed_at"]}


def categories(db) -> list[str]:
    """The categories of the venues the caller can see, alphabetically."""
    return [r["category"] for r in db.run("venue_stats.categories", {})]


def count(db, *, q: str = "", category: str | None = None) -> int:
    """How many venues match the search text (name or city, case-insensitive substring) and category."""
    return int(db.run("venue_stats.count", {"q": _search(q), "category": _category(category)})[0]["total"])


def page(db, *, q: str = "", category: str | None = None, sort: str = "engagement_score",
         descending: bool = True, page: int = 1, page_size: int = 50) -> dict[str, Any]:
    """One page of venue_stats rows, filtered, sorted and paginated in SQL.

    ``q`` matches a case-insensitive substring of the name or the city; ``sort`` is a key of
    :data:`SORTS` (NULLs last in both directions; ties by name then id).  A page past the end is
    clamped to the last page.  Returns ``{"rows": DataFrame, "total", "page", "pages", "page_size"}``.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort column {sort!r}: choose one of {', '.join(SORTS)}")
    if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page size must be a whole number from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    if not isinstance(page, int) or page < 1:
        raise ValueError(f"page must be a whole number from 1, got {page!r}")
    q, category = _search(q), _category(category)
    total = count(db, q=q, category=category)
    pages = max(1, -(-total // page_size))
    page = min(page, pages)
    # the default order has an index to walk; the other keys sort every venue the caller sees
    name = "venue_stats.page_by_score" if sort == "engagement_score" else "venue_stats.page"
    rows = db.run(name, {"q": q, "category": category, "sort": sort, "descending": bool(descending),
                         "limit": page_size, "offset": (page - 1) * page_size})
    return {"rows": _frame(rows, PAGE_COLUMNS), "total": total, "page": page, "pages": pages,
            "page_size": page_size}


def leaderboard(db, *, category: str | None = None, limit: int = 10) -> pd.DataFrame:
    """The venues with the highest engagement_score (> 0), ranked, with the score's weighted parts:
    check-ins + 5·reviews + 3·favorites + 2·offer claimers."""
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError(f"limit must be a whole number from 1 to 1000, got {limit!r}")
    rows = db.run("venue_stats.leaderboard", {"category": _category(category), "limit": limit})
    return _frame(rows, LEADERBOARD_COLUMNS)


# -- one venue ------------------------------------------------------------------------------------------


def venue_detail(db, venue_id: UUID | str, viewer_id: UUID | str | None = None) -> dict[str, Any] | None:
    """A venue with its venue_stats row and top reviews, through the batch call (one round trip);
    None when the venue does not exist or the caller may not see it.

    Returns ``{"venue": dict, "stats": dict | None, "top_reviews": DataFrame, "user_interaction": ...}``;
    ``stats`` is None until venue_stats is refreshed after the venue was created.
    """
    vid = parse_venue_id(venue_id)
    found = services.venues_with_details(db, [vid], NO_VIEWER if viewer_id is None else viewer_id)
    if not found:
        return None
    d = found[0]
    return {"venue": d["venue"], "stats": d.get("stats"),
            "top_reviews": _frame(list(d.get("top_reviews") or []), REVIEW_COLUMNS),
            "user_interaction": d.get("user_interaction")}


def live_counters(db, venue_id: UUID | str) -> dict[str, Any] | None:
    """The venue's trigger-kept check-in counters (current, unlike venue_stats); None if not visible."""
    rows = db.run("venue_stats.live_counters", {"venue_id": parse_venue_id(venue_id)})
    return rows[0] if rows else None


def check_in_trend(db, venue_id: UUID | str, start: datetime, end: datetime) -> pd.DataFrame:
    """Check-ins and distinct visitors per UTC day in [start, end) at one venue; zero days included."""
    for what, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"{what} must be a time-zone-aware datetime")
    if end <= start:
        raise ValueError(f"the range is empty: end {end.isoformat()} is not after start {start.isoformat()}")
    if end - start > timedelta(days=3660):
        raise ValueError("check-in trends are limited to ranges of 3660 days")
    rows = db.run("venue_stats.check_in_trend", {"venue_id": parse_venue_id(venue_id), "start": start, "end": end})
    df = _frame(rows, TREND_COLUMNS)
    for col in ("check_ins", "unique_visitors"):
        df[col] = df[col].astype("int64")
    return df


def offers(db, venue_id: UUID | str, limit: int = 100) -> pd.DataFrame:
    """The venue's flash offers, newest first, with status (scheduled/active/full/expired) and counters."""
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError(f"limit must be a whole number from 1 to 1000, got {limit!r}")
    return _frame(db.run("venue_stats.offers", {"venue_id": parse_venue_id(venue_id), "limit": limit}), OFFER_COLUMNS)


def interaction_summary(db, venue_id: UUID | str) -> dict[str, Any]:
    """Counts over the venue's venue_interactions rows: users, repeat visitors (2+ check-ins), users who
    favorited it, hold it in a collection, claimed an offer; average and top per-user engagement score."""
    row = db.run("venue_stats.interaction_summary", {"venue_id": parse_venue_id(venue_id)})[0]
    return dict(row)
