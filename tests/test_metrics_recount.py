"""Every stored metric equals a brute-force recount, over randomly generated histories.

Histories mix the contract functions with raw inserts, updates (check-out, re-activation, venue and
time changes, rating changes, redemption and its undo, ownership changes) and deletes (including
cascades from users, venues, collections and offers), partition maintenance moving rows out of
default partitions, and UPDATEs that move rows to another partition (one row or many in one statement,
check-ins and offer events), which the statement-level triggers must count once.  Venue counters, offer
counters and venue_interactions are checked after every step; venue_stats after a refresh at the end.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import recount

USERS = [uuid.UUID(int=i + 1) for i in range(4)]
VENUES = [uuid.UUID(int=0xA0 + i) for i in range(3)]
COLLECTIONS = [uuid.UUID(int=0xC0 + i) for i in range(2)]
OFFERS = [uuid.UUID(int=0xF0 + i) for i in range(2)]

u = st.sampled_from(USERS)
v = st.sampled_from(VENUES)
k = st.integers(0, 30)
days = st.integers(0, 75)

OPS = st.one_of(
    st.tuples(st.just("check_in_fn"), u, v, days),
    st.tuples(st.just("insert_check_in"), u, v, days, st.booleans()),
    st.tuples(st.just("check_out"), k),
    st.tuples(st.just("reactivate"), k),
    st.tuples(st.just("move_check_in"), k, v),
    st.tuples(st.just("retime_check_in"), k, days),
    st.tuples(st.just("delete_check_in"), k),
    st.tuples(st.just("shift_check_in"), k, st.sampled_from([-62, -31, 31, 62])),
    st.tuples(st.just("shift_user_check_ins"), u, st.sampled_from([-31, 31]), v),
    st.tuples(st.just("delete_venue_check_ins"), v, days),
    st.tuples(st.just("review"), u, v, st.integers(1, 5), st.booleans(), days),
    st.tuples(st.just("move_review"), k, v),
    st.tuples(st.just("delete_review"), k),
    st.tuples(st.just("favorite"), u, v, days),
    st.tuples(st.just("unfavorite"), u, v),
    st.tuples(st.just("collect"), st.sampled_from(COLLECTIONS), v, days),
    st.tuples(st.just("uncollect"), st.sampled_from(COLLECTIONS), v),
    st.tuples(st.just("collection_owner"), st.sampled_from(COLLECTIONS), u),
    st.tuples(st.just("delete_collection"), st.sampled_from(COLLECTIONS)),
    st.tuples(st.just("claim"), st.sampled_from(OFFERS), u, days),
    st.tuples(st.just("claim_fn"), st.sampled_from(OFFERS), u),
    st.tuples(st.just("redeem"), k),
    st.tuples(st.just("unredeem"), k),
    st.tuples(st.just("delete_claim"), k),
    st.tuples(st.just("offer_event"), st.sampled_from(OFFERS), u, st.sampled_from(["view", "click"])),
    st.tuples(st.just("delete_offer_event"), k),
    st.tuples(st.just("shift_offer_events"), st.sampled_from(OFFERS), st.sampled_from([-40, 40])),
    st.tuples(st.just("move_offer"), st.sampled_from(OFFERS), v),
    st.tuples(st.just("delete_offer"), st.sampled_from(OFFERS)),
    st.tuples(st.just("delete_user"), u),
    st.tuples(st.just("delete_venue"), v),
    st.tuples(st.just("make_partitions"), st.sampled_from(["check_ins", "event_stream"])),
)


def _setup(conn) -> None:
    for i, uid in enumerate(USERS):
        conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, %s, %s)", (uid, f"u{i}", f"U{i}"))
    for i, vid in enumerate(VENUES):
        conn.execute(
            "INSERT INTO venues (id, name, category, city, lat, lng) VALUES (%s, %s, 'bar', 'Lisbon', 38.7, -9.1)",
            (vid, f"V{i}"),
        )
    for i, cid in enumerate(COLLECTIONS):
        conn.execute("INSERT INTO collections (id, user_id, name) VALUES (%s, %s, %s)", (cid, USERS[i], f"c{i}"))
    for i, oid in enumerate(OFFERS):
        conn.execute(
            """INSERT INTO flash_offers (id, venue_id, title, description, max_claims, start_time, end_time)
               VALUES (%s, %s, %s, 'd', 3, now() - interval '80 days', now() + interval '1 day')""",
            (oid, VENUES[i], f"o{i}"),
        )


def _nth(conn, sql: str, n: int):
    rows = conn.execute(sql).fetchall()
    return rows[n % len(rows)] if rows else None


def _apply(conn, op) -> None:
    kind, *a = op
    ago = "now() - make_interval(days => %s)"
    if kind == "check_in_fn":
        conn.execute(f"SELECT check_in(%s, %s, {ago})", (a[0], a[1], a[2]))
    elif kind == "insert_check_in":
        conn.execute(
            f"""INSERT INTO check_ins (user_id, venue_id, checked_in_at, is_active, checked_out_at)
                VALUES (%s, %s, {ago}, %s, CASE WHEN %s THEN NULL ELSE {ago} + interval '1 hour' END)""",
            (a[0], a[1], a[2], a[3], a[3], a[2]),
        )
    elif kind in ("check_out", "reactivate", "move_check_in", "retime_check_in", "delete_check_in"):
        row = _nth(conn, "SELECT id, checked_in_at FROM check_ins ORDER BY id", a[0])
        if row is None:
            return
        cid, at = row
        if kind == "check_out":
            conn.execute("UPDATE check_ins SET is_active = false, checked_out_at = checked_in_at + interval '1 hour'"
                         " WHERE id = %s", (cid,))
        elif kind == "reactivate":
            conn.execute("UPDATE check_ins SET is_active = true, checked_out_at = NULL WHERE id = %s", (cid,))
        elif kind == "move_check_in":
            conn.execute("UPDATE check_ins SET venue_id = %s WHERE id = %s", (a[1], cid))
        elif kind == "retime_check_in":
            conn.execute(f"UPDATE check_ins SET checked_in_at = {ago}, checked_out_at = NULL, is_active = true"
                         " WHERE id = %s", (a[1], cid))
        else:
            conn.execute("DELETE FROM check_ins WHERE id = %s", (cid,))
    elif kind == "shift_check_in":
        # another month, so (once make_partitions ran, or between now and the default partition) another
        # partition: row movement
        row = _nth(conn, "SELECT id FROM check_ins ORDER BY id", a[0])
        if row:
            conn.execute("UPDATE check_ins SET checked_in_at = checked_in_at + make_interval(days => %s),"
                         " checked_out_at = checked_out_at + make_interval(days => %s) WHERE id = %s",
                         (a[1], a[1], row[0]))
    elif kind == "shift_user_check_ins":
        # many rows in one statement: some move partition, some change venue, some both
        conn.execute("UPDATE check_ins SET checked_in_at = checked_in_at + make_interval(days => %s),"
                     " checked_out_at = checked_out_at + make_interval(days => %s),"
                     " venue_id = CASE WHEN id::text < '8' THEN %s ELSE venue_id END WHERE user_id = %s",
                     (a[1], a[1], a[2], a[0]))
    elif kind == "delete_venue_check_ins":
        conn.execute(f"DELETE FROM check_ins WHERE venue_id = %s AND checked_in_at > {ago}", (a[0], a[1]))
    elif kind == "review":
        conn.execute(
            f"""INSERT INTO reviews (user_id, venue_id, rating, is_verified, created_at) VALUES (%s, %s, %s, %s, {ago})
                ON CONFLICT (user_id, venue_id) DO UPDATE SET rating = EXCLUDED.rating""",
            (a[0], a[1], a[2], a[3], a[4]),
        )
    elif kind == "move_review":
        row = _nth(conn, "SELECT id FROM reviews ORDER BY id", a[0])
        if row:
            conn.execute("UPDATE reviews SET venue_id = %s WHERE id = %s", (a[1], row[0]))
    elif kind == "delete_review":
        row = _nth(conn, "SELECT id FROM reviews ORDER BY id", a[0])
        if row:
            conn.execute("DELETE FROM reviews WHERE id = %s", row)
    elif kind == "favorite":
        conn.execute(f"INSERT INTO favorites (user_id, venue_id, created_at) VALUES (%s, %s, {ago})"
                     " ON CONFLICT DO NOTHING", (a[0], a[1], a[2]))
    elif kind == "unfavorite":
        conn.execute("DELETE FROM favorites WHERE user_id = %s AND venue_id = %s", (a[0], a[1]))
    elif kind == "collect":
        conn.execute(f"INSERT INTO collection_venues (collection_id, venue_id, added_at) VALUES (%s, %s, {ago})"
                     " ON CONFLICT DO NOTHING", (a[0], a[1], a[2]))
    elif kind == "uncollect":
        conn.execute("DELETE FROM collection_venues WHERE collection_id = %s AND venue_id = %s", (a[0], a[1]))
    elif kind == "collection_owner":
        conn.execute("UPDATE collections SET user_id = %s WHERE id = %s", (a[1], a[0]))
    elif kind == "delete_collection":
        conn.execute("DELETE FROM collections WHERE id = %s", (a[0],))
    elif kind == "claim":
        conn.execute(
            f"""INSERT INTO flash_offer_claims (offer_id, user_id, token, expires_at, created_at)
                VALUES (%s, %s, vp_new_claim_token(), now() + interval '1 hour', {ago})""",
            (a[0], a[1], a[2]),
        )
    elif kind == "claim_fn":
        conn.execute("SELECT claim_flash_offer(%s, %s)", (a[0], a[1]))
    elif kind in ("redeem", "unredeem", "delete_claim"):
        row = _nth(conn, "SELECT id FROM flash_offer_claims ORDER BY id", a[0])
        if row is None:
            return
        if kind == "redeem":
            conn.execute("UPDATE flash_offer_claims SET status = 'redeemed', redeemed_at = now() WHERE id = %s", row)
        elif kind == "unredeem":
            conn.execute("UPDATE flash_offer_claims SET status = 'active', redeemed_at = NULL WHERE id = %s", row)
        else:
            conn.execute("DELETE FROM flash_offer_claims WHERE id = %s", row)
    elif kind == "offer_event":
        conn.execute("SELECT record_offer_event(%s, %s, %s)", (a[0], a[1], a[2]))
    elif kind == "delete_offer_event":
        row = _nth(conn, "SELECT id FROM event_stream WHERE is_analytics_event AND target_type = 'offer'"
                         " AND event_type IN ('flash_offer_view', 'flash_offer_click') ORDER BY id", a[0])
        if row:
            conn.execute("DELETE FROM event_stream WHERE id = %s", row)
    elif kind == "shift_offer_events":
        conn.execute("UPDATE event_stream SET created_at = created_at + make_interval(days => %s)"
                     " WHERE is_analytics_event AND target_id = %s", (a[1], a[0]))
    elif kind == "move_offer":
        conn.execute("UPDATE flash_offers SET venue_id = %s WHERE id = %s", (a[1], a[0]))
    elif kind == "delete_offer":
        conn.execute("DELETE FROM flash_offers WHERE id = %s", (a[0],))
    elif kind == "delete_user":
        conn.execute("DELETE FROM users WHERE id = %s", (a[0],))
    elif kind == "delete_venue":
        conn.execute("DELETE FROM venues WHERE id = %s", (a[0],))
    elif kind == "make_partitions":
        conn.execute("SELECT count(*) FROM vp_ensure_partitions(%s, now() - interval '80 days', now())", (a[0],))
    else:  # pragma: no cover - the strategy only draws the kinds above
        raise AssertionError(kind)


def _assert_counters_match(conn, step) -> None:
    s = recount.snapshot(conn)
    assert recount.stored_venue_counters(conn) == recount.venue_counters(s), f"venue counters after {step}"
    assert recount.stored_offer_counters(conn) == recount.offer_counters(s), f"offer counters after {step}"
    assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s), f"interactions after {step}"


def _round(d: dict) -> dict:
    return {vid: {k: (round(x, 10) if isinstance(x, Decimal) else x) for k, x in row.items()} for vid, row in d.items()}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=40, max_size=48))
def test_stored_metrics_equal_brute_force_recount_after_every_step(conn, ops):
    with conn.transaction(force_rollback=True):
        _setup(conn)
        for step, op in enumerate(ops):
            try:
                with conn.transaction():
                    _apply(conn, op)
            except (psycopg.errors.IntegrityError, psycopg.errors.RaiseException):
                # refused by a constraint or the contract (offer full, duplicate review after a move, ...):
                # the savepoint rolled the step back, and the numbers must still match.  Any other error
                # (a trigger failing, say) fails the test.
                pass
            _assert_counters_match(conn, (step, op))

        conn.execute("SELECT refresh_venue_stats()")
        conn.execute("SELECT refresh_venue_stats()")  # the second one runs CONCURRENTLY
        now = conn.execute("SELECT now()").fetchone()[0]
        expected = recount.venue_stats(recount.snapshot(conn), now)
        assert _round(recount.stored_venue_stats(conn)) == _round(expected)

        drift = conn.execute("SELECT * FROM vp_recompute_denormalized()").fetchone()
        assert drift == (0, 0, 0, 0)


def test_set_based_recomputation_repairs_corrupted_counters(conn):
    _setup(conn)
    conn.execute("SELECT check_in(%s, %s)", (USERS[0], VENUES[0]))
    conn.execute("SELECT check_in(%s, %s)", (USERS[1], VENUES[0]))
    conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (USERS[2], VENUES[1]))
    conn.execute("INSERT INTO venue_counter_shards (venue_id, shard, total_check_ins) SELECT id, 99, 5 FROM venues")
    conn.execute("UPDATE venue_interactions SET check_in_count = 7")
    conn.execute("UPDATE flash_offers SET view_count = 3")
    fixed = conn.execute("SELECT * FROM vp_recompute_denormalized()").fetchone()
    assert fixed == (3, 2, 3, 0)
    s = recount.snapshot(conn)
    assert recount.stored_venue_counters(conn) == recount.venue_counters(s)
    assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s)
    assert recount.stored_offer_counters(conn) == recount.offer_counters(s)


@pytest.mark.clock  # rows 62 days back, partitions made from 70 days back to the server's now()
@pytest.mark.parametrize("table", ["check_ins", "event_stream"])
def test_partition_maintenance_moves_default_rows_without_touching_counters(conn, table):
    _setup(conn)
    conn.execute("SELECT check_in(%s, %s, now() - interval '62 days')", (USERS[0], VENUES[0]))
    conn.execute("SELECT record_offer_event(%s, %s, 'view')", (OFFERS[0], USERS[1]))
    before = recount.stored_venue_counters(conn), recount.stored_offer_counters(conn)
    default_rows = conn.execute(f"SELECT count(*) FROM {table}_default").fetchone()[0]
    rows = conn.execute(
        "SELECT partition_name, created, rows_moved FROM vp_ensure_partitions(%s, now() - interval '70 days', now())",
        (table,),
    ).fetchall()
    assert sum(r[2] for r in rows) == default_rows
    assert conn.execute(f"SELECT count(*) FROM {table}_default").fetchone()[0] == 0
    assert (recount.stored_venue_counters(conn), recount.stored_offer_counters(conn)) == before
    again = conn.execute("SELECT bool_or(created) FROM vp_ensure_partitions(%s, now() - interval '70 days', now())",
                         (table,)).fetchone()[0]
    assert again is False
