"""Sign-in, role routing and sign-out as a person sees them: the real app in headless Chromium."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.fixtures.access_world import build_world
from tests.fixtures.browser import chromium, start_app, stop_app, wait_for_streamlit  # noqa: F401
from tests.fixtures.databases import create_database, drop_database
from venuepulse.dashboard.views import PAGES, pages_for
from venuepulse.queries.access import accounts
from venuepulse.queries.access.roles import ensure_login_roles
from venuepulse.queries.core.runner import Database

pytestmark = pytest.mark.browser
PASSWORD = "browser secret 123"
USERS = {"pm": "b-pm", "engineer": "b-engineer", "venue_owner": "b-owner"}


@dataclass(frozen=True)
class App:
    base_url: str
    owner_venue: str
    other_venue: str


@pytest.fixture(scope="module")
def app(pg_server_url, template_db, tmp_path_factory, chromium) -> Iterator[App]:  # noqa: F811
    name = f"vp_ab_{uuid.uuid4().hex[:10]}"
    url = create_database(pg_server_url, name, template=template_db)
    proc = None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            world = build_world(conn)
        with Database(url, record=False, max_size=1) as admin:
            for role, username in USERS.items():
                accounts.add_account(admin, username, PASSWORD, role,
                                     app_user=world.a.owner_user_id if role == "venue_owner" else None)
        roles = ensure_login_roles(url)
        proc, base = start_app(roles["reader_url"], tmp_path_factory.mktemp("auth") / "streamlit.log", extra_env={
            "VENUEPULSE_OWNER_DATABASE_URL": roles["owner_url"],
            "VENUEPULSE_SIGNIN_DATABASE_URL": roles["signin_url"],
            "VENUEPULSE_DATABASE_URL": url,
        })
        yield App(base, world.a.name, world.b.name)
    finally:
        if proc is not None:
            stop_app(proc)
        drop_database(pg_server_url, name)


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(base)
    wait_for_streamlit(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_for_streamlit(page)
    if password == PASSWORD:  # signed in: wait for the rerun that draws the navigation
        page.get_by_role("button", name="Sign out").wait_for(timeout=60_000)
        page.locator("[data-testid='stSidebarNav'] a").first.wait_for(timeout=60_000)
        wait_for_streamlit(page)


def nav_paths(page) -> set[str]:
    hrefs = page.eval_on_selector_all("[data-testid='stSidebarNav'] a", "els => els.map(e => e.href)")
    return {h.rstrip("/").rsplit("/", 1)[-1] for h in hrefs}


def go_within_session(page, url_path: str) -> None:
    """Open /url_path in the same session, the way the back/forward buttons do."""
    page.evaluate("p => { window.history.pushState({}, '', '/' + p); window.dispatchEvent(new PopStateEvent('popstate')); }",
                  url_path)
    page.wait_for_timeout(300)
    wait_for_streamlit(page)


def test_a_page_url_opened_before_signing_in_shows_the_sign_in_form(app, chromium):  # noqa: F811
    # first in this module: the server's very first request is for a page, not for the main script
    page = chromium.new_page()
    try:
        for spec in reversed(PAGES):
            page.goto(f"{app.base_url}/{spec.key}")
            wait_for_streamlit(page)
            page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)  # the sign-in form, not the page
    finally:
        page.close()


@pytest.mark.parametrize("role", ["pm", "engineer", "venue_owner"])
def test_each_role_sees_and_reaches_exactly_its_pages(app, chromium, role):  # noqa: F811
    page = chromium.new_page()
    try:
        sign_in(page, app.base_url, USERS[role], PASSWORD)
        allowed = [p.key for p in pages_for(role)]
        assert len(nav_paths(page)) == len(allowed)
        for spec in PAGES:
            go_within_session(page, spec.key)
            path = urlsplit(page.url).path.strip("/")
            if spec.key in allowed:
                assert path in (spec.key, "" if spec.key == allowed[0] else spec.key), (role, spec.key, page.url)
            else:  # not routable: Streamlit runs the role's default page instead
                assert path in ("", allowed[0]), (role, spec.key, page.url)
        if role == "venue_owner":
            go_within_session(page, "venues")
            text = page.inner_text("[data-testid='stApp']")
            assert app.other_venue not in text
    finally:
        page.close()


def test_wrong_password_then_sign_in_then_sign_out(app, chromium):  # noqa: F811
    page = chromium.new_page()
    try:
        sign_in(page, app.base_url, USERS["pm"], "not my password")
        page.get_by_text("Wrong username or password.").wait_for(timeout=60_000)
        assert "not my password" not in page.content()
        page.get_by_label("Username").fill(USERS["pm"])
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        wait_for_streamlit(page)
        page.get_by_role("button", name="Sign out").wait_for(timeout=60_000)  # after the sign-in rerun
        page.get_by_role("button", name="Sign out").click()
        wait_for_streamlit(page)
        page.get_by_text("You have signed out.").wait_for(timeout=60_000)
        assert page.get_by_role("button", name="Sign in").is_visible()
    finally:
        page.close()
