"""The Engagement page in-process (AppTest) against a real database with known venues, interactions, privacy
settings and notifications: numbers shown equal queries.engagement, private users are never named,
filters live in the URL, empty databases and venue owners get readable messages."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures import pages
from tests.fixtures.pages import metric, param, table_with
from venuepulse.queries.core.runner import Database
from venuepulse.queries.pages import engagement

USERS = [uuid.UUID(int=0x400 + i) for i in range(5)]
NAMES = ["alice", "bob", "secretcarol", "dave", "hiddeneve"]
VENUES = [uuid.UUID(int=0xD00 + i) for i in range(3)]
NOW = datetime.now(UTC).replace(microsecond=0)


def run_page(params: dict[str, str] | None = None, role: str = "pm") -> AppTest:
    return pages.run_page("engagement", params, role=role)


def _all_text(at: AppTest) -> str:
    parts = [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "subheader", "title")
             for e in getattr(at, kind)]
    parts += [d.value.to_csv() for d in at.dataframe]
    return "\n".join(parts)


@pytest.fixture
def data(conn):
    """alice (public) 5 check-ins at venue 0 (a bar); bob (public) 3 there and a favorite at venue 2 (a cafe);
    secretcarol (private profile) 9 check-ins at venue 1 (a bar); dave (public) 1 at venue 2; hiddeneve (activity
    feed private) 2 at venue 2.  Notifications: 3 flash-offer pushes (2 delivered, 1 read and clicked) and
    1 in-app friend request delivered and read."""
    for u, name in zip(USERS, NAMES, strict=True):
        conn.execute("INSERT INTO users (id, username, display_name) VALUES (%s, %s, 'x')", (u, name))
    for v, (name, cat) in zip(VENUES, [("Alpha", "bar"), ("Beta", "bar"), ("Gamma", "cafe")], strict=True):
        conn.execute("INSERT INTO venues (id, name, category, city, lat, lng) VALUES (%s, %s, %s, 'Lisbon', 38.7, -9.1)",
                     (v, name, cat))
    for u in (USERS[0], USERS[1], USERS[3]):
        conn.execute("INSERT INTO user_privacy (user_id, visibility) VALUES (%s, %s)",
                     (u, json.dumps({"profile": "public", "activity_feed": "public"})))
    conn.execute("INSERT INTO user_privacy (user_id, visibility) VALUES (%s, %s)",
                 (USERS[2], json.dumps({"profile": "private", "activity_feed": "public"})))
    conn.execute("INSERT INTO user_privacy (user_id, visibility) VALUES (%s, %s)",
                 (USERS[4], json.dumps({"profile": "public", "activity_feed": "private"})))
    visits = [(0, 0, 5), (1, 0, 3), (2, 1, 9), (3, 2, 1), (4, 2, 2)]
    for u_i, v_i, n in visits:
        for k in range(n):
            conn.execute("INSERT INTO check_ins (user_id, venue_id, checked_in_at, is_active) VALUES (%s, %s, %s, false)",
                         (USERS[u_i], VENUES[v_i], NOW - timedelta(days=k + 1, minutes=u_i)))
    conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (USERS[1], VENUES[2]))
    conn.execute("SELECT refresh_venue_stats()")
    t = (NOW - timedelta(hours=2)).isoformat()
    for delivered, read in ((True, True), (True, False), (False, False)):
        conn.execute(
            """INSERT INTO notifications (user_id, category, title, body, channels, delivered_at, read, read_at,
                                          clicked, clicked_at, created_at)
               VALUES (%s, 'flash_offer', 't', 'b', '{"push": true}', %s, %s, %s, %s, %s, %s)""",
            (USERS[0], json.dumps({"push": t}) if delivered else None, read, NOW if read else None,
             read, NOW if read else None, NOW - timedelta(hours=2)))
    conn.execute(
        """INSERT INTO notifications (user_id, category, title, body, channels, delivered_at, read, read_at, created_at)
           VALUES (%s, 'friend_request', 't', 'b', '{"in_app": true}', %s, true, %s, %s)""",
        (USERS[1], json.dumps({"in_app": t}), NOW, NOW - timedelta(hours=2)))


def test_page_shows_distributions_leaders_and_notifications_from_the_queries(page_env, data):
    at = run_page()
    with Database(page_env, record=False) as db:
        venues = engagement.venue_summary(db)
        pairs = engagement.pair_summary(db)
    # venue scores: Alpha 8, Beta 9, Gamma 3 + 3 (bob's favorite) = 6
    assert metric(at, "Venues") == "3" == str(venues["venues"])
    assert metric(at, "Median venue score") == "8" and metric(at, "Highest") == "9"
    # pair scores: alice 50, bob 30 at Alpha and 100 at Gamma, carol 90, dave 10, eve 20
    assert metric(at, "User-venue pairs") == "6" == str(pairs["pairs"])
    assert metric(at, "Median pair score") == str(round(pairs["p50"])) == "40"

    top = table_with(at, "engagement_score")
    assert list(top["username"]) == ["bob", "alice", "bob", "dave"]
    assert list(top["rank"]) == [1, 3, 4, 6]
    assert "…and 2 private users (2 of the top 20 pairs, not listed)." in _all_text(at)

    ch = table_with(at, "delivery_rate").set_index(["category", "channel"])
    assert ch.loc[("flash_offer", "push"), ["sent", "delivered", "read", "clicked"]].tolist() == [3, 2, 1, 1]
    assert ch.loc[("friend_request", "in_app"), "read"] == 1
    cats = table_with(at, "minutes_to_read_p50").set_index("category")
    assert cats.loc["flash_offer", "notifications"] == 3
    assert len(at.get("download_button")) == 6  # every table and histogram shown has its CSV


def test_private_users_are_never_named_anywhere_on_the_page(page_env, data):
    text = _all_text(run_page({"top": "5"}))
    assert "secretcarol" not in text and "hiddeneve" not in text
    assert str(USERS[2]) not in text and str(USERS[4]) not in text


def test_filters_round_trip_through_the_url(page_env, data):
    at = run_page({"category": "cafe", "top": "5", "ncat": "flash_offer", "channel": "push"})
    assert (param(at, "category"), param(at, "top"), param(at, "ncat"), param(at, "channel")) == \
        ("cafe", "5", "flash_offer", "push")
    assert metric(at, "Venues") == "1" and metric(at, "User-venue pairs") == "3"
    assert list(table_with(at, "engagement_score")["username"]) == ["bob", "dave"]
    assert set(table_with(at, "delivery_rate")["category"]) == {"flash_offer"}

    at.selectbox(key="url_category").set_value("bar").run()
    assert param(at, "category") == "bar"
    assert metric(at, "Venues") == "2"
    at.number_input(key="url_top").set_value(10).run()
    assert param(at, "top") == "10"


def test_bad_url_values_fall_back_with_a_warning(page_env, data):
    at = run_page({"category": "zoo", "top": "many", "channel": "pigeon", "to": "2020-13-45"})
    warnings = "\n".join(str(w.value) for w in at.warning)
    assert "category=zoo" in warnings and "top=many" in warnings and "channel=pigeon" in warnings
    assert "to=2020-13-45" in warnings
    assert param(at, "category") == "all" and param(at, "top") == "20"
    assert metric(at, "Venues") == "3"


def test_a_period_without_notifications_says_what_to_do(page_env, data):
    at = run_page({"from": "2020-01-01", "to": "2020-01-31"})
    info = "\n".join(str(i.value) for i in at.info)
    assert "No notifications were sent in this period" in info and "Widen the date range" in info


def test_an_empty_database_shows_how_to_get_data(page_env):
    at = run_page()
    info = "\n".join(str(i.value) for i in at.info)
    assert "No venue engagement to show yet" in info and "venuepulse seed --scale small" in info
    assert "No user has interacted with a venue yet" in info


def test_venue_owners_cannot_open_the_page(page_env, data):
    at = run_page(role="venue_owner")
    assert "not available to your role" in at.error[0].value
    assert not at.metric and not at.dataframe


def test_page_works_on_the_read_only_dashboard_role(db_url, data, monkeypatch):
    from venuepulse.queries.access.roles import ensure_login_roles

    monkeypatch.setenv("VENUEPULSE_DASHBOARD_DATABASE_URL", ensure_login_roles(db_url)["reader_url"])
    at = run_page()
    assert metric(at, "Venues") == "3" and metric(at, "User-venue pairs") == "6"
    assert list(table_with(at, "engagement_score")["username"]) == ["bob", "alice", "bob", "dave"]
    assert not at.warning
