"""Folds re-analyze rollup_log when its statistics are far from its size (revision 0020): the log is
usually analyzed empty, and plans made for one row turned a burst's fold quadratic (BENCHMARKS.md)."""

from __future__ import annotations

import psycopg

FOLDS = ("vp_fold_activity()", "vp_fold_pairs()", "vp_fold_venue_stats()", "vp_fold_delays()")


def _estimate(cur) -> float:
    return cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'rollup_log'::regclass").fetchone()[0]


def test_a_log_analyzed_empty_is_analyzed_again_once_a_burst_arrives_and_not_while_it_matches(db_url):
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM rollup_log")
        cur.execute("ANALYZE rollup_log")
        assert _estimate(cur) <= 0
        # a small tail next to an empty estimate is no reason to analyze
        cur.execute("INSERT INTO rollup_log (src, sign) SELECT 'c', 1 FROM generate_series(1, 900)")
        assert cur.execute("SELECT vp_rollup_log_analyze_if_stale()").fetchone()[0] is False
        # a burst is
        cur.execute("INSERT INTO rollup_log (src, sign) SELECT 'c', 1 FROM generate_series(1, 3000)")
        assert cur.execute("SELECT vp_rollup_log_analyze_if_stale()").fetchone()[0] is True
        assert _estimate(cur) == 3900
        assert cur.execute("SELECT vp_rollup_log_analyze_if_stale()").fetchone()[0] is False
        # and so is the log emptying after an estimate of thousands
        cur.execute("DELETE FROM rollup_log")
        cur.execute("INSERT INTO rollup_log (src, sign) SELECT 'c', 1 FROM generate_series(1, 10)")
        cur.execute("ANALYZE rollup_log")
        cur.execute("INSERT INTO rollup_log (src, sign) SELECT 'c', 1 FROM generate_series(1, 5000)")
        cur.execute("ANALYZE rollup_log")
        cur.execute("DELETE FROM rollup_log")
        assert cur.execute("SELECT vp_rollup_log_analyze_if_stale()").fetchone()[0] is True
        conn.rollback()


def test_every_fold_checks_the_log_statistics_right_after_taking_its_lock(conn):
    for fn in FOLDS:
        body = conn.execute("SELECT pg_get_functiondef(%s::regprocedure)", (fn,)).fetchone()[0]
        lock = body.index("pg_advisory_xact_lock(vp_rollup_lock_key(")
        check = body.index("PERFORM vp_rollup_log_analyze_if_stale();")
        assert lock < check and body.count("vp_rollup_log_analyze_if_stale") == 1, fn


def test_a_fold_after_a_burst_leaves_the_planner_an_estimate_near_the_log_it_read(conn):
    conn.execute("ANALYZE rollup_log")
    conn.execute("INSERT INTO rollup_log (src, sign) SELECT 'x', 1 FROM generate_series(1, 2500)")
    conn.execute("SELECT * FROM vp_fold_venue_stats()")  # reads only its sources; the rows stay
    assert conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'rollup_log'::regclass").fetchone()[0] >= 2500
    conn.execute("DELETE FROM rollup_log WHERE src = 'x'")
