"""Engagement's notification delay rollups (migration 0015, docs/rollups.md): over generated histories of
notifications — created read or not, read and clicked later, deleted, moved to another category or day —
with the folds run at random points, "median minutes to read / to click" per category equals a brute-force
recount of the raw notifications computed as labelled (each delay to the nearest 0.1 minute, the lower
middle one), for ranges of whole days, ranges cut mid-day, inside one day and longer than the largest
span; and the stored counts of every span equal the recount of its days."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import rollups
from venuepulse.queries.pages import engagement

USER = uuid.UUID(int=0x900)
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.replace(hour=0, minute=0, second=0)
CATEGORIES = ["flash_offer", "friend_request", "system"]
DAY_S = 86400


@pytest.fixture
def db(db_url):
    with Database(db_url, record=False) as d:
        yield d


def _minutes(created: datetime, at: datetime | None) -> Decimal | None:
    """The delay as the page labels it: minutes to the nearest 0.1 (halves away from zero)."""
    if at is None:
        return None
    us = (at - created) // timedelta(microseconds=1)
    return (Decimal(us) / Decimal(60_000_000)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _lower_median(values: list[Decimal]) -> Decimal | None:
    values = sorted(values)
    return values[math.ceil(len(values) / 2) - 1] if values else None


def recount(rows: list[dict], lo: datetime, hi: datetime, category: str | None = None) -> dict:
    out: dict = {}
    for r in rows:
        if not lo <= r["created_at"] < hi or (category and r["category"] != category):
            continue
        c = out.setdefault(r["category"], {"notifications": 0, "read": 0, "clicked": 0, "r": [], "c": []})
        c["notifications"] += 1
        c["read"] += r["read"]
        c["clicked"] += r["clicked"]
        for kind, col in (("r", "read_at"), ("c", "clicked_at")):
            if r[col] is not None:
                c[kind].append(_minutes(r["created_at"], r[col]))
    return {k: (v["notifications"], v["read"], v["clicked"], _lower_median(v["r"]), _lower_median(v["c"]))
            for k, v in out.items()}


def notifications(conn) -> list[dict]:
    cur = conn.execute("SELECT category, created_at, read, read_at, clicked, clicked_at FROM notifications")
    names = [d.name for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _delay(seconds: int, micro: int) -> timedelta:
    return timedelta(seconds=seconds, microseconds=micro)


def apply(conn, db, op: tuple) -> None:
    kind, a, b, c = op
    if kind == "fold":
        rollups.fold(db, [("delays",), ("activity",), rollups.CONSUMERS][a % 3])
    elif kind == "notify":
        # days back up to ~200 (beyond the largest span), seconds into the day; delays of a few seconds
        # (ties at 0.05 minute), minutes, hours, and now and then negative
        created = TODAY - timedelta(days=b * 29 % 203, seconds=-(c * 7919 % DAY_S))
        read = a % 3 != 0
        delay = _delay(c % 600 - (30 if a % 7 == 0 else 0), (0, 500_000, 999_999)[a % 3]) * (1 + a % 4)
        clicked = read and a % 2 == 0
        conn.execute("INSERT INTO notifications (user_id, category, title, body, channels, delivered_at, read, read_at, "
                     "clicked, clicked_at, created_at) VALUES (%s, %s, 't', 'b', %s, %s, %s, %s, %s, %s, %s)",
                     (USER, CATEGORIES[c % 3], json.dumps({"push": True}), json.dumps({"push": created.isoformat()}),
                      read, created + delay if read else None, clicked,
                      created + delay + timedelta(seconds=3 * b) if clicked else None, created))
    elif kind == "read_later":
        conn.execute("UPDATE notifications SET read = true, read_at = created_at + %s "
                     "WHERE id = (SELECT id FROM notifications WHERE NOT read ORDER BY id OFFSET %s LIMIT 1)",
                     (_delay(c, 0), a % 3))
    elif kind == "click_later":
        conn.execute("UPDATE notifications SET clicked = true, clicked_at = created_at + %s "
                     "WHERE id = (SELECT id FROM notifications WHERE NOT clicked ORDER BY id OFFSET %s LIMIT 1)",
                     (_delay(c, 250_000), a % 3))
    elif kind == "delete":
        conn.execute("DELETE FROM notifications WHERE id = (SELECT id FROM notifications ORDER BY id OFFSET %s LIMIT 1)",
                     (a,))
    elif kind == "recategorize":
        conn.execute("UPDATE notifications SET category = %s "
                     "WHERE id = (SELECT id FROM notifications ORDER BY id OFFSET %s LIMIT 1)", (CATEGORIES[c % 3], a))
    elif kind == "move_day":  # created_at moves (to another day, or within one): its delays move with it
        conn.execute("UPDATE notifications SET created_at = created_at - %s, read_at = read_at - %s, "
                     "clicked_at = clicked_at - %s WHERE id = (SELECT id FROM notifications ORDER BY id OFFSET %s LIMIT 1)",
                     (timedelta(days=b, minutes=c % 90),) * 3 + (a,))


KINDS = ["notify", "notify", "notify", "notify", "read_later", "click_later", "delete", "recategorize", "move_day",
         "fold", "fold"]
step = st.tuples(st.sampled_from(KINDS), st.integers(0, 11), st.integers(0, 9), st.integers(0, 3000))
history = st.lists(step, min_size=1, max_size=30)

RANGES = (
    (TODAY - timedelta(days=29), TODAY + timedelta(days=1)),          # the page's default: whole days
    (NOW - timedelta(days=20, hours=3), NOW + timedelta(days=1)),     # cut mid-day at both ends
    (TODAY - timedelta(hours=21), TODAY - timedelta(hours=4)),        # inside one day
    (TODAY - timedelta(days=210), TODAY + timedelta(days=1)),         # longer than the largest span
)


def _dec(value) -> Decimal | None:
    return None if value is None or value != value else Decimal(str(value))


def assert_page_equals_recount(conn, db) -> None:
    rows = notifications(conn)
    for lo, hi in RANGES:
        for category in (None, "system"):
            df = engagement.notification_categories(db, lo, hi, category=category)
            got = {r["category"]: (r["notifications"], r["read"], r["clicked"], _dec(r["minutes_to_read_p50"]),
                                   _dec(r["minutes_to_click_p50"])) for r in df.to_dict("records")}
            assert got == recount(rows, lo, hi, category), (lo, hi, category)


def assert_spans_equal_recount(conn) -> None:
    """Every stored span (2^level days) holds exactly the delays of its days' notifications."""
    want: dict = {}
    for r in notifications(conn):
        day = int(r["created_at"].timestamp() // DAY_S)
        for kind, col in (("r", "read_at"), ("c", "clicked_at")):
            if r[col] is None:
                continue
            tenths = int(_minutes(r["created_at"], r[col]) * 10)
            for level in range(8):
                node = datetime.fromtimestamp(day // 2 ** level * 2 ** level * DAY_S, UTC)
                key = (level, node, r["category"], kind, tenths)
                want[key] = want.get(key, 0) + 1
    got = {(r[0], r[1], r[2], r[3], r[4]): r[5] for r in conn.execute(
        "SELECT level, bucket, category, kind::text, tenths, n FROM rollup_notification_delays").fetchall()}
    assert got == want
    bins = {tuple(r[:5]): r[5] for r in conn.execute(
        "SELECT level, bucket, category, kind::text, bin, n FROM rollup_notification_delay_bins").fetchall()}
    want_bins: dict = {}
    for (level, node, cat, kind, tenths), n in want.items():
        b = conn.execute("SELECT vp_delay_bin(%s)", (tenths,)).fetchone()[0]
        want_bins[(level, node, cat, kind, b)] = want_bins.get((level, node, cat, kind, b), 0) + n
    assert bins == want_bins


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=history)
def test_median_minutes_equal_a_recount_of_the_notifications_whatever_was_folded(conn, db, steps):
    conn.execute("DELETE FROM notifications")
    conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, 'n', 'N') ON CONFLICT DO NOTHING", (USER,))
    rollups.fold(db)
    for op in steps:
        apply(conn, db, op)
    assert_page_equals_recount(conn, db)  # part folded, part in the live tail
    rollups.fold(db)
    assert_spans_equal_recount(conn)
    assert_page_equals_recount(conn, db)


