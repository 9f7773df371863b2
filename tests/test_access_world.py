"""The access-control tests' world (tests/fixtures/access_world.py) has what they rely on."""

from __future__ import annotations

from tests.fixtures.access_world import VENUE_KEYED, build_world


def test_the_world_gives_each_venue_rows_in_every_venue_keyed_table(conn):
    w = build_world(conn)
    for table, col in VENUE_KEYED.items():
        for v in (w.a, w.b):
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE {col} = %s", (v.venue_id,)).fetchone()[0]
            assert n >= 1, f"{table} has no row for {v.name}"
    claims = conn.execute("SELECT count(*) FROM flash_offer_claims WHERE offer_id = %s", (w.b.offer_id,)).fetchone()[0]
    assert claims == 2
