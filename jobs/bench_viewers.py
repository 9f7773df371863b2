"""`venuepulse bench --only viewers`: K signed-in browser sessions clicking through their role's pages at once.

For each K a fresh dashboard process (`streamlit run`, the roles `venuepulse dashboard` uses) is started on
the bench database; one warm-up session visits every page of every role (so caches and imports are warm
and the memory baseline includes the app), then K headless Chromium contexts (Playwright with Debian's
/usr/bin/chromium, as the browser tests do) sign in — roles in turn: pm, venue_owner, engineer — and click
through their role's sidebar pages in a loop for ``seconds``. A page view is timed from the click until
Streamlit has finished the script with the page's heading drawn. Reported per K: page views per second,
p50/p95 page time, errors (exception element, an error-boundary message, a timeout), the Streamlit
process's memory (RSS) per session and its CPU use.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("VENUEPULSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
SCRIPT_DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"
BROKEN = ("Something went wrong", "could not load its data", "is not reachable", "not available right now")
ROLE_ORDER = ("pm", "venue_owner", "engineer")
ACCOUNTS = {"pm": "bench-viewer-pm", "venue_owner": "bench-viewer-owner", "engineer": "bench-viewer-engineer"}
VIEW_TIMEOUT_MS = 120_000  # generous: the shared machine's load average reaches 30


def chromium_missing() -> str | None:
    """Why the scenario cannot run here, or None."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (Debian's `chromium` package)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the Playwright Python package is not installed (pip install '.[test]')"
    return None


