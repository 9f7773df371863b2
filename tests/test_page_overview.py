"""The Overview page in Streamlit's AppTest: numbers shown equal queries.overview's, filters live in the URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures import pages
from tests.fixtures.clock import within_one_utc_day
from tests.fixtures.pages import texts
from tests.fixtures.rows import add_check_in, add_claim, add_offer, add_review, add_users, add_venue
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import overview


def app(db_url, monkeypatch, params: dict | None = None) -> AppTest:
    monkeypatch.setenv("VENUEPULSE_DASHBOARD_DATABASE_URL", db_url)
    return pages.open_page("overview", params, username="pm-user")


@pytest.fixture
def history(conn):
    """Today and the same hours a week ago both have activity, plus older days in the default range."""
    # "today" is read by this fixture, the page (its default dates, the database's KPIs) and the checks after
    # it: one test must not straddle a UTC midnight (the boundary run starts some at 23:59:30)
    now = within_one_utc_day(60)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    u = add_users(conn, 6)
    a, b = add_venue(conn, "Alpha"), add_venue(conn, "Bravo")
    # at most a few seconds after midnight "today" stays inside today's window whatever the hour
    add_check_in(conn, u[0], a, day)
    add_check_in(conn, u[1], a, day, day)
    add_check_in(conn, u[2], b, day - timedelta(days=7), day - timedelta(days=7))
    for i in range(3):
        add_check_in(conn, u[3], b, day - timedelta(days=3, hours=-i), day - timedelta(days=3, hours=-i))
    add_review(conn, u[0], a, day)
    offer = add_offer(conn, a, day - timedelta(days=10), day + timedelta(days=2))
    add_claim(conn, offer, u[1], day, redeemed_at=day, n=1)
    add_claim(conn, offer, u[2], day - timedelta(days=7), n=2)
    return {"day": day, "venues": (a, b)}


@pytest.mark.clock
def test_kpis_shown_equal_the_query_and_nothing_breaks(db_url, monkeypatch, history):
    at = app(db_url, monkeypatch)
    assert not at.exception
    with Database(db_url, record=False) as db:
        k = overview.kpis(db)
    shown = {m.label: m for m in at.metric}
    for m in k["metrics"].values():
        assert shown[m["label"]].value == f"{m['today']:,}"
    assert shown["Check-ins"].value == "2" and shown["Active check-ins"].value == "1"
    assert shown["Redemptions"].value == "1" and shown["Offer claims"].value == "1"
    assert "the same hours 7 days earlier" in texts(at)
    assert "Live counts as of" in texts(at)


@pytest.mark.clock
def test_trend_table_equals_the_query_and_the_range_goes_to_the_url(db_url, monkeypatch, history):
    at = app(db_url, monkeypatch)
    today = datetime.now(UTC).date()
    assert at.query_params["from"] == (today - timedelta(days=29)).isoformat()
    assert at.query_params["to"] == today.isoformat()
    assert at.query_params["grain"] == "day"
    trend = next(df.value for df in at.dataframe if "bucket" in df.value.columns)
    with Database(db_url, record=False) as db:
        start = datetime.combine(today - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
        expected = overview.trends(db, start, start + timedelta(days=30), "day")
    assert list(trend["check_ins"]) == list(expected["check_ins"]) and int(trend["check_ins"].sum()) == 6
    assert list(trend["claims"]) == list(expected["claims"])
    top = next(df.value for df in at.dataframe if "unique_visitors" in df.value.columns and "name" in df.value.columns)
    assert list(top["name"]) == ["Bravo", "Alpha"] and list(top["check_ins"]) == [4, 2]
    assert list(top["details"]) == [f"venues?venue={history['venues'][1]}", f"venues?venue={history['venues'][0]}"]
    assert len(at.get("download_button")) >= 3  # KPIs, trends, top venues


@pytest.mark.clock
def test_filters_from_the_url_are_applied_and_kept(db_url, monkeypatch, history):
    day = history["day"].date()
    params = {"from": (day - timedelta(days=1)).isoformat(), "to": day.isoformat(), "grain": "hour"}
    at = app(db_url, monkeypatch, params)
    assert not at.exception
    trend = next(df.value for df in at.dataframe if "bucket" in df.value.columns)
    assert len(trend) == 48 and int(trend["check_ins"].sum()) == 2
    assert at.query_params["grain"] == "hour" and at.query_params["from"] == params["from"]
    at.selectbox(key="url_grain").select("week").run()
    assert at.query_params["grain"] == "week"
    assert not at.exception


def test_bad_filter_values_are_ignored_with_a_readable_warning(db_url, monkeypatch, history):
    at = app(db_url, monkeypatch, {"from": "yesterday", "grain": "fortnight"})
    assert not at.exception and not at.error
    warned = " ".join(w.value for w in at.warning)
    assert "from=yesterday" in warned and "grain=fortnight" in warned
    assert at.query_params["grain"] == "day"


def test_hourly_grain_over_a_long_range_falls_back_to_days(db_url, monkeypatch, history):
    at = app(db_url, monkeypatch, {"from": "2025-01-01", "to": "2025-03-01", "grain": "hour"})
    assert not at.exception
    assert "shown per day" in texts(at)
    assert any("Nothing happened between 2025-01-01 and 2025-03-01" in i.value for i in at.info)


def test_an_empty_database_says_how_to_load_data(db_url, monkeypatch):
    at = app(db_url, monkeypatch)
    assert not at.exception and not at.error
    assert "venuepulse seed --scale small" in texts(at)
    assert not at.metric


def test_venues_without_activity_point_to_the_simulator(db_url, monkeypatch, conn):
    add_venue(conn, "Quiet")
    at = app(db_url, monkeypatch)
    assert not at.exception
    assert "venuepulse simulate" in texts(at)
    assert [m.value for m in at.metric] == ["0"] * 5


def test_an_unreachable_database_gives_a_sentence_not_a_traceback(monkeypatch):
    at = app("postgresql://nobody@127.0.0.1:1/none", monkeypatch)
    assert not at.exception
    assert at.error and "database" in at.error[0].value.lower()



@pytest.mark.clock
def test_a_venue_owner_sees_kpis_of_their_own_venues_only(db_url, monkeypatch, history):
    pages.use_login_roles(db_url, monkeypatch)
    alpha = history["venues"][0]
    at = pages.open_page("overview", username="owner-user", role="venue_owner", venue_ids=(alpha,))
    assert not at.exception and not at.error
    shown = {m.label: m.value for m in at.metric}
    # Alpha has both of today's check-ins, the review, the claim and the redemption; Bravo has the rest
    assert (shown["Check-ins"], shown["Reviews"], shown["Offer claims"]) == ("2", "1", "1")
    assert "your 1 venue only" in texts(at)
    top = next(df.value for df in at.dataframe if "unique_visitors" in df.value.columns and "name" in df.value.columns)
    assert list(top["name"]) == ["Alpha"]
    trend = next(df.value for df in at.dataframe if "bucket" in df.value.columns)
    assert int(trend["check_ins"].sum()) == 2
