"""Each job's effect on small known data, through the queries layer the jobs call."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest

from tests.fixtures import recount
from tests.fixtures.clock import within_one_utc_day
from tests.fixtures.jobs_data import FAR, NYC, check_in, job_runs, now, offer, running_offer, user, venue
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import job_runs as jobsdb
from venuepulse.queries.ops import maintenance
from venuepulse.queries.pages import jobs_health

# Every job acts on "now": claims and notifications past expiry, offers that have started, partitions for the
# current period and the ones ahead, retention counted back from today.
pytestmark = pytest.mark.clock


@pytest.fixture
def db(db_url):
    with Database(db_url) as d:
        yield d


# -- refresh_venue_stats ---------------------------------------------------------------------------------


def test_refresh_brings_venue_stats_current_with_the_changes_since_the_last(conn, db):
    v = venue(conn)
    u = user(conn)
    check_in(conn, u, v)

    first = maintenance.refresh_venue_stats(db)
    assert first.rows == 1
    assert conn.execute("SELECT total_check_ins FROM venue_stats WHERE venue_id = %s", (v,)).fetchone()[0] == 1

    check_in(conn, user(conn), v)
    second = maintenance.refresh_venue_stats(db)
    assert second.rows == 1
    assert conn.execute("SELECT total_check_ins FROM venue_stats WHERE venue_id = %s", (v,)).fetchone()[0] == 2
    fresh = jobs_health.view_freshness(db)
    assert fresh["populated"] is True and fresh["row_count"] == 1 and fresh["age_seconds"] < 60


def test_view_freshness_equals_a_recount_of_venue_stats_through_venue_changes_and_refreshes(conn, db):
    def recount() -> tuple:
        return conn.execute("SELECT count(*), max(refreshed_at) FROM venue_stats").fetchone()

    def shown() -> tuple:
        for tag in ("query:jobs.view_freshness", "query:jobs.view_populated"):
            db.invalidate(tag)
        fresh = jobs_health.view_freshness(db)
        return fresh["row_count"], fresh["refreshed_at"]

    maintenance.refresh_venue_stats(db)
    assert shown() == recount()
    venues = [venue(conn) for _ in range(3)]
    check_in(conn, user(conn), venues[0])
    maintenance.refresh_venue_stats(db)
    assert shown() == recount() and recount()[0] >= 3
    conn.execute("UPDATE venues SET category = 'cafe' WHERE id = %s", (venues[1],))
    conn.execute("DELETE FROM venues WHERE id = %s", (venues[2],))
    maintenance.refresh_venue_stats(db)
    assert shown() == recount()
    conn.execute("SELECT refresh_venue_stats(true)")  # the full recompute
    assert shown() == recount()


# -- maintain_partitions -----------------------------------------------------------------------------------


def _partitions(conn, table: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT partition_name FROM partition_inventory WHERE parent_table = %s AND NOT is_default", (table,))}


def _month_partitions(conn, table: str, months: range) -> set[str]:
    """Names of the partitions of the months ``months`` after the current one (by the server's clock)."""
    return {r[0] for r in conn.execute(
        """SELECT vp_partition_name(%s, 'month', (date_trunc('month', now() AT TIME ZONE 'UTC')
                                                 + make_interval(months => m)) AT TIME ZONE 'UTC')
           FROM unnest(%s::int[]) m""", (table, list(months)))}


def test_partitions_are_made_ahead_per_policy(conn, db):
    within_one_utc_day(10)  # "this month" is read by the job, then by the checks: not across a month's end
    conn.execute("UPDATE partition_policies SET ahead = 5 WHERE parent_table = 'check_ins'")
    before = _partitions(conn, "check_ins")
    out = maintenance.maintain_partitions(db, rollup=None)
    after = _partitions(conn, "check_ins")
    # the template holds this month and 3 ahead as of the day the session started (the month before, when
    # it crossed a month's end): the job adds whatever of months 0 to 5 from now is missing
    wanted = _month_partitions(conn, "check_ins", range(6))
    assert after - before == wanted - before and _month_partitions(conn, "check_ins", range(4, 6)) <= after - before
    assert set(out.details["created"]) >= after - before
    status = {r["parent_table"]: r for r in jobs_health.partition_status(db)}
    assert status["check_ins"]["periods_ahead"] == 5
    assert status["event_stream"]["periods_ahead"] == 3
    assert status["query_performance_log"]["periods_ahead"] == 7
    assert all(r["rows_in_default"] == 0 for r in status.values())


def test_rows_in_a_default_partition_are_moved_out_and_reported(conn, db):
    v, u = venue(conn), user(conn)
    long_ago = now() - timedelta(days=800)
    check_in(conn, u, v, long_ago)
    check_in(conn, u, v)
    assert conn.execute("SELECT count(*) FROM check_ins_default").fetchone()[0] == 1
    status = {r["parent_table"]: r for r in jobs_health.partition_status(db)}
    assert status["check_ins"]["rows_in_default"] == 1
    counters = recount.stored_venue_counters(conn)

    out = maintenance.maintain_partitions(db, rollup=None)

    assert conn.execute("SELECT count(*) FROM check_ins_default").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM event_stream_default").fetchone()[0] == 0
    moved = {m["table"]: m["rows"] for m in out.details["moved"]}
    assert moved == {"check_ins": 1, "event_stream": 1}
    assert conn.execute("SELECT count(*) FROM check_ins").fetchone()[0] == 2
    # moving rows between partitions is not a delete and an insert for the counters
    assert recount.stored_venue_counters(conn) == counters == recount.venue_counters(recount.snapshot(conn))


def test_rows_that_cannot_be_moved_are_reported_without_failing_maintenance(conn, db):
    v, u = venue(conn), user(conn)
    long_ago = now() - timedelta(days=800)
    check_in(conn, u, v, long_ago)
    # a stray table with the partition's name: the rows cannot go there
    name = conn.execute("SELECT vp_partition_name('check_ins', 'month', date_trunc('month', %s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
                        (long_ago,)).fetchone()[0]
    conn.execute(f'CREATE TABLE "{name}" (x int)')
    conn.execute("UPDATE partition_policies SET ahead = 4 WHERE parent_table = 'event_stream'")

    out = maintenance.maintain_partitions(db, rollup=None)

    assert [p["table"] for p in out.details["move_problems"]] == ["check_ins"]
    assert name in out.details["move_problems"][0]["error"]
    assert conn.execute("SELECT count(*) FROM check_ins_default").fetchone()[0] == 1
    assert any(p.startswith("event_stream_p") for p in out.details["created"])  # the rest still happened


def _old_log_partition(conn, days: int = 40) -> tuple[str, object]:
    old = now() - timedelta(days=days)
    conn.execute("SELECT vp_ensure_partition('query_performance_log', %s)", (old,))
    conn.execute("INSERT INTO query_performance_log (query_name, execution_time_ms, created_at) VALUES ('x.y', 1.5, %s)",
                 (old,))
    rows = conn.execute(
        """SELECT partition_name, range_end FROM partition_inventory
           WHERE parent_table = 'query_performance_log' AND range_end <= now() - interval '30 days'""").fetchall()
    assert len(rows) == 1
    return rows[0]


def test_retention_drops_old_log_partitions_only_after_their_hours_are_rolled_up(conn, db):
    name, range_end = _old_log_partition(conn)
    recent = now() - timedelta(days=3)
    conn.execute("SELECT vp_ensure_partition('query_performance_log', %s)", (recent,))

    def failing_rollup(db, upto):
        raise maintenance.QueryError("performance.rollup", "rollup_failed: histogram table locked")

    with pytest.raises(maintenance.MaintenanceError) as err:
        maintenance.maintain_partitions(db, rollup=failing_rollup)
    assert err.value.details["dropped"] == []
    assert name in _partitions(conn, "query_performance_log")

    out = maintenance.maintain_partitions(db)  # the real rollup

    assert out.details["dropped"] == [name]
    assert name not in _partitions(conn, "query_performance_log")
    assert any(p.endswith(recent.strftime("%Y_%m_%d")) for p in _partitions(conn, "query_performance_log"))
    # what the partition held survives in the hourly histograms
    assert conn.execute("SELECT sum(calls) FROM query_perf_hourly WHERE query_name = 'x.y'").fetchone()[0] == 1


def test_a_log_partition_whose_hours_were_never_rolled_up_is_kept(conn, db):
    name, range_end = _old_log_partition(conn)
    rolled = []
    out = maintenance.maintain_partitions(db, rollup=lambda db, upto: rolled.append(upto) or 0)
    assert rolled == [range_end]
    assert out.details["dropped"] == []
    assert out.details["kept"] == [{"partition": name, "reason": "1 hour(s) with rows not rolled into the histograms"}]
    assert name in _partitions(conn, "query_performance_log")


def test_a_partition_drop_refuses_anything_but_an_expired_policy_partition(conn, db):
    current = sorted(_partitions(conn, "query_performance_log"))[-1]
    for parent, part in [("query_performance_log", current), ("check_ins", "venues"),
                         ("query_performance_log", "query_performance_log_default")]:
        with pytest.raises(maintenance.QueryError) as err:
            db.run("maintenance.drop_expired_partition", {"parent": parent, "partition": part})
        assert err.value.reason == "not_expired_partition"
    assert conn.execute("SELECT to_regclass('venues')").fetchone()[0] is not None


# -- reconcile_counters ------------------------------------------------------------------------------------


def _world(conn):
    """Two venues, three users, check-ins, a review, a favorite, an offer with claims and views."""
    v1, v2 = venue(conn, "One"), venue(conn, "Two")
    a, b, c = user(conn), user(conn), user(conn)
    for u, v in [(a, v1), (b, v1), (c, v2), (a, v2)]:
        check_in(conn, u, v)
    conn.execute("INSERT INTO reviews (user_id, venue_id, rating) VALUES (%s, %s, 4)", (b, v1))
    conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (c, v1))
    o = running_offer(conn, v1)
    conn.execute("SELECT claim_flash_offer(%s, %s)", (o, a))
    conn.execute("SELECT claim_flash_offer(%s, %s)", (o, b))
    conn.execute("SELECT record_offer_event(%s, %s, 'view')", (o, c))
    return {"venues": (v1, v2), "users": (a, b, c), "offer": o}


