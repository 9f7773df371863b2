"""Real parallel connections against the contract: no overshoot, no lost counter updates."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg

from tests.fixtures import recount


def _users(conn, n: int, prefix: str) -> list:
    return [conn.execute("INSERT INTO users (username, display_name) VALUES (%s, 'x') RETURNING id",
                         (f"{prefix}{i}",)).fetchone()[0] for i in range(n)]


def _venue(conn, name: str = "V"):
    return conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES (%s, 'bar', 'Lisbon', 38.7, -9.1)"
                        " RETURNING id", (name,)).fetchone()[0]


def _in_parallel(db_url: str, calls: list[tuple[str, tuple]]) -> list[object]:
    """Run each (sql, params) on its own connection, all released at the same instant."""
    barrier = threading.Barrier(len(calls))

    def one(call):
        sql, params = call
        with psycopg.connect(db_url, autocommit=True) as c:
            barrier.wait()
            try:
                return c.execute(sql, params).fetchone()
            except psycopg.errors.RaiseException as exc:
                return exc.diag.message_primary.split(":", 1)[0]

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def test_64_parallel_claimers_on_an_offer_of_10_get_exactly_10_claims(db_url, conn):
    users = _users(conn, 64, "c")
    offer = conn.execute(
        """INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time)
           VALUES (%s, 'o', 'd', 10, now() - interval '1 minute', now() + interval '1 hour') RETURNING id""",
        (_venue(conn),)).fetchone()[0]
    results = _in_parallel(db_url, [("SELECT token FROM claim_flash_offer(%s, %s)", (offer, u)) for u in users])
    tokens = [r[0] for r in results if isinstance(r, tuple)]
    refusals = [r for r in results if isinstance(r, str)]
    assert len(tokens) == 10 and len(set(tokens)) == 10
    assert refusals == ["offer_full"] * 54
    assert conn.execute("SELECT claimed_count, (SELECT count(*) FROM flash_offer_claims WHERE offer_id = o.id)"
                        " FROM flash_offers o WHERE id = %s", (offer,)).fetchone() == (10, 10)


def test_32_parallel_check_ins_to_one_venue_keep_exact_counters(db_url, conn):
    users = _users(conn, 32, "k")
    venue = _venue(conn)
    _in_parallel(db_url, [("SELECT check_in(%s, %s)", (u, venue)) for u in users])
    assert conn.execute("SELECT v.active_check_in_count, v.total_check_in_count FROM venues v WHERE id = %s",
                        (venue,)).fetchone() == (32, 32)
    s = recount.snapshot(conn)
    assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s)


def test_one_user_checking_in_from_16_connections_ends_with_one_active_check_in(db_url, conn):
    (user,) = _users(conn, 1, "solo")
    venues = [_venue(conn, f"V{i}") for i in range(4)]
    _in_parallel(db_url, [("SELECT check_in(%s, %s)", (user, venues[i % 4])) for i in range(16)])
    assert conn.execute("SELECT count(*) FILTER (WHERE is_active), count(*) FROM check_ins").fetchone() == (1, 16)
    s = recount.snapshot(conn)
    assert recount.stored_venue_counters(conn) == recount.venue_counters(s)
    assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s)


def test_parallel_views_and_clicks_are_all_counted(db_url, conn):
    users = _users(conn, 24, "v")
    offer = conn.execute(
        """INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time)
           VALUES (%s, 'o', 'd', 5, now() - interval '1 minute', now() + interval '1 hour') RETURNING id""",
        (_venue(conn),)).fetchone()[0]
    calls = [("SELECT record_offer_event(%s, %s, %s)", (offer, u, "view" if i % 3 else "click"))
             for i, u in enumerate(users)]
    _in_parallel(db_url, calls)
    assert conn.execute("SELECT view_count, click_count FROM flash_offers").fetchone() == (16, 8)


def test_32_clients_checking_in_out_moving_and_deleting_at_one_hot_venue_end_with_exact_counters(db_url, conn):
    """A fixed number of operations per client, all on one venue's check-ins: check-ins, check-outs, moves
    to another partition (row movement), moves to another venue and deletes, racing each other; then every
    counter equals its recount."""
    import random

    users = _users(conn, 32, "h")
    hot, other = _venue(conn, "hot"), _venue(conn, "other")
    conn.execute("SELECT count(*) FROM vp_ensure_partitions('check_ins', now() - interval '100 days', now())")
    pick = "(SELECT id FROM check_ins WHERE venue_id = %s ORDER BY random() LIMIT 1)"
    ops = {
        "check_in": ("SELECT check_in(%s, %s)", lambda u: (u, hot)),
        "check_out": ("UPDATE check_ins SET is_active = false, checked_out_at = now()"
                      " WHERE user_id = %s AND is_active AND venue_id = %s", lambda u: (u, hot)),
        "move_partition": ("UPDATE check_ins SET checked_in_at = checked_in_at - interval '31 days',"
                           " checked_out_at = checked_out_at - interval '31 days' WHERE id = " + pick,
                           lambda u: (hot,)),
        "move_venue": (f"UPDATE check_ins SET venue_id = %s WHERE id = {pick}", lambda u: (other, hot)),
        "delete": (f"DELETE FROM check_ins WHERE id = {pick}", lambda u: (hot,)),
    }
    weights = {"check_in": 10, "check_out": 3, "move_partition": 3, "move_venue": 1, "delete": 2}
    per_client = 25
    barrier = threading.Barrier(len(users))
    failures: list[str] = []

    def client(i: int, user) -> None:
        rng = random.Random(i)
        with psycopg.connect(db_url, autocommit=True) as c:
            barrier.wait()
            for _ in range(per_client):
                kind = rng.choices(list(weights), weights=list(weights.values()))[0]
                sql, params = ops[kind]
                try:
                    c.execute(sql, params(user))
                except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                    failures.append(type(exc).__name__)  # rolled back whole: the counters must still match

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        list(pool.map(lambda a: client(*a), enumerate(users)))

    assert conn.execute("SELECT count(*) FROM check_ins").fetchone()[0] > 0
    s = recount.snapshot(conn)
    assert recount.stored_venue_counters(conn) == recount.venue_counters(s)
    assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s)
    assert conn.execute("SELECT count(*) FROM event_stream WHERE event_type = 'check_in'").fetchone()[0] \
        == len(s["check_ins"])
    assert conn.execute("SELECT * FROM vp_recompute_denormalized()").fetchone() == (0, 0, 0, 0)
