"""Faults survived: the primary restarted (fast, then immediate shutdown) under a running scheduler, simulator
and dashboard session; and the timing recorder's buffer filled by a slow database.

The restart test runs on an embedded server of its own (restarting the suite's shared server would disturb
every other test). After the restarts it checks what must hold: every write the simulator saw acknowledged
is there, every counter equals its recount, the rollups equal theirs once folded, the jobs ran again, and the
dashboard session's next page render succeeds.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.fixtures import recount
from tests.fixtures import rollup_truth as truth
from tests.fixtures.jobs_data import job_runs, running_offer, user, venue
from tests.fixtures.pages import open_page, texts
from tests.test_jobs_processes import Scheduler, _env, _wait
from venuepulse import embedded
from venuepulse.jobs import simulate as simulate_module
from venuepulse.queries.core.runner import Database
from venuepulse.queries.schema.migrate import upgrade

OWNER_PAGE_PROBLEMS = ("Traceback", "Something went wrong")


@pytest.fixture
def own_server():
    """A throwaway embedded PostgreSQL of this test's own, migrated, with a few users, venues and offers."""
    ddir = Path(tempfile.mkdtemp(prefix="vpf-", dir="/tmp"))
    try:
        url = embedded.ensure_running(ddir)
        upgrade(url, "head")
        with psycopg.connect(url, autocommit=True) as c:
            users = [user(c) for _ in range(30)]
            venues = [venue(c, f"Venue {i}") for i in range(6)]
            c.execute("INSERT INTO venue_owners (venue_id, user_id) SELECT v, %s FROM unnest(%s::uuid[]) v",
                      (users[0], venues))
            for v in venues[:3]:
                running_offer(c, v, max_claims=50)
        yield ddir, url
    finally:
        embedded.stop(ddir)
        shutil.rmtree(ddir, ignore_errors=True)


def _immediate_stop(ddir: Path) -> None:
    """``pg_ctl stop -m immediate``: the server quits without a checkpoint, as in a crash; the next start
    replays the WAL."""
    pgdata = embedded.pgdata_of(ddir)
    res = embedded._run([embedded._bin("pg_ctl"), "-D", str(pgdata), "-w", "-m", "immediate", "stop"], pgdata)
    assert res.returncode == 0, res.stderr


class _Acknowledged(simulate_module.Simulator):
    """The simulator, keeping the ids of the check-ins and claims whose statement returned (committed)."""

    check_ins: list = []
    claims: list = []

    def check_in(self) -> str:
        cid = self.db.scalar("simulate.check_in", {"user_id": self.user(), "venue_id": self.venue()})
        _Acknowledged.check_ins.append(cid)
        return "check_in"

    def claim(self) -> str:
        o = self.offer()
        row = self.db.one("simulate.claim", {"offer_id": o["id"], "user_id": self.audience(o["id"])})
        _Acknowledged.claims.append(row["id"])
        return "claim"


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url, autocommit=True, connect_timeout=3) as c:
        return c.execute("SELECT (SELECT count(*) FROM check_ins), (SELECT count(*) FROM flash_offer_claims)").fetchone()