def _all_true(conn) -> bool:
    s = recount.snapshot(conn)
    return (recount.stored_venue_counters(conn) == recount.venue_counters(s)
            and recount.stored_offer_counters(conn) == recount.offer_counters(s)
            and recount.stored_venue_interactions(conn) == recount.venue_interactions(s))


def test_corrupted_counters_are_repaired_and_the_drift_recorded(conn, db):
    w = _world(conn)
    v1, v2 = w["venues"]
    a, b, c = w["users"]
    assert _all_true(conn)
    start = now() - timedelta(seconds=1)
    # the stored part of the venue counters is the sharded total: a bogus shard drifts it to 40
    conn.execute("INSERT INTO venue_counter_shards (venue_id, shard, total_check_ins) VALUES (%s, 99, 38)", (v1,))
    conn.execute("UPDATE flash_offers SET claimed_count = 9, view_count = 0 WHERE id = %s", (w["offer"],))
    conn.execute("UPDATE venue_interactions SET check_in_count = 12 WHERE user_id = %s AND venue_id = %s", (a, v2))
    conn.execute("DELETE FROM venue_interactions WHERE user_id = %s AND venue_id = %s", (b, v1))
    conn.execute("INSERT INTO venue_interactions (user_id, venue_id, check_in_count) VALUES (%s, %s, 3)", (b, v2))
    assert not _all_true(conn)

    out = maintenance.reconcile_counters(db)

    assert _all_true(conn)
    assert out.rows == 5
    assert out.details["venue_counters"] == {"drifted": 1, "repaired": 1, "recorded": 1}
    assert out.details["flash_offer_counters"] == {"drifted": 1, "repaired": 1, "recorded": 1}
    assert out.details["venue_interactions"] == {"drifted": 3, "repaired": 3, "recorded": 3}

    drift = jobs_health.drift_history(db, start, now() + timedelta(seconds=5))
    by_kind = {}
    for d in drift:
        by_kind.setdefault(d["kind"], []).append(d)
        assert d["repaired"] is True
    venue_drift = by_kind["venue_counters"][0]
    assert venue_drift["entity"] == {"venue_id": str(v1)}
    assert venue_drift["stored"]["total_check_in_count"] == 40
    assert venue_drift["expected"]["total_check_in_count"] == 2
    offer_drift = by_kind["flash_offer_counters"][0]
    assert (offer_drift["stored"]["claimed_count"], offer_drift["expected"]["claimed_count"]) == (9, 2)
    pairs = {(d["entity"]["user_id"], d["entity"]["venue_id"]): d for d in by_kind["venue_interactions"]}
    assert pairs[(str(b), str(v1))]["stored"] is None  # the deleted row was missing
    assert pairs[(str(b), str(v2))]["expected"] is None  # the bogus row should not exist
    assert pairs[(str(a), str(v2))]["stored"]["check_in_count"] == 12
    assert pairs[(str(a), str(v2))]["expected"]["check_in_count"] == 1

    again = maintenance.reconcile_counters(db)
    assert again.rows == 0 and again.summary == "no drift"


