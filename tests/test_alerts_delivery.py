"""Alerts that reach people (issue 16): evaluation, the outbox and delivery to real local receivers — an HTTP
server on 127.0.0.1 for webhooks and aiosmtpd for e-mail. Every evaluation and delivery takes a fixed `now`."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.fixtures.receivers import SmtpReceiver, WebhookReceiver
from venuepulse.queries.ops import alert_rules, alerts, outbox

NOW = datetime(2026, 6, 17, 15, 0, tzinfo=UTC)  # an ordinary Wednesday afternoon (tests/fixtures/clock.py, "midweek")
SECRET = "test-signing-secret-0123456789"


@pytest.fixture
def webhook():
    receiver = WebhookReceiver().start()
    yield receiver
    if receiver.hold is not None:
        receiver.hold.set()
    receiver.stop()


@pytest.fixture
def smtp():
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


def add_webhook(db, receiver, name="hook", **kw):
    return alert_rules.add_channel(db, alert_rules.check_webhook(name, receiver.url, signing_secret=SECRET, timeout_s=5, **kw))


def add_email(db, receiver, name="mail"):
    return alert_rules.add_channel(db, alert_rules.check_email(name, host="127.0.0.1", port=receiver.port, tls="none",
                                                     sender="alerts@venuepulse.test", to=["oncall@example.test"]))


def load_timings(conn, rows):
    """rows: (query_name, ms, created_at)."""
    with conn.cursor() as cur, cur.copy(
            "COPY query_performance_log (query_name, execution_time_ms, row_count, created_at) FROM STDIN") as cp:
        for name, ms, at in rows:
            cp.write_row((name, ms, 1, at))


def every(start, end, step=timedelta(seconds=10)):
    t = start
    while t < end:
        yield t
        t += step


def run_at(db, at):
    """One evaluation and one delivery run, both at `at`."""
    report = alerts.evaluate(db, now=at)
    sent = outbox.deliver(db, now=at)
    return report, sent


def keys(receiver):
    return [r.headers["X-VenuePulse-Delivery"] for r in receiver.received]


def test_an_injected_p95_regression_fires_once_after_its_pending_period_and_resolves_once(db, conn, webhook, smtp):
    add_webhook(db, webhook)
    add_email(db, smtp)
    alert_rules.add_rule(db, alert_rules.check_rule("slow-queries", "query_p95_regression",
                                          {"window": "15m", "factor": 2, "min_calls": 20, "baseline": "previous"},
                                          pending="5m", severity="critical"))
    # 10 ms until NOW - 5 min, then 50 ms: at NOW the last 15 minutes' p95 is 50 ms against 10 ms before
    load_timings(conn, [("venues.featured", 10.0 if t < NOW - timedelta(minutes=5) else 50.0, t)
                        for t in every(NOW - timedelta(hours=1), NOW + timedelta(minutes=6))])

    first, _ = run_at(db, NOW)
    assert first.transitions == 1 and first.notifications == 0  # pending: nothing sent yet
    run_at(db, NOW + timedelta(minutes=2))
    assert webhook.received == [] and smtp.messages == []

    fired, sent = run_at(db, NOW + timedelta(minutes=5))  # the pending period has passed: fires now
    assert fired.notifications == 2 and sent.delivered == 2
    run_at(db, NOW + timedelta(minutes=6))  # still firing: nothing new
    assert len(webhook.received) == 1 and len(smtp.messages) == 1

    body = webhook.received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body.body, hashlib.sha256).hexdigest()
    assert body.headers["X-VenuePulse-Signature"] == expected
    event = body.json
    assert (event["rule"], event["subject"], event["state"], event["severity"]) == \
        ("slow-queries", "venues.featured", "firing", "critical")
    assert event["idempotency_key"] == body.headers["X-VenuePulse-Delivery"]
    mail = smtp.messages[0]
    assert mail["Subject"] == "[FIRING] slow-queries: venues.featured"
    assert mail.get_body(("plain",)).get_content().startswith("p95 50.0 ms")
    assert "<table>" in mail.get_body(("html",)).get_content()

    # recovery: 10 ms again from NOW + 6 min; at NOW + 40 min both windows are fast
    load_timings(conn, [("venues.featured", 10.0, t)
                        for t in every(NOW + timedelta(minutes=6), NOW + timedelta(minutes=45))])
    resolved, _ = run_at(db, NOW + timedelta(minutes=40))
    run_at(db, NOW + timedelta(minutes=41))
    assert resolved.notifications == 2
    assert [r.json["state"] for r in webhook.received] == ["firing", "resolved"]
    assert [m["Subject"] for m in smtp.messages] == ["[FIRING] slow-queries: venues.featured",
                                                     "[RESOLVED] slow-queries: venues.featured"]
    assert len(set(keys(webhook))) == 2


def flip_job(conn, at, status):
    conn.execute("INSERT INTO job_runs (job_name, started_at, finished_at, status) VALUES ('refresh_venue_stats', "
                 "%s, %s, %s)", (at, at + timedelta(seconds=1), status))


def test_a_channel_down_for_several_evaluations_gets_every_notification_once_in_order(db, conn, webhook):
    add_webhook(db, webhook)
    alert_rules.add_rule(db, alert_rules.check_rule("jobs-failing", "job_failed", {}))
    webhook.stop()  # down: connections refused
    times = [NOW + timedelta(minutes=i) for i in range(6)]
    for i, at in enumerate(times):
        flip_job(conn, at - timedelta(seconds=30), "failed" if i % 2 == 0 else "succeeded")
        run_at(db, at)
    pending = db.run("outbox.status", {"ids": None})
    assert [r["transition"] for r in pending] == ["firing", "resolved"] * 3
    assert all(r["status"] == "pending" for r in pending)
    assert pending[0]["attempts"] >= 2 and pending[0]["last_error"].startswith("could not connect")
    assert all(r["attempts"] == 0 for r in pending[1:])  # held back behind the first: order is kept
    recorded = conn.execute("SELECT string_agg(error, ' ') FROM notification_attempts").fetchone()[0]
    for secret in ("secret-path-123", "abc456", SECRET):  # the URL's path and token, the signing secret
        assert secret not in recorded + pending[0]["last_error"]

    webhook.start()  # back, on the same port
    sent = outbox.deliver(db, now=times[-1] + timedelta(hours=1))
    assert sent.delivered == 6
    assert outbox.deliver(db, now=times[-1] + timedelta(hours=2)).delivered == 0
    assert [(r.json["state"], r.json["episode"]) for r in webhook.received] == \
        [("firing", 1), ("resolved", 1), ("firing", 2), ("resolved", 2), ("firing", 3), ("resolved", 3)]
    assert keys(webhook) == [r["idempotency_key"] for r in pending]
    failed = conn.execute("SELECT count(*) FROM notification_attempts WHERE NOT ok").fetchone()[0]
    assert failed >= 2  # every attempt is recorded, failures included


def test_two_evaluators_at_once_write_each_notification_once(db, db_url, webhook, conn):
    add_webhook(db, webhook)
    add_webhook(db, webhook, name="hook2")
    alert_rules.add_rule(db, alert_rules.check_rule("jobs-failing", "job_failed", {}))
    flip_job(conn, NOW - timedelta(minutes=1), "failed")
    barrier = threading.Barrier(4)
    reports = []

    def evaluator():
        barrier.wait()
        reports.append(alerts.evaluate(db_url, now=NOW))

    threads = [threading.Thread(target=evaluator) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(reports) == 4
    assert sum(r.notifications for r in reports) == 2  # one transition, two channels
    # evaluating the same instant again (a second scheduler that got the lock later) changes nothing
    assert alerts.evaluate(db, now=NOW).notifications == 0
    assert alerts.evaluate(db, now=NOW + timedelta(minutes=1)).notifications == 0
    rows = conn.execute("SELECT channel_name, transition FROM notification_outbox ORDER BY id").fetchall()
    assert rows == [("hook", "firing"), ("hook2", "firing")]
    assert conn.execute("SELECT count(*) FROM alert_events").fetchone()[0] == 1
    outbox.deliver(db, now=NOW)
    assert len(webhook.received) == 2


def test_delivery_killed_mid_send_loses_nothing(db, db_url, conn, webhook):
    add_webhook(db, webhook)
    channel = db.run("alerts.channels", {"name": "hook"})[0]["id"]
    from venuepulse.queries.ops.delivery import Message

    with psycopg.connect(db_url, autocommit=True) as c:
        for i in range(3):
            outbox.enqueue(c, key=f"kill-test:{i}", channel_id=channel, message=Message("", f"n{i}", "text"), at=NOW)
    webhook.hold = threading.Event()
    webhook.hold_after = 1  # the first request is answered; the second hangs until the process is dead
    code = ("import sys; from datetime import datetime; from venuepulse.queries.ops import outbox; "
            "outbox.deliver(sys.argv[1], now=datetime.fromisoformat(sys.argv[2]))")
    proc = subprocess.Popen([sys.executable, "-c", code, db_url, NOW.isoformat()],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while len(webhook.seen) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(webhook.seen) == 2, proc.stderr.read() if proc.poll() is not None else "no second request"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        webhook.hold.set()  # the receiver answers the dead process's request: it did get that message
    state = {r["idempotency_key"]: r["status"] for r in outbox.status(db)}
    assert state == {"kill-test:0": "delivered", "kill-test:1": "pending", "kill-test:2": "pending"}
    interrupted = conn.execute("SELECT count(*) FROM notification_attempts WHERE finished_at IS NULL").fetchone()[0]
    assert interrupted == 1  # the attempt the kill cut short is on record

    webhook.hold = None
    assert outbox.deliver(db, now=NOW).delivered == 2
    assert all(r["status"] == "delivered" for r in outbox.status(db))
    seen = keys(webhook)
    # at least once on the wire: the interrupted message arrived twice, under the same idempotency key
    assert seen == ["kill-test:0", "kill-test:1", "kill-test:1", "kill-test:2"]
    assert list(dict.fromkeys(seen)) == ["kill-test:0", "kill-test:1", "kill-test:2"]


def test_a_rejected_message_is_given_up_at_once_and_the_next_one_goes(db, conn, webhook):
    add_webhook(db, webhook)
    channel = db.run("alerts.channels", {"name": "hook"})[0]["id"]
    from venuepulse.queries.ops.delivery import Message

    for i in range(2):
        outbox.enqueue(conn, key=f"k{i}", channel_id=channel, message=Message("", f"n{i}", "text"), at=NOW)
    webhook.status = 422
    report = outbox.deliver(db, now=NOW)
    assert report.failed == 2 and report.delivered == 0
    rows = outbox.status(db)
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert rows[0]["last_error"] == "rejected: HTTP 422 Unprocessable Entity"


def test_retries_back_off_and_give_up_after_the_channels_limit(db, conn, webhook):
    add_webhook(db, webhook, give_up_after="1h")
    channel = db.run("alerts.channels", {"name": "hook"})[0]["id"]
    from venuepulse.queries.ops.delivery import Message

    outbox.enqueue(conn, key="k", channel_id=channel, message=Message("", "n", "text"), at=NOW)
    webhook.status = 503
    waits = []
    at = NOW
    while True:
        outbox.deliver(db, now=at)
        row = outbox.status(db)[0]
        if row["status"] != "pending":
            break
        assert outbox.deliver(db, now=row["next_attempt_at"] - timedelta(seconds=1)).rows == 0  # not due yet
        waits.append((row["next_attempt_at"] - at).total_seconds())
        at = row["next_attempt_at"]
    assert waits[:4] == [30, 60, 120, 240] and max(waits) == 900
    assert row["status"] == "failed" and "still failing after 1:00:00: HTTP 503" in row["last_error"]
    assert row["attempts"] == len(waits) + 1 == len(webhook.seen)


def test_a_muted_rule_records_its_transitions_and_sends_nothing(db, conn, webhook):
    add_webhook(db, webhook)
    alert_rules.add_rule(db, alert_rules.check_rule("jobs-failing", "job_failed", {}))
    alert_rules.mute_rule(db, "jobs-failing", NOW + timedelta(hours=1))
    flip_job(conn, NOW - timedelta(minutes=1), "failed")
    report, _ = run_at(db, NOW)
    assert report.transitions == 1 and report.notifications == 0
    assert conn.execute("SELECT to_state, notified FROM alert_events").fetchall() == [("firing", False)]
    assert webhook.received == []


@pytest.mark.skipif(not os.path.exists("/usr/bin/openssl"), reason="needs openssl to make a test certificate")
def test_email_over_starttls_with_authentication(db, tmp_path):
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    receiver = SmtpReceiver(tls_context=context, credentials=("alerts", "smtp-password-42")).start()
    try:
        alert_rules.add_channel(db, alert_rules.check_email("mail", host="127.0.0.1", port=receiver.port, tls="starttls",
                                                  username="alerts", password="smtp-password-42",
                                                  sender="alerts@venuepulse.test", to=["a@example.test"],
                                                  ca_file=str(cert)))
        result = alert_rules.send_test(db, "mail", now=NOW)
    finally:
        receiver.stop()
    assert result["status"] == "delivered", result["last_error"]
    assert receiver.logins == ["alerts"]
    assert receiver.messages[0]["Subject"] == "[TEST] VenuePulse channel mail"


@pytest.mark.clock
def test_the_two_jobs_evaluate_and_deliver_through_the_scheduler(db, db_url, conn, webhook):
    from venuepulse.jobs.scheduler import run_once

    add_webhook(db, webhook)
    alert_rules.add_rule(db, alert_rules.check_rule("jobs-failing", "job_failed", {"jobs": ["reconcile_counters"]}))
    at = datetime.now(UTC) - timedelta(minutes=1)
    conn.execute("INSERT INTO job_runs (job_name, started_at, finished_at, status) "
                 "VALUES ('reconcile_counters', %s, %s, 'failed')", (at, at))
    evaluated = run_once(db_url, "evaluate_alerts")
    assert evaluated.status == "succeeded" and evaluated.rows == 1, evaluated.error
    delivered = run_once(db_url, "deliver_notifications")
    assert delivered.status == "succeeded" and delivered.rows == 1, delivered.error
    assert [r.json["subject"] for r in webhook.received] == ["reconcile_counters"]
    # a rule that cannot be evaluated fails the run (after the others), so job_failed rules and the Jobs page see it
    alert_rules.add_rule(db, alert_rules.check_rule("broken", "custom_sql", {"sql": "SELECT 1 FROM venues"}))
    conn.execute("ALTER TABLE venues RENAME TO venues_gone")
    try:
        failed = run_once(db_url, "evaluate_alerts")
    finally:
        conn.execute("ALTER TABLE venues_gone RENAME TO venues")
    assert failed.status == "failed" and "broken" in failed.error
