"""Rollups (docs/rollups.md): over generated histories — inserts, updates, deletes, venue and partition
moves, cascades, category changes — with folds at random points, every rollup and every page number built
on them equals a brute-force recount of the raw rows (tests/fixtures/rollup_truth.py), whether the changes it
covers are folded, still in the live tail, or some of each. Also: concurrent writers with two folds at
once, a fold that fails half-way, a rebuild while writing, and the reconcile job finding drift."""

from __future__ import annotations

import json
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import rollup_truth as truth
from venuepulse.queries.access.roles import ensure_login_roles
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import rollups
from venuepulse.queries.pages import engagement, offers, overview

USERS = [uuid.UUID(int=0x300 + i) for i in range(6)]
VENUES = [uuid.UUID(int=0xC00 + i) for i in range(4)]
CATEGORIES = ["bar", "cafe", "bar", "museum"]
OFFERS = [uuid.UUID(int=0xE00 + i) for i in range(3)]
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.replace(hour=0, minute=0, second=0)


@pytest.fixture
def db(db_url):
    with Database(db_url, record=False) as d:
        yield d


def fold_all(db) -> None:
    rollups.fold(db)


def reset(conn, db) -> None:
    """An empty app, folded (the deletes are changes too)."""
    conn.execute("DELETE FROM flash_offer_claims")
    conn.execute("DELETE FROM flash_offers")
    conn.execute("DELETE FROM venues")
    conn.execute("DELETE FROM users")
    fold_all(db)
    for i, u in enumerate(USERS):
        conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, %s, %s)", (u, f"r{i}", f"R{i}"))
        conn.execute("INSERT INTO collections (id, user_id, name) VALUES (%s, %s, 'c')", (u, u))
    for i, v in enumerate(VENUES):
        conn.execute("INSERT INTO venues (id, name, category, city, lat, lng) VALUES (%s, %s, %s, 'Porto', 41.1, -8.6)",
                     (v, f"Venue {i}", CATEGORIES[i]))
    for i, o in enumerate(OFFERS):
        conn.execute("INSERT INTO flash_offers (id, venue_id, title, description, max_claims, start_time, end_time) "
                     "VALUES (%s, %s, %s, 'd', 100, %s, %s)",
                     (o, VENUES[i], f"o{i}", NOW - timedelta(days=3 + 10 * i), NOW + timedelta(days=1 - i)))


