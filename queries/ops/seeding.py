"""Bulk loading for demo data: named queries on one caller-held connection, and COPY.

The seeder runs everything in one transaction (so ``venuepulse.bulk_load`` set with ``SET LOCAL`` semantics
covers the whole load), which the pooled :class:`queries.runner.Database` cannot give; these helpers run
registered SQL on a connection the caller owns.  COPY statements are built only from the fixed table and
column names below, never from input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from venuepulse.errors import QueryError
from venuepulse.queries.core.execute import execute

# Tables the seeder may COPY into, with the columns it may name.
SEEDABLE: dict[str, frozenset[str]] = {
    "users": frozenset({"id", "username", "display_name", "email", "timezone", "home_lat", "home_lng",
                        "last_lat", "last_lng", "last_location_at", "created_at"}),
    "user_privacy": frozenset({"user_id", "visibility", "allow_friend_requests", "show_activity_status",
                               "allow_venue_tagging", "blocked_user_ids", "created_at", "updated_at"}),
    "notification_settings": frozenset({"user_id", "push_enabled", "in_app_enabled", "email_enabled",
                                        "flash_offers", "friend_requests", "venue_shares", "collection_activity",
                                        "reviews_responses", "check_in_nearby", "quiet_hours_start",
                                        "quiet_hours_end", "timezone", "max_distance_miles", "created_at",
                                        "updated_at"}),
    "device_tokens": frozenset({"id", "user_id", "token", "platform", "created_at", "last_seen_at"}),
    "friendships": frozenset({"user_id", "friend_id", "status", "is_close_friend", "created_at"}),
    "venues": frozenset({"id", "name", "category", "city", "timezone", "address", "lat", "lng", "is_featured", "created_at"}),
    "venue_owners": frozenset({"venue_id", "user_id", "role", "created_at"}),
    "check_ins": frozenset({"id", "user_id", "venue_id", "checked_in_at", "checked_out_at", "is_active"}),
    "reviews": frozenset({"id", "user_id", "venue_id", "rating", "body", "is_verified", "helpful_count",
                          "created_at", "updated_at"}),
    "favorites": frozenset({"user_id", "venue_id", "created_at"}),
    "collections": frozenset({"id", "user_id", "name", "visibility", "created_at"}),
    "collection_venues": frozenset({"collection_id", "venue_id", "added_at"}),
    "flash_offers": frozenset({"id", "venue_id", "title", "description", "value_cap", "max_claims", "start_time",
                               "end_time", "radius_miles", "target_favorites_only", "push_sent", "push_sent_at",
                               "push_recipient_count", "created_at", "updated_at"}),
    "flash_offer_claims": frozenset({"id", "offer_id", "user_id", "token", "status", "redeemed_at",
                                     "redeemed_by_user_id", "expires_at", "created_at"}),
    "event_stream": frozenset({"id", "event_type", "category", "user_id", "target_type", "target_id", "venue_id",
                               "source_id", "visibility", "metadata", "is_analytics_event", "created_at"}),
    "notifications": frozenset({"id", "user_id", "category", "title", "body", "channels", "delivered_at", "read",
                                "read_at", "clicked", "clicked_at", "actor_id", "reference_id", "reference_type",
                                "venue_id", "data", "created_at", "expires_at", "is_expired"}),
    "query_performance_log": frozenset({"id", "query_name", "execution_time_ms", "row_count", "user_id",
                                        "created_at"}),
}


def run(conn: psycopg.Connection, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run named query ``name`` on ``conn`` (inside the caller's transaction); rows as dicts.

    The query's timeout holds for this statement only (the COPYs that follow keep the caller's).
    """
    return execute(conn, name, params)


def has_app_data(url: str) -> bool:
    """Whether the database at ``url`` has any venue or user (``up`` seeds demo data only when not)."""
    from venuepulse.queries.core.connect import connect

    with connect(url, autocommit=True) as conn:
        return bool(run(conn, "seed.has_app_data")[0]["has_data"])


def copy_rows(conn: psycopg.Connection, table: str, columns: Sequence[str], chunks: Iterable[tuple[int, str]],
              progress: Callable[[int], None] | None = None) -> int:
    """COPY text-format ``chunks`` ((row count, text) pairs) into ``table``; returns the rows written.

    Text must be COPY text format: tab-separated, ``\\N`` for NULL, one line per row.
    """
    allowed = SEEDABLE.get(table)
    if allowed is None:
        raise ValueError(f"COPY into {table!r} is not allowed; seedable tables: {', '.join(sorted(SEEDABLE))}")
    bad = [c for c in columns if c not in allowed]
    if bad:
        raise ValueError(f"COPY into {table}: unknown column(s) {', '.join(bad)}")
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    total = 0
    try:
        # a writer thread sends while the caller formats the next chunk
        with conn.cursor() as cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as cp:
            for n, text in chunks:
                cp.write(text)
                total += n
                if progress is not None:
                    progress(n)
    except psycopg.Error as exc:
        raise QueryError(f"seed.copy_{table}", exc) from exc
    return total
