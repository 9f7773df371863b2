"""Owners' weekly report (issue 17): built through the owners' row-level-security role, sent once per owner and
week through the alerts' outbox to a real local SMTP server (aiosmtpd), skipped when nothing ran, and
subscriptions changed only for enabled venue-owner accounts with a valid address."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.fixtures.receivers import SmtpReceiver
from venuepulse.jobs import scheduler
from venuepulse.queries.access import accounts
from venuepulse.queries.access.roles import ensure_login_roles
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import alert_rules, outbox, owner_reports
from venuepulse.queries.ops.owner_reports import ReportError

NOW = datetime(2026, 6, 17, 15, 0, tzinfo=UTC)  # a Wednesday: the reported week is Mon 8 to Sun 14 June
WEEK = date(2026, 6, 8)
PASSWORD = "correct horse battery"


@pytest.fixture
def smtp():
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def world(db_url, db, conn, smtp):
    """Alice owns two bars in Lisbon, Bob one bar in Lisbon (same category and city), Carol a bar whose offers
    did not run in the reported week; each has an owner account; one e-mail channel to the local server."""
    roles = ensure_login_roles(db_url)

    def owner(name, venues, offer_day):
        user = conn.execute("INSERT INTO users (username, display_name) VALUES (%s, %s) RETURNING id",
                            (f"{name}-app", name)).fetchone()[0]
        ids = []
        for i, venue in enumerate(venues):
            vid = conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES (%s, 'bar', 'Lisbon', "
                               "38.7, -9.1) RETURNING id", (venue,)).fetchone()[0]
            conn.execute("INSERT INTO venue_owners (venue_id, user_id) VALUES (%s, %s)", (vid, user))
            start = datetime.combine(offer_day, datetime.min.time(), UTC) + timedelta(hours=18 + i)
            conn.execute(
                "INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time, view_count, "
                "click_count, claimed_count, redeemed_count) VALUES (%s, %s, 'd', 50, %s, %s, 40, 20, 10, 4)",
                (vid, f"Happy hour at {venue}", start, start + timedelta(hours=3)))
            ids.append(str(vid))
        accounts.add_account(db, name, PASSWORD, "venue_owner", app_user=user, email=f"{name}@example.com")
        return ids

    venues = {"alice": owner("alice", ["Alice's Tap", "Alice's Roof"], WEEK + timedelta(days=2)),
              "bob": owner("bob", ["Bob's Bar"], WEEK + timedelta(days=3)),
              "carol": owner("carol", ["Carol's Cellar"], WEEK - timedelta(days=5))}  # the week before
    alert_rules.add_channel(db, alert_rules.check_email("reports", host="127.0.0.1", port=smtp.port, tls="none",
                                                        sender="reports@venuepulse.test", to=["ops@example.test"]))
    with Database(roles["signin_url"], record=False, max_size=2) as signin:
        yield {"roles": roles, "venues": venues, "signin": signin}


def attachment_rows(message):
    part = next(p for p in message.iter_attachments() if p.get_filename().endswith(".csv"))
    return list(csv.DictReader(io.StringIO(part.get_content())))


def test_each_owners_report_holds_only_their_venues_rows_though_another_owner_shares_category_and_city(db, world, smtp):
    for name in ("alice", "bob"):
        owner_reports.subscribe(world["signin"], name, f"{name}.reports@example.com")
    summary = owner_reports.send_weekly(db, now=NOW, owner_url=world["roles"]["owner_url"])
    assert (summary.queued, summary.delivered, summary.week_start) == (2, 2, WEEK)

    mails = {m["To"]: m for m in smtp.messages}
    assert set(mails) == {"alice.reports@example.com", "bob.reports@example.com"}
    for name, other in (("alice", "bob"), ("bob", "alice")):
        mail = mails[f"{name}.reports@example.com"]
        assert mail["Subject"] == "VenuePulse: your offers, week of 08 June 2026"
        rows = attachment_rows(mail)
        assert sorted(r["venue_id"] for r in rows) == sorted(world["venues"][name])
        assert all(r["views"] == "40" and r["claims"] == "10" for r in rows)
        part = next(p for p in mail.iter_attachments() if p.get_filename().endswith(".csv"))
        shown = "\n".join([mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content(),
                           part.get_content()])
        assert name.capitalize() in shown and other.capitalize() not in shown
        assert not any(v in shown for v in world["venues"][other])
    rows = owner_reports.week_reports(db, WEEK)
    assert [(r["username"], r["status"], r["offers"], r["delivery"]) for r in rows] == \
        [("alice", "queued", 2, "delivered"), ("bob", "queued", 1, "delivered")]


def test_the_report_is_never_read_through_a_role_that_row_level_security_does_not_scope(db, db_url, world, smtp):
    owner_reports.subscribe(world["signin"], "alice", "alice@example.com")
    with pytest.raises(ReportError, match="not subject to row-level security"):
        owner_reports.send_weekly(db, now=NOW, owner_url=db_url)  # the administrative role
    assert owner_reports.week_reports(db, WEEK) == [] and smtp.messages == []


def test_two_schedulers_running_the_job_at_once_send_each_report_once(db, db_url, world, smtp, conn):
    for name in ("alice", "bob"):
        owner_reports.subscribe(world["signin"], name, f"{name}@example.com")
    barrier = threading.Barrier(4)
    summaries, errors = [], []

    def scheduler_process():
        try:
            with Database(db_url, record=False, max_size=2) as own:
                barrier.wait()
                summaries.append(owner_reports.send_weekly(own, now=NOW, owner_url=world["roles"]["owner_url"]))
        except Exception as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=scheduler_process) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(summaries) == 4
    outbox.deliver(db, now=NOW)  # what deliver_notifications does next, for a report left to it
    assert sum(s.queued for s in summaries) == 2 and sum(s.already for s in summaries) <= 6
    assert sorted(m["To"] for m in smtp.messages) == ["alice@example.com", "bob@example.com"]
    assert conn.execute("SELECT count(*) FROM notification_outbox WHERE source = 'report'").fetchone()[0] == 2
    # the same week again, any time later that week, writes and sends nothing
    again = owner_reports.send_weekly(db, now=NOW + timedelta(days=3), owner_url=world["roles"]["owner_url"])
    assert (again.queued, len(smtp.messages)) == (0, 2)


def test_a_week_with_nothing_to_report_is_skipped_recorded_in_the_job_history_and_sends_no_mail(
        db, db_url, world, smtp, conn, monkeypatch):
    owner_reports.subscribe(world["signin"], "carol", "carol@example.com")
    skipped = owner_reports.send_weekly(db, now=NOW, owner_url=world["roles"]["owner_url"])
    assert (skipped.queued, skipped.skipped) == (0, 1) and smtp.messages == []
    [row] = owner_reports.week_reports(db, WEEK)
    assert (row["status"], row["reason"], row["outbox_id"]) == ("skipped", "no offer of your venues ran that week", None)

    # the scheduled job, at the clock's time: its week has no offers at all; recorded in job_runs
    monkeypatch.setenv("VENUEPULSE_OWNER_DATABASE_URL", world["roles"]["owner_url"])
    runner = scheduler.JobRunner(db_url)
    try:
        rec = runner.run("send_owner_reports", trigger="manual")
    finally:
        runner.close()
    assert rec.status == "succeeded", rec.error
    status, rows, details = conn.execute("SELECT status, rows_affected, details FROM job_runs WHERE id = %s",
                                         (rec.run_id,)).fetchone()
    assert (status, rows, details["queued"], details["skipped"]) == ("succeeded", 0, 0, 1)
    assert details["reports"] == [{"account": "carol", "status": "skipped",
                                   "reason": "no offer of your venues ran that week"}]
    assert smtp.messages == []


def test_subscribing_refuses_bad_input_with_a_clear_message_and_changes_nothing(db, world):
    signin = world["signin"]
    for bad, message in (("", "enter the e-mail address"), ("   ", "enter the e-mail address"),
                         ("not-an-address", "is not an e-mail address"), ("a@b", "is not an e-mail address"),
                         ("x@example.com, y@example.com", "is not an e-mail address"),
                         ("a" * 250 + "@example.com", "too long"), (None, "enter the e-mail address")):
        with pytest.raises(ReportError, match=message):
            owner_reports.subscribe(signin, "alice", bad)
    assert owner_reports.subscription(signin, "alice")["active"] is False
    accounts.add_account(db, "pat", PASSWORD, "pm")
    for who in ("pat", "nobody"):  # a product manager, an unknown name: not venue owners
        with pytest.raises(ReportError, match="only an enabled venue-owner account"):
            owner_reports.subscribe(signin, who, "pat@example.com")
        assert owner_reports.subscription(signin, who) is None
    # the database refuses on its own too (a client that skips the checks above)
    with pytest.raises(Exception, match="bad_email"):
        signin.run("reports.set_subscription", {"username": "alice", "email": "no-at-sign", "active": True})

    assert owner_reports.subscribe(signin, "alice", " Alice@Example.COM ")["email"] == "alice@example.com"
    assert owner_reports.unsubscribe(signin, "alice")["active"] is False
    assert owner_reports.subscription(signin, "alice")["email"] == "alice@example.com"  # kept for next time
    assert owner_reports.send_weekly(db, now=NOW, owner_url=world["roles"]["owner_url"]).queued == 0


def test_the_signed_in_owner_subscribes_and_unsubscribes_on_the_offers_page(db_url, world, monkeypatch):
    from tests.fixtures import pages

    pages.use_login_roles(db_url, monkeypatch)
    venue_ids = world["venues"]["alice"]
    at = pages.run_page("offers", username="alice", role="venue_owner", venue_ids=venue_ids)
    assert "Not subscribed." in pages.texts(at)
    at.text_input(key="weekly_report_email").set_value("not an address")
    at.button[[b.label for b in at.button].index("Subscribe")].click().run()
    assert "Nothing was changed: 'not an address' is not an e-mail address" in pages.texts(at)
    at.text_input(key="weekly_report_email").set_value("alice.owner@example.com")
    at.button[[b.label for b in at.button].index("Subscribe")].click().run()
    assert "Subscribed — the weekly report goes to alice.owner@example.com." in pages.texts(at).replace("**", "")
    assert owner_reports.subscription(world["signin"], "alice")["active"] is True
    at.button[[b.label for b in at.button].index("Unsubscribe")].click().run()
    assert not at.exception and "Not subscribed." in pages.texts(at)
    assert owner_reports.subscription(world["signin"], "alice")["active"] is False
