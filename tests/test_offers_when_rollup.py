"""The Offers page's "when it works" from its rollup per offer start day (revision 0019): equal to a recount
of the claims before and after each fold, through new claims, redemptions, an offer moving in time and a
venue's time zone changing."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.test_rollups import NOW, OFFERS, TODAY, USERS, VENUES, fold_all, reset
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import offers

PERIODS = ((TODAY - timedelta(days=10), TODAY + timedelta(days=1)), (TODAY - timedelta(days=40), TODAY + timedelta(days=2)))


@pytest.fixture
def db(db_url):
    with Database(db_url, record=False) as d:
        yield d


def _recount(conn, lo, hi) -> dict:
    want: dict = {}
    for created, redeemed, zone in conn.execute(
            "SELECT c.created_at, c.redeemed_at, v.timezone FROM flash_offer_claims c "
            "JOIN flash_offers o ON o.id = c.offer_id JOIN venues v ON v.id = o.venue_id "
            "WHERE o.start_time < %s AND o.end_time > %s", (hi, lo)).fetchall():
        for kind, at in (("claims", created), ("redemptions", redeemed)):
            if at is not None:
                local = at.astimezone(ZoneInfo(zone))
                want[(kind, local.isoweekday(), local.hour)] = want.get((kind, local.isoweekday(), local.hour), 0) + 1
    return want


def _assert_exact(conn, db) -> None:
    for lo, hi in PERIODS:
        got = offers.when_it_works(db, lo, hi)
        assert {(r["kind"], r["weekday"], r["hour"]): r["n"] for r in got.to_dict("records")} == _recount(conn, lo, hi)


def _claim(conn, offer, user, token, at, redeemed=None):
    conn.execute("INSERT INTO flash_offer_claims (offer_id, user_id, token, status, redeemed_at, expires_at, created_at) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 (offer, user, token, "redeemed" if redeemed else "active", redeemed, at + timedelta(hours=2), at))


def test_when_it_works_equals_the_recount_through_changes_before_and_after_each_fold(conn, db):
    reset(conn, db)
    for i, o in enumerate(OFFERS):
        _claim(conn, o, USERS[i], "AAAAA" + "ABC"[i], NOW - timedelta(days=i, hours=3), NOW - timedelta(days=i, hours=2))
    _assert_exact(conn, db)  # all raw: nothing folded yet
    fold_all(db)
    _assert_exact(conn, db)
    steps = [
        lambda: _claim(conn, OFFERS[0], USERS[4], "BBBBBB", NOW - timedelta(hours=20)),  # a folded offer changes
        lambda: conn.execute("UPDATE flash_offer_claims SET status = 'redeemed', redeemed_at = created_at + "
                             "interval '5 minutes' WHERE token = 'BBBBBB'"),
        lambda: conn.execute("UPDATE venues SET timezone = 'Asia/Tokyo' WHERE id = %s", (VENUES[0],)),
        lambda: conn.execute("UPDATE flash_offers SET start_time = start_time - interval '15 days', "
                             "end_time = end_time - interval '1 day' WHERE id = %s", (OFFERS[0],)),  # now straddles
        lambda: conn.execute("UPDATE flash_offers SET start_time = start_time + interval '14 days' WHERE id = %s",
                             (OFFERS[2],)),  # starts inside the period now
        lambda: conn.execute("DELETE FROM flash_offer_claims WHERE offer_id = %s", (OFFERS[1],)),
    ]
    for step in steps:
        step()
        _assert_exact(conn, db)  # the change is in the live tail
        fold_all(db)
        _assert_exact(conn, db)
