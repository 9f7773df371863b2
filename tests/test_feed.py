"""The activity feed: friends' events only, visibility and privacy honoured, keyset pages, recent partitions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from psycopg.types.json import Jsonb

from venuepulse.queries.core.runner import Database
from venuepulse.queries.services import FeedService, activity_feed

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
LEVELS = ("public", "friends", "close_friends", "private")


@pytest.fixture
def db(db_url):
    with Database(db_url, record=False) as d:
        yield d


def user(conn, name, feed=None, blocked=()):
    uid = conn.execute("INSERT INTO users (username, display_name) VALUES (%s, %s) RETURNING id",
                       (name, name)).fetchone()[0]
    if feed or blocked:
        conn.execute("INSERT INTO user_privacy (user_id, visibility, blocked_user_ids) VALUES (%s, %s, %s)",
                     (uid, Jsonb({"activity_feed": feed or "friends"}), list(blocked)))
    return uid


def befriend(conn, a, b, *, status="accepted", close=False):
    """a counts b as a friend (one direction)."""
    conn.execute("INSERT INTO friendships (user_id, friend_id, status, is_close_friend) VALUES (%s, %s, %s, %s)",
                 (a, b, status, close))


def mutual(conn, a, b, *, a_close=False, b_close=False):
    befriend(conn, a, b, close=a_close)
    befriend(conn, b, a, close=b_close)


def event(conn, author, visibility, at, kind="check_in", analytics=False):
    return conn.execute(
        "INSERT INTO event_stream (event_type, category, user_id, visibility, is_analytics_event, created_at)"
        " VALUES (%s, 'social', %s, %s, %s, %s) RETURNING id", (kind, author, visibility, analytics, at)).fetchone()[0]


def every_level(conn, author, start):
    return {lvl: event(conn, author, lvl, start + timedelta(minutes=i)) for i, lvl in enumerate(LEVELS)}


def test_who_sees_what(db, conn):
    viewer = user(conn, "viewer")
    close = user(conn, "close")          # marked the viewer a close friend
    friend = user(conn, "friend")        # mutual friends
    one_way = user(conn, "one_way", feed="public")  # the viewer follows; not accepted back; feed public
    one_way_default = user(conn, "one_way_default")  # same, but the default 'friends' feed setting
    blocker = user(conn, "blocker", blocked=[viewer])
    blocked = user(conn, "blocked")
    quiet = user(conn, "quiet", feed="private")
    inner = user(conn, "inner", feed="close_friends")
    stranger = user(conn, "stranger", feed="public")
    pending = user(conn, "pending", feed="public")
    conn.execute("INSERT INTO user_privacy (user_id, blocked_user_ids) VALUES (%s, %s)", (viewer, [blocked]))

    mutual(conn, viewer, close, b_close=True)
    mutual(conn, viewer, friend)
    befriend(conn, viewer, one_way)
    befriend(conn, viewer, one_way_default)
    for other in (blocker, blocked, quiet, inner):
        mutual(conn, viewer, other)
    befriend(conn, viewer, pending, status="pending")

    ev = {}
    for i, who in enumerate((close, friend, one_way, one_way_default, blocker, blocked, quiet, inner,
                             stranger, pending, viewer)):
        ev[who] = every_level(conn, who, T0 + timedelta(hours=i))
    hidden_analytics = event(conn, close, "public", T0 + timedelta(hours=20), "flash_offer_view", analytics=True)

    rows = activity_feed(db, viewer, limit=200)
    got = [r["id"] for r in rows]
    expected = {ev[close]["public"], ev[close]["friends"], ev[close]["close_friends"],
                ev[friend]["public"], ev[friend]["friends"], ev[one_way]["public"]}
    assert set(got) == expected and len(got) == len(expected) and hidden_analytics not in got
    times = [r["created_at"] for r in rows]
    assert times == sorted(times, reverse=True)


def test_pages_follow_each_other_without_gaps_or_repeats_even_on_equal_times(db, conn):
    viewer, friend = user(conn, "viewer"), user(conn, "friend")
    mutual(conn, viewer, friend)
    made = [event(conn, friend, "friends", T0 + timedelta(minutes=i // 3)) for i in range(25)]  # triples share a time
    pages, before = [], None
    while True:
        page = FeedService.activity_feed(db, viewer, before=before, limit=10)
        if not page:
            break
        pages.append(page)
        before = page[-1]["cursor"]
    assert [len(p) for p in pages] == [10, 10, 5]
    flat = [r for p in pages for r in p]
    assert sorted(r["id"] for r in flat) == sorted(made)
    assert flat == sorted(flat, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    assert flat[0]["author_username"] == "friend"


def test_before_a_datetime_gives_strictly_older_events(db, conn):
    viewer, friend = user(conn, "viewer"), user(conn, "friend")
    mutual(conn, viewer, friend)
    old = event(conn, friend, "public", T0)
    event(conn, friend, "public", T0 + timedelta(hours=1))
    assert [r["id"] for r in activity_feed(db, viewer, before=T0 + timedelta(hours=1))] == [old]


def test_events_beyond_the_horizon_are_not_read(db, conn):
    viewer, friend = user(conn, "viewer"), user(conn, "friend")
    mutual(conn, viewer, friend)
    recent = event(conn, friend, "public", T0)
    event(conn, friend, "public", T0 - timedelta(days=100))
    assert [r["id"] for r in activity_feed(db, viewer)] == [recent]
    assert len(activity_feed(db, viewer, max_age=timedelta(days=365))) == 2


@pytest.mark.clock  # partitions around the server's now(), and the ones the template was made with
def test_the_plan_touches_only_partitions_inside_the_horizon(db, conn):
    now = conn.execute("SELECT now()").fetchone()[0]
    old = [r[0] for r in conn.execute("SELECT partition_name FROM vp_ensure_partitions('event_stream', %s, %s)",
                                      (now - timedelta(days=400), now - timedelta(days=340)))]
    current = conn.execute("SELECT partition_name FROM vp_ensure_partitions('event_stream', %s, %s)",
                           (now, now)).fetchone()[0]
    params = {"viewer_id": "00000000-0000-0000-0000-000000000001", "before_at": datetime(9999, 1, 1, tzinfo=UTC),
              "before_id": "ffffffff-ffff-ffff-ffff-ffffffffffff", "since": now - timedelta(days=90),
              "limit": 20}
    plan = db.explain("feed.activity", params)
    assert current in plan and len(old) >= 2 and not [p for p in old if p in plan]


@pytest.mark.parametrize("kw, words", [
    ({"before": "yesterday"}, "not a feed cursor"),
    ({"before": datetime(2024, 1, 1)}, "timezone-aware"),
    ({"limit": 0}, "limit"),
    ({"limit": 1000}, "limit"),
    ({"max_age": timedelta(0)}, "max_age"),
])
def test_bad_arguments_are_refused_naming_them(db, kw, words):
    with pytest.raises(ValueError, match=words):
        activity_feed(db, "00000000-0000-0000-0000-000000000001", **kw)


def reference_feed(viewer, friendships, privacy, events):
    """Brute force of the rules in feed.sql."""
    rank = {lvl: i for i, lvl in enumerate(LEVELS)}
    out = []
    for e in events:
        author = e["user_id"]
        f = friendships.get((viewer, author))
        if author == viewer or not f or f["status"] != "accepted" or e["analytics"]:
            continue
        if author in privacy.get(viewer, {}).get("blocked", []) or viewer in privacy.get(author, {}).get("blocked", []):
            continue
        back = friendships.get((author, viewer))
        access = 0 if not back or back["status"] != "accepted" else (2 if back["close"] else 1)
        feed_level = rank[privacy.get(author, {}).get("feed", "friends")]
        if rank[e["visibility"]] <= access and feed_level <= access:
            out.append(e)
    return sorted(out, key=lambda e: (e["created_at"], e["id"]), reverse=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_graphs_match_a_brute_force_of_the_rules(db, conn, seed):
    rng = random.Random(seed)
    users = [user(conn, f"u{seed}_{i}") for i in range(8)]
    privacy = {}
    for u in users:
        feed = rng.choice(LEVELS)
        blocked = rng.sample([x for x in users if x != u], k=rng.choice([0, 0, 1]))
        conn.execute("INSERT INTO user_privacy (user_id, visibility, blocked_user_ids) VALUES (%s, %s, %s)",
                     (u, Jsonb({"activity_feed": feed}), blocked))
        privacy[u] = {"feed": feed, "blocked": blocked}
    friendships = {}
    for a in users:
        for b in users:
            if a != b and rng.random() < 0.5:
                f = {"status": rng.choice(["accepted", "accepted", "pending"]), "close": rng.random() < 0.3}
                befriend(conn, a, b, status=f["status"], close=f["close"])
                friendships[(a, b)] = f
    events = []
    for _ in range(120):
        e = {"user_id": rng.choice(users), "visibility": rng.choice(LEVELS), "analytics": rng.random() < 0.1,
             "created_at": T0 + timedelta(minutes=rng.randrange(200))}
        e["id"] = event(conn, e["user_id"], e["visibility"], e["created_at"], analytics=e["analytics"])
        events.append(e)
    for viewer in users:
        want = [e["id"] for e in reference_feed(viewer, friendships, privacy, events)][:50]
        assert [r["id"] for r in activity_feed(db, viewer, limit=50)] == want
