"""`venuepulse alerts` (issue 16): the three commands of docs/alerts.md for a Slack webhook and for an SMTP
channel, rule management, refusals that name the flag, and secrets that never show."""

from __future__ import annotations

import pytest

from tests.fixtures.alerts import snapshot
from tests.fixtures.receivers import SmtpReceiver, WebhookReceiver


@pytest.fixture
def cli(run_cli, db_url):
    def run(*args, input=None):
        return run_cli("alerts", *args, env={"VENUEPULSE_DATABASE_URL": db_url}, input=input, timeout=120)

    return run


def test_a_slack_webhook_in_three_commands(cli):
    receiver = WebhookReceiver().start()
    try:
        add = cli("channel", "add", "team-slack", "--webhook", "-", "--format", "slack", input=receiver.url + "\n")
        rule = cli("add", "slow-queries", "--kind", "query_p95_regression", "--window", "30m", "--pending", "5m",
                   "--channel", "team-slack")
        test = cli("channel", "test", "team-slack")
        listed = cli("channel", "list")
    finally:
        receiver.stop()
    for res in (add, rule, test, listed):
        assert res.returncode == 0, res.stderr
    assert "test notification delivered to team-slack" in test.stdout
    assert receiver.received[0].json == {"text": receiver.received[0].json["text"]}  # Slack's format: text only
    assert receiver.received[0].json["text"].startswith("*[TEST] VenuePulse channel team-slack*")
    assert "team-slack" in listed.stdout and "http://127.0.0.1" in listed.stdout
    for res in (add, rule, test, listed):  # the URL's path and token are the secret
        assert "secret-path-123" not in res.stdout + res.stderr and "abc456" not in res.stdout + res.stderr


def test_an_smtp_channel_in_three_commands(cli):
    receiver = SmtpReceiver().start()
    try:
        add = cli("channel", "add", "oncall-mail", "--smtp", f"127.0.0.1:{receiver.port}", "--tls", "none",
                  "--from", "alerts@venuepulse.test", "--to", "oncall@example.test,lead@example.test")
        rule = cli("add", "jobs-failing", "--kind", "job_failed", "--severity", "critical", "--channel", "oncall-mail")
        test = cli("channel", "test", "oncall-mail")
    finally:
        receiver.stop()
    for res in (add, rule, test):
        assert res.returncode == 0, res.stderr
    mail = receiver.messages[0]
    assert mail["To"] == "oncall@example.test, lead@example.test"
    assert mail.get_body(("plain",)) is not None and mail.get_body(("html",)) is not None


def test_rules_are_listed_muted_tested_and_removed(cli):
    assert cli("add", "drift", "--kind", "counter_drift", "--window", "2h").returncode == 0
    assert cli("add", "late", "--kind", "job_not_run", "--job", "expire_claims").returncode == 0
    listed = cli("list")
    assert "drift" in listed.stdout and '"window": 7200.0' in listed.stdout
    assert '"expire_claims": 170.0' in listed.stdout  # twice its 60 s interval plus its 50 s grace
    muted = cli("mute", "drift", "--for", "2h")
    assert muted.returncode == 0 and "muted until" in muted.stdout
    assert "muted to" in cli("list").stdout
    tested = cli("test", "late")
    assert tested.returncode == 0 and "expire_claims: never ran" in tested.stdout
    assert cli("remove", "drift").returncode == 0
    assert "drift " not in cli("list").stdout
    kinds = cli("list", "--kinds").stdout
    assert "offer_conversion_drop: per venue" in kinds


def test_malformed_input_is_refused_naming_the_flag_and_nothing_changes(cli, conn):
    assert cli("channel", "add", "hook", "--webhook", "https://example.test/hooks/keep-me-secret").returncode == 0
    before = snapshot(conn)
    cases = [
        (("add", "r", "--kind", "query_p95_regression", "--factor", "lots"), "--factor"),
        (("add", "r", "--kind", "job_failed", "--min-rate", "0.1"), "--min-rate"),
        (("add", "r", "--kind", "job_failed", "--job", "no_such_job"), "--job"),
        (("add", "r", "--kind", "custom_sql", "--sql", "SELECT * FROM missing_table"), "--sql"),
        (("add", "r", "--kind", "job_failed", "--channel", "nope"), "--channel"),
        (("add", "Bad!", "--kind", "job_failed"), "NAME"),
        (("channel", "add", "c", "--webhook", "file:///etc/passwd"), "--webhook"),
        (("channel", "add", "c", "--smtp", "smtp.test", "--from", "a@b.test", "--to", "nobody"), "--to"),
        (("channel", "add", "c", "--smtp", "smtp.test", "--from", "a@b.test", "--to", "x@y.test",
          "--username", "u"), "--password-stdin"),
        (("channel", "add", "hook", "--webhook", "https://example.test/other"), "NAME"),
        (("mute", "nope", "--for", "1h"), "NAME"),
    ]
    for args, flag in cases:
        res = cli(*args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert f": {flag}: " in res.stderr and "nothing was changed" in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr and "keep-me-secret" not in res.stderr
    assert snapshot(conn) == before