def test_reconcile_without_repair_only_records(conn, db):
    w = _world(conn)
    conn.execute("INSERT INTO venue_counter_shards (venue_id, shard, total_check_ins) VALUES (%s, 99, 38)",
                 (w["venues"][0],))
    out = maintenance.reconcile_counters(db, repair=False)
    assert out.details["venue_counters"] == {"drifted": 1, "repaired": 0, "recorded": 1}
    assert not _all_true(conn)
    assert conn.execute("SELECT repaired FROM counter_drift").fetchone()[0] is False


# -- expiry --------------------------------------------------------------------------------------------------


def test_claims_past_their_expiry_become_expired_and_others_stay(conn, db):
    v = venue(conn)
    o = running_offer(conn, v)
    a, b = user(conn), user(conn)
    old = conn.execute("SELECT id FROM claim_flash_offer(%s, %s)", (o, a)).fetchone()[0]
    fresh = conn.execute("SELECT id FROM claim_flash_offer(%s, %s)", (o, b)).fetchone()[0]
    conn.execute("UPDATE flash_offer_claims SET expires_at = now() - interval '1 minute' WHERE id = %s", (old,))

    out = maintenance.expire_claims(db)

    assert out.rows == 1
    status = dict(conn.execute("SELECT id, status FROM flash_offer_claims").fetchall())
    assert status == {old: "expired", fresh: "active"}
    # an expired claim is still a claim: the offer's counts and the recount agree
    assert conn.execute("SELECT claimed_count FROM flash_offers WHERE id = %s", (o,)).fetchone()[0] == 2
    assert _all_true(conn)
    assert maintenance.expire_claims(db).rows == 0


