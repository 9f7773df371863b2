"""The Venues page in Streamlit's AppTest: table, leaderboard and detail show what queries.venue_stats
returns; filters, sort, page and the selected venue live in the URL; bad input never breaks the page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures import pages
from tests.fixtures.pages import texts
from tests.fixtures.rows import (
    add_check_in,
    add_claim,
    add_offer,
    add_review,
    add_users,
    add_venue,
    random_world,
)
from venuepulse.queries.pages import venues as vs


def app(db_url, monkeypatch, params: dict | None = None) -> AppTest:
    monkeypatch.setenv("VENUEPULSE_DASHBOARD_DATABASE_URL", db_url)
    return pages.open_page("venues", params, username="pm-user")


def table(at):
    return next(df.value for df in at.dataframe if "total_unique_visitors" in df.value.columns)


def board(at):
    return next(df.value for df in at.dataframe if "from_reviews" in df.value.columns)


@pytest.fixture
def world(conn):
    return random_world(conn, seed=21, n_venues=30)


def test_first_page_equals_the_query_and_is_downloadable(db_url, monkeypatch, db, world):
    at = app(db_url, monkeypatch)
    assert not at.exception and not at.error
    expected = vs.page(db, page_size=50)["rows"]
    shown = table(at)
    assert list(shown["venue_id"]) == list(expected["venue_id"])
    assert list(shown["engagement_score"]) == list(expected["engagement_score"])
    assert list(shown["details"]) == [f"venues?venue={v}" for v in expected["venue_id"]]
    assert "Venues 1–30 of 30" in texts(at)
    assert "Venue statistics (refreshed every 5 minutes) as of" in texts(at)
    assert len(at.get("download_button")) == 2  # the table and the leaderboard
    assert list(board(at)["venue_id"]) == list(vs.leaderboard(db, limit=10)["venue_id"])


def test_search_sort_and_page_come_from_the_url_and_match_the_query(db_url, monkeypatch, db, world):
    params = {"q": "a", "category": "bar", "sort": "review_count", "order": "asc", "size": "25", "page": "1"}
    at = app(db_url, monkeypatch, params)
    assert not at.exception
    expected = vs.page(db, q="a", category="bar", sort="review_count", descending=False, page_size=25)
    assert list(table(at)["venue_id"]) == list(expected["rows"]["venue_id"])
    for k, v in params.items():
        assert at.query_params[k] == v
    assert list(board(at)["category"].unique()) == ["bar"]


def test_widgets_write_filters_back_to_the_url_and_a_new_sort_starts_at_page_one(db_url, monkeypatch, db, world):
    at = app(db_url, monkeypatch, {"size": "25", "page": "2"})
    assert list(table(at)["venue_id"]) == list(vs.page(db, page=2, page_size=25)["rows"]["venue_id"])
    at.selectbox(key="url_sort").select("name").run()
    assert at.query_params["sort"] == "name" and at.query_params["page"] == "1"
    assert list(table(at)["venue_id"]) == list(vs.page(db, sort="name", page_size=25)["rows"]["venue_id"])
    at.text_input(key="url_q").input("porto").run()
    assert at.query_params["q"] == "porto"
    assert set(table(at)["city"]) == {"Porto"}
    at.number_input(key="url_top").set_value(5).run()
    assert at.query_params["top"] == "5" and len(board(at)) == 5
    assert not at.exception


def test_bad_url_values_are_ignored_with_warnings(db_url, monkeypatch, db, world):
    at = app(db_url, monkeypatch, {"sort": "name;DROP TABLE venues", "page": "abc", "size": "7",
                                   "category": "spaceport", "venue": "../etc"})
    assert not at.exception and not at.error
    warned = " ".join(w.value for w in at.warning)
    for bit in ("sort=name;DROP", "page=abc", "size=7", "category=spaceport", "venue=../etc"):
        assert bit in warned
    assert at.query_params["sort"] == "engagement_score" and "venue" not in at.query_params
    assert list(table(at)["venue_id"]) == list(vs.page(db)["rows"]["venue_id"])


def test_a_page_past_the_end_shows_the_last_page(db_url, monkeypatch, db, world):
    at = app(db_url, monkeypatch, {"size": "25", "page": "9"})
    assert not at.exception
    assert "Page 9 is past the end" in texts(at)
    assert list(table(at)["venue_id"]) == list(vs.page(db, page=2, page_size=25)["rows"]["venue_id"])


def test_a_search_without_matches_says_so(db_url, monkeypatch, world):
    at = app(db_url, monkeypatch, {"q": "no such place"})
    assert not at.exception
    assert "No venues matching “no such place”" in texts(at)


def test_choosing_a_venue_opens_its_detail_and_back_returns(db_url, monkeypatch, world):
    at = app(db_url, monkeypatch)
    first = table(at)["venue_id"].iloc[3]
    at.selectbox(key="open_venue").select(first).run()
    assert at.query_params["venue"] == first
    assert not at.exception
    assert at.header and at.header[0].value == table_name(world, first)
    at.button(key="back_to_venues").click().run()
    assert "venue" not in at.query_params
    assert table(at) is not None


def table_name(world, vid: str) -> str:
    return world["expected"][uuid.UUID(vid)]["name"]


@pytest.fixture
def detailed(conn):
    now = datetime.now(UTC)
    u = add_users(conn, 5)
    v = add_venue(conn, "Casa Azul", "restaurant", "Porto")
    for i, helpful in enumerate([2, 9, 0, 5]):
        add_review(conn, u[i], v, now - timedelta(days=i + 1), rating=i + 2, helpful=helpful, body=f"review {i}")
    for i in range(3):
        add_check_in(conn, u[i], v, now - timedelta(days=2, hours=i), now - timedelta(days=2, hours=i - 1))
    conn.execute("SELECT check_in(%s, %s)", (u[4], v))
    conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (u[0], v))
    conn.execute("""INSERT INTO user_privacy (user_id, visibility) VALUES (%s, '{"reviews": "private"}')""", (u[1],))
    offer = add_offer(conn, v, now - timedelta(days=1), now + timedelta(days=1), title="Two for one")
    add_claim(conn, offer, u[1], now - timedelta(hours=3), redeemed_at=now - timedelta(hours=2), n=1)
    conn.execute("SELECT refresh_venue_stats()")
    return v


def test_venue_detail_shows_stats_reviews_trend_offers_and_interactions(db_url, monkeypatch, db, detailed):
    at = app(db_url, monkeypatch, {"venue": str(detailed)})
    assert not at.exception and not at.error
    assert at.header[0].value == "Casa Azul"
    metrics = {m.label: m.value for m in at.metric}
    expected = vs.venue_detail(db, detailed)["stats"]
    assert metrics["Active check-ins now"] == "1" and metrics["Check-ins (all time)"] == "4"
    assert metrics["Check-ins"] == str(expected["total_check_ins"]) == "4"
    assert metrics["Reviews"] == "4 (0 verified)" and metrics["Favorites"] == "1"
    assert metrics["Engagement score"] == str(int(expected["engagement_score"])) == str(4 + 5 * 4 + 3 + 2)
    assert metrics["People"] == "5" and metrics["Offer claimers"] == "1"
    reviews = next(df.value for df in at.dataframe if "helpful_count" in df.value.columns)
    assert list(reviews["helpful_count"]) == [9, 5, 2]
    assert reviews["username"].iloc[0] == "(private)"  # that reviewer keeps reviews private
    assert reviews["username"].iloc[1].startswith("user3_")
    trend = next(df.value for df in at.dataframe if "day" in df.value.columns)
    assert int(trend["check_ins"].sum()) == 4 and len(trend) == 30
    offers = next(df.value for df in at.dataframe if "redeemed_count" in df.value.columns)
    assert list(offers["title"]) == ["Two for one"] and list(offers["redeemed_count"]) == [1]
    assert at.query_params["venue"] == str(detailed) and "from" in at.query_params
    assert len(at.get("download_button")) == 4  # stats, reviews, trend, offers


def test_unknown_venue_shows_not_found(db_url, monkeypatch, world):
    at = app(db_url, monkeypatch, {"venue": str(uuid.uuid4())})
    assert not at.exception and not at.error
    assert "Venue not found" in texts(at)


def test_an_empty_database_says_how_to_load_data(db_url, monkeypatch):
    at = app(db_url, monkeypatch)
    assert not at.exception and not at.error
    assert "venuepulse seed --scale small" in texts(at)
    assert not at.dataframe


def test_venues_without_engagement_explain_the_empty_leaderboard(db_url, monkeypatch, conn):
    add_venue(conn, "Quiet")
    conn.execute("SELECT refresh_venue_stats()")
    at = app(db_url, monkeypatch)
    assert not at.exception
    assert "No venue has any engagement yet" in texts(at)
    assert list(table(at)["name"]) == ["Quiet"]


def owner_app(db_url, monkeypatch, venue, params: dict | None = None) -> AppTest:
    pages.use_login_roles(db_url, monkeypatch)
    return pages.open_page("venues", params, username="owner-user", role="venue_owner", venue_ids=(venue,))


def test_a_venue_owner_sees_only_their_venue_and_others_are_not_found(db_url, monkeypatch, conn, detailed):
    other = add_venue(conn, "Someone Else's", "bar", "Porto")
    add_review(conn, add_users(conn, 1)[0], other, datetime.now(UTC), body="not yours")
    conn.execute("SELECT refresh_venue_stats()")
    at = owner_app(db_url, monkeypatch, detailed)
    assert not at.exception and not at.error
    assert list(table(at)["name"]) == ["Casa Azul"] and list(board(at)["name"]) == ["Casa Azul"]
    assert "Only your venues are listed." in texts(at)

    at = owner_app(db_url, monkeypatch, detailed, {"venue": str(other)})
    assert not at.exception and not at.error
    assert "Venue not found" in texts(at) and "not yours" not in str([df.value for df in at.dataframe])

    at = owner_app(db_url, monkeypatch, detailed, {"venue": str(detailed)})
    assert not at.exception and not at.error and not at.warning
    assert at.header[0].value == "Casa Azul"
    reviews = next(df.value for df in at.dataframe if "helpful_count" in df.value.columns)
    assert list(reviews["helpful_count"]) == [9, 5, 2]
