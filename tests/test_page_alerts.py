"""The Alerts page (issue 16), in-process with AppTest: firing now, history, deliveries and failures, read
through the dashboard's read-only role; engineers get the management commands, product managers do not,
venue owners cannot open it; and the banner other pages show while alerts about them fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures import pages
from tests.fixtures.clock import within_one_utc_day
from tests.fixtures.pages import metric, table_with, texts
from tests.fixtures.receivers import WebhookReceiver
from venuepulse.dashboard.views import pages_for
from venuepulse.queries.ops import alert_rules, alerts, outbox

NOW = datetime(2026, 6, 17, 15, 0, tzinfo=UTC)


@pytest.fixture
def alerting(db, conn):
    """Two rules: jobs-failing fires for refresh_venue_stats (its notification delivered to `up`, not to
    `down`, which refuses connections); drift never fires."""
    up, down = WebhookReceiver().start(), WebhookReceiver().start()
    down.stop()
    try:
        alert_rules.add_channel(db, alert_rules.check_webhook("up", up.url))
        alert_rules.add_channel(db, alert_rules.check_webhook("down", down.url))
        alert_rules.add_rule(db, alert_rules.check_rule("jobs-failing", "job_failed", {}, severity="critical"))
        alert_rules.add_rule(db, alert_rules.check_rule("drift", "counter_drift", {}, channels=["up"]))
        conn.execute("INSERT INTO job_runs (job_name, started_at, finished_at, status, error) VALUES "
                     "('refresh_venue_stats', %s, %s, 'failed', 'boom')", (NOW - timedelta(minutes=2), NOW))
        alerts.evaluate(db, now=NOW)
        outbox.deliver(db, now=NOW)
    finally:
        up.stop()
    today = within_one_utc_day(120).date()
    return {"from": NOW.date().isoformat(), "to": today.isoformat()}


def test_an_engineer_sees_what_fires_its_history_deliveries_failures_and_the_commands(alerting, db_url, monkeypatch):
    pages.use_login_roles(db_url, monkeypatch)  # what the dashboard itself may read
    at = pages.run_page("alerts", alerting, username="eng", role="engineer")
    assert metric(at, "Firing") == "1" and metric(at, "Rules") == "2" and metric(at, "Undelivered") == "1"
    firing = table_with(at, "rule_name", "subject", "summary")
    assert firing[["rule_name", "subject"]].values.tolist() == [["jobs-failing", "refresh_venue_stats"]]
    history = table_with(at, "from_state", "to_state")
    assert history[["rule_name", "from_state", "to_state", "notified"]].values.tolist() == \
        [["jobs-failing", "ok", "firing", True]]
    deliveries = table_with(at, "channel_name", "status", "attempts")
    assert sorted(deliveries[["channel_name", "status"]].values.tolist()) == [["down", "pending"], ["up", "delivered"]]
    failures = table_with(at, "attempt", "error")
    assert failures["error"].tolist()[0].startswith("could not connect")
    rules = table_with(at, "condition", "params")
    assert set(rules["name"]) == {"jobs-failing", "drift"}
    channels = table_with(at, "target", "rules")
    assert "secret-path" not in channels.to_csv() and "http://127.0.0.1:" in channels.to_csv()
    assert any("venuepulse alerts add" in c.value for c in at.code)


def test_a_product_manager_sees_the_same_without_management(alerting, page_env):
    at = pages.run_page("alerts", alerting, username="pm", role="pm")
    assert metric(at, "Firing") == "1"
    assert table_with(at, "rule_name", "subject", "summary")["rule_name"].tolist() == ["jobs-failing"]
    assert not at.code and not at.expander
    assert "Engineers manage the rules" in texts(at)


def test_an_empty_database_explains_how_alerts_start(page_env):
    at = pages.run_page("alerts", username="eng", role="engineer")
    assert metric(at, "Rules") == "0"
    assert "No alert rules yet" in texts(at)


def test_venue_owners_cannot_open_the_alerts_page(page_env):
    assert "alerts" not in [p.key for p in pages_for("venue_owner")]
    assert all("alerts" in [p.key for p in pages_for(role)] for role in ("engineer", "pm"))
    at = pages.run_page("alerts", username="owner", role="venue_owner")
    assert [e.value for e in at.error] == ["This page does not exist or is not available to your role."]
    assert not at.dataframe


def test_pages_concerned_show_a_banner_while_their_alerts_fire(alerting, page_env):
    jobs = pages.run_page("jobs_health", username="eng", role="engineer")
    banner = [w.value for w in jobs.warning if "firing here" in w.value]
    assert banner == ["1 alert(s) firing here: **jobs-failing** (refresh_venue_stats). Details on the Alerts page."]
    perf = pages.run_page("query_performance", username="eng", role="engineer")
    assert not [w for w in perf.warning if "firing here" in w.value]
