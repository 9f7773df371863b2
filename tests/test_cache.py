"""The result cache: TTL per query, exact-tag invalidation, bounded with counted evictions, thread-safe."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from venuepulse.queries.core.cache import QueryCache, cache_key, expand_tags
from venuepulse.queries.core.registry import parse
from venuepulse.queries.core.runner import Database

Q = parse("""
-- name: t.venue --
-- cache: 60 venues venue:{venue_id}
SELECT %(venue_id)s::uuid AS id
-- name: t.many --
-- cache: 10 venue:{ids}
SELECT %(ids)s::int[]
-- name: t.short --
-- cache: 1
SELECT 1
""")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def put(cache, q, params, rows):
    return cache.put(cache_key(q.name, params, None), q, params, rows, cache.generation())


def test_tags_are_filled_from_parameters_one_per_list_element():
    assert expand_tags(Q["t.venue"], {"venue_id": 7}) == {"query:t.venue", "venues", "venue:7"}
    assert expand_tags(Q["t.many"], {"ids": [1, 2]}) == {"query:t.many", "venue:1", "venue:2"}


def test_invalidation_matches_whole_tags_never_substrings():
    cache = QueryCache()
    q = Q["t.venue"]
    put(cache, q, {"venue_id": 1}, [{"id": 1}])
    put(cache, q, {"venue_id": 10}, [{"id": 10}])
    assert cache.invalidate("venue:1") == 1
    assert cache.get(cache_key(q.name, {"venue_id": 1}, None), q.name) is None
    assert cache.get(cache_key(q.name, {"venue_id": 10}, None), q.name) == [{"id": 10}]
    assert cache.invalidate("venue") == 0 and cache.invalidate("venues") == 1


def test_entries_expire_after_their_own_query_ttl():
    clock = Clock()
    cache = QueryCache(timer=clock)
    put(cache, Q["t.short"], {}, [{"a": 1}])
    put(cache, Q["t.venue"], {"venue_id": 1}, [{"a": 2}])
    clock.now += 2
    assert cache.get(cache_key("t.short", {}, None), "t.short") is None
    assert cache.get(cache_key("t.venue", {"venue_id": 1}, None), "t.venue") == [{"a": 2}]
    stats = cache.stats()
    assert stats["t.short"]["expirations"] == 1 and stats["t.short"]["size"] == 0


def test_the_size_bound_evicts_least_recently_used_and_counts_it():
    cache = QueryCache(maxsize=2)
    q = Q["t.venue"]
    for i in range(3):
        put(cache, q, {"venue_id": i}, [{"i": i}])
    stats = cache.stats()
    assert stats["t.venue"]["evictions"] == 1 and stats["t.venue"]["size"] == 2
    assert cache.get(cache_key(q.name, {"venue_id": 0}, None), q.name) is None
    assert cache.invalidate("venue:0") == 0  # its tag index went with it


def test_a_result_that_raced_an_invalidation_is_not_stored():
    cache = QueryCache()
    q = Q["t.venue"]
    before = cache.generation()
    cache.invalidate("venues")
    assert not cache.put(cache_key(q.name, {"venue_id": 1}, None), q, {"venue_id": 1}, [{"stale": True}], before)


def test_returned_rows_are_copies_callers_cannot_corrupt_the_cache():
    cache = QueryCache()
    put(cache, Q["t.short"], {}, [{"a": 1}])
    key = cache_key("t.short", {}, None)
    cache.get(key, "t.short")[0]["a"] = 99
    assert cache.get(key, "t.short") == [{"a": 1}]


def test_unhashable_parameters_are_simply_not_cached():
    assert cache_key("t.x", {"a": {1, 2}}, None) is not None
    assert cache_key("t.x", {"a": bytearray(b"x")}, None) is None


def test_concurrent_use_keeps_counts_consistent():
    cache = QueryCache(maxsize=50)
    q = Q["t.venue"]
    lookups = 0
    lock = threading.Lock()

    def work(seed):
        nonlocal lookups
        for i in range(2000):
            key = cache_key(q.name, {"venue_id": (seed * i) % 97}, None)
            if cache.get(key, q.name) is None:
                cache.put(key, q, {"venue_id": (seed * i) % 97}, [{"i": i}], cache.generation())
            if i % 100 == 0:
                cache.invalidate(f"venue:{i % 97}")
            with lock:
                lookups += 1

    threads = [threading.Thread(target=work, args=(s,)) for s in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert stats["t.venue"]["hits"] + stats["t.venue"]["misses"] == lookups
    assert stats["total"]["size"] <= 50


@pytest.fixture
def db(db_url):
    with Database(db_url, record=False) as d:
        yield d


def add_venue(conn, name, featured=True):
    return conn.execute(
        "INSERT INTO venues (name, category, city, lat, lng, is_featured) VALUES (%s, 'cafe', 'Oslo', 59.9, 10.7, %s) RETURNING id",
        (name, featured)).fetchone()[0]


def test_database_serves_the_second_run_from_the_cache_until_invalidated(db, conn: psycopg.Connection):
    add_venue(conn, "Kaffe")
    first = db.run("venues.featured", {"limit": 5})
    add_venue(conn, "Bar")
    assert db.run("venues.featured", {"limit": 5}) == first  # cached: the new venue is not seen yet
    stats = db.cache_stats()["venues.featured"]
    assert (stats["hits"], stats["misses"], stats["size"]) == (1, 1, 1)
    assert db.invalidate("venues:featured") == 1
    assert len(db.run("venues.featured", {"limit": 5})) == 2
    assert len(db.run("venues.featured", {"limit": 5}, cache=False)) == 2
    assert db.cache_stats()["venues.featured"]["misses"] == 2  # cache=False neither hits nor misses


def test_each_venue_scope_has_its_own_cache_entries(db, conn):
    add_venue(conn, "Kaffe")
    db.run("venues.featured", {"limit": 5})
    db.run("venues.featured", {"limit": 5}, venue_scope=[uuid.uuid4()])
    assert db.cache_stats()["venues.featured"]["misses"] == 2
