"""queries.overview against known data: hand-computed windows and a brute-force recount over random rows."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.rows import add_check_in, add_claim, add_offer, add_review, add_users, add_venue
from venuepulse.queries.pages import overview

NOW = datetime(2025, 6, 11, 15, 0, tzinfo=UTC)  # a Wednesday afternoon


# -- hand-computed -----------------------------------------------------------------------------------------


def test_kpis_compare_today_so_far_with_the_same_hours_a_week_earlier(conn, db):
    u = add_users(conn, 8)
    v = add_venue(conn, "V")
    day, prev_day = datetime(2025, 6, 11, tzinfo=UTC), datetime(2025, 6, 4, tzinfo=UTC)
    # today's window is [06-11 00:00, 15:00): 00:00 and 14:59 count, 15:00 and the day before do not
    add_check_in(conn, u[0], v, day, day + timedelta(hours=1))
    add_check_in(conn, u[1], v, day + timedelta(hours=14, minutes=59))  # active now
    add_check_in(conn, u[2], v, NOW, NOW + timedelta(minutes=5))
    add_check_in(conn, u[3], v, day - timedelta(seconds=1), day + timedelta(hours=1))
    # last week's window is [06-04 00:00, 06-04 15:00)
    add_check_in(conn, u[4], v, prev_day + timedelta(hours=14), prev_day + timedelta(hours=16))  # holds 15:00
    add_check_in(conn, u[5], v, prev_day + timedelta(hours=15), prev_day + timedelta(hours=15, minutes=30))
    add_check_in(conn, u[6], v, prev_day + timedelta(hours=13), prev_day + timedelta(hours=15))  # ended at it
    add_check_in(conn, u[7], v, prev_day + timedelta(hours=10), None, active=False)  # end unknown
    add_check_in(conn, u[0], v, prev_day - timedelta(days=3))  # still active: held last week's instant too
    add_review(conn, u[0], v, day + timedelta(hours=3))
    add_review(conn, u[1], v, prev_day + timedelta(hours=3))
    add_review(conn, u[2], v, prev_day + timedelta(hours=16))  # after last week's cut-off
    offer = add_offer(conn, v, prev_day - timedelta(days=1), day + timedelta(days=1))
    add_claim(conn, offer, u[0], day + timedelta(hours=1), redeemed_at=day + timedelta(hours=2), n=1)
    add_claim(conn, offer, u[1], day + timedelta(hours=2), n=2)
    add_claim(conn, offer, u[2], prev_day + timedelta(hours=9), redeemed_at=day + timedelta(hours=1), n=3)

    k = overview.kpis(db, now=NOW)
    got = {key: (m["today"], m["last_week"]) for key, m in k["metrics"].items()}
    assert got == {
        "check_ins": (2, 3),           # 00:00 and 14:59 | 14:00, 13:00 and 10:00 on 06-04
        "active_check_ins": (2, 3),    # u1's and u0's open check-ins | [14:00,16:00), [15:00,15:30), u0's
        "reviews": (1, 1),
        "claims": (2, 1),
        "redemptions": (2, 0),
    }
    assert (k["as_of"], k["day_start"]) == (NOW, day)
    assert (k["compare_start"], k["compare_end"]) == (prev_day, NOW - timedelta(days=7))
    assert k["metrics"]["check_ins"]["change"] == pytest.approx(-1 / 3)
    assert k["metrics"]["check_ins"]["delta"] == -1
    assert k["metrics"]["redemptions"]["change"] is None  # nothing to compare with
    table = overview.kpi_table(k)
    assert list(table["metric"]) == list(overview.METRICS.values())
    assert list(table["today"]) == [2, 2, 1, 2, 2]


@pytest.mark.clock
def test_kpis_default_to_the_database_clock(conn, db):
    u = add_users(conn, 1)
    v = add_venue(conn, "V")
    conn.execute("SELECT check_in(%s, %s)", (u[0], v))
    at = conn.execute("SELECT checked_in_at FROM check_ins").fetchone()[0]
    k = overview.kpis(db)
    assert at <= k["as_of"] and k["day_start"] == k["as_of"].astimezone(UTC).replace(hour=0, minute=0, second=0,
                                                                                      microsecond=0)
    assert k["metrics"]["active_check_ins"]["today"] == 1
    # the check-in happened a moment before "now": today's unless a UTC midnight passed in between
    assert k["metrics"]["check_ins"]["today"] == (1 if at >= k["day_start"] else 0)


def test_kpis_refuse_a_naive_now(db):
    with pytest.raises(ValueError, match="time zone"):
        overview.kpis(db, now=datetime(2025, 6, 11, 15))


def test_presence_tells_an_empty_database_from_one_with_activity(conn, db):
    assert overview.presence(db) == {"venue_count": 0, "has_activity": False}
    v = add_venue(conn, "V")
    assert overview.presence(db) == {"venue_count": 1, "has_activity": False}
    add_check_in(conn, add_users(conn, 1)[0], v, NOW)
    assert overview.presence(db) == {"venue_count": 1, "has_activity": True}


# -- brute force over random rows --------------------------------------------------------------------------


def _floor(ts: datetime, grain: str) -> datetime:
    ts = ts.astimezone(UTC)
    if grain == "hour":
        return ts.replace(minute=0, second=0, microsecond=0)
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if grain == "week" else day


def random_history(conn, seed: int, now: datetime = NOW):
    rng = random.Random(seed)
    users = add_users(conn, 15)
    venues = [add_venue(conn, f"V{i}") for i in range(4)]
    day = _floor(now, "day")
    # moments that sit exactly on window edges, plus random ones over three weeks
    edges = [day, now, day - timedelta(days=7), now - timedelta(days=7), now - timedelta(days=7, microseconds=1)]

    def moment():
        if rng.random() < 0.15:
            return rng.choice(edges)
        span = 8 if rng.random() < 0.6 else 21  # most activity in the compared days
        return now - timedelta(seconds=rng.randint(-86_400, span * 86_400))

    check_ins = []
    for _ in range(160):
        at, kind = moment(), rng.random()
        out = None if kind < 0.2 else (None if kind < 0.3 else at + timedelta(minutes=rng.randint(0, 300)))
        active = kind < 0.2
        add_check_in(conn, rng.choice(users), rng.choice(venues), at, out, active)
        check_ins.append((at, out, active))
    reviews = []
    for u in users:
        for v in rng.sample(venues, 2):
            at = moment()
            add_review(conn, u, v, at)
            reviews.append(at)
    claims = []
    n = 0
    for v in venues:
        offer = add_offer(conn, v, now - timedelta(days=30), now + timedelta(days=2))
        for u in rng.sample(users, 9):
            at = moment()
            red = (moment() if rng.random() < 0.5 else at + timedelta(minutes=rng.randint(1, 600))) \
                if rng.random() < 0.6 else None
            n += 1
            add_claim(conn, offer, u, at, red, n)
            claims.append((at, red))
    return check_ins, reviews, claims


@pytest.mark.parametrize("seed", [1, 2])
def test_kpis_equal_a_brute_force_recount(conn, db, seed, boundary_now):
    # "today" and "the same hours a week earlier" at a month's last and first seconds, a Monday 00:00, ...
    check_ins, reviews, claims = random_history(conn, seed, boundary_now)
    day = _floor(boundary_now, "day")
    prev_day, prev_now = day - timedelta(days=7), boundary_now - timedelta(days=7)

    def n_in(times, lo, hi):
        return sum(1 for t in times if t is not None and lo <= t < hi)

    def window(times):
        return n_in(times, day, boundary_now), n_in(times, prev_day, prev_now)

    expected = {
        "check_ins": window([c[0] for c in check_ins]),
        "active_check_ins": (sum(1 for c in check_ins if c[2]),
                             sum(1 for at, out, active in check_ins
                                 if at <= prev_now and ((out is not None and out > prev_now) or (out is None and active)))),
        "reviews": window(reviews),
        "claims": window([c[0] for c in claims]),
        "redemptions": window([c[1] for c in claims]),
    }
    got = {key: (m["today"], m["last_week"]) for key, m in overview.kpis(db, now=boundary_now)["metrics"].items()}
    assert got == expected


@pytest.mark.parametrize("grain", ["hour", "day", "week"])
def test_trends_equal_a_brute_force_bucketing(conn, db, grain):
    check_ins, reviews, claims = random_history(conn, 7)
    start = datetime(2025, 6, 1, tzinfo=UTC) if grain != "hour" else datetime(2025, 6, 9, tzinfo=UTC)
    end = datetime(2025, 6, 12, tzinfo=UTC)
    df = overview.trends(db, start, end, grain)

    def buckets(times):
        return Counter(_floor(t, grain) for t in times if t is not None and start <= t < end)

    expected_keys = []
    b = _floor(start, grain)
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}[grain]
    while b < end:
        expected_keys.append(b)
        b += step
    assert [t.to_pydatetime() for t in df["bucket"]] == expected_keys
    for col, times in (("check_ins", [c[0] for c in check_ins]), ("reviews", reviews),
                       ("claims", [c[0] for c in claims]), ("redemptions", [c[1] for c in claims])):
        counted = buckets(times)
        assert list(df[col]) == [counted.get(k, 0) for k in expected_keys], col
    assert int(df["check_ins"].sum()) == sum(1 for c in check_ins if start <= c[0] < end)


def test_trends_count_distinct_visitors_per_bucket(conn, db):
    u = add_users(conn, 2)
    v = add_venue(conn, "V")
    d = datetime(2025, 6, 10, tzinfo=UTC)
    for h in (1, 2, 3):
        add_check_in(conn, u[0], v, d + timedelta(hours=h), d + timedelta(hours=h, minutes=30))
    add_check_in(conn, u[1], v, d + timedelta(hours=5), d + timedelta(hours=6))
    df = overview.trends(db, d - timedelta(days=1), d + timedelta(days=1), "day")
    assert list(df["check_ins"]) == [0, 4] and list(df["unique_visitors"]) == [0, 2]


def test_trends_refuse_bad_grain_and_ranges(db):
    with pytest.raises(ValueError, match="unknown grain 'month'"):
        overview.trends(db, NOW - timedelta(days=1), NOW, "month")
    with pytest.raises(ValueError, match="range is empty"):
        overview.trends(db, NOW, NOW, "day")
    with pytest.raises(ValueError, match="14 days"):
        overview.trends(db, NOW - timedelta(days=30), NOW, "hour")


def test_top_venues_rank_by_check_ins_in_the_range(conn, db):
    u = add_users(conn, 3)
    a, b, c = add_venue(conn, "Alpha"), add_venue(conn, "Bravo"), add_venue(conn, "Charlie")
    d = datetime(2025, 6, 10, tzinfo=UTC)
    for i in range(3):
        add_check_in(conn, u[i], b, d + timedelta(hours=i), d + timedelta(hours=i, minutes=1))
    add_check_in(conn, u[0], a, d, d + timedelta(minutes=1))
    add_check_in(conn, u[0], a, d + timedelta(hours=4), d + timedelta(hours=5))
    add_check_in(conn, u[1], c, d - timedelta(days=3), d - timedelta(days=3))  # outside the range
    df = overview.top_venues(db, d, d + timedelta(days=1), limit=5)
    assert list(df["name"]) == ["Bravo", "Alpha"]
    assert list(df["check_ins"]) == [3, 2] and list(df["unique_visitors"]) == [3, 1]
    assert list(df["venue_id"]) == [str(b), str(a)]
    assert overview.top_venues(db, d, d + timedelta(days=1), limit=1)["name"].tolist() == ["Bravo"]
    with pytest.raises(ValueError, match="limit"):
        overview.top_venues(db, d, d + timedelta(days=1), limit=0)
