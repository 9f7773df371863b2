"""Loads a generated history into PostgreSQL: partitions first, then one transaction of COPYs with the
counter triggers paused (``venuepulse.bulk_load``), a set-based recompute of every denormalized number,
then the venue_stats refresh and ANALYZE."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from venuepulse.errors import VenuePulseError
from venuepulse.queries.core.connect import connect
from venuepulse.queries.core.registry import registry
from venuepulse.queries.ops import rollups, seeding

from .generate import US, Dataset
from .progress import SeedProgress, print_summary
from .scales import SCALES, get_scale, with_longer_history

MODES = ("empty", "reset", "append")
STRATEGIES = ("recompute", "triggers")
TRIGGER_CHUNK_ROWS = 2_000
APP_TABLES = ("users", "venues", "check_ins", "reviews", "favorites", "collections", "flash_offers",
              "flash_offer_claims", "notifications", "event_stream")


class DatabaseNotEmpty(VenuePulseError):
    """The database holds app data and neither reset nor append was asked for."""


def app_query_names() -> list[str]:
    """The registry's read queries (what the app runs most), for the seeded query-time history."""
    return sorted(n for n, q in registry().items() if q.kind == "read")


def _describe(counts: dict[str, int]) -> str:
    shown = [f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items() if v]
    return ", ".join(shown) if shown else "nothing"


def _ts(us: int) -> datetime:
    return datetime.fromtimestamp(us / US, UTC)