def _token(n: int) -> str:
    return "".join(ALPHABET[(n // 32 ** i) % 32] for i in range(6))


def _pick(conn, sql: str, i: int):
    got = conn.execute(sql).fetchall()
    return got[i % len(got)] if got else None


def apply(conn, db, op: tuple, n: int) -> None:
    """One step of a generated history; steps that name a row or venue no longer there do nothing."""
    kind, a, b, c = op
    minutes = timedelta(minutes=c)
    at = NOW - minutes
    u, v = USERS[a % len(USERS)], VENUES[b % len(VENUES)]
    venue_there = conn.execute("SELECT 1 FROM venues WHERE id = %s", (v,)).fetchone() is not None
    user_there = conn.execute("SELECT 1 FROM users WHERE id = %s", (u,)).fetchone() is not None
    if kind == "fold":
        consumers = [("activity",), ("pairs",), ("venue_stats",), rollups.CONSUMERS][a % 4]
        rollups.fold(db, consumers)
    elif kind == "check_in" and venue_there and user_there:
        how = b % 3  # 0 active, 1 ended with a time, 2 ended without one
        conn.execute("INSERT INTO check_ins (user_id, venue_id, checked_in_at, checked_out_at, is_active) "
                     "VALUES (%s, %s, %s, %s, %s)",
                     (u, v, at, at + timedelta(minutes=7 + c % 300) if how == 1 else None, how == 0))
    elif kind == "check_in_fn" and venue_there and user_there:
        conn.execute("SELECT check_in(%s, %s, %s)", (u, v, at))
    elif kind == "check_out":
        row = _pick(conn, "SELECT id FROM check_ins WHERE is_active ORDER BY id", a)
        if row:
            conn.execute("UPDATE check_ins SET is_active = false, checked_out_at = checked_in_at + %s WHERE id = %s",
                         (timedelta(minutes=c % 500), row[0]))
    elif kind == "move_venue" and venue_there:
        row = _pick(conn, "SELECT id FROM check_ins ORDER BY id", a)
        if row:
            conn.execute("UPDATE check_ins SET venue_id = %s WHERE id = %s", (v, row[0]))
    elif kind == "move_time":  # far enough to change partition (months) or just the hour
        row = _pick(conn, "SELECT id FROM check_ins ORDER BY id", a)
        if row:
            shift = timedelta(days=35 * (1 if b % 2 else -1)) if c % 2 else timedelta(minutes=c)
            conn.execute("UPDATE check_ins SET checked_in_at = checked_in_at - %s, "
                         "checked_out_at = checked_out_at - %s WHERE id = %s", (shift, shift, row[0]))
    elif kind == "delete_check_in":
        row = _pick(conn, "SELECT id FROM check_ins ORDER BY id", a)
        if row:
            conn.execute("DELETE FROM check_ins WHERE id = %s", (row[0],))
    elif kind == "review" and venue_there and user_there:
        conn.execute("INSERT INTO reviews (user_id, venue_id, rating, is_verified, created_at) VALUES (%s, %s, %s, %s, %s) "
                     "ON CONFLICT (user_id, venue_id) DO UPDATE SET rating = EXCLUDED.rating, is_verified = NOT reviews.is_verified",
                     (u, v, 1 + c % 5, c % 2 == 0, at))
    elif kind == "delete_review":
        conn.execute("DELETE FROM reviews WHERE id = (SELECT id FROM reviews ORDER BY id OFFSET %s LIMIT 1)", (a,))
    elif kind == "favorite" and venue_there and user_there:
        if conn.execute("DELETE FROM favorites WHERE user_id = %s AND venue_id = %s", (u, v)).rowcount == 0:
            conn.execute("INSERT INTO favorites (user_id, venue_id, created_at) VALUES (%s, %s, %s)", (u, v, at))
    elif kind == "collect" and venue_there and user_there:
        if conn.execute("DELETE FROM collection_venues WHERE collection_id = %s AND venue_id = %s", (u, v)).rowcount == 0:
            conn.execute("INSERT INTO collection_venues (collection_id, venue_id, added_at) VALUES (%s, %s, %s)",
                         (u, v, at))
    elif kind == "event" and user_there:
        o = OFFERS[b % len(OFFERS)]
        conn.execute("INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, "
                     "visibility, is_analytics_event, created_at) SELECT %s, 'commerce', %s, 'offer', id, venue_id, "
                     "'private', true, %s FROM flash_offers WHERE id = %s",
                     ("flash_offer_view" if c % 3 else "flash_offer_click", u, at, o))
    elif kind == "claim" and user_there:
        o = OFFERS[b % len(OFFERS)]
        red = at + timedelta(minutes=c % 90) if c % 2 else None
        conn.execute("INSERT INTO flash_offer_claims (offer_id, user_id, token, status, redeemed_at, expires_at, created_at) "
                     "SELECT id, %s, %s, %s, %s, %s, %s FROM flash_offers WHERE id = %s ON CONFLICT DO NOTHING",
                     (u, _token(n), "redeemed" if red else "active", red, at + timedelta(hours=2), at, o))
    elif kind == "redeem":
        conn.execute("UPDATE flash_offer_claims SET status = 'redeemed', redeemed_at = created_at + %s "
                     "WHERE id = (SELECT id FROM flash_offer_claims WHERE status <> 'redeemed' ORDER BY id OFFSET %s LIMIT 1)",
                     (timedelta(minutes=c % 200), a % 3))
    elif kind == "offer_retimed":  # its start day (and whether it straddles a period's start) moves
        shift = timedelta(days=b - 3, minutes=c % 600)
        conn.execute("UPDATE flash_offers SET start_time = start_time + %s, end_time = end_time + %s WHERE id = %s",
                     (shift, shift, OFFERS[a % len(OFFERS)]))
    elif kind == "venue_timezone" and venue_there:  # its offers' claims move to other local hours
        conn.execute("UPDATE venues SET timezone = %s WHERE id = %s",
                     (["UTC", "Asia/Tokyo", "America/New_York", "Asia/Kolkata"][c % 4], v))
    elif kind == "offer_moves" and venue_there:
        conn.execute("UPDATE flash_offers SET venue_id = %s WHERE id = %s", (v, OFFERS[a % len(OFFERS)]))
    elif kind == "notify" and user_there:
        channels = {"push": bool(b & 1), "in_app": bool(b & 2), "email": bool(c % 2)}
        delivered = {k: at.isoformat() for k in ("push", "in_app", "email") if (a + c) % 3 != 0 and channels[k]}
        cat = ["flash_offer", "friend_request", "system"][c % 3]
        conn.execute("INSERT INTO notifications (user_id, category, title, body, channels, delivered_at, read, read_at, "
                     "created_at) VALUES (%s, %s, 't', 'b', %s, %s, %s, %s, %s)",
                     (u, cat, json.dumps(channels), json.dumps(delivered) if delivered else None, c % 4 == 0,
                      at + timedelta(minutes=3) if c % 4 == 0 else None, at))
    elif kind == "read":
        conn.execute("UPDATE notifications SET read = true, read_at = created_at + interval '1 minute', clicked = true, "
                     "clicked_at = created_at + interval '2 minutes' "
                     "WHERE id = (SELECT id FROM notifications WHERE NOT read ORDER BY id OFFSET %s LIMIT 1)", (a % 3,))
    elif kind == "recategorize" and venue_there:
        conn.execute("UPDATE venues SET category = %s WHERE id = %s", (["bar", "cafe", "park"][c % 3], v))
    elif kind == "delete_venue" and venue_there:
        conn.execute("DELETE FROM flash_offer_claims WHERE offer_id IN (SELECT id FROM flash_offers WHERE venue_id = %s)", (v,))
        conn.execute("DELETE FROM venues WHERE id = %s", (v,))
    elif kind == "delete_user" and user_there:
        conn.execute("DELETE FROM users WHERE id = %s", (u,))


KINDS = ["check_in", "check_in", "check_in_fn", "check_out", "move_venue", "move_time", "delete_check_in", "review",
         "delete_review", "favorite", "collect", "event", "event", "claim", "redeem", "offer_moves", "notify", "read",
         "recategorize", "delete_venue", "delete_user", "offer_retimed", "venue_timezone", "fold", "fold", "fold"]
step = st.tuples(st.sampled_from(KINDS), st.integers(0, 11), st.integers(0, 7), st.integers(0, 60 * 24 * 45))
history = st.lists(step, min_size=1, max_size=40)


# -- comparisons ------------------------------------------------------------------------------------------


def assert_rollups_equal_recount(conn) -> None:
    """After a fold of every consumer: each rollup table against the recount of the raw rows."""
    s = truth.snapshot(conn)
    for table, grain in (("rollup_hourly", "hour"), ("rollup_daily", "day")):
        assert truth.stored_buckets(conn, table) == truth.buckets(s, grain), table
    assert truth.stored_weekly(conn) == {b: m["visitors"] for b, m in truth.buckets(s, "week").items() if m["visitors"]}
    venue_days = {k: v for k, v in truth.venue_days(s).items() if any(x for x in v.values())}
    assert truth.stored_venue_days(conn) == venue_days
    assert truth.stored_notification_days(conn) == truth.notification_days(s)
    assert truth.stored_pairs(conn) == truth.pair_stats(s)
    stored = {r["offer_id"]: r for r in truth.rows(conn, "SELECT * FROM rollup_offer_funnel")}
    assert set(stored) == {o["id"] for o in s["offers"]}
    for o in s["offers"]:
        want = truth.funnel(s, [o])
        got = stored[o["id"]]
        for k in ("viewed_users", "clicked_users", "claimed_users", "redeemed_users"):
            assert got[k] == want[k], (o["id"], k)
        assert got["claim_p50_s"] == pytest.approx(want["time_to_claim_p50_s"])
        assert got["redeem_p90_s"] == pytest.approx(want["time_to_redeem_p90_s"])
    assert_venue_stats_equal_recount(conn, s)


def assert_venue_stats_equal_recount(conn, s=None) -> None:
    s = s or truth.snapshot(conn)
    rows = truth.rows(conn, "SELECT * FROM venue_stats")
    at = rows[0]["refreshed_at"] if rows else NOW
    want = truth.venue_stats(s, at)
    got = {r.pop("venue_id"): r for r in rows}
    assert set(got) == set(want)
    scores: dict = {}
    for w in want.values():
        for c in ("", w["category"]):
            scores[(c, w["engagement_score"])] = scores.get((c, w["engagement_score"]), 0) + 1
    assert {(r["category"], r["score"]): r["venues"] for r in truth.rows(conn, "SELECT * FROM venue_stats_scores")
            if r["venues"]} == scores
    for vid, w in want.items():
        for k, value in w.items():
            if k == "avg_rating" and value is not None:  # numeric division: PostgreSQL keeps 16 decimals
                assert got[vid][k] == pytest.approx(value, abs=Decimal("1e-12")), (vid, k)
            else:
                assert got[vid][k] == value, (vid, k)


def assert_pages_equal_recount(conn, db) -> None:
    """The pages' numbers (rollups + live tail + raw edges) against the recount, folded or not."""
    db.invalidate("overview")  # results the runner cached for an earlier example
    s = truth.snapshot(conn)
    check_ins = s["check_ins"]

    # overview: KPIs at a fixed instant, trends in whole days / hours and over a range cut mid-hour
    k = overview.kpis(db, now=NOW)["metrics"]
    day, prev_day, prev_now = TODAY, TODAY - timedelta(days=7), NOW - timedelta(days=7)

    def n_in(times, lo, hi):
        return sum(1 for t in times if t is not None and lo <= t < hi)

    ins = [c["checked_in_at"] for c in check_ins]
    assert (k["check_ins"]["today"], k["check_ins"]["last_week"]) == (n_in(ins, day, NOW), n_in(ins, prev_day, prev_now))
    assert k["active_check_ins"]["today"] == sum(1 for c in check_ins if c["is_active"])
    assert k["active_check_ins"]["last_week"] == sum(
        1 for c in check_ins if c["checked_in_at"] <= prev_now
        and ((c["checked_out_at"] is not None and c["checked_out_at"] > prev_now)
             or (c["checked_out_at"] is None and c["is_active"])))
    rv = [r["created_at"] for r in s["reviews"]]
    assert (k["reviews"]["today"], k["reviews"]["last_week"]) == (n_in(rv, day, NOW), n_in(rv, prev_day, prev_now))
    cl = [x["created_at"] for x in s["claims"]]
    rd = [x["redeemed_at"] for x in s["claims"]]
    assert (k["claims"]["today"], k["claims"]["last_week"]) == (n_in(cl, day, NOW), n_in(cl, prev_day, prev_now))
    assert (k["redemptions"]["today"], k["redemptions"]["last_week"]) == (n_in(rd, day, NOW),
                                                                        n_in(rd, prev_day, prev_now))

    hour = NOW.replace(minute=0, second=0)
    # whole buckets, ranges cut mid-bucket, ranges inside one hour or one day, a range ending late in a past
    # hour (that hour is taken whole and the rest subtracted) and one ending now
    for grain, lo, hi in (("day", TODAY - timedelta(days=50), TODAY + timedelta(days=2)),
                          ("hour", TODAY - timedelta(days=1), TODAY + timedelta(days=1)),
                          ("week", NOW - timedelta(days=30, minutes=17), NOW + timedelta(hours=5)),
                          ("hour", hour - timedelta(hours=2, minutes=50), hour - timedelta(hours=2, minutes=10)),
                          ("day", TODAY - timedelta(hours=21), TODAY - timedelta(hours=4)),
                          ("day", TODAY - timedelta(days=3), hour - timedelta(hours=5, minutes=15)),
                          ("hour", TODAY - timedelta(days=2), NOW)):
        df = overview.trends(db, lo, hi, grain)
        got = {r["bucket"].to_pydatetime(): (r["check_ins"], r["unique_visitors"], r["reviews"], r["claims"],
                                             r["redemptions"]) for r in df.to_dict("records")}
        for b, values in got.items():
            end = b + {"hour": truth.HOUR, "day": truth.DAY, "week": truth.WEEK}[grain]
            a, z = max(b, lo), min(end, hi)
            want = (n_in(ins, a, z), len({c["user_id"] for c in check_ins if a <= c["checked_in_at"] < z}),
                    n_in(rv, a, z), n_in(cl, a, z), n_in(rd, a, z))
            assert values == want, (grain, b)

    lo, hi = TODAY - timedelta(days=29), TODAY + timedelta(days=1)
    for start, end in ((lo, hi), (NOW - timedelta(days=3, minutes=5), NOW),
                       (TODAY - timedelta(hours=21), TODAY - timedelta(hours=4))):
        top = overview.top_venues(db, start, end, limit=3)
        names = {v["id"]: v["name"] for v in s["venues"]}
        counts: dict = {}
        for c in check_ins:
            if start <= c["checked_in_at"] < end:
                counts.setdefault(c["venue_id"], set()).add(c["user_id"])
        n = {vid: sum(1 for c in check_ins if c["venue_id"] == vid and start <= c["checked_in_at"] < end)
             for vid in counts}
        order = sorted(n, key=lambda vid: (-n[vid], names[vid], vid))[:3]
        assert list(top["venue_id"]) == [str(v) for v in order]
        assert list(top["check_ins"]) == [n[v] for v in order]
        assert list(top["unique_visitors"]) == [len(counts[v]) for v in order]

    # engagement: user-venue pairs and notifications
    pairs = truth.pair_stats(s)
    for cat in (None, "bar", "cafe", "park"):
        p = engagement.pair_summary(db, category=cat)
        want = pairs.get(cat or "", {"scores": {}, "users": 0, "venues": 0})
        scores = [sc for sc, n in want["scores"].items() for _ in range(n)]
        assert (p["pairs"], p["users"], p["venues"]) == (len(scores), want["users"], want["venues"]), cat
        if scores:
            assert p["p50"] == pytest.approx(truth.percentile_cont(scores, 0.5)), cat
            assert p["p99"] == pytest.approx(truth.percentile_cont(scores, 0.99)), cat
            assert p["mean_score"] == pytest.approx(sum(scores) / len(scores))
            assert (p["min_score"], p["max_score"]) == (min(scores), max(scores))
        h = engagement.pair_histogram(db, category=cat, buckets=7)
        assert int(h["pairs"].sum()) == len(scores)
    nd = truth.notification_days(s)
    for lo_n, hi_n in ((NOW - timedelta(days=20, hours=3), NOW + timedelta(days=1)),
                       (TODAY - timedelta(hours=21), TODAY - timedelta(hours=4))):
        ch = engagement.notification_channels(db, lo_n, hi_n)
        got = {(r["category"], r["channel"]): (r["sent"], r["delivered"], r["read"], r["clicked"])
               for r in ch.to_dict("records")}
        want: dict = {}
        for n_ in s["notifications"]:
            if not lo_n <= n_["created_at"] < hi_n:
                continue
            one = {"notifications": [n_]}
            for (_, cat, chan), v in truth.notification_days({**s, **one}).items():
                if chan:
                    w = want.setdefault((cat, chan), [0, 0, 0, 0])
                    for i in range(4):
                        w[i] += v[i]
        assert got == {key: tuple(v) for key, v in want.items() if v[0] > 0}, (lo_n, hi_n)
    assert nd is not None

    # offers: the ordered funnel of every offer and across them, and conversion by day
    f = offers.funnel(db, NOW - timedelta(days=400), NOW + timedelta(days=400))
    for o in s["offers"]:
        row = f["offers"].set_index("offer_id").loc[o["id"]].to_dict()
        want = truth.funnel(s, [o])
        for key, value in want.items():
            if value is None:
                assert row[key] is None or row[key] != row[key], key
            else:
                assert row[key] == pytest.approx(value), (o["id"], key)
    total = truth.funnel(s, s["offers"])
    for key in ("viewed_users", "claimed_users", "time_to_claim_p50_s", "time_to_redeem_p90_s"):
        value = f["total"][key]
        assert (value is None or value != value) if total[key] is None else value == pytest.approx(total[key])
    by_day = offers.conversion_by_day(db, TODAY - timedelta(days=40), TODAY + timedelta(days=2))
    want_days: dict = {}
    for o in s["offers"]:
        for p in truth.funnel_users(s, o).values():
            if not TODAY - timedelta(days=40) <= p["first_view"] < TODAY + timedelta(days=2):
                continue
            d = want_days.setdefault(p["first_view"].astimezone(UTC).date(), [0, 0, 0, 0])
            d[0] += 1
            d[1] += bool(p["first_click"])
            d[2] += bool(p["claimed_at"])
            d[3] += bool(p["claimed_at"] and p["redeemed_at"])
    assert {r["day"]: [r["viewed_users"], r["clicked_users"], r["claimed_users"], r["redeemed_users"]]
            for r in by_day.to_dict("records")} == want_days

    # when it works: claims and redemptions by the venue's local weekday and hour, over whole days (the
    # rollup per start day, the offers straddling the start and the live tail) and over a range cut mid-day
    zones = {v: ZoneInfo(z) for v, z in conn.execute("SELECT id, timezone FROM venues").fetchall()}
    for lo, hi in ((TODAY - timedelta(days=10), TODAY + timedelta(days=1)),
                   (TODAY - timedelta(days=40), TODAY + timedelta(days=2)), (NOW - timedelta(days=12, hours=5), NOW)):
        want_when: dict = {}
        for o in s["offers"]:
            if not (o["start_time"] < hi and o["end_time"] > lo):
                continue
            for c in s["claims"]:
                for kind, at in (("claims", c["created_at"]), ("redemptions", c["redeemed_at"])):
                    if c["offer_id"] == o["id"] and at is not None:
                        local = at.astimezone(zones[o["venue_id"]])
                        key = (kind, local.isoweekday(), local.hour)
                        want_when[key] = want_when.get(key, 0) + 1
        when = offers.when_it_works(db, lo, hi)
        assert {(r["kind"], r["weekday"], r["hour"]): r["n"] for r in when.to_dict("records")} == want_when, (lo, hi)


# -- histories --------------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=history)
def test_every_page_number_equals_a_recount_whatever_was_folded(conn, db, steps):
    reset(conn, db)
    for n, op in enumerate(steps):
        apply(conn, db, op, n)
    assert_pages_equal_recount(conn, db)  # part folded, part in the live tail
    fold_all(db)
    assert_rollups_equal_recount(conn)
    assert_pages_equal_recount(conn, db)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=history, repeat=st.integers(2, 3))
def test_folding_again_or_twice_in_a_row_changes_nothing(conn, db, steps, repeat):
    reset(conn, db)
    for n, op in enumerate(steps):
        apply(conn, db, op, n)
    for _ in range(repeat):
        fold_all(db)
    assert_rollups_equal_recount(conn)


def test_a_fold_that_fails_half_way_leaves_its_changes_for_the_next(conn, db):
    reset(conn, db)
    for n, op in enumerate([("check_in", 1, 1, 30), ("review", 2, 1, 40), ("notify", 1, 3, 10)]):
        apply(conn, db, op, n)
    with psycopg.connect(conn.info.dsn, autocommit=False) as broken:
        broken.execute("SELECT vp_fold_activity()")
        broken.execute("SELECT vp_fold_venue_stats()")
        broken.rollback()  # as if the job died before its commit
    assert conn.execute("SELECT check_ins FROM rollup_daily WHERE check_ins > 0").fetchall() == []
    assert_pages_equal_recount(conn, db)
    fold_all(db)
    assert_rollups_equal_recount(conn)


def test_concurrent_writers_and_two_folds_at_once_lose_and_double_nothing(conn, db, db_url):
    reset(conn, db)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                for n in range(60):
                    op = (rng.choice(["check_in_fn", "check_in", "check_out", "move_venue", "move_time",
                                      "delete_check_in", "review", "favorite", "event", "claim", "notify"]),
                          rng.randrange(12), rng.randrange(8), rng.randrange(60 * 24 * 40))
                    try:
                        with c.transaction():
                            apply(c, None, op, seed * 1000 + n)
                    except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                        pass  # two writers crossing the same rows (or one moving a row the other updates
                        # to another partition): one gives way, as the app's would, and its changes are undone
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    def folder() -> None:
        try:
            with Database(db_url, record=False) as d:
                while not stop.is_set():
                    rollups.fold(d)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    folders = [threading.Thread(target=folder) for _ in range(2)]
    for t in writers + folders:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in folders:
        t.join()
    assert not errors, errors
    assert_pages_equal_recount(conn, db)
    fold_all(db)
    assert_rollups_equal_recount(conn)


def test_a_rebuild_while_the_app_writes_ends_equal_to_the_recount(conn, db, db_url):
    reset(conn, db)
    for n in range(40):
        apply(conn, db, (["check_in", "review", "notify", "event", "claim"][n % 5], n, n, n * 997 % (60 * 24 * 40)), n)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                for n in range(40):
                    apply(c, None, (["check_in_fn", "move_time", "check_out"][n % 3], n, n + 1, n * 613), 500 + n)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    progress: list[dict] = []
    result = rollups.rebuild(db_url, batch_days=7, progress=progress.append)
    t.join()
    assert not errors, errors
    assert result["batches"] == len(progress) >= 2
    assert progress[-1]["done"] == progress[-1]["total"]
    assert_pages_equal_recount(conn, db)
    fold_all(db)
    assert_rollups_equal_recount(conn)


def test_an_interrupted_rebuild_resumes_where_it_stopped(conn, db, db_url):
    reset(conn, db)
    apply(conn, db, ("check_in", 1, 1, 60 * 24 * 20), 0)

    class Stop(Exception):
        pass

    def stop_after_two(p: dict) -> None:
        if p["done"] >= 2:
            raise Stop

    with pytest.raises(Stop):
        rollups.rebuild(db_url, batch_days=1, progress=stop_after_two)
    seen: list[dict] = []
    result = rollups.rebuild(db_url, batch_days=1, progress=seen.append)
    assert result["resumed"] and seen[0]["done"] == 3
    fold_all(db)
    assert_rollups_equal_recount(conn)


def test_reconcile_finds_and_repairs_what_reached_a_partition_directly(conn, db, db_url):
    reset(conn, db)
    apply(conn, db, ("check_in", 1, 1, 30), 0)
    fold_all(db)
    part = conn.execute("SELECT tableoid::regclass::text FROM check_ins LIMIT 1").fetchone()[0]
    # a write into the partition itself: the parent's statement triggers do not see it
    conn.execute(f'INSERT INTO "{part}" (user_id, venue_id, checked_in_at, is_active) '
                 "SELECT user_id, venue_id, checked_in_at + interval '1 second', false FROM check_ins LIMIT 1")
    drift = rollups.venue_stats_drift(db_url, repair=True)
    assert [d["venue_id"] for d in drift] == [VENUES[1]]
    assert drift[0]["stored"]["total_check_ins"] == 1 and drift[0]["expected"]["total_check_ins"] == 2
    assert rollups.venue_stats_drift(db_url) == []
    assert_venue_stats_equal_recount(conn)


def test_status_shows_the_live_tail_and_its_oldest_change(conn, db):
    reset(conn, db)
    fold_all(db)
    assert {r["consumer"]: r["tail_rows"] for r in rollups.status(db)} == dict.fromkeys(rollups.CONSUMERS, 0)
    apply(conn, db, ("check_in_fn", 1, 1, 10), 0)
    st_ = {r["consumer"]: r for r in rollups.status(db)}
    assert st_["activity"]["tail_rows"] >= 1 and st_["pairs"]["tail_rows"] >= 1
    assert st_["activity"]["oldest_unfolded_at"] is not None and st_["activity"]["lag_seconds"] >= 0
    fold_all(db)
    assert all(r["tail_rows"] == 0 for r in rollups.status(db))


def assert_owner_overview_equals_recount(conn, owner_db, mine: set) -> None:
    """An owner's Overview (whole days of their venues from rollup_venue_daily, the rest raw, all under
    row-level security) against the recount of their venues' rows."""
    owner_db.invalidate("overview")
    s = truth.snapshot(conn)
    cis = [c for c in s["check_ins"] if c["venue_id"] in mine]

    def n_in(times, lo, hi):
        return sum(1 for t in times if t is not None and lo <= t < hi)

    k = overview.kpis(owner_db, now=NOW)["metrics"]
    ins = [c["checked_in_at"] for c in cis]
    prev_now = NOW - timedelta(days=7)
    assert k["check_ins"]["today"] == n_in(ins, TODAY, NOW)
    assert k["check_ins"]["last_week"] == n_in(ins, TODAY - timedelta(days=7), prev_now)
    assert k["active_check_ins"]["today"] == sum(1 for c in cis if c["is_active"])
    assert k["active_check_ins"]["last_week"] == sum(
        1 for c in cis if c["checked_in_at"] <= prev_now
        and ((c["checked_out_at"] is not None and c["checked_out_at"] > prev_now)
             or (c["checked_out_at"] is None and c["is_active"])))
    # whole days, inside one day, ending late in a past day (taken whole, the rest subtracted)
    for grain, lo, hi in (("week", TODAY - timedelta(days=50), TODAY + timedelta(days=2)),
                          ("day", TODAY - timedelta(hours=21), TODAY - timedelta(hours=4)),
                          ("day", TODAY - timedelta(days=3), TODAY - timedelta(hours=3))):
        df = overview.trends(owner_db, lo, hi, grain)
        for r in df.to_dict("records"):
            b = r["bucket"].to_pydatetime()
            a, z = max(b, lo), min(b + (truth.WEEK if grain == "week" else truth.DAY), hi)
            assert (r["check_ins"], r["unique_visitors"]) == (
                n_in(ins, a, z), len({c["user_id"] for c in cis if a <= c["checked_in_at"] < z})), (grain, b)
    lo, hi = TODAY - timedelta(days=50), TODAY + timedelta(days=2)
    top = overview.top_venues(owner_db, lo, hi, limit=5)
    assert set(top["venue_id"]) <= {str(v) for v in mine}
    for r in top.to_dict("records"):
        vid = uuid.UUID(r["venue_id"])
        here = [c for c in cis if c["venue_id"] == vid and lo <= c["checked_in_at"] < hi]
        assert (r["check_ins"], r["unique_visitors"]) == (len(here), len({c["user_id"] for c in here}))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=history)
def test_an_owners_overview_counts_their_venues_only_whatever_was_folded(conn, db, owner, steps):
    reset(conn, db)
    for n, op in enumerate(steps):
        apply(conn, db, op, n)
    assert_owner_overview_equals_recount(conn, owner, set(VENUES[:2]))
    fold_all(db)
    assert_owner_overview_equals_recount(conn, owner, set(VENUES[:2]))


class _OwnerDb:
    """Queries as the owners' role with venue 0 and 1 in scope (what the dashboard's ScopedDatabase does)."""

    def __init__(self, db: Database):
        self.db = db

    def run(self, name, params=None, **kw):
        return self.db.run(name, params, venue_scope=list(VENUES[:2]), **kw)

    def invalidate(self, tag: str) -> int:
        return self.db.invalidate(tag)


@pytest.fixture
def owner(db_url):
    """Venue 0 and 1's owner, through the owners' role and row-level security."""
    roles = ensure_login_roles(db_url)
    with Database(roles["owner_url"], record=False, max_size=2) as d:
        yield _OwnerDb(d)


def test_the_fold_job_reports_what_it_folded_and_the_lag_page_then_shows_none(conn, db):
    from venuepulse.queries.ops import maintenance
    from venuepulse.queries.pages import jobs_health

    reset(conn, db)
    for n, op in enumerate([("check_in_fn", 1, 1, 5), ("review", 2, 2, 9), ("notify", 3, 1, 2)]):
        apply(conn, db, op, n)
    lag = {r["consumer"]: r for r in jobs_health.rollup_lag(db)}
    assert lag["activity"]["tail_rows"] > 0 and lag["activity"]["lag_seconds"] >= 0
    out = maintenance.fold_rollups(db)
    assert out.rows == sum(int(c["changes"]) for c in out.details["consumers"].values()) > 0
    assert set(out.details["consumers"]) == set(rollups.CONSUMERS)
    assert all(r["tail_rows"] == 0 for r in jobs_health.rollup_lag(db))
    assert maintenance.reconcile_rollups(db).summary == "venue_stats equals its recount"


def test_cli_rebuilds_folds_and_reports(run_cli, conn, db, db_url):
    reset(conn, db)
    apply(conn, db, ("check_in", 1, 1, 60 * 24 * 3), 0)
    env = {"VENUEPULSE_DATABASE_URL": db_url}
    status = run_cli("rollups", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "activity: folded at" in status.stdout and "changes not folded yet" in status.stdout
    rebuilt = run_cli("rollups", "rebuild", "--from", (TODAY - timedelta(days=5)).date().isoformat(), env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rollups rebuilt through" in rebuilt.stdout and "then pair rollups and venue_stats" in rebuilt.stdout
    assert run_cli("rollups", "fold", env=env).returncode == 0
    assert_rollups_equal_recount(conn)
    bad = run_cli("rollups", "rebuild", "--from", "yesterday", env=env)
    assert bad.returncode == 2 and "--from must be a date" in bad.stderr


def test_a_transaction_that_writes_then_folds_folds_its_own_changes_once(conn, db):
    reset(conn, db)
    with conn.transaction():
        apply(conn, db, ("check_in", 1, 1, 30), 0)
        apply(conn, db, ("review", 2, 1, 40), 1)
        conn.execute("SELECT refresh_venue_stats()")
        conn.execute("SELECT vp_fold_activity()")
        total = conn.execute("SELECT total_check_ins, review_count FROM venue_stats WHERE venue_id = %s",
                             (VENUES[1],)).fetchone()
        assert total == (1, 1)
    fold_all(db)  # after the commit: nothing of it is folded a second time
    assert_rollups_equal_recount(conn)
    assert_pages_equal_recount(conn, db)
