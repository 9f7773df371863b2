"""vp_offer_benchmarks: an owner's offers against similar offers, as aggregates over at least 5 other
venues, whatever venues exist and whatever offer ids the owner passes (docs/dashboard-engagement-offers.md)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from venuepulse.queries.access.roles import ensure_login_roles

LEVELS = {"category_city": (True, True), "category": (True, False), "city": (False, True), "all": (False, False)}
ORDER = ["category_city", "category", "city", "all"]
METRICS = ["claim_rate", "redeem_rate", "time_to_claim"]

offer = st.tuples(st.integers(0, 40), st.floats(0, 1), st.floats(0, 1))  # views, claimed share, redeemed share
venue = st.fixed_dictionaries({
    "category": st.sampled_from(["bar", "cafe"]), "city": st.sampled_from(["Berlin", "Paris"]),
    "owned": st.booleans(), "offers": st.lists(offer, max_size=3), "claim_rows": st.booleans(),
})


@pytest.fixture
def setup(db_url, conn):
    roles = ensure_login_roles(db_url)
    user = conn.execute("INSERT INTO users (username, display_name, email) VALUES ('claimer', 'C', 'c@example.com') "
                        "RETURNING id").fetchone()[0]
    with psycopg.connect(roles["owner_url"], autocommit=True) as owner:
        yield conn, owner, user


def _insert(conn, user, venues) -> tuple[list, list, list]:
    own, others, venue_ids = [], [], []
    for i, v in enumerate(venues):
        vid = conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES (%s, %s, %s, 52.5, 13.4) "
                           "RETURNING id", (f"v{i}", v["category"], v["city"])).fetchone()[0]
        venue_ids.append(vid)
        for views, claim_share, redeem_share in v["offers"]:
            claimed = int(views * claim_share)
            oid = conn.execute(
                "INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time, "
                "view_count, claimed_count, redeemed_count) VALUES (%s, 'o', 'd', 100, now() - interval '3 hours', "
                "now() - interval '1 hour', %s, %s, %s) RETURNING id",
                (vid, views, claimed, int(claimed * redeem_share))).fetchone()[0]
            (own if v["owned"] else others).append(oid)
            if v["claim_rows"] and views:
                conn.execute("INSERT INTO flash_offer_claims (offer_id, user_id, token, expires_at, created_at) "
                             "VALUES (%s, %s, 'ABCDEF', now(), now() - interval '150 minutes')", (oid, user))
    return own, others, venue_ids


def _expected_peers(conn, own_venues) -> list[dict]:
    """Per venue outside the scope with an ended, viewed offer: its category, city, and which metrics it has
    (read as the admin, straight from the rows)."""
    rows = conn.execute("""
        SELECT v.id, v.category, v.city, sum(o.claimed_count) > 0,
               EXISTS (SELECT 1 FROM flash_offer_claims c JOIN flash_offers o2 ON o2.id = c.offer_id
                       WHERE o2.venue_id = v.id AND o2.view_count > 0 AND o2.end_time <= now())
        FROM venues v JOIN flash_offers o ON o.venue_id = v.id
        WHERE o.view_count > 0 AND o.end_time <= now() AND NOT (v.id = ANY (%s))
        GROUP BY v.id""", (own_venues,)).fetchall()
    return [{"category": c, "city": t, "claim_rate": True, "redeem_rate": r, "time_to_claim": tc}
            for _, c, t, r, tc in rows]


def _peers(peers, mine, level):
    same_cat, same_city = LEVELS[level]
    return [p for p in peers if (not same_cat or p["category"] == mine["category"])
            and (not same_city or p["city"] == mine["city"])]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(venues=st.lists(venue, max_size=14), pass_others=st.booleans())
def test_benchmarks_answer_only_for_own_offers_and_only_over_at_least_5_other_venues(setup, venues, pass_others):
    conn, owner, user = setup
    own, others, venue_ids = _insert(conn, user, venues)
    try:
        own_venues = [vid for vid, v in zip(venue_ids, venues, strict=True) if v["owned"]]
        asked = own + (others if pass_others else []) + [uuid.uuid4()]
        with owner.transaction():
            owner.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (",".join(map(str, own_venues)),))
            cur = owner.execute("SELECT * FROM vp_offer_benchmarks(%s)", (asked,))
            cols = [d.name for d in cur.description]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        assert sorted(r["offer_id"] for r in rows) == sorted(own)  # another venue's offer is never answered
        peers = _expected_peers(conn, own_venues)
        where = {oid: v for vid, v in zip(venue_ids, venues, strict=True)
                 for oid in conn.execute("SELECT id FROM flash_offers WHERE venue_id = %s", (vid,)).fetchall()}
        for r in rows:
            mine = where[(r["offer_id"],)]
            event(f"peer scope {r['peer_scope']}")
            big_enough = [lv for lv in ORDER if len(_peers(peers, mine, lv)) >= 5]
            if not big_enough:
                assert r["peer_scope"] is None and r["peer_venues"] is None
                assert all(v is None for k, v in r.items() if k.endswith(("_p25", "_p50", "_p75", "_s")))
                continue
            assert r["peer_scope"] == big_enough[0]  # the narrowest group of 5 or more
            group = _peers(peers, mine, r["peer_scope"])
            assert r["peer_venues"] == len(group) >= 5
            for metric, prefix in zip(METRICS, ["claim_rate", "redeem_rate", "time_to_claim"], strict=True):
                suffix = "_s" if metric == "time_to_claim" else ""
                values = [r[f"{prefix}_p{q}{suffix}"] for q in (25, 50, 75)]
                having = sum(1 for p in group if p[metric])
                if having < 5:
                    assert values == [None, None, None], (metric, having)
                else:
                    assert None not in values and values[0] <= values[1] <= values[2]
    finally:
        ids = own + others
        conn.execute("DELETE FROM flash_offer_claims WHERE offer_id = ANY (%s)", (ids,))
        conn.execute("DELETE FROM flash_offers WHERE id = ANY (%s)", (ids,))
        conn.execute("DELETE FROM venues WHERE id = ANY (%s)", (venue_ids,))


def test_a_connection_without_a_venue_scope_gets_no_benchmarks(setup):
    conn, owner, user = setup
    own, _, _ = _insert(conn, user, [{"category": "bar", "city": "Berlin", "owned": True,
                                      "offers": [(10, 0.5, 0.5)], "claim_rows": True}])
    assert owner.execute("SELECT count(*) FROM vp_offer_benchmarks(%s)", (own,)).fetchone()[0] == 0


def test_downgrading_0009_removes_the_benchmark_function(empty_db_url):
    from venuepulse.queries.schema.migrate import migrate

    migrate(empty_db_url, "head")
    migrate(empty_db_url, "0008")
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("SELECT to_regprocedure('vp_offer_benchmarks(uuid[])')").fetchone()[0] is None
    migrate(empty_db_url, "head")
