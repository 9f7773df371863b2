"""Offers "when it works" (issue 17): claims and redemptions by weekday and hour in the venue's own time
zone, scoped by venue and by the owner's row-level security; the best converting offers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd

from venuepulse.dashboard.context import Account, ScopedDatabase
from venuepulse.queries.access.roles import ensure_login_roles
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import offers

TOKYO, LISBON = uuid.UUID(int=0xE01), uuid.UUID(int=0xE02)
T0 = datetime(2026, 11, 27, 20, 30, tzinfo=UTC)  # a Friday, 20:30 UTC = Saturday 05:30 in Tokyo


def _data(conn):
    users = [conn.execute("INSERT INTO users (username, display_name) VALUES (%s, 'x') RETURNING id",
                          (f"when{i}",)).fetchone()[0] for i in range(2)]
    conn.execute("INSERT INTO venues (id, name, category, city, lat, lng, timezone) VALUES "
                 "(%s, 'Sushi', 'restaurant', 'Tokyo', 35.6, 139.6, 'Asia/Tokyo'), "
                 "(%s, 'Tasca', 'restaurant', 'Lisbon', 38.7, -9.1, 'Europe/Lisbon')", (TOKYO, LISBON))
    for venue, user in ((TOKYO, users[0]), (LISBON, users[1])):
        oid = conn.execute(
            "INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time) "
            "VALUES (%s, 'Deal', 'd', 10, %s, %s) RETURNING id", (venue, T0 - timedelta(hours=1),
                                                                  T0 + timedelta(hours=3))).fetchone()[0]
        conn.execute("INSERT INTO flash_offer_claims (offer_id, user_id, token, status, redeemed_at, expires_at, "
                     "created_at) VALUES (%s, %s, 'ABCDEF', 'redeemed', %s, %s, %s)",
                     (oid, user, T0 + timedelta(minutes=40), T0 + timedelta(hours=2), T0))


def test_claims_and_redemptions_are_counted_in_each_venues_local_hour_and_weekday(conn, db):
    _data(conn)
    lo, hi = T0 - timedelta(days=1), T0 + timedelta(days=1)
    tokyo = offers.when_it_works(db, lo, hi, venue_id=TOKYO)
    assert tokyo.to_dict("records") == [{"kind": "claims", "weekday": 6, "hour": 5, "n": 1},
                                        {"kind": "redemptions", "weekday": 6, "hour": 6, "n": 1}]
    lisbon = offers.when_it_works(db, lo, hi, venue_id=LISBON)  # WET = UTC in November
    assert lisbon.to_dict("records")[0] == {"kind": "claims", "weekday": 5, "hour": 20, "n": 1}
    assert offers.when_it_works(db, lo, hi)["n"].sum() == 4


def test_an_owner_counts_only_their_own_venues_claims(conn, db_url):
    _data(conn)
    owner_url = ensure_login_roles(db_url)["owner_url"]
    with Database(owner_url, record=False) as db:
        owner = ScopedDatabase(db, Account("o", "venue_owner", venue_ids=(TOKYO,)))
        df = offers.when_it_works(owner, T0 - timedelta(days=1), T0 + timedelta(days=1), venue_id=None)
    assert list(df["n"]) == [1, 1] and set(df["hour"]) == {5, 6}


def test_best_converting_ranks_by_claims_over_viewers_among_offers_seen_by_enough_people():
    per = pd.DataFrame({"title": ["a", "b", "c", "d"], "viewed_users": [10, 20, 4, 10],
                        "claimed_users": [5, 5, 4, 5], "redeemed_users": [1, 0, 0, 5], "is_final": [True] * 4})
    best = offers.best_converting(per, n=2)
    assert list(best["title"]) == ["a", "d"]  # c is seen by too few people to rank
    assert list(best["claim_rate"]) == [0.5, 0.5] and list(best["redeem_rate"]) == [0.2, 1.0]
