"""Timings reach query_performance_log through the recorder: batched, bounded, never in the way."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import psycopg
import pytest

from venuepulse.queries.core.recorder import Recorder
from venuepulse.queries.core.registry import parse, registry
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages.query_performance import measure_recording_overhead


def logged(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT query_name, row_count, user_id FROM query_performance_log ORDER BY created_at, query_name").fetchall()


def test_each_run_is_recorded_with_name_rows_and_user_after_flush(db_url, conn):
    user = uuid.uuid4()
    with Database(db_url) as db:
        db.run("health.ping", user_id=user)
        db.run("health.ping")
        assert db.flush() == 2
        rows = logged(conn)
    assert rows == [("health.ping", 1, user), ("health.ping", 1, None)]
    times = conn.execute("SELECT execution_time_ms FROM query_performance_log").fetchall()
    assert all(t > 0 for (t,) in times)


def test_the_recorders_own_writes_are_not_recorded(db_url, conn):
    with Database(db_url) as db:
        for _ in range(3):
            db.run("health.ping")
        db.flush()
        db.flush()
    names = {n for (n,) in conn.execute("SELECT DISTINCT query_name FROM query_performance_log")}
    assert names == {"health.ping"}


def test_record_false_writes_nothing(db_url, conn):
    with Database(db_url, record=False) as db:
        db.run("health.ping")
        db.record("job.anything", 5.0)
        assert db.flush() == 0
    assert logged(conn) == []


def test_jobs_record_their_own_durations_through_record(db_url, conn):
    with Database(db_url) as db:
        db.record("job.refresh_venue_stats", 1234.5, 17)
    # close() flushed
    assert conn.execute("SELECT query_name, execution_time_ms, row_count FROM query_performance_log").fetchall() == [
        ("job.refresh_venue_stats", 1234.5, 17)]


def test_a_failed_run_is_recorded_with_no_row_count(db_url, conn, monkeypatch):
    monkeypatch.setitem(registry(), "t.boom", parse("-- name: t.boom --\nSELECT 1/0")["t.boom"])
    with Database(db_url) as db:
        with pytest.raises(Exception, match="t.boom"):
            db.run("t.boom")
    assert logged(conn) == [("t.boom", None, None)]


def test_a_full_buffer_drops_the_oldest_and_counts_the_drops(db_url, conn):
    rec = Recorder(db_url, capacity=5, batch_size=1000, flush_interval=3600)
    try:
        for i in range(8):
            rec.add(f"t.q{i}", 1.0, 1)
        assert rec.stats()["dropped"] == 3
        assert rec.flush() == 5
    finally:
        rec.close()
    assert [n for (n, _, _) in logged(conn)] == [f"t.q{i}" for i in range(3, 8)]


def test_an_unreachable_database_never_reaches_the_caller(tmp_path):
    rec = Recorder(f"postgresql://nobody@/nodb?host={tmp_path}", capacity=10, flush_interval=3600)
    rec.add("t.q", 1.0)
    assert rec.flush() == 0
    stats = rec.stats()
    assert stats["failed"] == 1 and stats["last_error"]
    rec.close()


def test_bad_values_are_cleaned_rather_than_failing_the_batch(db_url, conn):
    rec = Recorder(db_url, flush_interval=3600)
    rec.add("t." + "x" * 200, -3, -1, "not-a-uuid")
    assert rec.flush() == 1
    rec.close()
    name, ms, rows, user = conn.execute(
        "SELECT query_name, execution_time_ms, row_count, user_id FROM query_performance_log").fetchone()
    assert len(name) == 100 and ms == 0 and rows == 0 and user is None


def test_the_background_thread_writes_without_an_explicit_flush(db_url, conn):
    rec = Recorder(db_url, batch_size=3, flush_interval=3600)
    for _ in range(3):
        rec.add("t.q", 1.0)  # the third wakes the writer
    rec._thread.join(timeout=0)  # the writer exists
    rec.close()
    assert rec.stats()["written"] == 3 and rec.stats()["batches"] >= 1


def test_timings_are_flushed_when_the_process_exits_without_close(db_url, conn):
    script = textwrap.dedent(f"""
        from venuepulse.queries.core.runner import Database
        db = Database({db_url!r}, flush_interval=3600)
        for _ in range(4):
            db.run("health.ping")
        # no close(): the atexit hook flushes
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert len(logged(conn)) == 4


def test_measure_recording_overhead_reports_both_sides(db_url):
    result = measure_recording_overhead(db_url, runs=40, rounds=2)
    assert result["runs"] == 40 and result["rounds"] == 2
    assert len(result["recorded_rounds_us"]) == len(result["unrecorded_rounds_us"]) == 2
    assert result["recorded_us"] > 0 and result["unrecorded_us"] > 0
    assert result["written"] >= 40 and result["dropped"] == 0 and result["failed"] == 0
    assert isinstance(result["overhead_pct"], float)