def test_a_rebuild_recounts_the_delays_from_the_notifications(conn, db):
    conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, 'n', 'N')", (USER,))
    for i in range(12):
        apply(conn, db, ("notify", i, i % 10, 100 * i + 7))
    rollups.fold(db)
    conn.execute("DELETE FROM rollup_notification_delays")  # lost, as if never kept
    conn.execute("DELETE FROM rollup_notification_delay_bins")
    rollups.rebuild(db.url, from_day=TODAY - timedelta(days=256), batch_days=64)
    assert_spans_equal_recount(conn)
    assert_page_equals_recount(conn, db)


def test_the_day_nodes_cover_a_range_once_with_few_aligned_spans(conn):
    for lo_days, hi_days in ((0, 30), (-200, 1), (5, 6), (7, 7), (-1000, 3)):
        lo, hi = TODAY + timedelta(days=lo_days), TODAY + timedelta(days=hi_days)
        nodes = conn.execute("SELECT level, bucket FROM vp_day_nodes(%s, %s) ORDER BY bucket", (lo, hi)).fetchall()
        days = [n[1] + timedelta(days=d) for n in nodes for d in range(2 ** n[0])]
        assert days == [lo + timedelta(days=d) for d in range(hi_days - lo_days)]
        for level, bucket in nodes:
            assert int(bucket.timestamp()) // DAY_S % 2 ** level == 0
        assert len(nodes) <= 2 * 8 + (hi_days - lo_days) // 128


