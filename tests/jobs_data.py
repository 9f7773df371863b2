"""Small known data for the jobs tests: users, venues, offers, written straight into the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

NYC = (40.7128, -74.0060)
FAR = (34.0522, -118.2437)  # Los Angeles: far outside any offer radius


def now() -> datetime:
    return datetime.now(UTC)


def user(conn, name: str | None = None, at: tuple[float, float] | None = NYC, **settings) -> uuid.UUID:
    name = name or f"u_{uuid.uuid4().hex[:10]}"
    lat, lng = at if at else (None, None)
    uid = conn.execute(
        "INSERT INTO users (username, display_name, home_lat, home_lng) VALUES (%s, %s, %s, %s) RETURNING id",
        (name, name.title(), lat, lng),
    ).fetchone()[0]
    if settings:
        cols = ", ".join(settings)
        marks = ", ".join(["%s"] * len(settings))
        conn.execute(f"INSERT INTO notification_settings (user_id, {cols}) VALUES (%s, {marks})",
                     (uid, *settings.values()))
    return uid


def venue(conn, name: str = "Venue", at: tuple[float, float] = NYC) -> uuid.UUID:
    return conn.execute(
        "INSERT INTO venues (name, category, city, lat, lng) VALUES (%s, 'bar', 'New York', %s, %s) RETURNING id",
        (name, *at),
    ).fetchone()[0]


def offer(conn, venue_id, start: datetime, end: datetime, *, max_claims: int = 10, radius: float = 5.0,
          title: str = "Half-price drinks") -> uuid.UUID:
    return conn.execute(
        """INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time, radius_miles)
           VALUES (%s, %s, 'Two for one until close', %s, %s, %s, %s) RETURNING id""",
        (venue_id, title, max_claims, start, end, radius),
    ).fetchone()[0]


def running_offer(conn, venue_id, **kw) -> uuid.UUID:
    return offer(conn, venue_id, now() - timedelta(minutes=5), now() + timedelta(hours=2), **kw)


def check_in(conn, user_id, venue_id, at: datetime | None = None) -> uuid.UUID:
    return conn.execute("SELECT check_in(%s, %s, %s)", (user_id, venue_id, at or now())).fetchone()[0]


def job_runs(conn, job: str | None = None) -> list[dict]:
    cur = conn.execute(
        "SELECT * FROM job_runs WHERE %(job)s::text IS NULL OR job_name = %(job)s::text ORDER BY id", {"job": job})
    cols = [d.name for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
