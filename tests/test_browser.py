"""The app as a person sees it: headless Chromium against `streamlit run` on a seeded database.

Per role: sign in through the sign-in page, open every page the role may see by its URL path (the
sidebar's links, so the signed-in session is kept), wait until Streamlit has finished running, and check
there is no exception element, no error-boundary message, and the page's heading. The engineer's visit
saves a screenshot of every page into docs/screenshots/<page>.png. Render times (click to script done)
are measured and written to docs/screenshots/render_times.json — reported, never asserted.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.fixtures.browser import (  # noqa: F401  (fixtures)
    EXCEPTION,
    SCRIPT_DONE,
    SEED_SCALE,
    app_log,
    chromium,
    exception_texts,
    running_app,
    screenshot,
    screenshot_dir,
    seeded_db_url,
    wait_for_streamlit,
)
from venuepulse.dashboard.views import PAGES, pages_for

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1440, "height": 1000}
# Messages of the shell's error boundary and of degraded pages: none may show on a seeded database.
BROKEN = ("Something went wrong", "could not load its data", "is not reachable", "not available right now")
# A key element of each page beyond its heading (subheaders or metrics it always shows on seeded data).
KEY_TEXT = {
    "query_performance": ["Per-query percentiles", "Slowest executions", "Waits", "pg_stat_statements integrity",
                          "Plan changes", "EXPLAIN"],
    "jobs_health": ["Jobs", "Partitions", "Replication", "Counter drift"],
}
RENDER_TIMES: dict[str, dict[str, float]] = {}


def _sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url)
    wait_for_streamlit(page)
    assert "Sign in" in page.locator("h1").first.inner_text()
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("[data-testid='stSidebarNav']", timeout=60_000)
    wait_for_streamlit(page)


def _link(page, base_url: str, key: str, default: bool):
    """The sidebar link to /<key> (the role's default page is linked as / instead)."""
    links = page.locator("[data-testid='stSidebarNav'] a")
    for i in range(links.count()):
        href = (links.nth(i).get_attribute("href") or "").removeprefix(base_url).strip("/")
        if href == key or (default and href == ""):
            return links.nth(i)
    raise AssertionError(f"no sidebar link to /{key}")


def _nav_paths(page, base_url: str) -> set[str]:
    links = page.locator("[data-testid='stSidebarNav'] a")
    return {(links.nth(i).get_attribute("href") or "").removeprefix(base_url).strip("/") for i in range(links.count())}


def _open(page, base_url: str, key: str, title: str, default: bool) -> float:
    """Click the sidebar link to /<key>; returns seconds until the script finished with the page drawn."""
    link = _link(page, base_url, key, default)
    started = time.perf_counter()
    link.click()
    page.wait_for_url(lambda url: url.rstrip("/").split("?")[0].endswith("/" + key) or default, timeout=30_000)
    page.wait_for_function(
        """(arg) => { const app = document.querySelector(arg.app);
                     const h1 = document.querySelector('[data-testid="stMain"] h1');
                     return app !== null && h1 !== null && h1.innerText.toLowerCase().includes(arg.title); }""",
        arg={"app": SCRIPT_DONE, "title": title.lower()}, timeout=60_000)
    elapsed = time.perf_counter() - started
    wait_for_streamlit(page)
    return elapsed


def _check_page(page, spec, role: str) -> None:
    assert exception_texts(page) == [], f"{spec.key} as {role} shows an exception"
    assert page.locator(EXCEPTION).count() == 0
    heading = page.locator("[data-testid='stMain'] h1").first.inner_text()
    assert spec.title.lower() in heading.lower(), f"{spec.key}: heading {heading!r}"
    main_text = page.locator("[data-testid='stMain']").inner_text()
    for bad in BROKEN:
        assert bad not in main_text, f"{spec.key} as {role}: {bad!r} shown"
    for text in KEY_TEXT.get(spec.key, []):
        assert text in main_text, f"{spec.key}: {text!r} missing"


@pytest.mark.parametrize("role", ["engineer", "pm", "venue_owner"])
def test_every_page_of_each_role_renders_without_errors(role, running_app, chromium):  # noqa: F811
    username, password = running_app.accounts[role]
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        _sign_in(page, running_app.base_url, username, password)
        specs = pages_for(role)
        paths = _nav_paths(page, running_app.base_url)
        # the first page is the default, linked as "/"; every other allowed page by its own path, no others
        assert paths == {""} | {p.key for p in specs[1:]}, f"{role} sidebar links: {sorted(paths)}"
        assert not paths & ({p.key for p in PAGES} - {p.key for p in specs})
        # land on the default page after sign-in, so open the others first and come back to it last;
        # every page is visited even when an earlier one fails, and all problems are reported together
        problems = []
        for spec in [*specs[1:], specs[0]]:
            elapsed = _open(page, running_app.base_url, spec.key, spec.title, default=spec is specs[0])
            RENDER_TIMES.setdefault(role, {})[spec.key] = round(elapsed, 2)
            if role == "engineer":
                screenshot(page, screenshot_dir() / f"{spec.key}.png")
            try:
                _check_page(page, spec, role)
            except AssertionError as exc:
                problems.append(str(exc).splitlines()[0])
    finally:
        context.close()
        _write_times()
    assert not problems, problems


def test_sign_in_page_refuses_a_wrong_password_readably(running_app, chromium):  # noqa: F811
    username, _ = running_app.accounts["engineer"]
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(running_app.base_url)
        wait_for_streamlit(page)
        page.screenshot(path=str(screenshot_dir() / "sign-in.png"))
        page.get_by_label("Username", exact=True).fill(username)
        page.get_by_label("Password", exact=True).fill("definitely-not-the-password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("[data-testid='stAlert']", timeout=30_000)
        wait_for_streamlit(page)
        assert page.locator(EXCEPTION).count() == 0
        assert page.locator("[data-testid='stSidebarNav']").count() == 0
    finally:
        context.close()


OWNER_DATA_PAGES = ("venues", "offers", "overview")  # the owner lands on Overview: visit it last
OWNER_EMPTY_STATES = ("no flash offers yet", "No offers ran between", "Nobody viewed these offers",
                      "Nobody claimed these offers", "No venues are linked", "have been recorded yet",
                      "Nothing happened between", "No check-ins between", "is in the venue statistics yet",
                      "No venue has any engagement yet")


def test_the_demo_owner_sees_data_benchmarks_and_subscribes_to_the_weekly_report(running_app, chromium,  # noqa: F811
                                                                                  seeded_db_url):  # noqa: F811
    """As the demo owner `venuepulse up` prints: Overview, Venues and Offers draw charts and tables with data,
    the benchmark panel gives quartiles or the fewer-than-5 notice, and the weekly report can be switched on and
    off — without an error anywhere."""
    from venuepulse.queries.access.accounts import create_demo_accounts
    from venuepulse.queries.core.runner import Database

    with Database(seeded_db_url, record=False) as db:
        password = {u: p for u, _, p in create_demo_accounts(db, reset=True)}["demo-owner"]
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    problems = []
    try:
        _sign_in(page, running_app.base_url, "demo-owner", password)
        specs = {p.key: p for p in pages_for("venue_owner")}
        default = pages_for("venue_owner")[0].key
        for key in OWNER_DATA_PAGES:
            spec = specs[key]
            _open(page, running_app.base_url, key, spec.title, default=key == default)
            try:
                _check_page(page, spec, "demo owner")
                main = page.locator("[data-testid='stMain']")
                charts, tables = main.locator("[data-testid='stPlotlyChart']").count(), \
                    main.locator("[data-testid='stDataFrame']").count()
                assert charts > 0 and tables > 0, f"{key}: {charts} charts, {tables} tables"
                text = main.inner_text()
                shown = [e for e in OWNER_EMPTY_STATES if e in text]
                assert not shown, f"{key}: empty state {shown}"
            except AssertionError as exc:
                problems.append(str(exc).splitlines()[0])
            if key != "offers":
                continue
            text = page.locator("[data-testid='stMain']").inner_text()
            quartiles = page.locator(".st-key-csv_benchmarks").count()  # drawn with the quartiles' table only
            if not (quartiles == 1 or "Fewer than 5 similar venues" in text):
                problems.append("offers: the benchmark panel shows neither quartiles nor the fewer-than-5 notice")
            if "cannot be changed at the moment" in text:
                problems.append("offers: weekly reports unavailable")
                continue
            page.get_by_label("E-mail address", exact=True).fill("demo-owner@example.com")
            page.get_by_role("button", name="Subscribe", exact=True).click()
            page.get_by_text("Subscribed — the weekly report goes to demo-owner@example.com.").wait_for(timeout=30_000)
            wait_for_streamlit(page)
            screenshot(page, screenshot_dir() / "offers-owner.png")
            page.get_by_role("button", name="Unsubscribe", exact=True).click()
            page.get_by_text("Not subscribed.").wait_for(timeout=30_000)
            wait_for_streamlit(page)
            assert page.locator(EXCEPTION).count() == 0
            assert "Nothing was changed" not in page.locator("[data-testid='stMain']").inner_text()
    finally:
        context.close()
    assert not problems, problems


def _write_times() -> None:
    path = screenshot_dir() / "render_times.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update({"seconds_from_click_to_script_done": {**old.get("seconds_from_click_to_script_done", {}),
                                                      **RENDER_TIMES},
                "seed_scale": SEED_SCALE})
    path.write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
