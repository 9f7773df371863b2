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
    assert conn.execute("SELECT active_check_in_count, total_check_in_count FROM venues WHERE id = %s",
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
