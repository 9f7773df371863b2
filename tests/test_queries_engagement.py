"""queries.engagement: distributions against brute-force recounts over generated histories, the privacy
rule of the top pairs, and notification delivery -> read -> click by category and channel."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import recount
from venuepulse.queries.pages import engagement

USERS = [uuid.UUID(int=0x200 + i) for i in range(6)]
VENUES = [uuid.UUID(int=0xB00 + i) for i in range(4)]
CATEGORIES = ["bar", "bar", "cafe", "museum"]
NOW = datetime.now(UTC).replace(microsecond=0)
ALL_TIME = (NOW - timedelta(days=400), NOW + timedelta(days=1))


def _base_rows(conn) -> None:
    for i, u in enumerate(USERS):
        conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, %s, %s)", (u, f"user{i}", f"U{i}"))
    for i, v in enumerate(VENUES):
        conn.execute("INSERT INTO venues (id, name, category, city, lat, lng) VALUES (%s, %s, %s, 'Porto', 41.1, -8.6)",
                     (v, f"Venue {i}", CATEGORIES[i]))


def _brute_histogram(scores, buckets):
    """{bucket_start: count} with width = max(ceil((max + 1) / buckets), 1)."""
    if not scores:
        return {}
    width = max(math.ceil((max(scores) + 1) / buckets), 1)
    out: dict[float, int] = {}
    for s in scores:
        start = float((int(s) // width) * width)
        out[start] = out.get(start, 0) + 1
    return out


# -- distributions over generated histories ---------------------------------------------------------------

activity = st.lists(st.tuples(st.sampled_from(["check_in", "review", "favorite", "collect"]),
                              st.integers(0, 5), st.integers(0, 3), st.integers(0, 30)), max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=activity, buckets=st.integers(1, 12), category=st.sampled_from([None, "bar", "cafe", "museum"]))
def test_engagement_distributions_equal_brute_force_recounts(conn, db, ops, buckets, category):
    conn.execute("DELETE FROM venues")
    conn.execute("DELETE FROM users")
    _base_rows(conn)
    for u in USERS:
        conn.execute("INSERT INTO collections (id, user_id, name) VALUES (%s, %s, 'c')", (u, u))
    for kind, u_i, v_i, days in ops:
        u, v, at = USERS[u_i], VENUES[v_i], NOW - timedelta(days=days, minutes=u_i)
        if kind == "check_in":
            conn.execute("INSERT INTO check_ins (user_id, venue_id, checked_in_at, is_active) VALUES (%s, %s, %s, false)",
                         (u, v, at))
        elif kind == "review":
            conn.execute("INSERT INTO reviews (user_id, venue_id, rating, created_at) VALUES (%s, %s, 4, %s) "
                         "ON CONFLICT DO NOTHING", (u, v, at))
        elif kind == "favorite":
            conn.execute("INSERT INTO favorites (user_id, venue_id, created_at) VALUES (%s, %s, %s) "
                         "ON CONFLICT DO NOTHING", (u, v, at))
        else:
            conn.execute("INSERT INTO collection_venues (collection_id, venue_id, added_at) VALUES (%s, %s, %s) "
                         "ON CONFLICT DO NOTHING", (u, v, at))
    conn.execute("SELECT refresh_venue_stats()")
    snap = recount.snapshot(conn)
    cat_of = dict(zip(VENUES, CATEGORIES, strict=True))
    keep = lambda vid: category is None or cat_of[vid] == category  # noqa: E731

    venue_scores = [m["engagement_score"] for vid, m in recount.venue_stats(snap, NOW).items() if keep(vid)]
    s = engagement.venue_summary(db, category=category)
    assert s["venues"] == len(venue_scores)
    assert s["zero_venues"] == sum(1 for x in venue_scores if x == 0)
    for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        assert s[key] == pytest.approx(recount.percentile_cont(venue_scores, q))
    assert s["max_score"] == max(venue_scores)
    h = engagement.venue_histogram(db, category=category, buckets=buckets)
    assert dict(zip(h["bucket_start"], h["venues"], strict=True)) == _brute_histogram(venue_scores, buckets)
    assert len(h) <= buckets

    pair_scores = [m["engagement_score"] for (uid, vid), m in recount.venue_interactions(snap).items() if keep(vid)]
    p = engagement.pair_summary(db, category=category)
    assert p["pairs"] == len(pair_scores)
    if pair_scores:
        assert p["p50"] == pytest.approx(recount.percentile_cont(pair_scores, 0.5))
        assert p["p90"] == pytest.approx(recount.percentile_cont(pair_scores, 0.9))
        assert p["max_score"] == max(pair_scores)
        assert p["mean_score"] == pytest.approx(sum(pair_scores) / len(pair_scores))
    else:
        assert p["p50"] is None and p["max_score"] is None
    ph = engagement.pair_histogram(db, category=category, buckets=buckets)
    assert dict(zip(ph["bucket_start"], ph["pairs"], strict=True)) == _brute_histogram(pair_scores, buckets)
    assert (ph["bucket_end"] > ph["bucket_start"]).all()

    by_cat = engagement.venue_by_category(db).set_index("category")
    for c in set(CATEGORIES):
        mine = [m["engagement_score"] for vid, m in recount.venue_stats(snap, NOW).items() if cat_of[vid] == c]
        assert by_cat.loc[c, "venues"] == len(mine)
        assert by_cat.loc[c, "total_score"] == sum(mine)
        assert by_cat.loc[c, "p50"] == pytest.approx(recount.percentile_cont(mine, 0.5))


def test_venue_summary_of_an_empty_database_has_no_numbers(db):
    s = engagement.venue_summary(db)
    assert s["venues"] == 0 and s["p50"] is None and s["max_score"] is None
    assert engagement.venue_histogram(db).empty and engagement.pair_histogram(db).empty
    top = engagement.top_pairs(db)
    assert top["rows"].empty and top["private_users"] == 0 and top["private_pairs"] == 0


# -- top pairs and privacy --------------------------------------------------------------------------------


def _privacy(conn, user, *, show_status=True, **visibility) -> None:
    doc = {"profile": "public", "check_ins": "friends", "favorites": "friends", "collections": "friends",
           "reviews": "public", "activity_feed": "friends", **visibility}
    conn.execute("INSERT INTO user_privacy (user_id, visibility, show_activity_status) VALUES (%s, %s, %s)",
                 (user, json.dumps(doc), show_status))


def test_top_pairs_name_only_users_whose_privacy_allows_and_count_the_others(conn, db):
    _base_rows(conn)
    # user i gets 10 - i check-ins at venue 0 (score 100 - 10 i) and one at venue 1 (score 10)
    for i, u in enumerate(USERS):
        for n in range(10 - i):
            conn.execute("INSERT INTO check_ins (user_id, venue_id, checked_in_at, is_active) VALUES (%s, %s, %s, false)",
                         (u, VENUES[0], NOW - timedelta(days=n + 1, minutes=i)))
        conn.execute("INSERT INTO check_ins (user_id, venue_id, checked_in_at, is_active) VALUES (%s, %s, %s, false)",
                     (u, VENUES[2], NOW - timedelta(hours=1, minutes=i)))
    # named only with profile and activity feed public (vp_user_label(user, 'activity_feed')):
    # user0: no privacy row (activity feed defaults to friends); user1: profile private; user2: activity
    # feed friends; user3: public, hides activity status (not part of the rule); user4: public;
    # user5: profile friends
    _privacy(conn, USERS[1], profile="private", activity_feed="public")
    _privacy(conn, USERS[2], activity_feed="friends")
    _privacy(conn, USERS[3], show_status=False, activity_feed="public")
    _privacy(conn, USERS[4], profile="public", activity_feed="public")
    _privacy(conn, USERS[5], profile="friends", activity_feed="public")

    top = engagement.top_pairs(db, limit=6)
    rows = top["rows"]
    assert list(rows["username"]) == ["user3", "user4"]
    assert list(rows["rank"]) == [4, 5]
    assert list(rows["engagement_score"]) == [70, 60]
    assert list(rows["venue_name"]) == ["Venue 0", "Venue 0"]
    assert top["private_users"] == 4 and top["private_pairs"] == 4
    assert set(rows["user_id"]) == {USERS[3], USERS[4]}

    # across both venues: 12 pairs, the 6 cafe pairs (score 10, latest first) rank last
    top = engagement.top_pairs(db, limit=12)
    assert top["private_users"] == 4 and top["private_pairs"] == 8
    assert list(top["rows"]["rank"]) == [4, 5, 10, 11]
    # the category filter keeps only the cafe's pairs
    cafe = engagement.top_pairs(db, limit=12, category="cafe")
    assert set(cafe["rows"]["venue_name"]) == {"Venue 2"} and cafe["private_pairs"] == 4

    raw = db.run("engagement.top_pairs", {"limit": 12, "category": None})
    for r in raw:
        if not r["is_public"]:
            assert r["user_id"] is None and r["username"] is None


# -- notifications ----------------------------------------------------------------------------------------


def _notification(conn, user, category, channels, delivered, *, read=False, clicked=False, at=None,
                  read_after=5, click_after=10) -> None:
    at = at or NOW - timedelta(hours=3)
    conn.execute(
        """INSERT INTO notifications (user_id, category, title, body, channels, delivered_at, read, read_at,
                                      clicked, clicked_at, created_at)
           VALUES (%s, %s, 't', 'b', %s, %s, %s, %s, %s, %s, %s)""",
        (user, category, json.dumps(channels), json.dumps(delivered) if delivered is not None else None,
         read, at + timedelta(minutes=read_after) if read else None,
         clicked, at + timedelta(minutes=click_after) if clicked else None, at),
    )


def test_notification_delivery_read_click_by_category_and_channel(conn, db):
    _base_rows(conn)
    u = USERS[0]
    t = NOW.isoformat()
    both = {"push": True, "in_app": True, "email": False}
    push = {"push": True, "in_app": False, "email": False}
    # flash offers: pushed and in-app, delivered on both, read and clicked
    _notification(conn, u, "flash_offer", both, {"push": t, "in_app": t}, read=True, clicked=True)
    # pushed and in-app, delivered in-app only, read
    _notification(conn, u, "flash_offer", both, {"in_app": t}, read=True, read_after=20)
    # push only, never delivered
    _notification(conn, u, "flash_offer", push, None)
    # push only, delivered, not read; a delivery time on an unrequested channel does not count
    _notification(conn, u, "flash_offer", push, {"push": t, "email": t})
    # friend request via email, delivered, clicked without being marked read
    _notification(conn, u, "friend_request", {"email": True}, {"email": t}, clicked=True, click_after=30)
    # outside the period
    _notification(conn, u, "flash_offer", push, {"push": t}, read=True, at=NOW - timedelta(days=40))

    start, end = NOW - timedelta(days=1), NOW + timedelta(days=1)
    ch = engagement.notification_channels(db, start, end)
    got = {(r["category"], r["channel"]): (r["sent"], r["delivered"], r["read"], r["clicked"])
           for r in ch.to_dict("records")}
    assert got == {
        ("flash_offer", "push"): (4, 2, 1, 1),
        ("flash_offer", "in_app"): (2, 2, 2, 1),
        ("friend_request", "email"): (1, 1, 0, 1),
    }
    push_row = ch[(ch["category"] == "flash_offer") & (ch["channel"] == "push")].iloc[0]
    assert push_row["delivery_rate"] == pytest.approx(0.5) and push_row["read_rate"] == pytest.approx(0.5)

    only_push = engagement.notification_channels(db, start, end, channel="push")
    assert set(only_push["channel"]) == {"push"}
    only_fr = engagement.notification_channels(db, start, end, category="friend_request")
    assert list(only_fr["category"]) == ["friend_request"]

    cats = engagement.notification_categories(db, start, end).set_index("category")
    assert cats.loc["flash_offer", ["notifications", "delivered", "read", "clicked"]].tolist() == [4, 3, 2, 1]
    assert cats.loc["flash_offer", "minutes_to_read_p50"] == pytest.approx(5.0)  # 5 and 20 minutes: the lower middle
    assert cats.loc["friend_request", "minutes_to_click_p50"] == pytest.approx(30.0)
    assert pd.isna(cats.loc["friend_request", "minutes_to_read_p50"])

    long_ago = engagement.notification_categories(db, NOW - timedelta(days=41), NOW - timedelta(days=39))
    assert long_ago["notifications"].tolist() == [1]


@pytest.mark.parametrize("call, message", [
    (lambda db: engagement.venue_histogram(db, buckets=0), "buckets"),
    (lambda db: engagement.venue_summary(db, category="zoo"), "category must be one of"),
    (lambda db: engagement.top_pairs(db, limit=10_000), "limit"),
    (lambda db: engagement.notification_channels(db, *ALL_TIME, channel="pigeon"), "channel must be one of"),
    (lambda db: engagement.notification_categories(db, ALL_TIME[1], ALL_TIME[0]), "start"),
])
def test_bad_arguments_are_refused_with_a_message_naming_them(db, call, message):
    with pytest.raises(ValueError, match=message):
        call(db)