def _percentile_cont(values: list, q: float) -> float:
    values = sorted(float(v) for v in values)
    pos = q * (len(values) - 1)
    lo, hi = values[math.floor(pos)], values[math.ceil(pos)]
    return lo + (hi - lo) * (pos - math.floor(pos))


def assert_score_summary_equals_venue_stats(conn) -> None:
    rows = conn.execute("SELECT category::text, engagement_score FROM venue_stats").fetchall()
    want: dict = {}
    for cat, score in rows:
        for c in ("", cat):
            want.setdefault(c, []).append(score)
    got = {r[0]: r[1:] for r in conn.execute(
        "SELECT category, venues, zero_venues, min_score, max_score, total, p50, p90, p99 "
        "FROM venue_stats_score_summary WHERE venues > 0").fetchall()}
    assert set(got) == set(want)
    for c, scores in want.items():
        n, zero, lo, hi, total, p50, p90, p99 = got[c]
        assert (n, zero, lo, hi, total) == (len(scores), scores.count(0), min(scores), max(scores), sum(scores)), c
        for q, v in ((0.5, p50), (0.9, p90), (0.99, p99)):
            assert v == pytest.approx(_percentile_cont(scores, q)), (c, q)


def test_the_venue_score_summary_stays_equal_to_venue_stats_through_folds(conn, db):
    users = [uuid.UUID(int=0x910 + i) for i in range(4)]
    venues = [uuid.UUID(int=0xD00 + i) for i in range(6)]
    for i, u in enumerate(users):
        conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, %s, 'U')", (u, f"s{i}"))
    for i, v in enumerate(venues):
        conn.execute("INSERT INTO venues (id, name, category, city, lat, lng) VALUES (%s, %s, %s, 'Porto', 41.1, -8.6)",
                     (v, f"V{i}", ["bar", "cafe", "bar"][i % 3]))
    rollups.fold(db)
    assert_score_summary_equals_venue_stats(conn)
    for i in range(14):
        conn.execute("SELECT check_in(%s, %s, %s)", (users[i % 4], venues[i * 5 % 6], NOW - timedelta(hours=i)))
        if i % 3 == 0:
            conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         (users[i % 4], venues[i % 6]))
        if i % 5 == 4:
            rollups.fold(db)
            assert_score_summary_equals_venue_stats(conn)
    conn.execute("UPDATE venues SET category = 'museum' WHERE id = %s", (venues[0],))
    conn.execute("DELETE FROM venues WHERE id = %s", (venues[1],))
    rollups.fold(db)
    assert_score_summary_equals_venue_stats(conn)
    conn.execute("SELECT refresh_venue_stats(true)")
    assert_score_summary_equals_venue_stats(conn)