@pytest.mark.slow
def test_a_primary_restarted_fast_and_immediately_under_load_loses_nothing_acknowledged(own_server, tmp_path,
                                                                                        monkeypatch):
    ddir, url = own_server
    from venuepulse.queries.access.roles import ensure_login_roles

    roles = ensure_login_roles(url)
    monkeypatch.setenv("VENUEPULSE_DASHBOARD_DATABASE_URL", roles["reader_url"])
    monkeypatch.setenv("VENUEPULSE_OWNER_DATABASE_URL", roles["owner_url"])
    monkeypatch.setenv("VENUEPULSE_SIGNIN_DATABASE_URL", roles["signin_url"])
    monkeypatch.setattr(simulate_module, "Simulator", _Acknowledged)
    _Acknowledged.check_ins, _Acknowledged.claims = [], []

    # the dashboard session: its pools live in Streamlit's process-wide resource cache, as in `streamlit run`
    page = open_page("overview")
    assert not page.exception, [e.message for e in page.exception]

    jobs = Scheduler(url, _env(fold_rollups="interval:1", expire_claims="interval:1"), tmp_path / "jobs.log")
    stop = threading.Event()
    totals: dict = {}
    sim = threading.Thread(target=lambda: totals.update(simulate_module.simulate(url, rate=40.0, stop_event=stop,
                                                                                  seed=7)),
                           name="simulator", daemon=True)
    sim.start()
    try:
        _wait("check-ins acknowledged and a fold run", lambda: len(_Acknowledged.check_ins) >= 20 and any(
            r["status"] == "succeeded" for r in job_runs(psycopg.connect(url, autocommit=True), "fold_rollups")))
        for shutdown in ("fast", "immediate"):
            before = len(_Acknowledged.check_ins)
            if shutdown == "fast":
                assert embedded.stop(ddir)
            else:
                _immediate_stop(ddir)
            time.sleep(1.0)  # the simulator, the jobs and the pools meet a server that is gone
            if shutdown == "fast":  # the open session while the server is down: a readable message, no traceback
                down = page.run()
                assert not down.exception, [e.message for e in down.exception]
                assert "not reachable" in texts(down) or "could not load its data" in texts(down), texts(down)
            assert embedded.ensure_running(ddir) == url
            _wait(f"the simulator writing again after the {shutdown} restart",
                  lambda b=before: len(_Acknowledged.check_ins) >= b + 10, timeout=45)
        restarted_at = datetime.now(UTC)
        _wait("a fold run after the restarts", lambda: any(
            r["status"] == "succeeded" and r["started_at"] > restarted_at
            for r in job_runs(psycopg.connect(url, autocommit=True), "fold_rollups")), timeout=45)
    finally:
        stop.set()
        sim.join(30)
        code = jobs.stop()
    assert code == 0, jobs.output()[-3000:]
    assert totals and totals["events"] > 0, totals

    # every acknowledged write is there (an unacknowledged one may or may not be: its commit raced the crash)
    with psycopg.connect(url, autocommit=True) as c:
        ids = set(_Acknowledged.check_ins)
        found = c.execute("SELECT count(*) FROM check_ins WHERE id = ANY(%s)", (list(ids),)).fetchone()[0]
        assert found == len(ids), f"{len(ids) - found} acknowledged check-ins lost"
        claims = set(_Acknowledged.claims)
        found = c.execute("SELECT count(*) FROM flash_offer_claims WHERE id = ANY(%s)", (list(claims),)).fetchone()[0]
        assert found == len(claims), f"{len(claims) - found} acknowledged claims lost"

        # every counter equals its recount; the rollups equal theirs once everything is folded
        s = recount.snapshot(c)
        assert recount.stored_venue_counters(c) == recount.venue_counters(s)
        assert recount.stored_offer_counters(c) == recount.offer_counters(s)
        assert recount.stored_venue_interactions(c) == recount.venue_interactions(s)
    from venuepulse.queries.ops import rollups

    with Database(url, record=False) as db:
        rollups.fold(db)
    with psycopg.connect(url, autocommit=True) as c:
        t = truth.snapshot(c)
        for table, grain in (("rollup_hourly", "hour"), ("rollup_daily", "day")):
            assert truth.stored_buckets(c, table) == truth.buckets(t, grain), table
        assert truth.stored_venue_days(c) == {k: v for k, v in truth.venue_days(t).items() if any(v.values())}

    # the open session's next render works on the restarted server, with no traceback
    again = page.run()
    assert not again.exception, [e.message for e in again.exception]
    assert not any(p in texts(again) for p in OWNER_PAGE_PROBLEMS), texts(again)
    assert len(set(_Acknowledged.check_ins)) >= 40


def test_a_slow_database_fills_the_recorder_buffer_and_every_drop_is_counted_and_logged(db_url, conn, caplog):
    """The timing table locked (the database "slow" for the recorder): queries go on, the bounded buffer
    drops its oldest entries, and the drops are counted and logged; once the lock goes, what was kept lands."""
    caplog.set_level(logging.WARNING, logger="venuepulse.queries.core.recorder")
    blocker = psycopg.connect(db_url)
    blocker.execute("LOCK TABLE query_performance_log IN ACCESS EXCLUSIVE MODE")
    try:
        with Database(db_url, recorder_capacity=50, flush_interval=0.05) as db:
            for _ in range(300):
                db.run("health.ping")  # never waits for the recorder, whose COPY waits for the lock
            stats = db.recorder_stats()
            assert stats["recorded"] == 300
            assert stats["dropped"] >= 300 - 2 * 50  # at most a buffer in the blocked COPY and a buffer waiting
            blocker.rollback()  # the lock goes: the blocked COPY finishes, close() writes the rest
            db.close()
            final = db.recorder_stats()
    finally:
        blocker.close()
    written = conn.execute("SELECT count(*) FROM query_performance_log WHERE query_name = 'health.ping'").fetchone()[0]
    assert final["recorded"] == final["written"] + final["dropped"] + final["failed"] + final["buffered"]
    assert written == final["written"] and final["failed"] == 0
    assert any("dropped the" in r.getMessage() and "oldest timings" in r.getMessage() for r in caplog.records)
