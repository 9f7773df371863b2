"""Running the real app for browser tests: a seeded database, `streamlit run` on a free port, headless Chromium.

Fixtures (import them by name into a test module):

- ``seeded_db_url`` — a database copied from the migrated template and filled by ``jobs.seed.seed(url,
  scale="small")`` (module scope: seeding takes a while, the pages only read);
- ``running_app`` — ``streamlit run dashboard/app.py`` against ``seeded_db_url`` with the dashboard's
  login roles (as ``venuepulse dashboard`` sets them) and one account per role (``RunningApp``);
- ``chromium`` — a Playwright ``Browser`` on Debian's ``/usr/bin/chromium`` (the test is skipped with the
  reason when Chromium or Playwright is missing; ``playwright install`` is never used).

Helpers: ``wait_for_streamlit(page)`` waits until the script has finished running and no exception element is
shown; ``free_port()``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("VENUEPULSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCRIPT_DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"
SEED_SCALE = os.environ.get("VENUEPULSE_BROWSER_SEED_SCALE", "small")
APP_START_TIMEOUT_S = 90
SCRIPT_TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _require_chromium() -> None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's `chromium` package; CI does)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the Playwright Python package is not installed (pip install '.[test]')")


@pytest.fixture(scope="module")
def seeded_db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """A migrated database holding the demo data at scale ``small`` (dropped after the module)."""
    _require_chromium()  # seeding takes a while: not worth it when the tests will skip anyway
    try:
        from venuepulse.jobs.seed import seed
    except ImportError as exc:
        pytest.fail(f"the demo seeder jobs.seed.seed is needed for browser tests: {exc}")
    name = f"vp_b_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server_url, name, template=template_db)
    try:
        seed(url, scale=SEED_SCALE, progress=False)
        _run_every_job_once(url)
        yield url
    finally:
        drop_database(pg_server_url, name)


def _run_every_job_once(url: str) -> None:
    """Give the Jobs & health and Query performance pages a history, as a running scheduler would."""
    from venuepulse.jobs.definitions import JOBS
    from venuepulse.jobs.scheduler import run_once

    for name in JOBS:
        run_once(url, name)
    run_once(url, "snapshot_stat_statements")  # the first one only sets the baseline


def _wait_healthy(proc: subprocess.Popen, base: str, log_path: Path) -> None:
    deadline = time.monotonic() + APP_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer within {APP_START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")


def start_app(database_url: str, log_path: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run dashboard/app.py`` on a free port; returns (process, base URL) once healthy."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENUEPULSE_")}
    env.update({
        "VENUEPULSE_DASHBOARD_DATABASE_URL": database_url,
        "VENUEPULSE_DATABASE_URL": database_url,
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    })
    env.update(extra_env or {})
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
           "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base, log_path)
    except Exception:
        stop_app(proc)
        raise
    return proc, base


def stop_app(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def app_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app") / "streamlit.log"


@dataclass(frozen=True)
class RunningApp:
    base_url: str
    accounts: dict[str, tuple[str, str]]  # role -> (username, password)
    log_path: Path


BROWSER_ACCOUNTS = {"pm": "browser-pm", "engineer": "browser-engineer", "venue_owner": "browser-owner"}


def _make_accounts(admin_url: str) -> dict[str, tuple[str, str]]:
    """One dashboard account per role through the accounts API; the owner owns the busiest owner's venues."""
    import psycopg

    from venuepulse.queries.access.accounts import add_account
    from venuepulse.queries.core.runner import Database

    with psycopg.connect(admin_url, autocommit=True) as conn:
        owner = conn.execute(
            "SELECT user_id FROM venue_owners GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1").fetchone()
    if owner is None:
        pytest.fail("the seeded database has no venue owners to sign in as")
    out = {}
    with Database(admin_url, record=False) as db:
        for role, username in BROWSER_ACCOUNTS.items():
            password = secrets.token_urlsafe(16)
            add_account(db, username, password, role, display_name=f"Browser {role}",
                        app_user=owner[0] if role == "venue_owner" else None)
            out[role] = (username, password)
    return out


@pytest.fixture(scope="module")
def running_app(seeded_db_url: str, app_log: Path) -> Iterator[RunningApp]:
    """The dashboard as `venuepulse dashboard` runs it (read-only reader role, RLS-scoped owner role,
    sign-in role) against the seeded database, with one account per role."""
    from venuepulse.queries.access.roles import ensure_login_roles

    roles = ensure_login_roles(seeded_db_url)
    accounts = _make_accounts(seeded_db_url)
    proc, base = start_app(roles["reader_url"], app_log, extra_env={
        "VENUEPULSE_OWNER_DATABASE_URL": roles["owner_url"],
        "VENUEPULSE_SIGNIN_DATABASE_URL": roles["signin_url"],
        "VENUEPULSE_DATABASE_URL": seeded_db_url,
    })
    try:
        yield RunningApp(base, accounts, app_log)
    finally:
        stop_app(proc)


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium (Debian's binary) driven by Playwright."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_streamlit(page, timeout_ms: int = SCRIPT_TIMEOUT_MS) -> None:
    """Wait until Streamlit has finished running the script (the first run included)."""
    page.wait_for_selector(SCRIPT_DONE, state="attached", timeout=timeout_ms)
    # a rerun may have been requested while we looked (a widget writing the URL): settle once more
    page.wait_for_timeout(200)
    page.wait_for_selector(SCRIPT_DONE, state="attached", timeout=timeout_ms)


def exception_texts(page) -> list[str]:
    return [e.inner_text() for e in page.query_selector_all(EXCEPTION)]


def screenshot(page, path: Path, max_height: int = 8000) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so the viewport is made as
    tall as the content first (and restored after)."""
    size = page.viewport_size
    height = page.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]');
                                     return m ? m.scrollHeight : document.body.scrollHeight; }""")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), max_height))})
    page.wait_for_timeout(500)  # let charts re-lay out
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def screenshot_dir() -> Path:
    d = ROOT / "docs" / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


__all__ = ["CHROMIUM", "EXCEPTION", "SCRIPT_DONE", "SEED_SCALE", "RunningApp", "app_log", "chromium", "exception_texts",
           "free_port", "running_app", "screenshot", "screenshot_dir", "seeded_db_url", "start_app", "stop_app",
           "wait_for_streamlit"]