def seed(url: str, scale: str = "small", seed: int = 42, days: int | None = None, mode: str = "empty",
         progress: bool = True, *, now: float | None = None, strategy: str = "recompute",
         console: Any = None, history_factor: int = 1) -> dict[str, Any]:
    """Fill the database at ``url`` with a generated app history; returns a summary.

    ``mode``: ``empty`` refuses a database that has app data; ``reset`` deletes the app data first (the
    summary's ``deleted`` says what); ``append`` adds a new, separate population next to it.
    ``now`` (epoch seconds) anchors the history (default: the current time); the same ``seed``, ``scale``,
    ``days`` and ``now`` give the same rows.  ``strategy``: ``recompute`` (default, faster) pauses the
    counter triggers and recomputes set-based after the load; ``triggers`` lets the triggers keep every
    number row by row (kept for measuring; see docs/seed.md).  ``history_factor`` keeps the scale's
    business and multiplies its history (days and check-ins) by that factor (the bench's "history" scenario).
    """
    sc = get_scale(scale) if scale in SCALES else None
    if sc is None:
        raise VenuePulseError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    try:
        sc = with_longer_history(sc, history_factor)
    except ValueError as exc:
        raise VenuePulseError(str(exc)) from None
    if mode not in MODES:
        raise VenuePulseError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if strategy not in STRATEGIES:
        raise VenuePulseError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if days is not None and (not isinstance(days, int) or days < 1 or days > 3650):
        raise VenuePulseError(f"--days must be a whole number of days from 1 to 3650, not {days!r}")
    if not isinstance(seed, int) or seed < 0:
        raise VenuePulseError(f"--seed must be a non-negative integer, not {seed!r}")

    began = time.perf_counter()
    steps: dict[str, float] = {}
    summary: dict[str, Any] = {"scale": sc.name, "seed": seed, "days": days or sc.days, "mode": mode,
                               "strategy": strategy, "deleted": {}}
    with connect(url) as conn:
        if not seeding.run(conn, "seed.schema_ready")[0]["ready"]:
            raise VenuePulseError("the database has no VenuePulse schema; run 'venuepulse migrate' first")
        counts = {k: int(v) for k, v in seeding.run(conn, "seed.app_data_counts")[0].items()}
        conn.commit()
        has_data = any(counts[t] for t in APP_TABLES)
        if has_data and mode == "empty":
            raise DatabaseNotEmpty(
                f"the database already has app data ({_describe({t: counts[t] for t in APP_TABLES})}); "
                "use --reset to delete it and seed again, or --append to add to it")
        salt = 0
        if mode == "append" and has_data:
            salt = counts["users"] + counts["venues"] + 1
        if mode == "reset" and any(counts.values()):
            summary["deleted"] = {k: v for k, v in counts.items() if v}
        with SeedProgress(progress, console) as bar:
            if summary["deleted"]:
                bar.say(f"reset: deleting all app data: {_describe(counts)} (with the rows that depend on them: "
                        "owners, friendships, settings, privacy, interactions, device tokens, query-time rollups; "
                        "dashboard accounts stay, venue-owner accounts are unlinked from their app user)")

            t0 = time.perf_counter()
            done = bar.step("generating")
            data = Dataset(sc, seed=seed, days=days, now=now, salt=salt, query_names=app_query_names())
            tables = data.tables(strategy)
            done()
            steps["generate"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            lo, hi = data.time_range()
            now_dt = _ts(data.now)
            ranges = {
                "check_ins": (_ts(lo), now_dt + timedelta(days=90)),
                "event_stream": (_ts(lo), now_dt + timedelta(days=90)),
                "query_performance_log": (_ts(data.query_log_range()[0]), now_dt + timedelta(days=7)),
            }
            for parent, (start, end) in ranges.items():
                seeding.run(conn, "seed.ensure_partitions", {"parent": parent, "from": start, "to": end})
            conn.commit()
            steps["partitions"] = time.perf_counter() - t0

            # one transaction: the old data stays if anything below fails
            if mode == "reset" and any(counts.values()):
                t0 = time.perf_counter()
                seeding.run(conn, "seed.reset")
                seeding.run(conn, "seed.reset_users")
                steps["reset"] = time.perf_counter() - t0
            seeding.run(conn, "seed.bulk_session", {"bulk_load": "on" if strategy == "recompute" else "off"})
            fast = strategy == "recompute"
            summary["foreign_key_checks"] = "on"
            if fast and seeding.run(conn, "seed.may_skip_triggers")[0]["may_skip"]:
                seeding.run(conn, "seed.skip_triggers")
                summary["foreign_key_checks"] = "skipped (generated references are consistent)"
            elif fast:
                bar.say("seed: foreign-key checks stay on during COPY (slower, same data): this role may not set "
                        "session_replication_role, which needs a superuser or GRANT SET ON PARAMETER")
            rebuild = fast and mode in ("empty", "reset")
            if rebuild:
                t0 = time.perf_counter()
                names = [t.name for t in tables] + ["venue_interactions"]
                seeding.run(conn, "seed.index_tables", {"tables": ",".join(names)})
                seeding.run(conn, "seed.drop_secondary_indexes")
                steps["drop_indexes"] = time.perf_counter() - t0
            per_table: dict[str, dict[str, float]] = {}
            t_copy = time.perf_counter()
            for table in tables:
                t0 = time.perf_counter()
                advance = bar.table(table.name, table.rows)
                if fast:
                    n = seeding.copy_rows(conn, table.name, table.column_names, table.chunks(), advance)
                else:
                    # row-by-row triggers take an advisory lock per (user, venue) pair, held to the end
                    # of the transaction: commit every few thousand rows or the lock table runs out
                    n = 0
                    for piece in table.chunks(TRIGGER_CHUNK_ROWS):
                        n += seeding.copy_rows(conn, table.name, table.column_names, [piece], advance)
                        conn.commit()
                secs = time.perf_counter() - t0
                per_table[table.name] = {"rows": n, "seconds": round(secs, 3),
                                         "rows_per_second": round(n / secs if secs > 0 else 0.0)}
            steps["copy"] = time.perf_counter() - t_copy
            if strategy == "recompute":
                t0 = time.perf_counter()
                done = bar.step("recompute counters")
                summary["recompute"] = seeding.run(conn, "seed.recompute")[0]
                done()
                steps["recompute"] = time.perf_counter() - t0
            if rebuild:
                t0 = time.perf_counter()
                done = bar.step("rebuild indexes")
                seeding.run(conn, "seed.restore_indexes")
                done()
                steps["rebuild_indexes"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            conn.commit()
            steps["commit"] = time.perf_counter() - t0

            conn.autocommit = True
            t0 = time.perf_counter()
            done = bar.step("refresh venue_stats")
            seeding.run(conn, "seed.refresh_venue_stats")
            done()
            steps["refresh_venue_stats"] = time.perf_counter() - t0
            # the load paused the rollups' change capture with the counter triggers: recount them from the rows
            t0 = time.perf_counter()
            done = bar.step("rebuild rollups")
            rollups.rebuild_all(url, venue_stats=False)
            done()
            steps["rollups"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            done = bar.step("analyze")
            seeding.run(conn, "seed.analyze")
            done()
            steps["analyze"] = time.perf_counter() - t0
            if "performance.rollup" in registry():
                # the query history into the hourly histograms now, as the rollup job would
                t0 = time.perf_counter()
                seeding.run(conn, "performance.rollup", {"upto": now_dt, "since": _ts(data.query_log_range()[0])})
                if "performance.rollup_daily" in registry():
                    seeding.run(conn, "performance.rollup_daily")
                steps["rollup_query_log"] = time.perf_counter() - t0
            size = seeding.run(conn, "seed.database_size")[0]

    total_rows = sum(v["rows"] for v in per_table.values())
    summary.update({
        "tables": per_table,
        "total_rows": total_rows,
        "rows": {k: v["rows"] for k, v in per_table.items()},
        "copy_seconds": round(steps["copy"], 3),
        "steps": {k: round(v, 3) for k, v in steps.items()},
        "seconds": round(time.perf_counter() - began, 3),
        "database_size_bytes": int(size["bytes"]),
        "database_size": size["pretty"],
        "now": _ts(data.now).isoformat(),
        "regressed_queries": data.regressed,
    })
    if progress:
        print_summary(summary, bar.console)
    return summary
