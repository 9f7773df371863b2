"""queries.venue_stats against known data: every sort, filter and page checked against a brute-force recount."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.rows import (
    add_check_in,
    add_claim,
    add_offer,
    add_review,
    add_users,
    add_venue,
    random_world,
)
from venuepulse.queries.pages import venues as vs


def python_order(rows: list[dict], sort: str, descending: bool) -> list[str]:
    """The documented order: the key (NULLs last either way), then lower(name), then venue_id."""
    def tie(r):
        return (r["name"].lower(), r["venue_id"])

    present = [r for r in rows if r[sort] is not None]
    absent = sorted((r for r in rows if r[sort] is None), key=tie)

    def key(r):
        v = r[sort]
        return v.lower() if isinstance(v, str) and sort != "category" else v

    # stable sorts: tie-break first, then the key in the requested direction
    ordered = sorted(sorted(present, key=tie), key=key, reverse=descending)
    return [r["venue_id"] for r in ordered + absent]


def test_page_rows_equal_the_brute_force_recount(conn, db):
    w = random_world(conn)
    result = vs.page(db, page_size=100)
    assert result["total"] == len(w["venues"]) and result["pages"] == 1
    df = result["rows"]
    assert set(df["venue_id"]) == {str(v) for v in w["venues"]}
    for rec in df.to_dict("records"):
        exp = w["expected"][uuid.UUID(rec["venue_id"])]
        for col in ("total_unique_visitors", "total_check_ins", "check_ins_last_7_days", "active_check_ins",
                    "review_count", "verified_review_count", "favorite_count", "collection_count",
                    "flash_offer_count", "flash_offer_claim_count", "engagement_score"):
            assert rec[col] == exp[col], col
        if exp["avg_rating"] is None:
            assert rec["avg_rating"] != rec["avg_rating"]  # NaN
        else:
            assert rec["avg_rating"] == pytest.approx(float(exp["avg_rating"]), abs=0.005)
        assert (rec["last_check_in_at"] is None or rec["last_check_in_at"] != rec["last_check_in_at"]
                or rec["last_check_in_at"].to_pydatetime() == exp["last_check_in_at"])


def test_every_sort_key_in_both_directions_orders_like_the_documented_rule(conn, db):
    w = random_world(conn, seed=5)
    for sort in vs.SORTS:
        for descending in (True, False):
            got = list(vs.page(db, sort=sort, descending=descending, page_size=100)["rows"]["venue_id"])
            assert got == python_order(list(w["expected"].values()), sort, descending), (sort, descending)


def test_pages_partition_the_sorted_list_without_overlap(conn, db):
    w = random_world(conn, seed=9, n_venues=23)
    whole = list(vs.page(db, sort="review_count", page_size=100)["rows"]["venue_id"])
    pieces = []
    for p in range(1, 6):
        r = vs.page(db, sort="review_count", page=p, page_size=5)
        assert r["pages"] == 5 and r["page"] == p and r["total"] == 23
        pieces += list(r["rows"]["venue_id"])
    assert pieces == whole and len(set(pieces)) == len(w["venues"])
    past_end = vs.page(db, sort="review_count", page=99, page_size=5)
    assert past_end["page"] == 5 and list(past_end["rows"]["venue_id"]) == whole[20:]


def test_search_matches_name_or_city_case_insensitively_and_category_filters(conn, db):
    w = random_world(conn, seed=11)
    rows = list(w["expected"].values())
    for q in ("ALPHA", "port", "o", "zzz"):
        want = {r["venue_id"] for r in rows if q.lower() in r["name"].lower() or q.lower() in r["city"].lower()}
        got = vs.page(db, q=q, page_size=100)
        assert set(got["rows"]["venue_id"]) == want and got["total"] == len(want) == vs.count(db, q=q)
    want = {r["venue_id"] for r in rows if r["category"] == "cafe" and "a" in r["name"].lower() + r["city"].lower()}
    assert set(vs.page(db, q="a", category="cafe", page_size=100)["rows"]["venue_id"]) == want
    assert vs.categories(db) == sorted({r["category"] for r in rows})


def test_search_text_is_data_not_sql_or_a_pattern(conn, db):
    add_venue(conn, "100% Bar_One", "bar", "Lisbon")
    add_venue(conn, "100 Bars", "bar", "Lisbon")
    conn.execute("SELECT refresh_venue_stats()")
    assert list(vs.page(db, q="0% bar_")["rows"]["name"]) == ["100% Bar_One"]
    assert vs.page(db, q="'; DROP TABLE venues; --")["total"] == 0
    assert vs.summary(db)["venue_count"] == 2


def test_bad_page_arguments_are_refused_with_what_was_wrong(db):
    with pytest.raises(ValueError, match="unknown sort column 'name; drop'"):
        vs.page(db, sort="name; drop")
    with pytest.raises(ValueError, match="page size"):
        vs.page(db, page_size=0)
    with pytest.raises(ValueError, match="page must be"):
        vs.page(db, page=0)
    with pytest.raises(ValueError, match="longer than 200"):
        vs.page(db, q="x" * 201)


def test_summary_reports_count_and_refresh_time(conn, db):
    assert vs.summary(db) == {"venue_count": 0, "refreshed_at": None}
    add_venue(conn, "V")
    assert vs.summary(db)["venue_count"] == 0  # not in venue_stats until the next refresh
    conn.execute("SELECT refresh_venue_stats()")
    s = vs.summary(db)
    assert s["venue_count"] == 1 and s["refreshed_at"] is not None


def test_leaderboard_ranks_by_engagement_with_its_weighted_parts(conn, db):
    w = random_world(conn, seed=13)
    board = vs.leaderboard(db, limit=100)
    scored = [r for r in w["expected"].values() if r["engagement_score"] > 0]
    assert list(board["venue_id"]) == python_order(scored, "engagement_score", True)
    for rec in board.to_dict("records"):
        exp = w["expected"][uuid.UUID(rec["venue_id"])]
        assert rec["rank"] == 1 + sum(1 for r in scored if r["engagement_score"] > exp["engagement_score"])
        assert rec["from_check_ins"] == exp["total_check_ins"]
        assert rec["from_reviews"] == 5 * exp["review_count"]
        assert rec["from_favorites"] == 3 * exp["favorite_count"]
        assert rec["from_claims"] == 2 * exp["flash_offer_claim_count"]
        assert rec["engagement_score"] == (rec["from_check_ins"] + rec["from_reviews"] + rec["from_favorites"]
                                           + rec["from_claims"])
    top3_bars = vs.leaderboard(db, category="bar", limit=3)
    assert list(top3_bars["venue_id"]) == python_order([r for r in scored if r["category"] == "bar"],
                                                       "engagement_score", True)[:3]


def test_venue_detail_uses_the_batch_call_and_returns_top_reviews(conn, db):
    u = add_users(conn, 5)
    v = add_venue(conn, "Detail", "museum", "Porto")
    now = datetime.now(UTC)
    for i, helpful in enumerate([0, 7, 3, 9, 1]):
        add_review(conn, u[i], v, now - timedelta(days=i + 1), rating=1 + i, helpful=helpful, body=f"r{i}")
    assert vs.venue_detail(db, v)["stats"] is None  # created after the last refresh
    conn.execute("SELECT refresh_venue_stats()")
    db.invalidate(f"venue:{v}")  # the batch call caches for 60 s
    d = vs.venue_detail(db, str(v))
    assert d["venue"]["name"] == "Detail" and d["stats"]["review_count"] == 5
    assert list(d["top_reviews"]["helpful_count"]) == [9, 7, 3]
    assert list(d["top_reviews"]["body"]) == ["r3", "r1", "r2"]
    assert d["user_interaction"] is None
    assert vs.venue_detail(db, uuid.uuid4()) is None
    with pytest.raises(ValueError, match="not a venue id"):
        vs.venue_detail(db, "not-a-uuid")


def test_live_counters_follow_check_ins_without_a_refresh(conn, db):
    u = add_users(conn, 2)
    v = add_venue(conn, "V")
    conn.execute("SELECT check_in(%s, %s)", (u[0], v))
    conn.execute("SELECT check_in(%s, %s)", (u[1], v))
    live = vs.live_counters(db, v)
    assert (live["active_check_in_count"], live["total_check_in_count"]) == (2, 2)
    assert vs.live_counters(db, uuid.uuid4()) is None


def test_check_in_trend_counts_one_venue_per_utc_day(conn, db):
    u = add_users(conn, 3)
    v, other = add_venue(conn, "V"), add_venue(conn, "Other")
    d = datetime(2025, 3, 10, tzinfo=UTC)
    add_check_in(conn, u[0], v, d + timedelta(hours=1), d + timedelta(hours=2))
    add_check_in(conn, u[0], v, d + timedelta(hours=5), d + timedelta(hours=6))
    add_check_in(conn, u[1], v, d + timedelta(days=2, hours=23, minutes=59), d + timedelta(days=3))
    add_check_in(conn, u[2], other, d + timedelta(hours=1), d + timedelta(hours=2))
    add_check_in(conn, u[2], v, d + timedelta(days=3), d + timedelta(days=3, hours=1))  # at the end: excluded
    df = vs.check_in_trend(db, v, d, d + timedelta(days=3))
    assert [t.date().isoformat() for t in df["day"]] == ["2025-03-10", "2025-03-11", "2025-03-12"]
    assert list(df["check_ins"]) == [2, 0, 1] and list(df["unique_visitors"]) == [1, 0, 1]
    with pytest.raises(ValueError, match="range is empty"):
        vs.check_in_trend(db, v, d, d)


def test_offers_list_status_and_counters_newest_first(conn, db):
    u = add_users(conn, 2)
    v = add_venue(conn, "V")
    now = datetime.now(UTC)
    old = add_offer(conn, v, now - timedelta(days=3), now - timedelta(days=2), title="old")
    running = add_offer(conn, v, now - timedelta(hours=1), now + timedelta(hours=1), title="running", max_claims=2)
    add_offer(conn, v, now + timedelta(days=1), now + timedelta(days=2), title="later")
    add_claim(conn, running, u[0], now - timedelta(minutes=30), redeemed_at=now - timedelta(minutes=10), n=1)
    add_claim(conn, running, u[1], now - timedelta(minutes=20), n=2)
    conn.execute("SELECT record_offer_event(%s, %s, 'view')", (running, u[0]))
    df = vs.offers(db, v)
    assert list(df["title"]) == ["later", "running", "old"]
    assert list(df["status"]) == ["scheduled", "full", "expired"]
    row = df[df["offer_id"] == str(running)].iloc[0]
    assert (row["claimed_count"], row["redeemed_count"], row["view_count"]) == (2, 1, 1)
    assert str(old) in set(df["offer_id"])


def test_interaction_summary_counts_the_venues_interaction_rows(conn, db):
    u = add_users(conn, 3)
    v = add_venue(conn, "V")
    now = datetime.now(UTC)
    add_check_in(conn, u[0], v, now - timedelta(days=2), now - timedelta(days=2) + timedelta(hours=1))
    add_check_in(conn, u[0], v, now - timedelta(days=1), now - timedelta(days=1) + timedelta(hours=1))
    add_check_in(conn, u[1], v, now - timedelta(days=1), now - timedelta(days=1) + timedelta(hours=1))
    conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (u[2], v))
    s = vs.interaction_summary(db, v)
    assert (s["users"], s["repeat_visitors"], s["favorited"], s["claimers"]) == (3, 1, 1, 0)
    # per-user scores: 2 check-ins = 20, 1 check-in = 10, a favorite = 100
    assert s["max_engagement_score"] == 100 and s["avg_engagement_score"] == pytest.approx(43.3)
