"""Alert rules (issue 16): the state machine, each built-in kind's condition at a fixed `now`, refusals that
change nothing, and who may read what (the dashboard's reader never sees a channel secret)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.fixtures.alerts import TABLES, snapshot
from tests.fixtures.rows import add_claim, add_offer, add_users, add_venue
from venuepulse.queries.ops import alert_rules, alerts
from venuepulse.queries.ops.alert_rules import AlertConfigError
from venuepulse.queries.ops.alerts import Observation, State, step

NOW = datetime(2026, 6, 17, 15, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


# -- the state machine -----------------------------------------------------------------------------------


def run(states: list[bool], pending=timedelta(0), keep=timedelta(0), every=MIN) -> list[tuple[str, int]]:
    s, out = State("q"), []
    for i, holds in enumerate(states):
        s = step(s, Observation("q", "x") if holds else None, NOW + i * every, pending, keep)
        out.append((s.state, s.episode))
    return out


def test_a_condition_fires_once_it_has_held_for_the_pending_period():
    assert run([True, True, True, True], pending=2 * MIN) == \
        [("pending", 0), ("pending", 0), ("firing", 1), ("firing", 1)]
    assert run([True], pending=timedelta(0)) == [("firing", 1)]


def test_a_pending_condition_that_stops_goes_back_to_ok_without_firing():
    assert run([True, False, True, True], pending=MIN) == [("pending", 0), ("ok", 0), ("pending", 0), ("firing", 1)]


def test_keep_firing_holds_a_flapping_alert_and_resolves_after_the_period():
    # held at minutes 0 and 2; not held for 2 minutes at minute 4
    assert run([True, False, True, False, False, False], keep=2 * MIN) == \
        [("firing", 1), ("firing", 1), ("firing", 1), ("firing", 1), ("resolved", 1), ("resolved", 1)]


def test_a_resolved_alert_that_returns_is_a_new_episode():
    assert run([True, False, True, False]) == [("firing", 1), ("resolved", 1), ("firing", 2), ("resolved", 2)]


# -- refusals --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "call"), [
    ("name", lambda: alert_rules.check_rule("Bad Name", "job_failed")),
    ("kind", lambda: alert_rules.check_rule("r", "no_such_kind")),
    ("window", lambda: alert_rules.check_rule("r", "query_p95_regression", {"window": "5 fortnights"})),
    ("window", lambda: alert_rules.check_rule("r", "query_p95_regression", {"window": "10s"})),
    ("factor", lambda: alert_rules.check_rule("r", "query_p95_regression", {"factor": "abc"})),
    ("factor", lambda: alert_rules.check_rule("r", "query_p95_regression", {"factor": 0.5})),
    ("min_calls", lambda: alert_rules.check_rule("r", "query_p95_regression", {"min_calls": 2.5})),
    ("baseline", lambda: alert_rules.check_rule("r", "query_p95_regression", {"baseline": "yesterday"})),
    ("min_rate", lambda: alert_rules.check_rule("r", "job_failed", {"min_rate": 0.1})),
    ("min_rate", lambda: alert_rules.check_rule("r", "offer_conversion_drop", {})),
    ("below_usual", lambda: alert_rules.check_rule("r", "offer_conversion_drop", {"below_usual": 2})),
    ("jobs", lambda: alert_rules.check_rule("r", "job_not_run", {})),
    ("jobs.expire_claims", lambda: alert_rules.check_rule("r", "job_not_run", {"jobs": {"expire_claims": "5s"}})),
    ("sql", lambda: alert_rules.check_rule("r", "custom_sql", {"sql": "DELETE FROM venues"})),
    ("sql", lambda: alert_rules.check_rule("r", "custom_sql", {"sql": "SELECT 1; DROP TABLE venues"})),
    ("severity", lambda: alert_rules.check_rule("r", "job_failed", severity="page-me")),
    ("pending", lambda: alert_rules.check_rule("r", "job_failed", pending="-5m")),
    ("url", lambda: alert_rules.check_webhook("c", "ftp://example.test/hook")),
    ("url", lambda: alert_rules.check_webhook("c", "https:///nohost")),
    ("format", lambda: alert_rules.check_webhook("c", "https://example.test/h", fmt="xml")),
    ("signing_secret", lambda: alert_rules.check_webhook("c", "https://example.test/h", signing_secret="short")),
    ("timeout", lambda: alert_rules.check_webhook("c", "https://example.test/h", timeout_s="10m")),
    ("host", lambda: alert_rules.check_email("c", host="bad host", sender="a@b.test", to=["c@d.test"])),
    ("port", lambda: alert_rules.check_email("c", host="smtp.test", port=70000, sender="a@b.test", to=["c@d.test"])),
    ("tls", lambda: alert_rules.check_email("c", host="smtp.test", tls="ssl3", sender="a@b.test", to=["c@d.test"])),
    ("password", lambda: alert_rules.check_email("c", host="smtp.test", username="u", sender="a@b.test", to=["c@d.test"])),
    ("from", lambda: alert_rules.check_email("c", host="smtp.test", sender="nobody", to=["c@d.test"])),
    ("to", lambda: alert_rules.check_email("c", host="smtp.test", sender="a@b.test", to=[])),
    ("to", lambda: alert_rules.check_email("c", host="smtp.test", sender="a@b.test", to=["not an address"])),
])
def test_malformed_rules_and_channels_are_refused_naming_the_field(field, call):
    with pytest.raises(AlertConfigError) as err:
        call()
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ") and str(err.value).endswith("nothing was changed")


def test_refusals_that_need_the_database_change_nothing(db, conn):
    alert_rules.add_channel(db, alert_rules.check_webhook("hook", "https://example.test/h/secret-part"))
    alert_rules.add_rule(db, alert_rules.check_rule("taken", "job_failed", {}, channels=["hook"]))
    before = snapshot(conn)
    attempts = [
        ("name", lambda: alert_rules.add_rule(db, alert_rules.check_rule("taken", "counter_drift", {}))),
        ("channel", lambda: alert_rules.add_rule(db, alert_rules.check_rule("r2", "job_failed", {}, channels=["nope"]))),
        ("sql", lambda: alert_rules.add_rule(db, alert_rules.check_rule("r3", "custom_sql", {"sql": "SELECT * FROM no_such"}))),
        # a data-modifying CTE starts with WITH, and the READ ONLY transaction refuses it
        ("sql", lambda: alert_rules.add_rule(db, alert_rules.check_rule(
            "r4", "custom_sql", {"sql": "WITH d AS (DELETE FROM venues RETURNING id) SELECT * FROM d"}))),
        ("name", lambda: alert_rules.add_channel(db, alert_rules.check_webhook("hook", "https://example.test/other"))),
        ("name", lambda: alert_rules.remove_channel(db, "hook")),  # a rule sends to it
        ("name", lambda: alert_rules.remove_rule(db, "no-such-rule")),
        ("name", lambda: alert_rules.mute_rule(db, "no-such-rule", NOW)),
    ]
    for field, call in attempts:
        with pytest.raises(AlertConfigError) as err:
            call()
        assert err.value.field == field, str(err.value)
    assert snapshot(conn) == before


def test_a_custom_sql_rule_is_validated_and_fires_per_subject(db, conn):
    alert_rules.add_rule(db, alert_rules.check_rule("big-venues", "custom_sql",
                                          {"sql": "SELECT name AS subject, 'named ' || name AS summary FROM venues "
                                                  "WHERE name LIKE 'big%%'"}))
    assert alerts.test_rule(db, "big-venues", NOW) == []
    add_venue(conn, "big one")
    add_venue(conn, "small one")
    found = alerts.test_rule(db, "big-venues", NOW)
    assert [(o.subject, o.summary) for o in found] == [("big one", "named big one")]


# -- the built-in kinds ----------------------------------------------------------------------------------


def subjects(db, kind, params, now=NOW) -> list[str]:
    alert_rules.add_rule(db, alert_rules.check_rule("r", kind, params))
    try:
        return [o.subject for o in alerts.test_rule(db, "r", now)]
    finally:
        alert_rules.remove_rule(db, "r")


def log(conn, name, ms, at):
    conn.execute("INSERT INTO query_performance_log (query_name, execution_time_ms, row_count, created_at) "
                 "VALUES (%s, %s, 1, %s)", (name, ms, at))


def test_new_slow_query_needs_a_new_name_and_a_slow_p95(db, conn):
    for i in range(3):
        log(conn, "t.new_slow", 900.0, NOW - 10 * MIN + i * MIN)
        log(conn, "t.new_fast", 5.0, NOW - 10 * MIN + i * MIN)
        log(conn, "t.old_slow", 900.0, NOW - 10 * MIN + i * MIN)
    log(conn, "t.old_slow", 900.0, NOW - timedelta(days=2))
    assert subjects(db, "new_slow_query", {"window": "1h", "min_p95_ms": 500}) == ["t.new_slow"]
    assert subjects(db, "new_slow_query", {"window": "1h", "min_p95_ms": 500, "min_calls": 4}) == []


def job_run(conn, job, at, status):
    conn.execute("INSERT INTO job_runs (job_name, started_at, finished_at, status) VALUES (%s, %s, %s, %s)",
                 (job, at, at + timedelta(seconds=1), status))


def test_job_failed_looks_at_each_jobs_latest_finished_run(db, conn):
    job_run(conn, "a", NOW - 10 * MIN, "succeeded")
    job_run(conn, "a", NOW - 5 * MIN, "failed")
    job_run(conn, "b", NOW - 10 * MIN, "failed")
    job_run(conn, "b", NOW - 5 * MIN, "succeeded")
    job_run(conn, "c", NOW - 10 * MIN, "failed")
    job_run(conn, "c", NOW - 5 * MIN, "skipped")
    assert subjects(db, "job_failed", {}) == ["a", "c"]
    assert subjects(db, "job_failed", {"jobs": ["a", "b"]}) == ["a"]
    assert subjects(db, "job_failed", {}, now=NOW - 7 * MIN) == ["b", "c"]


def test_job_not_run_within_its_limit(db, conn):
    job_run(conn, "a", NOW - 20 * MIN, "succeeded")
    job_run(conn, "b", NOW - 5 * MIN, "failed")
    job_run(conn, "c", NOW - 5 * MIN, "skipped")
    limits = {"jobs": {"a": "10m", "b": "10m", "c": "10m", "never": "10m"}}
    assert subjects(db, "job_not_run", limits) == ["a", "c", "never"]
    assert subjects(db, "job_not_run", limits, now=NOW - 15 * MIN) == ["b", "c", "never"]


def test_counter_drift_in_the_window(db, conn):
    for kind, at in (("venue_counters", NOW - 10 * MIN), ("venue_interactions", NOW - 2 * timedelta(hours=1)),
                     ("flash_offer_counters", NOW + MIN)):
        conn.execute("INSERT INTO counter_drift (detected_at, kind, entity, stored, expected) "
                     "VALUES (%s, %s, '{}', '1', '2')", (at, kind))
    assert subjects(db, "counter_drift", {"window": "1h"}) == ["venue_counters"]
    assert subjects(db, "counter_drift", {"window": "1h", "min_rows": 2}) == []


def test_partitions_ahead_below_the_policy(db):
    far = datetime(2031, 1, 15, tzinfo=UTC)  # no partition reaches that far: every table is short
    assert subjects(db, "partitions_ahead", {}, now=far) == ["check_ins", "event_stream", "query_performance_log",
                                                            "wait_samples"]


def test_stale_rollups_per_consumer(db, conn):
    folded = conn.execute("SELECT max(folded_at) FROM rollup_consumers").fetchone()[0]
    consumers = [r[0] for r in conn.execute("SELECT consumer FROM rollup_consumers ORDER BY consumer")]
    assert subjects(db, "stale_data", {"target": "rollups", "max_age": "30m"}, now=folded + 10 * MIN) == []
    assert subjects(db, "stale_data", {"target": "rollups", "max_age": "30m"}, now=folded + 31 * MIN) == consumers


def test_offer_conversion_below_a_rate_or_the_venues_usual(db, conn):
    users = add_users(conn, 40)
    good, bad = add_venue(conn, "good"), add_venue(conn, "bad")
    offers = {v: add_offer(conn, v, NOW - timedelta(days=40), NOW + timedelta(days=1)) for v in (good, bad)}
    n = 0
    for venue, usual_claims, now_claims in ((good, 10, 10), (bad, 10, 2)):
        for day in (NOW - timedelta(days=10), NOW - timedelta(hours=3)):  # 20 viewers in each period
            for i, u in enumerate(users[:20]):
                conn.execute("INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, "
                             "venue_id, visibility, is_analytics_event, created_at) VALUES ('flash_offer_view', "
                             "'commerce', %s, 'offer', %s, %s, 'private', true, %s)",
                             (u, offers[venue], venue, day + i * MIN))
        for i, u in enumerate(users[:usual_claims]):
            n += 1
            add_claim(conn, offers[venue], u, NOW - timedelta(days=10) + i * MIN, n=n)
        for i, u in enumerate(users[20:20 + now_claims]):
            n += 1
            add_claim(conn, offers[venue], u, NOW - timedelta(hours=3) + i * MIN, n=n)
    # good: 10 of 20 now and usually (50%); bad: 2 of 20 now (10%) against 50% usually
    assert subjects(db, "offer_conversion_drop", {"below_usual": 0.5}) == [str(bad)]
    assert subjects(db, "offer_conversion_drop", {"min_rate": 0.6}) == sorted([str(good), str(bad)])
    assert subjects(db, "offer_conversion_drop", {"min_rate": 0.05}) == []
    assert subjects(db, "offer_conversion_drop", {"below_usual": 0.5, "min_views": 21}) == []


def test_a_rule_whose_query_fails_keeps_its_state_and_says_why(db, conn):
    alert_rules.add_rule(db, alert_rules.check_rule("flaky", "custom_sql", {"sql": "SELECT 1 AS x FROM venues"}))
    conn.execute("ALTER TABLE venues RENAME TO venues_gone")
    try:
        report = alerts.evaluate(db, now=NOW)
    finally:
        conn.execute("ALTER TABLE venues_gone RENAME TO venues")
    assert list(report.errors) == ["flaky"]
    assert "venues" in alert_rules.list_rules(db, "flaky")[0]["last_error"]


# -- access ----------------------------------------------------------------------------------------------


def test_the_dashboard_reader_reads_alerts_but_never_a_channel_secret(db, db_url):
    from venuepulse.queries.access.roles import ensure_login_roles

    alert_rules.add_channel(db, alert_rules.check_webhook("hook", "https://example.test/hooks/T000/SECRET-PATH",
                                                signing_secret="s" * 32))
    roles = ensure_login_roles(db_url)
    with psycopg.connect(roles["reader_url"]) as c:
        channels = c.execute("SELECT name, kind, settings FROM alert_channels").fetchall()
        assert channels[0][:2] == ("hook", "webhook")
        assert "SECRET-PATH" not in json.dumps(channels) and "sss" not in json.dumps(channels)
        for table in TABLES[:-1]:
            c.execute(f"SELECT * FROM {table}").fetchall()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM venuepulse_secrets.channel_secrets")
    with psycopg.connect(roles["owner_url"]) as c:
        for table in ("alert_rules", "alert_channels", "notification_outbox"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(f"SELECT * FROM {table}")
            c.rollback()


def test_downgrading_0008_removes_every_alert_object(empty_db_url):
    from venuepulse.queries.schema.migrate import migrate

    migrate(empty_db_url, "head")
    migrate(empty_db_url, "0007")
    with psycopg.connect(empty_db_url) as c:
        left = c.execute("SELECT relname FROM pg_class "
                         "WHERE relname ~ '^(alert_|notification_(outbox|attempts)|idx_(outbox|attempts|alert))'").fetchall()
        schema = c.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'venuepulse_secrets'").fetchall()
    assert left == [] and schema == []
    migrate(empty_db_url, "head")
