"""Reads behind the "Alerts" page (firing now, history, deliveries and failures) and the small banner that
other pages show while alerts about them are firing. Secrets are never read: they are in a schema the
dashboard's roles cannot see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops.alert_rules import KINDS, kinds_for_page

LIMIT = 1_000


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be an integer from 1 to 10000, not {limit!r}")
    return limit


def _range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValueError(f"end ({end}) must be after start ({start})")


def summary(db: Database) -> dict[str, Any]:
    """Counts for the page's headline: rules, muted, erroring, firing, pending, channels, undelivered, given up."""
    return db.one("alerts.summary", cache=False) or {}


def firing_now(db: Database, kinds: list[str] | None = None) -> list[dict[str, Any]]:
    """Subjects firing or pending now (firing first, by severity), optionally of some rule kinds only."""
    return db.run("alerts.firing_now", {"kinds": kinds}, cache=False)


def rules(db: Database) -> list[dict[str, Any]]:
    """Every rule with its parameters, channels and how many subjects fire or wait (no secrets)."""
    return db.run("alerts.rules", {"name": None}, cache=False)


def channels(db: Database) -> list[dict[str, Any]]:
    """Every channel: kind, redacted target, rules, undelivered count, last delivery (no secrets)."""
    return db.run("alerts.channels", {"name": None}, cache=False)


def history(db: Database, start: datetime, end: datetime, rule: str | None = None,
            limit: int = LIMIT) -> list[dict[str, Any]]:
    """State transitions in [start, end), newest first."""
    _range(start, end)
    return db.run("alerts.history", {"start": start, "end": end, "rule": rule, "limit": _limit(limit)}, cache=False)


def deliveries(db: Database, start: datetime, end: datetime, status: str | None = None,
               limit: int = LIMIT) -> list[dict[str, Any]]:
    """Notifications written in [start, end) with their delivery state, newest first."""
    _range(start, end)
    if status is not None and status not in ("pending", "delivered", "failed", "dropped"):
        raise ValueError(f"unknown delivery status {status!r}")
    return db.run("alerts.deliveries", {"start": start, "end": end, "status": status, "limit": _limit(limit)},
                  cache=False)


def failed_attempts(db: Database, start: datetime, end: datetime, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Delivery attempts in [start, end) that failed or were cut short, newest first."""
    _range(start, end)
    return db.run("alerts.failed_attempts", {"start": start, "end": end, "limit": _limit(limit)}, cache=False)


def firing_for_page(db: Database, page: str) -> list[dict[str, Any]]:
    """Alerts firing now whose rule kind concerns dashboard page ``page`` (its banner)."""
    kinds = kinds_for_page(page)
    if not kinds:
        return []
    return [r for r in firing_now(db, kinds) if r["state"] == "firing"]


def condition(kind: str) -> str:
    """The exact condition of a rule kind, as docs/alerts.md states it."""
    return KINDS[kind].condition if kind in KINDS else ""
