"""Live traffic (`venuepulse simulate`): goes through the contract, counts refusals, keeps every invariant."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from tests.fixtures import recount
from venuepulse.errors import VenuePulseError
from venuepulse.jobs.seed import seed
from venuepulse.jobs.simulate import WEIGHTS, simulate


def _round(d: dict) -> dict:
    return {k: {c: (round(x, 10) if isinstance(x, Decimal) else x) for c, x in row.items()} for k, row in d.items()}


def _assert_recounts(conn) -> None:
    s = recount.snapshot(conn)
    assert recount.stored_venue_counters(conn) == recount.venue_counters(s)
    assert recount.stored_offer_counters(conn) == recount.offer_counters(s)
    assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s)


@pytest.fixture
def tiny(db_url):
    seed(db_url, scale="tiny", seed=11, progress=False)
    return db_url


def test_after_a_short_run_every_number_still_equals_its_recount(tiny, conn):
    before = conn.execute("SELECT count(*) FROM check_ins").fetchone()[0]
    totals = simulate(tiny, rate=40, duration=3, seed=1)
    assert totals["errors"] == {}
    assert totals["events"] > 20
    assert totals["actions"].get("check_in", 0) > 0
    assert conn.execute("SELECT count(*) FROM check_ins").fetchone()[0] == before + totals["actions"]["check_in"]
    assert set(totals["actions"]) <= set(WEIGHTS) | {"new_offer"}
    _assert_recounts(conn)
    conn.execute("SELECT refresh_venue_stats()")
    refreshed = conn.execute("SELECT max(refreshed_at) FROM venue_stats").fetchone()[0]
    assert _round(recount.stored_venue_stats(conn)) == _round(recount.venue_stats(recount.snapshot(conn), refreshed))
    with conn.transaction(force_rollback=True):
        assert conn.execute("SELECT * FROM vp_recompute_denormalized()").fetchone() == (0, 0, 0, 0)
    # the simulator's queries are timed into the log like the app's
    assert conn.execute("SELECT count(*) FROM query_performance_log WHERE query_name LIKE 'simulate.%'"
                        ).fetchone()[0] > 0


def test_refusals_from_the_contract_are_counted_not_raised(tiny, conn):
    # every running offer is full (or ended); new ones the simulator may open fill up quickly
    conn.execute("""UPDATE flash_offers SET max_claims = claimed_count
                    WHERE start_time <= now() AND end_time > now() AND claimed_count > 0""")
    conn.execute("""UPDATE flash_offers SET end_time = now() - interval '1 second'
                    WHERE start_time < now() - interval '1 second' AND end_time > now() AND claimed_count = 0""")
    totals = simulate(tiny, rate=80, duration=3, seed=2, weights={"claim": 1})
    assert totals["errors"] == {}
    assert sum(totals["refusals"].values()) > 0
    assert set(totals["refusals"]) <= {"offer_full", "already_claimed", "offer_not_active"}
    assert totals["refusals"].get("offer_full", 0) > 0
    assert conn.execute("SELECT count(*) FROM flash_offers WHERE claimed_count > max_claims").fetchone()[0] == 0
    _assert_recounts(conn)


def test_an_open_ended_run_stops_when_asked(tiny):
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    totals = simulate(tiny, rate=20, stop_event=stop, seed=3)
    assert 1.0 <= totals["seconds"] < 10
    assert totals["events"] > 0


def test_an_empty_database_is_refused_with_a_clear_message(db_url):
    with pytest.raises(VenuePulseError, match="no users or venues to simulate; run 'venuepulse seed' first"):
        simulate(db_url, rate=5, duration=1)


def test_bad_rate_duration_and_weights_are_named(db_url):
    with pytest.raises(VenuePulseError, match="--rate must be"):
        simulate(db_url, rate=0)
    with pytest.raises(VenuePulseError, match="--duration must be"):
        simulate(db_url, duration=-1)
    with pytest.raises(VenuePulseError, match="unknown: dance"):
        simulate(db_url, weights={"dance": 1})


def test_cli_runs_for_the_given_duration_and_prints_the_counts(tiny, run_cli):
    r = run_cli("simulate", "--rate", "20", "--duration", "2", "--seed", "4", "--database-url", tiny)
    assert r.returncode == 0, r.stderr
    assert "simulating about 20 events/s for 2s" in r.stdout
    assert "done:" in r.stdout and "check_in" in r.stdout
