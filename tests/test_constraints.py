"""CHECK constraints refuse bad rows, each naming what was wrong."""

from __future__ import annotations

import psycopg
import pytest

USER = "00000000-0000-0000-0000-000000000001"
VENUE = "00000000-0000-0000-0000-0000000000a1"
OFFER = "00000000-0000-0000-0000-0000000000f1"


@pytest.fixture
def base(conn):
    conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, 'u', 'U')", (USER,))
    conn.execute("INSERT INTO venues (id, name, category, city, lat, lng) VALUES (%s, 'V', 'bar', 'Lisbon', 38.7, -9.1)",
                 (VENUE,))
    conn.execute("""INSERT INTO flash_offers (id, venue_id, title, description, max_claims, start_time, end_time)
                    VALUES (%s, %s, 'o', 'd', 5, now() - interval '1 hour', now() + interval '1 hour')""", (OFFER, VENUE))
    return conn


BAD_ROWS = [
    ("rating above 5", f"INSERT INTO reviews (user_id, venue_id, rating) VALUES ('{USER}', '{VENUE}', 6)"),
    ("rating below 1", f"INSERT INTO reviews (user_id, venue_id, rating) VALUES ('{USER}', '{VENUE}', 0)"),
    ("max_claims zero", f"INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time)"
                        f" VALUES ('{VENUE}', 't', 'd', 0, now(), now() + interval '1 hour')"),
    ("end before start", f"INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time)"
                         f" VALUES ('{VENUE}', 't', 'd', 3, now(), now() - interval '1 hour')"),
    ("end equals start", f"INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time)"
                         f" VALUES ('{VENUE}', 't', 'd', 3, '2026-01-01', '2026-01-01')"),
    ("negative radius", f"UPDATE flash_offers SET radius_miles = -1 WHERE id = '{OFFER}'"),
    ("claims over max", f"UPDATE flash_offers SET claimed_count = 6 WHERE id = '{OFFER}'"),
    ("negative click count", f"UPDATE flash_offers SET click_count = -1 WHERE id = '{OFFER}'"),
    ("negative view count", f"UPDATE flash_offers SET view_count = -1 WHERE id = '{OFFER}'"),
    ("unknown event visibility", f"INSERT INTO event_stream (event_type, category, user_id, visibility)"
                                 f" VALUES ('check_in', 'social', '{USER}', 'everyone')"),
    ("unknown event category", f"INSERT INTO event_stream (event_type, category, user_id)"
                               f" VALUES ('check_in', 'fun', '{USER}')"),
    ("unknown venue category", "INSERT INTO venues (name, category, city, lat, lng) VALUES ('x', 'spaceport', 'c', 0, 0)"),
    ("unknown notification category", f"INSERT INTO notifications (user_id, category, title, body)"
                                      f" VALUES ('{USER}', 'spam', 't', 'b')"),
    ("unknown collection visibility", f"INSERT INTO collections (user_id, name, visibility) VALUES ('{USER}', 'c', 'all')"),
    ("unknown claim status", f"INSERT INTO flash_offer_claims (offer_id, user_id, token, status, expires_at)"
                             f" VALUES ('{OFFER}', '{USER}', 'ABCDEF', 'lost', now())"),
    ("token with look-alike 0", f"INSERT INTO flash_offer_claims (offer_id, user_id, token, expires_at)"
                                f" VALUES ('{OFFER}', '{USER}', 'ABCDE0', now())"),
    ("token too short", f"INSERT INTO flash_offer_claims (offer_id, user_id, token, expires_at)"
                        f" VALUES ('{OFFER}', '{USER}', 'ABCDE', now())"),
    ("lowercase token", f"INSERT INTO flash_offer_claims (offer_id, user_id, token, expires_at)"
                        f" VALUES ('{OFFER}', '{USER}', 'abcdef', now())"),
    ("quiet hours start only", f"INSERT INTO notification_settings (user_id, quiet_hours_start) VALUES ('{USER}', '22:00')"),
    ("quiet hours end only", f"INSERT INTO notification_settings (user_id, quiet_hours_end) VALUES ('{USER}', '07:00')"),
    ("unknown settings time zone", f"INSERT INTO notification_settings (user_id, timezone) VALUES ('{USER}', 'Mars/Olympus')"),
    ("unknown user time zone", "INSERT INTO users (username, display_name, timezone) VALUES ('t', 't', 'Nowhere/Land')"),
    ("negative max distance", f"INSERT INTO notification_settings (user_id, max_distance_miles) VALUES ('{USER}', -2)"),
    ("latitude out of range", "INSERT INTO venues (name, category, city, lat, lng) VALUES ('x', 'bar', 'c', 91, 0)"),
    ("unknown privacy level", f"INSERT INTO user_privacy (user_id, visibility) VALUES ('{USER}', '{{\"profile\": \"world\"}}')"),
    ("privacy not an object", f"INSERT INTO user_privacy (user_id, visibility) VALUES ('{USER}', '[1]')"),
    ("self friendship", f"INSERT INTO friendships (user_id, friend_id) VALUES ('{USER}', '{USER}')"),
    ("read without read_at", f"INSERT INTO notifications (user_id, category, title, body, read)"
                             f" VALUES ('{USER}', 'system', 't', 'b', true)"),
    ("checked out before in", f"INSERT INTO check_ins (user_id, venue_id, checked_in_at, checked_out_at, is_active)"
                              f" VALUES ('{USER}', '{VENUE}', now(), now() - interval '1 hour', false)"),
    ("active but checked out", f"INSERT INTO check_ins (user_id, venue_id, checked_out_at, is_active)"
                               f" VALUES ('{USER}', '{VENUE}', now() + interval '1 hour', true)"),
    ("redeemed without time", f"INSERT INTO flash_offer_claims (offer_id, user_id, token, status, expires_at)"
                              f" VALUES ('{OFFER}', '{USER}', 'ABCDEF', 'redeemed', now())"),
    ("push sent without time", f"UPDATE flash_offers SET push_sent = true WHERE id = '{OFFER}'"),
    ("bad device platform", f"INSERT INTO device_tokens (user_id, token, platform) VALUES ('{USER}', 'abcdefghij', 'palm')"),
]


@pytest.mark.parametrize("sql", [pytest.param(sql, id=why) for why, sql in BAD_ROWS])
def test_check_constraint_refuses_bad_row(base, sql):
    before = base.execute("SELECT (SELECT count(*) FROM reviews) + (SELECT count(*) FROM flash_offers)"
                          " + (SELECT count(*) FROM notification_settings) + (SELECT count(*) FROM check_ins)").fetchone()
    with pytest.raises(psycopg.errors.IntegrityError) as err:
        base.execute(sql)
    assert err.value.diag.constraint_name or "violates" in str(err.value)
    after = base.execute("SELECT (SELECT count(*) FROM reviews) + (SELECT count(*) FROM flash_offers)"
                         " + (SELECT count(*) FROM notification_settings) + (SELECT count(*) FROM check_ins)").fetchone()
    assert before == after


def test_good_rows_pass_the_same_checks(base):
    base.execute(f"INSERT INTO notification_settings (user_id, quiet_hours_start, quiet_hours_end, timezone,"
                 f" max_distance_miles) VALUES ('{USER}', '22:00', '07:00', 'Europe/Lisbon', 0)")
    base.execute(f"INSERT INTO user_privacy (user_id, visibility) VALUES ('{USER}', '{{\"check_ins\": \"close_friends\"}}')")
    base.execute(f"INSERT INTO reviews (user_id, venue_id, rating) VALUES ('{USER}', '{VENUE}', 5)")
