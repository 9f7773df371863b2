"""The review's service calls (VenueService, BatchService, and the feed event_stream was built for),
on top of ``Database.run`` — so each is named, timed, cached where its query says so, and fails with
``QueryError``.

Module-level functions are the API; the classes group them the way the review's TypeScript did::

    featured_venues(db, limit=10)                      -> list of venue dicts
    venues_with_details(db, venue_ids, viewer_id)      -> list of {venue, stats, top_reviews, user_interaction}
    activity_feed(db, viewer_id, before=None, limit=20) -> list of event dicts, each with a "cursor"
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from venuepulse.queries.core.runner import Database

MAX_FEATURED = 100
MAX_DETAIL_VENUES = 500
MAX_FEED_PAGE = 200
FEED_MAX_AGE = timedelta(days=90)
_MAX_UUID = UUID("ffffffff-ffff-ffff-ffff-ffffffffffff")
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def _uuid(value: Any, what: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"{what} must be a uuid, not {value!r}") from None


def _limit(value: Any, what: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(f"{what} must be a whole number from 1 to {maximum}, not {value!r}")
    return value


# --- VenueService ------------------------------------------------------------------------------------


def featured_venues(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    """Featured venues, busiest (most check-ins) first; cached 10 minutes (tags ``venues``, ``venues:featured``)."""
    return db.run("venues.featured", {"limit": _limit(limit, "limit", MAX_FEATURED)})


# --- BatchService ------------------------------------------------------------------------------------

_VENUE_COLS = ("id", "name", "category", "city", "address", "lat", "lng", "is_featured", "created_at",
               "active_check_in_count", "total_check_in_count", "last_check_in_at")


def _strip(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    n = len(prefix)
    return {k[n:]: v for k, v in row.items() if k.startswith(prefix)}


def venues_with_details(db: Database, venue_ids: Iterable[Any], viewer_id: Any) -> list[dict[str, Any]]:
    """For each known venue of ``venue_ids`` (in the given order, duplicates once), one dict:

    - ``venue``: the venue's columns;
    - ``stats``: its ``venue_stats`` row (as of the view's last refresh), or None before it is in the view;
    - ``top_reviews``: up to 3 of its reviews, most helpful first (ties: newest), each with the reviewer's username;
    - ``user_interaction``: the viewer's ``venue_interactions`` row for it, or None.

    One database statement whatever the number of venues; unknown ids are left out.
    Cached 60 s with tags ``venue:<id>`` (each venue) and ``user:<viewer_id>``.
    """
    if isinstance(venue_ids, str | bytes):
        raise ValueError("venue_ids must be a list of venue ids, not a single string")
    ids: list[UUID] = []
    for v in venue_ids:
        u = _uuid(v, "each venue id")
        if u not in ids:
            ids.append(u)
    if len(ids) > MAX_DETAIL_VENUES:
        raise ValueError(f"at most {MAX_DETAIL_VENUES} venues at a time, not {len(ids)}")
    viewer = _uuid(viewer_id, "viewer_id")
    if not ids:
        return []
    rows = db.run("venues.with_details", {"venue_ids": ids, "viewer_id": viewer}, user_id=viewer)
    out: list[dict[str, Any]] = []
    by_ord: dict[int, dict[str, Any]] = {}
    for row in rows:
        item = by_ord.get(row["ord"])
        if item is None:
            stats = _strip(row, "s_")
            present = stats.pop("present")
            interaction = _strip(row, "i_")
            item = {
                "venue": {c: row[c] for c in _VENUE_COLS},
                "stats": ({"venue_id": row["id"], **stats} if present else None),
                "top_reviews": [],
                "user_interaction": ({"user_id": viewer, "venue_id": row["id"], **interaction}
                                     if interaction["id"] is not None else None),
            }
            by_ord[row["ord"]] = item
            out.append(item)
        if row["r_id"] is not None:
            review = _strip(row, "r_")
            review.pop("rank")
            item["top_reviews"].append({**review, "venue_id": row["id"]})
    return out


# --- FeedService -------------------------------------------------------------------------------------


def feed_cursor(event: dict[str, Any]) -> str:
    """The cursor of a feed event: pass it as ``before`` to get the events after it."""
    return f"{event['created_at'].isoformat()}|{event['id']}"


def _parse_before(before: Any) -> tuple[datetime, UUID]:
    if before is None:
        return _FAR_FUTURE, _MAX_UUID
    if isinstance(before, datetime):
        if before.tzinfo is None:
            raise ValueError("before must be timezone-aware (a naive datetime is ambiguous)")
        return before, UUID(int=0)  # strictly older than this instant
    if isinstance(before, str):
        at, sep, ident = before.partition("|")
        try:
            when = datetime.fromisoformat(at)
            if when.tzinfo is None or not sep:
                raise ValueError
            return when, UUID(ident)
        except ValueError:
            raise ValueError(f"before {before!r} is not a feed cursor (from feed_cursor) or a datetime") from None
    raise ValueError(f"before must be a feed cursor string or a timezone-aware datetime, not {before!r}")


def activity_feed(db: Database, viewer_id: Any, before: Any = None, limit: int = 20,
                  max_age: timedelta = FEED_MAX_AGE, now: datetime | None = None) -> list[dict[str, Any]]:
    """The viewer's friends' events, newest first, at most ``limit``; see ``queries/sql/feed.sql`` for
    exactly who sees what (visibility, friendships, close friends, blocks, the activity_feed setting).

    Paging is by keyset: pass the previous page's last ``cursor`` (or a datetime: events strictly
    older) as ``before``. Only events newer than ``now - max_age`` (90 days) are read, which keeps the
    query on the recent monthly partitions of event_stream; an empty page means nothing older is left
    in that horizon.
    """
    viewer = _uuid(viewer_id, "viewer_id")
    limit = _limit(limit, "limit", MAX_FEED_PAGE)
    if not isinstance(max_age, timedelta) or max_age <= timedelta(0):
        raise ValueError(f"max_age must be a positive timedelta, not {max_age!r}")
    before_at, before_id = _parse_before(before)
    since = (now or datetime.now(UTC)) - max_age
    rows = db.run("feed.activity", {"viewer_id": viewer, "before_at": before_at, "before_id": before_id,
                                    "since": since, "limit": limit}, user_id=viewer)
    for row in rows:
        row["cursor"] = feed_cursor(row)
    return rows


class VenueService:
    featured_venues = staticmethod(featured_venues)


class BatchService:
    venues_with_details = staticmethod(venues_with_details)


class FeedService:
    activity_feed = staticmethod(activity_feed)
    feed_cursor = staticmethod(feed_cursor)