def test_notifications_past_their_expiry_are_marked_expired(conn, db):
    u = user(conn)
    for expires in ("now() - interval '1 second'", "now() + interval '1 hour'", "NULL"):
        conn.execute(f"INSERT INTO notifications (user_id, category, title, body, expires_at) "
                     f"VALUES (%s, 'system', 't', 'b', {expires})", (u,))
    out = maintenance.expire_notifications(db)
    assert out.rows == 1
    assert conn.execute("SELECT count(*) FROM notifications WHERE is_expired").fetchone()[0] == 1
    assert conn.execute(
        "SELECT count(*) FROM notifications WHERE is_expired AND expires_at <= now()").fetchone()[0] == 1


# -- send_offer_pushes ------------------------------------------------------------------------------------


def _push_world(conn):
    v = venue(conn, at=NYC)
    people = {
        "near": user(conn, at=NYC),
        "in_app_only": user(conn, at=NYC, push_enabled=False, in_app_enabled=True, email_enabled=True),
        "far": user(conn, at=FAR),
        "no_offers": user(conn, at=NYC, flash_offers=False),
    }
    return v, people


def test_started_offers_are_pushed_once_on_the_channels_each_recipient_allows(conn, db):
    v, people = _push_world(conn)
    due = running_offer(conn, v)
    later = offer(conn, v, now() + timedelta(hours=1), now() + timedelta(hours=3))
    ended = offer(conn, v, now() - timedelta(hours=3), now() - timedelta(hours=1))

    out = maintenance.send_offer_pushes(db)

    assert out.rows == 2 and out.details["offers"] == [{"offer_id": due, "recipients": 2}]
    rows = conn.execute(
        """SELECT user_id, channels, reference_id, venue_id, expires_at = (SELECT end_time FROM flash_offers WHERE id = %s)
           FROM notifications WHERE category = 'flash_offer'""", (due,)).fetchall()
    channels = {r[0]: r[1] for r in rows}
    assert channels == {people["near"]: {"push": True, "in_app": True, "email": False},
                        people["in_app_only"]: {"push": False, "in_app": True, "email": True}}
    assert all(r[2] == due and r[3] == v and r[4] for r in rows)
    sent = dict(zip(("push_sent", "sent_at_set", "count"), conn.execute(
        "SELECT push_sent, push_sent_at IS NOT NULL, push_recipient_count FROM flash_offers WHERE id = %s",
        (due,)).fetchone(), strict=True))
    assert sent == {"push_sent": True, "sent_at_set": True, "count": 2}
    first_sent_at = conn.execute("SELECT push_sent_at FROM flash_offers WHERE id = %s", (due,)).fetchone()[0]
    assert conn.execute("SELECT push_sent FROM flash_offers WHERE id IN (%s, %s)", (later, ended)).fetchall() == [
        (False,), (False,)]

    again = maintenance.send_offer_pushes(db)
    assert again.rows == 0
    assert conn.execute("SELECT count(*) FROM notifications").fetchone()[0] == 2
    assert conn.execute("SELECT push_sent_at FROM flash_offers WHERE id = %s", (due,)).fetchone()[0] == first_sent_at


