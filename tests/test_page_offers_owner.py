"""The Offers page's owner panels (issue 17), in-process (AppTest) through the dashboard's login roles:
benchmarks against similar venues, or the notice that fewer than 5 are alike."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures import pages
from tests.fixtures.pages import table_with, texts

NOW = datetime.now(UTC).replace(microsecond=0)
OWN = uuid.UUID(int=0xD00)


def _venue(conn, vid, name, claimed, views=20):
    conn.execute("INSERT INTO venues (id, name, category, city, lat, lng) VALUES (%s, %s, 'bar', 'Lisbon', 38.7, -9.1)",
                 (vid, name))
    conn.execute(
        "INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time, view_count, "
        "claimed_count, redeemed_count) VALUES (%s, %s, 'd', 50, %s, %s, %s, %s, %s)",
        (vid, f"Deal at {name}", NOW - timedelta(days=2), NOW - timedelta(days=1), views, claimed, claimed // 2))


@pytest.fixture
def owner_pages(db_url, monkeypatch):
    pages.use_login_roles(db_url, monkeypatch)


def _peers(conn, n):
    for i in range(n):
        _venue(conn, uuid.UUID(int=0xD01 + i), f"Peer {i}", claimed=2 + 2 * i)


def test_an_owner_sees_quartiles_over_five_similar_venues_and_no_other_venue_named(conn, owner_pages):
    _venue(conn, OWN, "Mine", claimed=5)
    _peers(conn, 5)  # claim rates 10%, 20%, 30%, 40%, 50%
    at = pages.run_page("offers", role="venue_owner", venue_ids=(OWN,))
    table = table_with(at, "Similar: claim rate p25 / median / p75").set_index("Offer")
    row = table.loc["Deal at Mine"]
    assert row["Claim rate"] == "25.0%"
    assert row["Similar: claim rate p25 / median / p75"] == "20.0% / 30.0% / 40.0%"
    assert row["Compared with"] == "5 venues, same category and city"
    assert list(table.index) == ["Deal at Mine"]
    assert "Peer" not in repr([d.value for d in at.dataframe])


def test_with_fewer_than_five_similar_venues_the_owner_is_told_so(conn, owner_pages):
    _venue(conn, OWN, "Mine", claimed=5)
    _peers(conn, 4)
    at = pages.run_page("offers", role="venue_owner", venue_ids=(OWN,))
    assert "Fewer than 5 similar venues" in texts(at)
    assert not any("Similar: claim rate p25 / median / p75" in d.value.columns for d in at.dataframe)


def test_when_it_works_draws_claims_and_redemptions_by_hour_for_the_owners_venue(conn, owner_pages):
    _venue(conn, OWN, "Mine", claimed=5)
    user = conn.execute("INSERT INTO users (username, display_name) VALUES ('taker', 'T') RETURNING id").fetchone()[0]
    offer = conn.execute("SELECT id FROM flash_offers WHERE venue_id = %s", (OWN,)).fetchone()[0]
    claimed_at = NOW - timedelta(days=1, hours=12)
    conn.execute("INSERT INTO flash_offer_claims (offer_id, user_id, token, status, redeemed_at, expires_at, created_at) "
                 "VALUES (%s, %s, 'ABCDEF', 'redeemed', %s, %s, %s)",
                 (offer, user, claimed_at + timedelta(minutes=20), claimed_at + timedelta(hours=2), claimed_at))
    at = pages.run_page("offers", role="venue_owner", venue_ids=(OWN,))
    charts = {c.proto.id for c in at.get("plotly_chart")} if at.get("plotly_chart") else set()
    assert any("offers_when_claims" in k for k in charts) and any("offers_when_redemptions" in k for k in charts)
    assert "Best converting offers" in texts(at)
