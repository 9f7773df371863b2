"""Two venues with one of everything each, owned by different app users, for the access-control tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import psycopg


@dataclass
class VenueRows:
    venue_id: uuid.UUID
    name: str
    owner_user_id: uuid.UUID
    offer_id: uuid.UUID
    review_id: uuid.UUID
    claim_id: uuid.UUID
    check_in_id: uuid.UUID
    ids: set[str] = field(default_factory=set)  # every id that belongs to this venue only


@dataclass
class World:
    a: VenueRows
    b: VenueRows
    public_user: uuid.UUID  # keeps everything public
    private_user: uuid.UUID  # keeps everything private
    lonely_owner: uuid.UUID  # owns no venue


def _user(conn: psycopg.Connection, name: str, privacy: str | None = None) -> uuid.UUID:
    uid = conn.execute(
        "INSERT INTO users (username, display_name, email, home_lat, home_lng) "
        "VALUES (%s, %s, %s, 52.52, 13.40) RETURNING id", (name, name.title(), f"{name}@example.com")
    ).fetchone()[0]
    if privacy is not None:
        doc = {k: privacy for k in ("profile", "check_ins", "favorites", "collections", "reviews", "activity_feed")}
        conn.execute("INSERT INTO user_privacy (user_id, visibility) VALUES (%s, %s)",
                     (uid, psycopg.types.json.Jsonb(doc)))
    return uid


def _venue(conn: psycopg.Connection, tag: str, visitor: uuid.UUID, other: uuid.UUID) -> VenueRows:
    name = f"Venue {tag} {uuid.uuid4().hex[:8]}"
    owner = _user(conn, f"owner_{tag.lower()}_{uuid.uuid4().hex[:6]}")
    vid = conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES (%s, 'bar', 'Berlin', 52.52, 13.40) "
                       "RETURNING id", (name,)).fetchone()[0]
    conn.execute("INSERT INTO venue_owners (venue_id, user_id) VALUES (%s, %s)", (vid, owner))
    ci = conn.execute("SELECT check_in(%s, %s, now() - interval '1 hour')", (visitor, vid)).fetchone()[0]
    conn.execute("SELECT check_in(%s, %s, now() - interval '2 hours')", (other, vid))
    rid = conn.execute("INSERT INTO reviews (user_id, venue_id, rating, body) VALUES (%s, %s, 4, %s) RETURNING id",
                       (visitor, vid, f"review of {name}")).fetchone()[0]
    conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (other, vid))
    coll = conn.execute("INSERT INTO collections (user_id, name) VALUES (%s, 'list') RETURNING id", (other,)).fetchone()[0]
    conn.execute("INSERT INTO collection_venues (collection_id, venue_id) VALUES (%s, %s)", (coll, vid))
    oid = conn.execute(
        "INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time) "
        "VALUES (%s, %s, 'half price', 10, now() - interval '1 hour', now() + interval '1 hour') RETURNING id",
        (vid, f"Offer at {name}")).fetchone()[0]
    conn.execute("SELECT record_offer_event(%s, %s, 'view')", (oid, visitor))
    claim = conn.execute("SELECT (claim_flash_offer(%s, %s)).id", (oid, visitor)).fetchone()[0]
    conn.execute("SELECT (claim_flash_offer(%s, %s)).id", (oid, other))
    conn.execute(
        "INSERT INTO notifications (user_id, category, title, body, reference_id, reference_type, venue_id) "
        "VALUES (%s, 'flash_offer', %s, 'come by', %s, 'flash_offer', %s)", (visitor, f"Push for {name}", oid, vid))
    rows = VenueRows(vid, name, owner, oid, rid, claim, ci)
    rows.ids = {str(vid), str(oid), str(rid), str(claim), str(ci), name, f"Offer at {name}", f"review of {name}",
                f"Push for {name}"}
    return rows


def build_world(conn: psycopg.Connection) -> World:
    public = _user(conn, f"public_{uuid.uuid4().hex[:6]}", "public")
    private = _user(conn, f"private_{uuid.uuid4().hex[:6]}", "private")
    lonely = _user(conn, f"lonely_{uuid.uuid4().hex[:6]}")
    a = _venue(conn, "A", public, private)
    b = _venue(conn, "B", private, public)
    # a notification that is not about an offer (never shown to owners), and a social event without venue
    conn.execute("INSERT INTO notifications (user_id, category, title, body, venue_id) "
                 "VALUES (%s, 'friend_request', 'hi', 'be my friend', %s)", (public, a.venue_id))
    conn.execute("INSERT INTO event_stream (event_type, category, user_id) VALUES ('followed', 'social', %s)", (public,))
    conn.execute("SELECT refresh_venue_stats()")
    return World(a, b, public, private, lonely)


VENUE_KEYED = {
    "venues": "id", "venue_owners": "venue_id", "flash_offers": "venue_id", "check_ins": "venue_id",
    "reviews": "venue_id", "favorites": "venue_id", "collection_venues": "venue_id", "event_stream": "venue_id",
    "venue_interactions": "venue_id", "notifications": "venue_id", "venue_stats": "venue_id",
}


def test_the_world_gives_each_venue_rows_in_every_venue_keyed_table(conn):
    w = build_world(conn)
    for table, col in VENUE_KEYED.items():
        for v in (w.a, w.b):
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE {col} = %s", (v.venue_id,)).fetchone()[0]
            assert n >= 1, f"{table} has no row for {v.name}"
    claims = conn.execute("SELECT count(*) FROM flash_offer_claims WHERE offer_id = %s", (w.b.offer_id,)).fetchone()[0]
    assert claims == 2
