"""The jobs process as people run it: ``venuepulse jobs`` subprocesses against real PostgreSQL servers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.jobs_data import job_runs, running_offer, user, venue
from venuepulse import embedded
from venuepulse.jobs.definitions import JOBS
from venuepulse.queries.schema.migrate import upgrade

pytestmark = pytest.mark.slow


def _env(**on: str) -> dict[str, str]:
    """Environment with every job off except ``on`` (name -> schedule)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENUEPULSE_")}
    env.update({f"VENUEPULSE_JOB_{n.upper()}": "off" for n in JOBS})
    env.update({f"VENUEPULSE_JOB_{k.upper()}": v for k, v in on.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "venuepulse"
    return [str(script)] if script.exists() else [sys.executable, "-m", "venuepulse"]


class Scheduler:
    """A ``venuepulse jobs`` process with its output in a file."""

    def __init__(self, url: str, env: dict[str, str], log: Path):
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([*_cli(), "jobs", "--database-url", url], env=env, stdout=self._out,
                                     stderr=subprocess.STDOUT, text=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text()


def _wait(what: str, check, timeout: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except psycopg.OperationalError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def test_two_scheduler_processes_never_run_the_same_job_at_once(conn, db_url, tmp_path):
    v = venue(conn)
    for _ in range(3):
        user(conn)
    offer = running_offer(conn, v)
    env = _env(send_offer_pushes="interval:1")
    # Hold the offer row: whichever process runs send_offer_pushes first stays inside the job (holding its
    # advisory lock) until we let go, so the other process's runs in the meantime must skip.
    holder = psycopg.connect(db_url)
    holder.execute("SELECT 1 FROM flash_offers WHERE id = %s FOR UPDATE", (offer,))
    procs = [Scheduler(db_url, env, tmp_path / f"s{i}.log") for i in range(2)]
    try:
        def both_seen():
            rows = job_runs(conn, "send_offer_pushes")
            running = [r for r in rows if r["status"] == "running"]
            skipped = [r for r in rows if r["status"] == "skipped"]
            return running and len({r["details"]["pid"] for r in skipped}) >= 1 and len(skipped) >= 2 and rows

        rows = _wait("one run holding the job while the other process skips", both_seen)
        runner_pid = next(r["details"]["pid"] for r in rows if r["status"] == "running")
        assert {r["details"]["pid"] for r in rows if r["status"] == "skipped"} == (
            {p.proc.pid for p in procs} - {runner_pid})
        holder.rollback()
        _wait("the held run to finish", lambda: any(
            r["status"] == "succeeded" and r["rows_affected"] == 3 for r in job_runs(conn, "send_offer_pushes")))
        _wait("runs from both processes", lambda: {
            r["details"]["pid"] for r in job_runs(conn, "send_offer_pushes") if r["status"] == "succeeded"
        } == {p.proc.pid for p in procs}, timeout=90)
    finally:
        holder.close()
        codes = [p.stop() for p in procs]
    assert all(p.alive() is False for p in procs)
    assert codes == [0, 0], [p.output()[-2000:] for p in procs]

    runs = [r for r in job_runs(conn, "send_offer_pushes") if r["status"] in ("succeeded", "failed")]
    runs.sort(key=lambda r: r["started_at"])
    for a, b in zip(runs, runs[1:], strict=False):
        assert a["finished_at"] <= b["started_at"], f"runs {a['id']} and {b['id']} overlapped"
    skipped = [r for r in job_runs(conn, "send_offer_pushes") if r["status"] == "skipped"]
    assert all("another scheduler process is running send_offer_pushes" in r["error"] for r in skipped)
    assert conn.execute("SELECT count(*) FROM notifications WHERE reference_id = %s", (offer,)).fetchone()[0] == 3
    assert "skipped: another scheduler process" in "".join(p.output() for p in procs)


@pytest.fixture
def own_server():
    """A throwaway embedded PostgreSQL of this test's own (stopping it touches no other test)."""
    ddir = Path(tempfile.mkdtemp(prefix="vpj-", dir="/tmp"))
    try:
        url = embedded.ensure_running(ddir)
        upgrade(url, "head")
        yield ddir, url
    finally:
        embedded.stop(ddir)
        shutil.rmtree(ddir, ignore_errors=True)


def test_the_scheduler_survives_the_database_stopping_and_starting_again(own_server, tmp_path):
    ddir, url = own_server

    def runs():
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as c:
            return job_runs(c, "expire_claims")

    proc = Scheduler(url, _env(expire_claims="interval:1"), tmp_path / "jobs.log")
    try:
        _wait("a first successful run", lambda: any(r["status"] == "succeeded" for r in runs()))
        assert embedded.stop(ddir)
        _wait("runs failing while the database is down",
              lambda: proc.output().count("database unavailable") >= 3, timeout=60)
        assert proc.alive()
        assert embedded.ensure_running(ddir) == url

        def recorded_and_recovered():
            rows = runs()
            failed = [r for r in rows if r["status"] == "failed"]
            later_ok = [r for r in rows if r["status"] == "succeeded" and failed
                        and r["started_at"] > max(f["started_at"] for f in failed)]
            return (failed, later_ok) if len(failed) >= 3 and len(later_ok) >= 2 else None

        failed, later_ok = _wait("failed runs recorded and later runs succeeding", recorded_and_recovered, timeout=90)
        assert proc.alive()
    finally:
        code = proc.stop()
    assert code == 0, proc.output()[-3000:]
    assert all(f["error"].startswith("database unavailable") or f["error"].startswith("DatabaseUnavailable")
               for f in failed), [f["error"] for f in failed]
    assert all(f["details"].get("recorded_late") for f in failed)
    assert "recorded" in proc.output() and "runs that failed while it was not" in proc.output()
