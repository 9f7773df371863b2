"""The database contract: each function's effect and every refusal, with its reason word first."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest


@pytest.fixture
def world(conn):
    ids = {}
    ids["user"] = conn.execute("INSERT INTO users (username, display_name, home_lat, home_lng) VALUES"
                               " ('u', 'U', 38.72, -9.14) RETURNING id").fetchone()[0]
    ids["user2"] = conn.execute("INSERT INTO users (username, display_name, home_lat, home_lng) VALUES"
                                " ('u2', 'U2', 38.72, -9.14) RETURNING id").fetchone()[0]
    ids["venue"] = conn.execute("INSERT INTO venues (name, category, city, lat, lng) VALUES"
                                " ('V', 'bar', 'Lisbon', 38.72, -9.14) RETURNING id").fetchone()[0]
    ids["offer"] = conn.execute(
        """INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time)
           VALUES (%s, 'o', 'd', 1, now() - interval '1 hour', now() + interval '1 hour') RETURNING id""",
        (ids["venue"],)).fetchone()[0]
    ids["future_offer"] = conn.execute(
        """INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time)
           VALUES (%s, 'f', 'd', 5, now() + interval '1 hour', now() + interval '2 hours') RETURNING id""",
        (ids["venue"],)).fetchone()[0]
    return ids


def refused(conn, reason: str, sql: str, params=()):
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute(sql, params)
    assert str(err.value.diag.message_primary).startswith(reason + ":"), err.value
    return err.value


def test_check_in_ends_the_previous_active_check_in(conn, world):
    first = conn.execute("SELECT check_in(%s, %s)", (world["user"], world["venue"])).fetchone()[0]
    second = conn.execute("SELECT check_in(%s, %s)", (world["user"], world["venue"])).fetchone()[0]
    rows = dict(conn.execute("SELECT id, is_active FROM check_ins").fetchall())
    assert rows == {first: False, second: True}
    assert conn.execute("SELECT v.active_check_in_count, v.total_check_in_count FROM venues v").fetchone() == (1, 2)


def test_check_in_refuses_unknown_venue_and_user(conn, world):
    refused(conn, "unknown_venue", "SELECT check_in(%s, %s)", (world["user"], uuid.uuid4()))
    refused(conn, "unknown_user", "SELECT check_in(%s, %s)", (uuid.uuid4(), world["venue"]))
    assert conn.execute("SELECT count(*) FROM check_ins").fetchone()[0] == 0


def test_check_out_ends_an_active_check_in_and_refuses_twice(conn, world):
    cid = conn.execute("SELECT check_in(%s, %s)", (world["user"], world["venue"])).fetchone()[0]
    conn.execute("SELECT check_out(%s)", (cid,))
    assert conn.execute("SELECT v.active_check_in_count FROM venues v").fetchone()[0] == 0
    refused(conn, "not_active", "SELECT check_out(%s)", (cid,))
    refused(conn, "not_active", "SELECT check_out(%s)", (uuid.uuid4(),))


def test_claim_gives_a_six_character_token_and_counts_it(conn, world):
    claim = conn.execute("SELECT (c).token, (c).status FROM claim_flash_offer(%s, %s) c",
                         (world["offer"], world["user"])).fetchone()
    assert re.fullmatch(r"[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}", claim[0]) and claim[1] == "active"
    assert conn.execute("SELECT claimed_count, o.status FROM flash_offers o WHERE id = %s",
                        (world["offer"],)).fetchone() == (1, "full")


def test_claim_refusals(conn, world):
    refused(conn, "offer_not_active", "SELECT claim_flash_offer(%s, %s)", (world["future_offer"], world["user"]))
    refused(conn, "offer_not_active", "SELECT claim_flash_offer(%s, %s)", (uuid.uuid4(), world["user"]))
    conn.execute("SELECT claim_flash_offer(%s, %s)", (world["offer"], world["user"]))
    refused(conn, "already_claimed", "SELECT claim_flash_offer(%s, %s)", (world["offer"], world["user"]))
    refused(conn, "offer_full", "SELECT claim_flash_offer(%s, %s)", (world["offer"], world["user2"]))
    assert conn.execute("SELECT count(*) FROM flash_offer_claims").fetchone()[0] == 1


def test_redeem_marks_the_claim_and_refuses_bad_tokens_repeats_and_expired(conn, world):
    token = conn.execute("SELECT token FROM claim_flash_offer(%s, %s)", (world["offer"], world["user"])).fetchone()[0]
    refused(conn, "unknown_token", "SELECT redeem_flash_offer_claim(%s, %s, %s)", (world["offer"], "ZZZZZZ", world["user2"]))
    row = conn.execute("SELECT status, redeemed_by_user_id FROM redeem_flash_offer_claim(%s, %s, %s)",
                       (world["offer"], token.lower(), world["user2"])).fetchone()
    assert row == ("redeemed", world["user2"])
    assert conn.execute("SELECT redeemed_count FROM flash_offers WHERE id = %s", (world["offer"],)).fetchone()[0] == 1
    refused(conn, "already_redeemed", "SELECT redeem_flash_offer_claim(%s, %s, %s)", (world["offer"], token, world["user2"]))

    conn.execute("UPDATE flash_offers SET max_claims = 2 WHERE id = %s", (world["offer"],))
    token2 = conn.execute("SELECT token FROM claim_flash_offer(%s, %s)", (world["offer"], world["user2"])).fetchone()[0]
    conn.execute("UPDATE flash_offer_claims SET expires_at = now() - interval '1 minute' WHERE token = %s", (token2,))
    refused(conn, "claim_expired", "SELECT redeem_flash_offer_claim(%s, %s, %s)", (world["offer"], token2, world["user"]))


def test_record_offer_event_counts_views_and_clicks_as_analytics_events(conn, world):
    for kind in ("view", "view", "click"):
        conn.execute("SELECT record_offer_event(%s, %s, %s)", (world["offer"], world["user"], kind))
    assert conn.execute("SELECT view_count, click_count FROM flash_offers WHERE id = %s",
                        (world["offer"],)).fetchone() == (2, 1)
    assert conn.execute("SELECT count(*) FROM event_stream WHERE is_analytics_event AND target_id = %s",
                        (world["offer"],)).fetchone()[0] == 3
    refused(conn, "bad_kind", "SELECT record_offer_event(%s, %s, %s)", (world["offer"], world["user"], "like"))
    refused(conn, "bad_kind", "SELECT record_offer_event(%s, %s, NULL)", (world["offer"], world["user"]))
    refused(conn, "unknown_offer", "SELECT record_offer_event(%s, %s, 'view')", (uuid.uuid4(), world["user"]))


def _recipients(conn, offer):
    return {r[0] for r in conn.execute("SELECT flash_offer_recipients(%s)", (offer,)).fetchall()}


@pytest.mark.clock
def test_recipients_honour_settings_quiet_hours_distance_and_favorites(conn, world):
    offer, venue = world["offer"], world["venue"]
    mk = lambda name, lat, lng: conn.execute(  # noqa: E731
        "INSERT INTO users (username, display_name, last_lat, last_lng, timezone) VALUES (%s, %s, %s, %s, 'Europe/Lisbon')"
        " RETURNING id", (name, name, lat, lng)).fetchone()[0]
    near, far, muted, quiet, fav = mk("near", 38.721, -9.141), mk("far", 41.15, -8.61), mk("muted", 38.72, -9.14), \
        mk("quiet", 38.72, -9.14), mk("fav", 38.72, -9.14)
    nowhere = conn.execute("INSERT INTO users (username, display_name) VALUES ('nowhere', 'n') RETURNING id").fetchone()[0]
    conn.execute("INSERT INTO notification_settings (user_id, flash_offers) VALUES (%s, false)", (muted,))
    # quiet hours that contain the current local time, wrapping midnight when needed
    conn.execute("""INSERT INTO notification_settings (user_id, quiet_hours_start, quiet_hours_end, timezone)
                    VALUES (%s, ((now() AT TIME ZONE 'Asia/Tokyo') - interval '1 hour')::time,
                                ((now() AT TIME ZONE 'Asia/Tokyo') + interval '1 hour')::time, 'Asia/Tokyo')""", (quiet,))
    conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (fav, venue))
    everyone = _recipients(conn, offer)
    assert {near, fav, world["user"], world["user2"]} <= everyone
    assert not {far, muted, quiet, nowhere} & everyone

    conn.execute("UPDATE flash_offers SET target_favorites_only = true WHERE id = %s", (offer,))
    assert _recipients(conn, offer) == {fav}
    conn.execute("UPDATE flash_offers SET target_favorites_only = false WHERE id = %s", (offer,))
    conn.execute("INSERT INTO notification_settings (user_id, max_distance_miles) VALUES (%s, 0)", (near,))
    assert near not in _recipients(conn, offer)


# Zones whose local midnight or daylight-saving change the boundary run's instants cross (New York falls
# back at 06:00 UTC on 2026-11-01), and ones on the other side of the date line.
QUIET_ZONES = ["UTC", "America/New_York", "America/Los_Angeles", "Europe/Lisbon", "Australia/Sydney", "Asia/Tokyo"]


def _quiet_at(local: time, start: time, end: time) -> bool:
    """Quiet hours as the product defines them: [start, end), wrapping midnight when start > end."""
    return start <= local < end if start <= end else (local >= start or local < end)


@pytest.mark.clock
def test_quiet_hours_follow_each_users_local_clock_across_midnight_and_daylight_saving(conn, world):
    """Quiet-hour windows around every zone's local time (inside, before, after, wrapping midnight, and the
    hour New York repeats when it falls back) against Python's zoneinfo at the very instant
    flash_offer_recipients ran. The boundary run puts that instant at UTC midnight and at the DST change."""
    offer = world["offer"]
    server_now = conn.execute("SELECT now()").fetchone()[0]
    windows = {}
    for zone in QUIET_ZONES:
        local = server_now.astimezone(ZoneInfo(zone))
        wall = datetime.combine(local.date(), local.time().replace(microsecond=0))
        around = [(-30, 30), (-90, -30), (30, 90), (-1, 1), (1, 2), (-2, -1), (600, -600), (-600, 600)]
        spans = [((wall + timedelta(minutes=a)).time(), (wall + timedelta(minutes=b)).time()) for a, b in around]
        spans += [(time(23, 30), time(0, 30)), (time(1, 0), time(2, 0)), (time(1, 30), time(2, 30))]
        for start, end in spans:
            uid = conn.execute(
                "INSERT INTO users (username, display_name, last_lat, last_lng, timezone)"
                " VALUES (%s, 'q', 38.72, -9.14, %s) RETURNING id", (f"q{len(windows)}", zone)).fetchone()[0]
            conn.execute("INSERT INTO notification_settings (user_id, quiet_hours_start, quiet_hours_end, timezone)"
                         " VALUES (%s, %s, %s, %s)", (uid, start, end, zone))
            windows[uid] = (zone, start, end)
    # one statement: the now() the function reads is the one returned beside it
    at, recipients = conn.execute("SELECT now(), array(SELECT flash_offer_recipients(%s))", (offer,)).fetchone()
    expected = {uid for uid, (zone, start, end) in windows.items()
                if not _quiet_at(at.astimezone(ZoneInfo(zone)).time(), start, end)}
    assert set(recipients) & set(windows) == expected
    assert 0 < len(expected) < len(windows)


def test_refresh_venue_stats_brings_it_current_incrementally_or_in_full(conn, world):
    total = "SELECT total_check_ins FROM venue_stats WHERE venue_id = %s"
    conn.execute("SELECT check_in(%s, %s)", (world["user"], world["venue"]))
    assert conn.execute(total, (world["venue"],)).fetchone() is None  # as of its last refresh: before the venue
    conn.execute("SELECT refresh_venue_stats()")
    assert conn.execute(total, (world["venue"],)).fetchone()[0] == 1
    conn.execute("SELECT check_in(%s, %s)", (world["user2"], world["venue"]))
    conn.execute("SELECT refresh_venue_stats(true)")
    assert conn.execute(total, (world["venue"],)).fetchone()[0] == 2


def test_events_follow_their_rows(conn, world):
    cid = conn.execute("SELECT check_in(%s, %s)", (world["user"], world["venue"])).fetchone()[0]
    conn.execute("INSERT INTO reviews (user_id, venue_id, rating) VALUES (%s, %s, 5)", (world["user"], world["venue"]))
    conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (world["user"], world["venue"]))
    kinds = sorted(r[0] for r in conn.execute("SELECT event_type FROM event_stream").fetchall())
    assert kinds == ["check_in", "favorite", "review"]
    conn.execute("DELETE FROM check_ins WHERE id = %s", (cid,))
    conn.execute("DELETE FROM favorites")
    assert [r[0] for r in conn.execute("SELECT event_type FROM event_stream").fetchall()] == ["review"]


def test_deleting_an_offer_or_venue_with_claims_removes_them_and_their_counts(conn, world):
    conn.execute("UPDATE flash_offers SET max_claims = 5 WHERE id = %s", (world["offer"],))
    conn.execute("SELECT claim_flash_offer(%s, %s)", (world["offer"], world["user"]))
    conn.execute("SELECT claim_flash_offer(%s, %s)", (world["offer"], world["user2"]))
    conn.execute("DELETE FROM flash_offers WHERE id = %s", (world["offer"],))
    assert conn.execute("SELECT count(*) FROM flash_offer_claims").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM venue_interactions").fetchone()[0] == 0

    offer = conn.execute(
        """INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time)
           VALUES (%s, 'o2', 'd', 3, now() - interval '1 hour', now() + interval '1 hour') RETURNING id""",
        (world["venue"],)).fetchone()[0]
    conn.execute("SELECT claim_flash_offer(%s, %s)", (offer, world["user"]))
    conn.execute("SELECT check_in(%s, %s)", (world["user"], world["venue"]))
    conn.execute("DELETE FROM venues WHERE id = %s", (world["venue"],))
    assert conn.execute("SELECT count(*) FROM flash_offers").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM venue_interactions").fetchone()[0] == 0
