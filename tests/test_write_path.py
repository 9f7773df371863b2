"""The write path of revision 0006: statement-level triggers count a row moved to another partition
once, venue counters read through venues' columns are exact, and the downgrade restores 0005 exactly."""

from __future__ import annotations

import uuid

import psycopg

from tests.fixtures import recount
from tests.fixtures.catalog import assert_same_catalog, describe_catalog
from venuepulse.queries.schema.migrate import migrate

USER = uuid.UUID(int=1)
VENUES = [uuid.UUID(int=0xA0), uuid.UUID(int=0xA1)]


def _setup(conn) -> None:
    conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, 'u', 'U')", (USER,))
    for i, v in enumerate(VENUES):
        conn.execute("INSERT INTO venues (id, name, category, city, lat, lng) VALUES (%s, %s, 'bar', 'Porto', 41.1, -8.6)",
                     (v, f"V{i}"))


def _assert_recounts(conn) -> None:
    s = recount.snapshot(conn)
    assert recount.stored_venue_counters(conn) == recount.venue_counters(s)
    assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s)


def _partition_of(conn, check_in) -> str:
    return conn.execute("SELECT tableoid::regclass::text FROM check_ins WHERE id = %s", (check_in,)).fetchone()[0]


def test_a_check_in_moved_to_another_partition_is_counted_once(conn):
    _setup(conn)
    conn.execute("SELECT count(*) FROM vp_ensure_partitions('check_ins', now() - interval '70 days', now())")
    old = conn.execute("SELECT check_in(%s, %s, now() - interval '62 days')", (USER, VENUES[0])).fetchone()[0]
    conn.execute("SELECT check_in(%s, %s, now() - interval '40 days')", (USER, VENUES[0]))
    before = _partition_of(conn, old)

    conn.execute("UPDATE check_ins SET checked_in_at = now() - interval '1 day', checked_out_at = NULL,"
                 " is_active = false WHERE id = %s", (old,))
    assert _partition_of(conn, old) != before  # the row really moved
    _assert_recounts(conn)
    assert conn.execute("SELECT v.total_check_in_count, v.last_check_in_at > now() - interval '2 days'"
                        " FROM venues v WHERE id = %s", (VENUES[0],)).fetchone() == (2, True)
    assert conn.execute("SELECT check_in_count FROM venue_interactions").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM event_stream WHERE event_type = 'check_in'").fetchone()[0] == 2

    # a move of partition and venue together, many rows in one statement
    conn.execute("UPDATE check_ins SET checked_in_at = checked_in_at - interval '31 days',"
                 " checked_out_at = checked_out_at - interval '31 days', venue_id = %s", (VENUES[1],))
    _assert_recounts(conn)
    assert conn.execute("SELECT count(*) FROM event_stream WHERE event_type = 'check_in' AND venue_id = %s",
                        (VENUES[1],)).fetchone()[0] == 2


def test_an_offer_event_moved_to_another_partition_is_counted_once(conn):
    _setup(conn)
    conn.execute("SELECT count(*) FROM vp_ensure_partitions('event_stream', now() - interval '70 days', now())")
    offer = conn.execute(
        """INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time)
           VALUES (%s, 'o', 'd', 5, now() - interval '90 days', now() + interval '1 day') RETURNING id""",
        (VENUES[0],)).fetchone()[0]
    conn.execute("SELECT record_offer_event(%s, %s, 'view')", (offer, USER))
    conn.execute("UPDATE event_stream SET created_at = created_at - interval '45 days' WHERE target_id = %s", (offer,))
    assert conn.execute("SELECT view_count FROM flash_offers").fetchone()[0] == 1


def test_check_out_touches_no_counter_row_and_the_active_count_follows(conn):
    _setup(conn)
    cid = conn.execute("SELECT check_in(%s, %s)", (USER, VENUES[0])).fetchone()[0]
    shards = conn.execute("SELECT xmin::text FROM venue_counter_shards").fetchall()
    conn.execute("SELECT check_out(%s)", (cid,))
    assert conn.execute("SELECT xmin::text FROM venue_counter_shards").fetchall() == shards
    assert conn.execute("SELECT v.active_check_in_count, v.total_check_in_count FROM venues v WHERE id = %s",
                        (VENUES[0],)).fetchone() == (0, 1)
    _assert_recounts(conn)


def test_bulk_load_setting_pauses_the_triggers_until_the_recompute(conn):
    _setup(conn)
    with conn.transaction():
        conn.execute("SELECT set_config('venuepulse.bulk_load', 'on', true)")
        conn.execute("INSERT INTO check_ins (user_id, venue_id) VALUES (%s, %s)", (USER, VENUES[0]))
        assert conn.execute("SELECT count(*) FROM venue_interactions").fetchone()[0] == 0
        assert conn.execute("SELECT v.total_check_in_count FROM venues v WHERE id = %s",
                            (VENUES[0],)).fetchone()[0] == 0
        assert conn.execute("SELECT * FROM vp_recompute_denormalized()").fetchone() == (1, 0, 1, 0)
    _assert_recounts(conn)
    assert conn.execute("SELECT * FROM vp_recompute_denormalized()").fetchone() == (0, 0, 0, 0)


def test_downgrading_0006_restores_revision_0005_exactly_with_the_counters_in_venues(empty_db_url, db_url):
    migrate(empty_db_url, "0005")
    expected = describe_catalog(empty_db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        _setup(conn)
        conn.execute("SELECT check_in(%s, %s)", (USER, VENUES[0]))
        conn.execute("SELECT check_in(%s, %s)", (USER, VENUES[1]))
    migrate(db_url, "0005")
    assert_same_catalog(describe_catalog(db_url), expected)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT active_check_in_count, total_check_in_count FROM venues ORDER BY id").fetchall() \
            == [(0, 1), (1, 1)]
        conn.execute("SELECT check_in(%s, %s)", (USER, VENUES[0]))  # the old triggers work again
        _assert_recounts(conn)
    migrate(db_url, "head")
    with psycopg.connect(db_url, autocommit=True) as conn:
        _assert_recounts(conn)
