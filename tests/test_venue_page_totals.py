"""The Venues page's totals and default order read without every venue (revision 0017): the venue count
per category, the categories and the refresh time equal a brute-force recount of venue_stats after
inserts, category changes, deletes, folds and a full recompute, for the reader and for a venue owner;
the engagement-score pages and the leaderboard equal the documented order over every visible row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_queries_venue_stats import python_order
from venuepulse.dashboard.context import Account, ScopedDatabase
from venuepulse.queries.access.roles import ensure_login_roles
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import rollups
from venuepulse.queries.pages import venues as vs

NOW = datetime.now(UTC).replace(microsecond=0)
CATEGORIES = ["bar", "cafe", "museum"]
COLUMNS = "venue_id::text, name, category::text, city, engagement_score::bigint, refreshed_at"


def visible(c) -> list[dict]:
    """Every venue_stats row the connection may see (the brute force the totals must equal)."""
    cur = c.execute(f"SELECT {COLUMNS} FROM venue_stats_visible")
    return [dict(zip(("venue_id", "name", "category", "city", "engagement_score", "refreshed_at"), r, strict=True))
            for r in cur.fetchall()]


def assert_totals_equal_recount(db, rows: list[dict], cache: Database | None = None) -> None:
    (cache or db).invalidate("venue_stats")  # the page's 60-second result cache
    s = vs.summary(db)
    assert s["venue_count"] == len(rows)
    assert s["refreshed_at"] == max((r["refreshed_at"] for r in rows), default=None)
    assert vs.categories(db) == sorted({r["category"] for r in rows})
    assert vs.count(db) == len(rows)
    for cat in CATEGORIES:
        assert vs.count(db, category=cat) == sum(r["category"] == cat for r in rows), cat
    want = [r for r in rows if "a" in r["name"].lower() + r["city"].lower()]
    assert vs.count(db, q="A") == len(want)


def assert_score_order_equals_recount(db, rows: list[dict], cache: Database | None = None) -> None:
    (cache or db).invalidate("venue_stats")
    for descending in (True, False):
        want = python_order(rows, "engagement_score", descending)
        got = []
        for p in range(1, max(1, -(-len(rows) // 3)) + 1):
            got += list(vs.page(db, page=p, page_size=3, descending=descending)["rows"]["venue_id"])
        assert got == want, descending
        for cat in ("cafe", "museum"):
            got = list(vs.page(db, category=cat, page_size=100, descending=descending)["rows"]["venue_id"])
            assert got == python_order([r for r in rows if r["category"] == cat], "engagement_score", descending)
    scored = [r for r in rows if r["engagement_score"] > 0]
    assert list(vs.leaderboard(db, limit=4)["venue_id"]) == python_order(scored, "engagement_score", True)[:4]
    assert list(vs.leaderboard(db, category="bar", limit=100)["venue_id"]) == python_order(
        [r for r in scored if r["category"] == "bar"], "engagement_score", True)


def add_venue(conn, i: int, category: str) -> uuid.UUID:
    vid = uuid.UUID(int=0xE000 + i)
    conn.execute("INSERT INTO venues (id, name, category, city, lat, lng) VALUES (%s, %s, %s, %s, 41.1, -8.6)",
                 (vid, ["Alpha", "bravo", "alpha"][i % 3], category, ["Porto", "Braga"][i % 2]))
    return vid


@pytest.fixture
def users(conn) -> list[uuid.UUID]:
    ids = [uuid.UUID(int=0xE100 + i) for i in range(3)]
    for i, u in enumerate(ids):
        conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, %s, 'U')", (u, f"t{i}"))
    return ids


def test_totals_and_score_order_equal_a_recount_through_inserts_moves_deletes_folds_and_a_full_recompute(
        conn, db, users):
    assert_totals_equal_recount(db, [])
    venues = [add_venue(conn, i, CATEGORIES[i % 3]) for i in range(8)]
    assert_totals_equal_recount(db, visible(conn))  # not folded yet: venue_stats still has none
    rollups.fold(db)
    rows = visible(conn)
    assert len(rows) == 8
    assert_totals_equal_recount(db, rows)
    for i in range(10):  # equal scores on purpose: ties are ordered by name, then id, across pages
        conn.execute("SELECT check_in(%s, %s, %s)", (users[i % 3], venues[i % 4], NOW - timedelta(hours=i)))
    rollups.fold(db)
    assert_totals_equal_recount(db, visible(conn))
    assert_score_order_equals_recount(db, visible(conn))
    conn.execute("UPDATE venues SET category = 'museum' WHERE id = %s", (venues[0],))
    conn.execute("DELETE FROM venues WHERE id = %s", (venues[1],))
    add_venue(conn, 20, "cafe")
    assert_totals_equal_recount(db, visible(conn))  # the unfolded changes are not in venue_stats yet
    rollups.fold(db)
    rows = visible(conn)
    assert len(rows) == 8 and {r["category"] for r in rows if r["venue_id"] == str(venues[0])} == {"museum"}
    assert_totals_equal_recount(db, rows)
    assert_score_order_equals_recount(db, rows)
    conn.execute("DELETE FROM venues WHERE category = 'bar'")
    conn.execute("SELECT refresh_venue_stats(true)")
    rows = visible(conn)
    assert "bar" not in {r["category"] for r in rows}
    assert_totals_equal_recount(db, rows)
    assert_score_order_equals_recount(db, rows)


OPS = st.lists(st.tuples(st.sampled_from(["add", "move", "delete", "check_in", "fold", "full"]),
                         st.integers(0, 50), st.sampled_from(CATEGORIES)), min_size=1, max_size=10)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_totals_equal_a_recount_whatever_the_history(conn, db, users, ops):
    for kind, n, category in ops:
        ids = [r[0] for r in conn.execute("SELECT id FROM venues ORDER BY id").fetchall()]
        if kind == "add":
            conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES (%s, %s, 'Porto', 0, 0)",
                         (f"h{n}", category))
        elif kind == "fold":
            rollups.fold(db, ("venue_stats",))
        elif kind == "full":
            conn.execute("SELECT refresh_venue_stats(true)")
        elif ids and kind == "move":
            conn.execute("UPDATE venues SET category = %s WHERE id = %s", (category, ids[n % len(ids)]))
        elif ids and kind == "delete":
            conn.execute("DELETE FROM venues WHERE id = %s", (ids[n % len(ids)],))
        elif ids and kind == "check_in":
            conn.execute("SELECT check_in(%s, %s, %s)", (users[n % 3], ids[n % len(ids)], NOW - timedelta(minutes=n)))
        assert_totals_equal_recount(db, visible(conn))


def test_an_owner_counts_sorts_and_ranks_only_their_venues(conn, db, db_url, users):
    venues = [add_venue(conn, i, CATEGORIES[i % 3]) for i in range(7)]
    for i in range(9):
        conn.execute("SELECT check_in(%s, %s, %s)", (users[i % 3], venues[i % 5], NOW - timedelta(hours=i)))
    rollups.fold(db)
    mine = [venues[0], venues[2], venues[3], venues[5]]
    roles = ensure_login_roles(db_url)
    with Database(roles["owner_url"], record=False, max_size=2) as raw:
        owner = ScopedDatabase(raw, Account("owner-t", "venue_owner", "Owner", tuple(mine)))
        nobody = ScopedDatabase(raw, Account("owner-n", "venue_owner", "Owner", ()))
        with psycopg.connect(roles["owner_url"]) as oc:
            oc.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (",".join(map(str, mine)),))
            rows = visible(oc)
        assert {r["venue_id"] for r in rows} == {str(v) for v in mine}
        assert_totals_equal_recount(owner, rows, raw)
        assert_score_order_equals_recount(owner, rows, raw)
        assert_totals_equal_recount(nobody, [], raw)
        assert vs.page(nobody)["rows"].empty and vs.leaderboard(nobody).empty
        conn.execute("UPDATE venues SET category = 'bar' WHERE id = %s", (venues[0],))
        conn.execute("DELETE FROM venues WHERE id = %s", (venues[3],))
        rollups.fold(db)
        with psycopg.connect(roles["owner_url"]) as oc:
            oc.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (",".join(map(str, mine)),))
            rows = visible(oc)
        assert len(rows) == 3
        assert_totals_equal_recount(owner, rows, raw)
        assert_score_order_equals_recount(owner, rows, raw)
