"""pg_stat_statements integrity on a real server: a reset, an entry reset on its own (as an eviction looks)
and an eviction storm are flagged as gaps, never stored as negative deltas, and charted as gaps."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import TEST_URL_ENV, _short_tmpdir
from venuepulse import embedded
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import query_performance as perf

NEGATIVE = """SELECT count(*) FROM pgss_deltas
              WHERE calls <= 0 OR total_exec_ms < 0 OR rows < 0 OR shared_blks_hit < 0 OR shared_blks_read < 0
                 OR temp_blks_written < 0"""


@pytest.fixture
def pgss(db):
    status = perf.stat_statements_status(db)
    if not status["available"]:
        pytest.skip(f"pg_stat_statements unavailable on this server: {status['message']}")
    return status


def _window():
    now = datetime.now(UTC)
    return now - timedelta(minutes=5), now + timedelta(minutes=5)


def _pings(db, n: int) -> None:
    for _ in range(n):
        db.run("health.ping")


def _ping_series(db) -> list[dict]:
    return [r for r in perf.stat_statements_series(db, *_window(), limit=50) if r["query_name"] == "health.ping"]


def test_snapshots_flag_gaps_only_for_resets_evictions_and_lost_entries(db, conn, pgss):
    # pg_stat_statements is cluster-wide: on a busy shared server other databases' statements may evict
    # entries meanwhile, which must then be flagged; alone (the embedded run) nothing is lost
    perf.snapshot_stat_statements(db)
    _pings(db, 5)
    perf.snapshot_stat_statements(db)
    info = perf.stat_statements_integrity(db, *_window())
    assert info["info_available"] and info["resets"] == 0
    first, second = info["snapshots"]
    assert first["baseline_only"] and not first["gap"]
    assert second["gap"] == (bool(second["evictions"]) or second["entry_gaps"] > 0)
    assert second["captured_ms"] > 0
    assert info["captured_share"] is None or 0 < info["captured_share"] <= 1
    (point,) = _ping_series(db)
    assert point["calls_counted"] == 5
    assert point["gap"] or point["calls"] == 5


@pytest.mark.superuser("pg_stat_statements_reset() is granted to superusers only")
def test_a_manual_reset_is_a_flagged_gap_with_no_negative_delta(db, conn, pgss):
    perf.snapshot_stat_statements(db)
    _pings(db, 6)
    perf.snapshot_stat_statements(db)
    conn.execute("SELECT pg_stat_statements_reset()")
    _pings(db, 2)
    perf.snapshot_stat_statements(db)
    info = perf.stat_statements_integrity(db, *_window())
    assert info["resets"] == 1 and info["gaps"] >= 1
    last = info["snapshots"][-1]
    assert last["reset_seen"] and last["gap"] and last["entry_gaps"] > 0
    assert conn.execute(NEGATIVE).fetchone()[0] == 0
    before, after = _ping_series(db)
    assert before["calls_counted"] == 6 and before["gap_reason"] in (None, "evictions")  # (others' evictions)
    # a gap, not a dip: nothing charted, and the two calls made since the reset kept as a lower bound
    assert after["gap"] and after["gap_reason"] == "reset" and after["calls"] is None and after["total_ms"] is None
    assert after["calls_counted"] == 2


@pytest.mark.superuser("pg_stat_statements_reset(userid, dbid, queryid) is granted to superusers only")
def test_an_entry_evicted_or_reset_on_its_own_starts_a_new_baseline(db, conn, pgss):
    queryid = None
    perf.snapshot_stat_statements(db)
    _pings(db, 5)
    perf.snapshot_stat_statements(db)
    queryid = conn.execute("SELECT queryid FROM pgss_queries WHERE query_name = 'health.ping'").fetchone()[0]
    one = "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), %s)"
    conn.execute(one, (queryid,))
    perf.snapshot_stat_statements(db)  # the entry is gone, as an evicted one is
    _pings(db, 7)
    perf.snapshot_stat_statements(db)  # back, counted from zero
    _pings(db, 2)
    conn.execute(one, (queryid,))
    _pings(db, 1)
    perf.snapshot_stat_statements(db)  # reset between two readings: its counters went down (or it was recreated)
    assert conn.execute(NEGATIVE).fetchone()[0] == 0
    reasons = [r[0] for r in conn.execute(
        "SELECT reason FROM pgss_entry_gaps WHERE queryid = %s ORDER BY snapshot_id", (queryid,))]
    assert reasons[0] == "evicted" and reasons[1] in ("counter_down", "recreated") and len(reasons) == 2
    series = _ping_series(db)
    assert [r["calls_counted"] for r in series] == [5, None, 7, 1]
    assert [r["gap_reason"] for r in series][1::2] == ["evicted", reasons[1]]
    assert [r["calls"] for r in series][1::2] == [None, None]  # gaps, never a dip to zero


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get(TEST_URL_ENV)), reason="restarts a dedicated embedded server with "
                    "pg_stat_statements.max = 100; the embedded run covers it")
def test_an_eviction_storm_is_detected_from_dealloc_and_never_stored_as_negative_deltas():
    from venuepulse.queries.schema.migrate import upgrade

    ddir = _short_tmpdir("vpe-")
    try:
        url = embedded.ensure_running(ddir)
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("ALTER SYSTEM SET pg_stat_statements.max = 100")  # the smallest it takes
        embedded.stop(ddir)
        url = embedded.ensure_running(ddir)
        upgrade(url, "head")
        with Database(url, record=False) as db, psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SHOW pg_stat_statements.max").fetchone()[0] == "100"
            perf.snapshot_stat_statements(db)
            _pings(db, 3)
            perf.snapshot_stat_statements(db)
            for width in range(1, 400):  # 400 statements of distinct shapes: each a new entry
                conn.execute("SELECT " + ", ".join(["1"] * width))
            _pings(db, 3)
            perf.snapshot_stat_statements(db)
            info = perf.stat_statements_integrity(db, *_window())
            last = info["snapshots"][-1]
            assert last["evictions"] > 0 and last["gap"] and info["evictions"] >= last["evictions"]
            # (reading after the snapshot may itself evict again)
            assert 0 < last["dealloc"] <= conn.execute("SELECT dealloc FROM pg_stat_statements_info").fetchone()[0]
            assert last["entry_gaps"] > 0  # the entries that went, by name (stats_since tells which came back)
            assert conn.execute(NEGATIVE).fetchone()[0] == 0
    finally:
        embedded.stop(ddir)
        shutil.rmtree(ddir, ignore_errors=True)
