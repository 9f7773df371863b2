"""The demo owner `venuepulse up` creates sees offers in every state, with a funnel, on first start."""

from __future__ import annotations

import psycopg

from venuepulse.jobs.seed import seed
from venuepulse.queries.access import accounts
from venuepulse.queries.core.runner import Database


def test_the_demo_owners_venues_have_offers_in_every_state_with_every_funnel_step(db_url):
    seed(db_url, scale="tiny", seed=7, progress=False)
    with Database(db_url, record=False) as admin:
        accounts.create_demo_accounts(admin)
        venue_ids = accounts.owner_venue_ids(admin, "demo-owner")
    with psycopg.connect(db_url) as c:
        states = dict(c.execute(
            "SELECT status(o), count(*) FROM flash_offers o WHERE venue_id = ANY(%s) GROUP BY 1",
            (venue_ids,)).fetchall())
        views, clicks, claims, redemptions = c.execute(
            "SELECT sum(view_count), sum(click_count), sum(claimed_count), sum(redeemed_count) "
            "FROM flash_offers WHERE venue_id = ANY(%s)", (venue_ids,)).fetchone()
    # status() has four values; an ended offer is 'expired' (its window is over)
    assert set(states) == {"scheduled", "active", "full", "expired"}
    assert min(views, clicks, claims, redemptions) > 0