def _proc_stat(pid: int) -> tuple[int | None, float | None]:
    """(RSS bytes, CPU seconds user+system) of a process, from /proc (None where there is no /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return rss, cpu
    except (OSError, StopIteration, ValueError, IndexError):
        return None, None


def _accounts(url: str) -> dict[str, tuple[str, str]]:
    """One account per role (made or given a new password each run); the owner is the demo owner."""
    from venuepulse.queries.access.accounts import add_account, get_account, set_password
    from venuepulse.queries.core.runner import Database

    out = {}
    with Database(url, record=False) as db:
        owner = db.scalar("accounts.demo_owner_user")
        for role, username in ACCOUNTS.items():
            password = secrets.token_urlsafe(16)
            if get_account(db, username) is None:
                add_account(db, username, password, role, display_name=f"Bench {role}",
                            app_user=owner if role == "venue_owner" else None)
            else:
                set_password(db, username, password)
            out[role] = (username, password)
    return out


class _App:
    """The dashboard as `venuepulse dashboard` runs it, on a free port, until closed."""

    def __init__(self, url: str, log: Path):
        import subprocess

        from venuepulse.supervisor import choose_port, dashboard_env, streamlit_command

        port = choose_port(0)
        env = dashboard_env(url)
        env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(streamlit_command(port), env=env, stdout=self._out, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the dashboard exited with {self.proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.close()
        raise RuntimeError(f"the dashboard did not answer within 90 s: {log.read_text()[-2000:]}")

    def stat(self) -> tuple[int | None, float | None]:
        return _proc_stat(self.proc.pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._out.close()


async def _context(browser):
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(VIEW_TIMEOUT_MS)
    context.set_default_navigation_timeout(VIEW_TIMEOUT_MS)
    return context


async def _settled(page) -> None:
    await page.wait_for_selector(SCRIPT_DONE, state="attached", timeout=VIEW_TIMEOUT_MS)
    await page.wait_for_timeout(200)  # a rerun requested while we looked (a widget writing the URL)
    await page.wait_for_selector(SCRIPT_DONE, state="attached", timeout=VIEW_TIMEOUT_MS)


async def _sign_in(page, base: str, username: str, password: str) -> None:
    await page.goto(base)
    await _settled(page)
    await page.get_by_label("Username", exact=True).fill(username)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("[data-testid='stSidebarNav']", timeout=VIEW_TIMEOUT_MS)
    await _settled(page)


async def _link(page, base: str, key: str, default: bool):
    links = page.locator("[data-testid='stSidebarNav'] a")
    for i in range(await links.count()):
        href = ((await links.nth(i).get_attribute("href")) or "").removeprefix(base).strip("/")
        if href == key or (default and href == ""):
            return links.nth(i)
    raise LookupError(f"no sidebar link to /{key}")


async def _view(page, base: str, spec, default: bool) -> tuple[float, str | None]:
    """Open one page by its sidebar link: (seconds until drawn, the error seen or None)."""
    link = await _link(page, base, spec.key, default)
    started = time.perf_counter()
    await link.click()
    await page.wait_for_function(
        """(arg) => { const app = document.querySelector(arg.app);
                     const h1 = document.querySelector('[data-testid="stMain"] h1');
                     return app !== null && h1 !== null && h1.innerText.toLowerCase().includes(arg.title); }""",
        # polled on a timer: the default (requestAnimationFrame) stalls in a browser page that is not in
        # front, which all but one of K sessions in one headless browser are
        arg={"app": SCRIPT_DONE, "title": spec.title.lower()}, polling=100, timeout=VIEW_TIMEOUT_MS)
    elapsed = time.perf_counter() - started
    if await page.locator(EXCEPTION).count():
        return elapsed, f"{spec.key}: exception shown"
    main = await page.locator("[data-testid='stMain']").inner_text()
    bad = next((b for b in BROKEN if b in main), None)
    return elapsed, (f"{spec.key}: {bad!r}" if bad else None)


async def _session(browser, base: str, role: str, account: tuple[str, str], start: asyncio.Event,
                   window: dict[str, float], out: dict[str, Any]) -> None:
    from venuepulse.dashboard.views import pages_for

    specs = pages_for(role)
    context = await _context(browser)
    page = await context.new_page()
    try:
        await _sign_in(page, base, *account)
        out["signed_in"] = True
        await start.wait()
        order = [*specs[1:], specs[0]]  # sign-in lands on the default page: never click the page shown
        i = 0
        while time.perf_counter() < window["deadline"]:
            spec = order[i % len(order)]
            i += 1
            try:
                elapsed, error = await _view(page, base, spec, default=spec is specs[0])
            except Exception as exc:  # a timeout or a vanished link: count it, start over from the app's root
                out["errors"].append(f"{spec.key}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
                try:
                    await page.goto(base)
                    await _settled(page)
                except Exception:
                    pass
                continue
            out["times"].append(elapsed)
            out["ended"] = time.perf_counter()
            if error:
                out["errors"].append(error)
    finally:
        await context.close()


async def _round(base: str, sessions: int, seconds: float, accounts: dict[str, tuple[str, str]],
                 probe=lambda: (None, None)) -> dict[str, Any]:
    """K sessions signed in, then clicking until ``seconds`` pass; ``probe()`` (the server's RSS and CPU
    seconds) is read when the clicking starts and when it ends, with every session still connected."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            start, window = asyncio.Event(), {"deadline": float("inf")}
            roles = [ROLE_ORDER[i % len(ROLE_ORDER)] for i in range(sessions)]
            outs = [{"role": r, "times": [], "errors": [], "signed_in": False} for r in roles]
            tasks = [asyncio.create_task(_session(browser, base, r, accounts[r], start, window, o))
                     for r, o in zip(roles, outs, strict=True)]
            while not all(o["signed_in"] for o in outs) and not any(t.done() for t in tasks):
                await asyncio.sleep(0.1)
            began = time.perf_counter()
            window["deadline"] = began + seconds
            at_start = probe()
            start.set()
            await asyncio.sleep(seconds)
            at_end = probe()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for o, r in zip(outs, results, strict=True):
                if isinstance(r, BaseException):
                    o["errors"].append(f"session failed: {type(r).__name__}: {str(r).splitlines()[0][:160]}")
            ended = max([o.get("ended", began) for o in outs] + [began + 1e-9])
            return {"outs": outs, "seconds": ended - began, "probe": (at_start, at_end), "window": seconds}
        finally:
            await browser.close()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    vals = sorted(values)  # interpolated between the nearest ranks, as percentile_cont
    pos = q * (len(vals) - 1)
    lo = int(pos)
    return vals[lo] + (vals[min(lo + 1, len(vals) - 1)] - vals[lo]) * (pos - lo)


