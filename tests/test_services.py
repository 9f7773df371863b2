"""The review's service calls: featured venues, and venues with details in one statement."""

from __future__ import annotations

import os
import tempfile
import uuid
from decimal import Decimal

import pytest

from venuepulse.queries.core.runner import Database
from venuepulse.queries.services import BatchService, VenueService, featured_venues, venues_with_details


@pytest.fixture
def db(db_url):
    with Database(db_url, record=False, max_size=1) as d:
        yield d


def user(conn, name):
    return conn.execute("INSERT INTO users (username, display_name) VALUES (%s, %s) RETURNING id",
                        (name, name.title())).fetchone()[0]


def venue(conn, name, featured=False):
    return conn.execute(
        "INSERT INTO venues (name, category, city, lat, lng, is_featured) VALUES (%s, 'bar', 'Oslo', 59.9, 10.7, %s)"
        " RETURNING id", (name, featured)).fetchone()[0]


def review(conn, u, v, rating, helpful, body=""):
    return conn.execute(
        "INSERT INTO reviews (user_id, venue_id, rating, helpful_count, body) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (u, v, rating, helpful, body)).fetchone()[0]


def test_featured_venues_busiest_first_within_the_limit(db, conn):
    quiet, busy, _ = venue(conn, "Quiet", True), venue(conn, "Busy", True), venue(conn, "Plain", False)
    u = user(conn, "ann")
    for _ in range(2):
        conn.execute("SELECT check_in(%s, %s)", (u, busy))
    rows = featured_venues(db, limit=10)
    assert [r["id"] for r in rows] == [busy, quiet]
    assert [r["id"] for r in VenueService.featured_venues(db, limit=1)] == [busy]
    with pytest.raises(ValueError, match="limit"):
        featured_venues(db, limit=0)


@pytest.fixture
def scene(conn):
    users = [user(conn, f"u{i}") for i in range(6)]
    a, b, c = venue(conn, "A"), venue(conn, "B"), venue(conn, "C")
    # A: five reviews, helpful counts 1..5; B: two; C: none (the review's .limit(3) gave B and C nothing)
    for i, helpful in enumerate([1, 5, 3, 4, 2]):
        review(conn, users[i], a, 4, helpful, f"a{helpful}")
    review(conn, users[0], b, 2, 0, "b0")
    review(conn, users[1], b, 5, 9, "b9")
    viewer = users[5]
    conn.execute("SELECT check_in(%s, %s)", (viewer, b))
    conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (viewer, b))
    conn.execute("SELECT refresh_venue_stats()")
    return {"users": users, "a": a, "b": b, "c": c, "viewer": viewer}


def test_each_venue_gets_its_own_top_three_reviews_by_helpful_count(db, scene):
    rows = venues_with_details(db, [scene["a"], scene["b"], scene["c"]], scene["viewer"])
    assert [r["venue"]["id"] for r in rows] == [scene["a"], scene["b"], scene["c"]]
    assert [r["body"] for r in rows[0]["top_reviews"]] == ["a5", "a4", "a3"]
    assert [r["body"] for r in rows[1]["top_reviews"]] == ["b9", "b0"]
    assert rows[2]["top_reviews"] == []
    assert rows[0]["top_reviews"][0]["username"] == "u1"


def test_stats_and_the_viewers_interaction_come_with_each_venue(db, scene):
    a, b, c = venues_with_details(db, [scene["a"], scene["b"], scene["c"]], scene["viewer"])
    assert a["stats"]["review_count"] == 5 and a["stats"]["avg_rating"] == Decimal("4")
    assert b["stats"]["total_check_ins"] == 1 and b["stats"]["favorite_count"] == 1
    assert b["user_interaction"]["check_in_count"] == 1 and b["user_interaction"]["is_favorited"]
    assert b["user_interaction"]["engagement_score"] == 10 + 100
    assert a["user_interaction"] is None and c["user_interaction"] is None
    assert c["stats"]["review_count"] == 0


def test_order_follows_the_request_duplicates_once_unknown_ids_left_out(db, scene):
    rows = BatchService.venues_with_details(
        db, [str(scene["c"]), uuid.uuid4(), scene["a"], scene["c"]], str(scene["viewer"]))
    assert [r["venue"]["id"] for r in rows] == [scene["c"], scene["a"]]
    assert venues_with_details(db, [], scene["viewer"]) == []


def test_a_venue_newer_than_the_last_refresh_has_no_stats_yet(db, scene, conn):
    late = venue(conn, "Late")
    (row,) = venues_with_details(db, [late], scene["viewer"])
    assert row["venue"]["name"] == "Late" and row["stats"] is None and row["top_reviews"] == []


@pytest.mark.parametrize("ids, viewer, words", [
    (["nope"], uuid.uuid4(), "venue id must be a uuid"),
    ("not-a-list", uuid.uuid4(), "list of venue ids"),
    ([uuid.uuid4()], "me", "viewer_id must be a uuid"),
])
def test_bad_input_is_refused_naming_what_was_wrong(db, ids, viewer, words):
    with pytest.raises(ValueError, match=words):
        venues_with_details(db, ids, viewer)


def statements_sent(db: Database, fn) -> list[str]:
    """SQL text of every statement the client sent while running fn (libpq protocol trace)."""
    with tempfile.NamedTemporaryFile("w+", delete=False) as f:
        path = f.name
    try:
        with open(path, "w") as trace:
            with db.connection() as conn:  # the pool's only connection: trace it while fn runs
                conn.pgconn.trace(trace.fileno())
            try:
                fn()
            finally:
                with db.connection() as conn:
                    conn.pgconn.untrace()
        text = open(path).read()
    finally:
        os.unlink(path)
    sent = []
    for line in text.split("\n20"):  # one protocol message per timestamped line
        parts = line.split("\t", 4)
        if len(parts) == 5 and parts[1] == "F" and parts[3] in ("Query", "Parse"):
            sent.append(parts[4].strip())
    return sent


def test_one_statement_whatever_the_number_of_venues(db_url, scene, conn):
    many = [venue(conn, f"extra{i}") for i in range(40)]
    with Database(db_url, record=False, max_size=1) as db:
        for ids in ([scene["a"]], [scene["a"], scene["b"], scene["c"], *many]):
            db.invalidate("query:venues.with_details")
            sent = statements_sent(db, lambda ids=ids: venues_with_details(db, ids, scene["viewer"]))
            data = [s for s in sent if not s.startswith(('"BEGIN"', '"COMMIT"', '"" "SELECT set_config'))]
            assert len(data) == 1 and "venues.with_details" in data[0], sent