def _waiting_on_locks(conn, dbname: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (dbname,)
    ).fetchone()[0]


def test_two_overlapping_push_runs_send_each_offer_once(conn, db_url):
    v, people = _push_world(conn)
    due = running_offer(conn, v)
    dbname = conn.info.dbname
    results: list = []
    errors: list = []

    def run():
        try:
            with Database(db_url) as d:
                results.append(maintenance.send_offer_pushes(d))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    # Hold the offer row so both runs find it due and then wait on it at the same moment.
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT 1 FROM flash_offers WHERE id = %s FOR UPDATE", (due,))
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while _waiting_on_locks(conn, dbname) < 2:
            assert time.monotonic() < deadline, "the two runs never overlapped"
            time.sleep(0.05)
        holder.rollback()
    for t in threads:
        t.join(30)

    assert errors == []
    assert sorted(r.rows for r in results) == [0, 2]
    assert sorted(r.details["already_sent_by_another_run"] for r in results) == [0, 1]
    assert conn.execute("SELECT count(*) FROM notifications WHERE reference_id = %s", (due,)).fetchone()[0] == 2
    assert conn.execute("SELECT push_recipient_count FROM flash_offers WHERE id = %s", (due,)).fetchone()[0] == 2


# -- probe_queries -------------------------------------------------------------------------------------------


def test_probes_run_registered_reads_and_skip_the_rest(conn, db):
    out = maintenance.probe_queries(db, ["health.ping", "no_such.query", "maintenance.expire_claims"])
    assert out.details["ran"] == ["health.ping"]
    assert out.details["skipped"]["no_such.query"] == "not registered"
    assert "reads only" in out.details["skipped"]["maintenance.expire_claims"]


def test_the_default_probe_list_runs_every_registered_key_query(conn, db):
    venue(conn)
    out = maintenance.probe_queries(db)
    assert "health.ping" in out.details["ran"]
    assert out.details["failed"] == {}
    registered = [n for n in maintenance.PROBE_QUERIES if n in maintenance.registry()]
    assert len(registered) >= 5
    assert out.details["ran"] == registered
    assert out.rows == len(registered)


def test_job_runs_reads_filter_by_job_and_time(conn, db):
    t0 = now()
    with psycopg.connect(db.url, autocommit=True) as c:
        a = jobsdb.insert_run(c, "expire_claims", status="succeeded", scheduled_at=t0, started_at=t0,
                              finished_at=t0 + timedelta(milliseconds=30), rows=3)
        jobsdb.insert_run(c, "probe_queries", status="failed", scheduled_at=None, started_at=t0,
                          finished_at=t0, error="boom")
    runs = jobs_health.job_runs(db, job="expire_claims", start=t0 - timedelta(seconds=1), end=t0 + timedelta(seconds=1))
    assert [r["id"] for r in runs] == [a]
    assert runs[0]["duration_ms"] == pytest.approx(30, abs=1)
    assert [r["job_name"] for r in jobs_health.job_runs(db, status="failed")] == ["probe_queries"]
    overview = {r["job_name"]: r for r in jobs_health.job_overview(db, ["expire_claims", "refresh_venue_stats"])}
    assert overview["expire_claims"]["last_status"] == "succeeded"
    assert overview["probe_queries"]["last_error"] == "boom"
    assert overview["refresh_venue_stats"]["last_status"] is None
    with pytest.raises(ValueError, match="status"):
        jobs_health.job_runs(db, status="exploded")
    with pytest.raises(ValueError, match="end"):
        jobs_health.drift_history(db, t0, t0)
    assert job_runs(conn, "probe_queries")[0]["error"] == "boom"