def _summary(k: int, r: dict[str, Any], idle_rss: int | None) -> dict[str, Any]:
    times = [t for o in r["outs"] for t in o["times"]]
    errors = [e for o in r["outs"] for e in o["errors"]]
    by_role = {}
    for role in ROLE_ORDER:
        rt = [t for o in r["outs"] if o["role"] == role for t in o["times"]]
        if rt:
            by_role[role] = {"views": len(rt), "p50_s": statistics.median(rt)}
    (rss0, cpu0), (rss1, cpu1) = r["probe"]
    return {
        "sessions": k, "views": len(times), "seconds": r["seconds"],
        "views_per_s": len(times) / r["seconds"] if r["seconds"] else 0.0,
        "p50_s": _pct(times, 0.5), "p95_s": _pct(times, 0.95), "errors": len(errors),
        "error_samples": errors[:5], "by_role": by_role,
        # the server's memory when the clicking starts (the sessions signed in) and ends, all connected
        "rss_start_mb": rss0 / 2**20 if rss0 else None, "rss_end_mb": rss1 / 2**20 if rss1 else None,
        # above the server's RSS after the warm-up with no session connected
        "rss_per_session_mb": (rss1 - idle_rss) / 2**20 / k if rss1 and idle_rss else None,
        # CPU seconds the Streamlit process used per second of the clicking window
        "server_cpu": (cpu1 - cpu0) / r["window"] if cpu0 is not None and cpu1 is not None else None,
    }


def run(url: str, sessions: tuple[int, ...] = (1, 4, 8), seconds: float = 60.0,
        say=print) -> dict[str, Any]:
    """Measure the dashboard under ``sessions`` concurrent viewers each; returns a result per K."""
    why = chromium_missing()
    if why:
        return {"skipped": why}
    accounts = _accounts(url)
    logs = Path(tempfile.mkdtemp(prefix="vp-viewers-"))
    out: dict[str, Any] = {"seconds_per_k": seconds, "roles": list(ROLE_ORDER), "by_k": {}}
    app = _App(url, logs / "dashboard.log")
    try:
        say("viewers: warming the dashboard (every page of every role once) ...")
        out["warm_errors"] = asyncio.run(_warm(app.base, accounts))
        idle_rss = app.stat()[0]
        out["rss_idle_mb"] = idle_rss / 2**20 if idle_rss else None
        for k in sessions:
            say(f"viewers: K={k}: {k} session(s) clicking for {seconds:.0f} s ...")
            r = asyncio.run(_round(app.base, k, seconds, accounts, app.stat))
            out["by_k"][str(k)] = entry = _summary(k, r, idle_rss)
            say(f"viewers: K={k}: {entry['views_per_s']:.2f} views/s, p50 {entry['p50_s'] or 0:.2f} s, "
                f"p95 {entry['p95_s'] or 0:.2f} s, {entry['errors']} errors")
    finally:
        app.close()
    one, most = out["by_k"].get(str(sessions[0])), out["by_k"].get(str(sessions[-1]))
    if one and most and one["views_per_s"]:
        out["scaling"] = most["views_per_s"] / one["views_per_s"]
    return out


async def _warm(base: str, accounts: dict[str, tuple[str, str]]) -> list[str]:
    """Every page of every role once, one session at a time; the errors seen."""
    from playwright.async_api import async_playwright

    from venuepulse.dashboard.views import pages_for

    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for role in ROLE_ORDER:
                context = await _context(browser)
                page = await context.new_page()
                await _sign_in(page, base, *accounts[role])
                specs = pages_for(role)
                for spec in [*specs[1:], specs[0]]:
                    try:
                        _, error = await _view(page, base, spec, default=spec is specs[0])
                    except Exception as exc:
                        error = f"{spec.key}: {type(exc).__name__}"
                    if error:
                        errors.append(f"{role} {error}")
                await context.close()
        finally:
            await browser.close()
    return errors
