"""The dashboard's sign-in, sign-out, lockout and role routing, driven with Streamlit's AppTest."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from tests.fixtures.access_world import build_world
from venuepulse.dashboard.views import PAGES, pages_for
from venuepulse.queries.access import accounts
from venuepulse.queries.access.roles import ensure_login_roles
from venuepulse.queries.core.runner import Database

# The shell run from a script with no `pages/` folder beside it.  (dashboard/app.py has dashboard/views/
# beside it, which makes Streamlit run a requested pages/<name>.py file directly, without the shell, until
# st.navigation has been called once in the process; AppTest resets that flag on every run.)
APP_SOURCE = "from venuepulse.dashboard.shell import main\n\nmain()\n"
PASSWORD = "a long enough secret"


@pytest.fixture
def site(db_url, conn, monkeypatch):
    """A database with two venues, the dashboard's roles, and one account per role."""
    world = build_world(conn)
    urls = ensure_login_roles(db_url)
    monkeypatch.setenv("VENUEPULSE_DATABASE_URL", db_url)
    monkeypatch.setenv("VENUEPULSE_DASHBOARD_DATABASE_URL", urls["reader_url"])
    monkeypatch.setenv("VENUEPULSE_OWNER_DATABASE_URL", urls["owner_url"])
    monkeypatch.setenv("VENUEPULSE_SIGNIN_DATABASE_URL", urls["signin_url"])
    with Database(db_url, record=False, max_size=1) as admin:
        accounts.add_account(admin, "pat", PASSWORD, "pm")
        accounts.add_account(admin, "eve", PASSWORD, "engineer")
        accounts.add_account(admin, "olga", PASSWORD, "venue_owner", app_user=world.a.owner_user_id)
        accounts.add_account(admin, "lone", PASSWORD, "venue_owner", app_user=world.lonely_owner)
        yield world, admin


def app() -> AppTest:
    return AppTest.from_string(APP_SOURCE, default_timeout=120)


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    return at.button[0].click().run()


_BY_HASH = {calc_hash(k): k for k in [*(p.key for p in PAGES), "sign-in"]}


def routable(at: AppTest) -> set[str]:
    """The url paths st.navigation registered in the last run (what a browser may open)."""
    return {_BY_HASH.get(h, h) for h in at._registered_pages}


def open_url_path(at: AppTest, url_path: str) -> str:
    """Request /url_path as a browser would; returns the url path of the page that actually ran."""
    at._page_hash = calc_hash(url_path)
    at.run()
    at._page_hash = ""
    return _BY_HASH.get(at._finished_page_script_hash, at._finished_page_script_hash)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_signed_out_visitors_get_only_the_sign_in_page_whatever_url_they_open(site):
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "Sign in to VenuePulse"
    assert routable(at) == {"sign-in"}
    for page in PAGES:
        assert open_url_path(at, page.key) == "sign-in"
        assert at.title[0].value == "Sign in to VenuePulse"


@pytest.mark.parametrize("username", ["pat", "eve", "olga"])
def test_each_role_can_route_to_exactly_its_pages(site, username):
    at = sign_in(app().run(), username, PASSWORD)
    assert not at.exception, at.exception
    role = {"pat": "pm", "eve": "engineer", "olga": "venue_owner"}[username]
    allowed = {p.key for p in pages_for(role)}
    assert routable(at) == allowed
    for page in PAGES:
        ran = open_url_path(at, page.key)
        if page.key in allowed:
            assert ran == page.key
        else:  # not routable: the default page runs instead
            assert ran == pages_for(role)[0].key, (role, page.key)
        assert not at.exception


def test_wrong_password_is_refused_and_repeated_failures_ask_to_wait(site):
    at = app().run()
    at = sign_in(at, "pat", "not the password")
    assert errors(at) == ["Wrong username or password."]
    assert routable(at) == {"sign-in"}
    at = sign_in(at, "pat", "still not it")
    at = sign_in(at, "pat", PASSWORD)  # right, but too soon after two failures
    assert any("Too many failed attempts: wait" in e for e in errors(at))
    assert routable(at) == {"sign-in"}
    assert "vp_account_id" not in at.session_state


def test_a_locked_account_stays_out_until_unlocked(site, conn):
    _, admin = site
    at = app().run()
    for n in range(5):
        conn.execute("UPDATE venuepulse_auth.accounts SET last_failed_at = now() - interval '1 hour' "
                     "WHERE username = 'eve'")
        at = sign_in(at, "eve", f"wrong guess {n}")
    assert any("locked" in e for e in errors(at))
    at = sign_in(at, "eve", PASSWORD)
    assert any("locked" in e for e in errors(at))
    accounts.unlock(admin, "eve")
    at = sign_in(at, "eve", PASSWORD)
    assert routable(at) == {p.key for p in pages_for("engineer")}


def test_sign_out_returns_to_the_sign_in_page_and_forgets_the_session(site):
    at = sign_in(app().run(), "pat", PASSWORD)
    assert routable(at) != {"sign-in"}
    at.button(key="vp_sign_out").click().run()
    assert routable(at) == {"sign-in"}
    assert "vp_account_id" not in at.session_state
    assert any("signed out" in s.value for s in at.success)
    assert open_url_path(at, "overview") == "sign-in"


def test_disabling_an_account_signs_its_open_session_out(site):
    _, admin = site
    at = sign_in(app().run(), "pat", PASSWORD)
    assert routable(at) != {"sign-in"}
    accounts.set_disabled(admin, "pat", True)
    at.run()
    assert routable(at) == {"sign-in"}
    assert any("no longer active" in s.value for s in at.info)


def test_the_signed_in_box_names_the_account_and_role(site):
    at = sign_in(app().run(), "olga", PASSWORD)
    assert "Venue owner · olga · 1 venue" in [c.value for c in at.sidebar.caption]


def test_an_owner_without_venues_signs_in_to_empty_pages(site):
    at = sign_in(app().run(), "lone", PASSWORD)
    assert routable(at) == {p.key for p in pages_for("venue_owner")}
    assert "Venue owner · lone · 0 venues" in [c.value for c in at.sidebar.caption]
    assert not at.exception


def test_owner_sign_in_is_refused_when_the_owner_connection_is_not_row_scoped(site, db_url, monkeypatch):
    monkeypatch.setenv("VENUEPULSE_OWNER_DATABASE_URL", db_url)  # the superuser: would see every venue
    at = sign_in(app().run(), "olga", PASSWORD)
    assert routable(at) == {"sign-in"}
    assert any("Venue-owner sign-in is unavailable" in e for e in errors(at))
    at = sign_in(at, "pat", PASSWORD)  # other roles are unaffected
    assert routable(at) == {p.key for p in pages_for("pm")}


def test_passwords_never_reach_the_page_or_the_session_state(site):
    at = sign_in(app().run(), "pat", "a wrong password x")
    assert "a wrong password x" not in repr(at.session_state.to_dict())
    at = sign_in(at, "pat", PASSWORD)
    assert PASSWORD not in repr(at.session_state.to_dict())
    assert all(PASSWORD not in str(el.value) for el in [*at.markdown, *at.text, *at.caption, *at.error])
