"""Time in the test suite (issue 20): fixed instants where the product's windows turn over, the ``clock``
marker, and the checks of the boundary run. docs/testing.md, "Time and the test suite", explains the rules.

A test meets the clock in one of two ways:

- a query that takes ``now`` as a parameter is run at the fixed instants of :data:`BOUNDARIES` (the
  ``boundary_now`` fixture), in every run of the suite;
- where the server's or the process's own clock matters (``now()`` in SQL, a ``DEFAULT now()``, partitions
  made for "this month", a page that reads "today"), the test is marked ``clock``, and the boundary run
  (``.ci/clock-boundaries``) runs ``pytest -m clock`` with the wall clock of pytest and of the PostgreSQL
  server it starts moved, through libfaketime, to instants just before and after midnight at a month's
  end, to a Monday 00:00 and to a daylight-saving change. ``VENUEPULSE_TEST_CLOCK_AT`` names that instant;
  the session refuses to run when either clock does not read it.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

CLOCK_AT_ENV = "VENUEPULSE_TEST_CLOCK_AT"

#: Instants at the boundaries that matter to VenuePulse's windows (all UTC): the last and first seconds of
#: a month (2026-11-30 is a Monday, so "today" and "this week's Monday" turn over together), the first
#: instant of an ISO week, the last second of a year, New York's fall-back (01:59:30 EDT; 30 s later it is
#: 01:00:30 EST), and an ordinary Wednesday afternoon as the control.
BOUNDARIES: dict[str, datetime] = {
    "month_end": datetime(2026, 11, 30, 23, 59, 30, tzinfo=UTC),
    "month_start": datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC),
    "week_start": datetime(2026, 12, 7, 0, 0, 0, tzinfo=UTC),
    "year_end": datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    "new_york_fall_back": datetime(2026, 11, 1, 5, 59, 30, tzinfo=UTC),
    "midweek": datetime(2026, 6, 17, 15, 0, 0, tzinfo=UTC),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clock: the outcome depends on the wall clock (the server's now(), 'today', partitions made "
                   "for the current period); the boundary run (.ci/clock-boundaries) runs these with -m clock")


def pytest_report_header(config: pytest.Config) -> str | None:
    at = os.environ.get(CLOCK_AT_ENV)
    return f"boundary run: the wall clock started at {at} UTC (libfaketime)" if at else None


@pytest.fixture(params=list(BOUNDARIES.values()), ids=list(BOUNDARIES))
def boundary_now(request) -> datetime:
    """Each instant of :data:`BOUNDARIES` in turn, for queries that take ``now`` as a parameter."""
    return request.param


@pytest.fixture(scope="session", autouse=True)
def _boundary_run_clocks(request) -> None:
    """In the boundary run, both clocks must read the instant asked for, or the run proves nothing."""
    at = os.environ.get(CLOCK_AT_ENV)
    if not at:
        return
    start = datetime.fromisoformat(at).replace(tzinfo=UTC)
    here = datetime.now(UTC)
    if not start - timedelta(seconds=5) <= here < start + timedelta(minutes=15):
        pytest.exit(f"{CLOCK_AT_ENV}={at}, but this process's clock reads {here:%Y-%m-%d %H:%M:%S} UTC: "
                    "run it through .ci/clock-boundaries (libfaketime preloaded)", returncode=3)
    with psycopg.connect(request.getfixturevalue("pg_server_url"), connect_timeout=10) as conn:
        server = conn.execute("SELECT now()").fetchone()[0]
    if abs(server - datetime.now(UTC)) > timedelta(seconds=5):
        pytest.exit(f"the test server's clock reads {server:%Y-%m-%d %H:%M:%S%z}, not this process's time: the "
                    "boundary run needs a server started under the same clock (the embedded one, with "
                    "VENUEPULSE_TEST_DATABASE_URL unset)", returncode=3)


def seconds_left_today(now: datetime | None = None) -> float:
    """Seconds until the next UTC midnight."""
    now = now or datetime.now(UTC)
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return (midnight - now).total_seconds()


def within_one_utc_day(seconds: float = 60.0) -> datetime:
    """Return the time once the current UTC day has at least ``seconds`` left, sleeping past midnight if not.

    For tests that cannot pass a fixed "now" because "today" is read from the clock in several places (the
    test's data, a rendered page's default date range, the database's KPIs): such a test must not straddle
    midnight. The wait is at most ``seconds``; the boundary run starting at 23:59:30 exercises it.
    """
    left = seconds_left_today()
    if left < seconds:
        time.sleep(left + 0.5)
    return datetime.now(UTC)
