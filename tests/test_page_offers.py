"""The Offers page in-process (AppTest) against a real database holding known offers, events and claims:
numbers shown equal queries.offers, filters live in the URL, running offers are marked not final, empty
and bad input degrade to readable messages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures import pages
from tests.fixtures.pages import metric, param
from venuepulse.dashboard.widgets import range_bounds
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import offers

USERS = [uuid.UUID(int=0x300 + i) for i in range(4)]
VENUE_A, VENUE_B = uuid.UUID(int=0xC01), uuid.UUID(int=0xC02)
NOW = datetime.now(UTC).replace(microsecond=0)


def run_page(params: dict[str, str] | None = None, **account) -> AppTest:
    return pages.run_page("offers", params, **account)


TABLES = {  # a column that only that table has
    "offers_funnel_steps": "Counter % of previous",
    "offers_table": "Max claims",
    "offers_funnel_by_offer": "Claimed % of viewed",
    "offers_over_time": "claim_rate",
    "offers_best": "Best offer",
}


def _frame(at: AppTest, key: str):
    return next(d.value for d in at.dataframe if TABLES[key] in d.value.columns)


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _offer(conn, venue, title, start, end, targeted):
    return conn.execute(
        """INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time,
                                     push_sent, push_sent_at, push_recipient_count)
           VALUES (%s, %s, 'd', 10, %s, %s, true, %s, %s) RETURNING id""",
        (venue, title, start, end, start, targeted)).fetchone()[0]


def _event(conn, offer, user, kind, at):
    conn.execute(
        """INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id,
                                     visibility, is_analytics_event, created_at)
           VALUES (%s, 'commerce', %s, 'offer', %s, (SELECT venue_id FROM flash_offers WHERE id = %s),
                   'private', true, %s)""", (f"flash_offer_{kind}", user, offer, offer, at))


@pytest.fixture
def data(conn):
    """Venue A: 'Past deal' (ended yesterday; 2 viewers, 1 clicks and claims and redeems) and 'Live deal'
    (running; 1 viewer).  Venue B: 'Other deal' (ended; nobody)."""
    for i, u in enumerate(USERS):
        conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, %s, 'x')", (u, f"user{i}"))
    conn.execute("INSERT INTO venues (id, name, category, city, lat, lng) VALUES "
                 "(%s, 'Alpha Bar', 'bar', 'Lisbon', 38.7, -9.1), (%s, 'Beta Cafe', 'cafe', 'Lisbon', 38.7, -9.1)",
                 (VENUE_A, VENUE_B))
    s = NOW - timedelta(days=2)
    past = _offer(conn, VENUE_A, "Past deal", s, NOW - timedelta(days=1), 20)
    _event(conn, past, USERS[0], "view", s + timedelta(minutes=1))
    _event(conn, past, USERS[0], "click", s + timedelta(minutes=2))
    conn.execute("""INSERT INTO flash_offer_claims (offer_id, user_id, token, status, redeemed_at, expires_at, created_at)
                    VALUES (%s, %s, 'ABCDEF', 'redeemed', %s, %s, %s)""",
                 (past, USERS[0], s + timedelta(minutes=40), s + timedelta(hours=2), s + timedelta(minutes=10)))
    _event(conn, past, USERS[1], "view", s + timedelta(minutes=5))
    live = _offer(conn, VENUE_A, "Live deal", NOW - timedelta(hours=1), NOW + timedelta(hours=3), 5)
    _event(conn, live, USERS[2], "view", NOW - timedelta(minutes=30))
    other = _offer(conn, VENUE_B, "Other deal", s, NOW - timedelta(days=1, hours=12), 7)
    return {"past": past, "live": live, "other": other}


def test_page_shows_the_funnel_across_offers_and_marks_running_ones_not_final(page_env, data):
    at = run_page()
    with Database(page_env, record=False) as db:
        start, end = (datetime.fromisoformat(param(at, k)).date() for k in ("from", "to"))
        want = offers.funnel(db, *range_bounds(start, end))["total"]
    assert metric(at, "Targeted") == "32" == str(want["targeted"])
    assert metric(at, "Viewed") == "3" == str(want["viewed_users"])
    assert metric(at, "Claimed") == "1" and metric(at, "Redeemed") == "1"
    assert metric(at, "Time to claim (median / p90)") == "9.0 min / 9.0 min"
    assert metric(at, "Time to redeem (median / p90)") == "30.0 min / 30.0 min"
    assert "Not final: 1 of these offers is still running" in _texts(at.warning)

    steps = _frame(at, "offers_funnel_steps").set_index("Step")
    assert steps.loc["Viewed", "Unique users"] == 3 and steps.loc["Viewed", "% of first"] == "9.4%"
    assert steps.loc["Clicked", "% of previous"] == "33.3%"
    assert steps.loc["Viewed", "Raw counter"] == 3

    table = _frame(at, "offers_table").set_index("Offer")
    assert table.loc["Live deal", "Status"] == "active" and not table.loc["Live deal", "Final"]
    assert table.loc["Past deal", "Status"] == "expired" and table.loc["Past deal", "Final"]
    assert table.loc["Past deal", "Claimed"] == 1 and table.loc["Other deal", "Targeted"] == 7

    by_offer = _frame(at, "offers_funnel_by_offer").set_index("Offer")
    assert by_offer.loc["Past deal", "Viewed"] == 2 and by_offer.loc["Past deal", "Claimed"] == 1
    days = _frame(at, "offers_over_time")
    assert days["viewed_users"].sum() == 3
    assert len(at.get("download_button")) >= 4  # every table has its CSV


def test_venue_and_offer_filters_round_trip_through_the_url(page_env, data):
    at = run_page({"venue": str(VENUE_A)})
    assert param(at, "venue") == str(VENUE_A)
    assert set(_frame(at, "offers_table")["Offer"]) == {"Past deal", "Live deal"}
    assert metric(at, "Targeted") == "25"

    # choosing an offer in the box puts it in the address; a fresh page at that address shows the same
    at.selectbox(key="url_offer").set_value(str(data["past"])).run()
    assert param(at, "offer") == str(data["past"])
    assert metric(at, "Targeted") == "20" and metric(at, "Viewed") == "2"
    assert not any("Not final" in str(w.value) for w in at.warning)

    again = run_page({k: param(at, k) for k in ("venue", "offer", "from", "to")})
    assert metric(again, "Targeted") == "20"
    assert again.selectbox(key="url_offer").value == str(data["past"])
    assert again.selectbox(key="url_venue").value == str(VENUE_A)


def test_bad_filter_values_in_the_url_are_ignored_with_a_warning(page_env, data):
    at = run_page({"venue": "not-a-venue", "offer": str(uuid.uuid4()), "from": "yesterday"})
    warnings = _texts(at.warning)
    assert "venue=not-a-venue" in warnings and "from=yesterday" in warnings and "offer=" in warnings
    assert param(at, "venue") == "all"
    assert metric(at, "Targeted") == "32"


def test_a_period_without_offers_says_so_and_what_to_do(page_env, data):
    at = run_page({"from": "2020-01-01", "to": "2020-01-31"})
    assert "No offers ran between 2020-01-01 and 2020-01-31" in _texts(at.info)
    assert "Widen the date range" in _texts(at.info)


def test_an_empty_database_shows_how_to_get_data(page_env):
    at = run_page()
    assert "There are no flash offers yet" in _texts(at.info)
    assert "venuepulse seed --scale small" in _texts(at.info)
    assert not at.dataframe


def test_a_venue_owner_sees_only_their_venues_offers_through_row_level_security(db_url, data, monkeypatch):
    pages.use_login_roles(db_url, monkeypatch)
    at = run_page(role="venue_owner", venue_ids=(VENUE_B,))
    assert at.title[0].value == "Your offers"
    assert set(_frame(at, "offers_table")["Offer"]) == {"Other deal"}
    assert metric(at, "Targeted") == "7" and metric(at, "Viewed") == "0"
    # another venue's id in the address is not a choice for this owner
    at = run_page({"venue": str(VENUE_A)}, role="venue_owner", venue_ids=(VENUE_B,))
    assert "venue=" in _texts(at.warning)
    assert set(_frame(at, "offers_table")["Offer"]) == {"Other deal"}
    assert metric(at, "Targeted") == "7"


@pytest.mark.slow
def test_both_pages_draw_the_tiny_demo_data_and_agree_with_the_queries(page_env):
    from venuepulse.jobs.seed import seed

    seed(page_env, scale="tiny", progress=False)
    at = run_page({"from": (NOW - timedelta(days=40)).date().isoformat(), "to": NOW.date().isoformat()})
    with Database(page_env, record=False) as db:
        want = offers.funnel(db, *range_bounds((NOW - timedelta(days=40)).date(), NOW.date()))["total"]
    assert want["viewed_users"] > 0
    assert metric(at, "Viewed") == f"{want['viewed_users']:,}"
    assert metric(at, "Claimed") == f"{want['claimed_users']:,}"
    engagement_page = pages.open_page("engagement")
    assert not engagement_page.exception, [e.message for e in engagement_page.exception]
    assert any(m.label == "User-venue pairs" for m in engagement_page.metric)


def test_past_the_list_limit_the_venue_filter_searches_and_the_funnel_by_offer_shows_the_top(page_env, data,
                                                                                              monkeypatch):
    monkeypatch.setattr(offers, "FILTER_VENUES", 1)  # two venues with offers: more than a list holds
    monkeypatch.setattr(offers, "TOP_OFFERS", 1)
    monkeypatch.setattr(offers, "MIN_VIEWERS_TO_RANK", 1)
    at = run_page({"venue": str(VENUE_B)})
    assert at.text_input(key="url_venue_q").value == ""
    assert at.selectbox(key="url_venue").value == str(VENUE_B)  # the URL's venue is kept without a search
    assert metric(at, "Targeted") == "7"

    at = run_page({"venue_q": "alpha"})
    assert at.selectbox(key="url_venue").options == ["All venues", "Alpha Bar (Lisbon)"]
    assert metric(at, "Targeted") == "32"  # no venue chosen yet: every venue's offers
    per = _frame(at, "offers_funnel_by_offer")
    assert per["Offer"].tolist() == ["Past deal"]  # the offer with the most claimed users
    assert at.toggle(key="offers_funnel_all").value is False
    # best converting ranks every offer of the period, not only the breakdown's top
    assert _frame(at, "offers_best")["Best offer"].tolist() == ["Past deal", "Live deal"]
    at.toggle(key="offers_funnel_all").set_value(True).run()
    assert sorted(_frame(at, "offers_funnel_by_offer")["Offer"]) == ["Live deal", "Other deal", "Past deal"]
    assert metric(at, "Targeted") == "32"
