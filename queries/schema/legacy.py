"""Upgrading an existing (legacy) app database to VenuePulse's schema: the review's four phases.

The path is a separate Alembic environment (``queries/upgrade``, version table
``venuepulse_upgrade_version``): L0 is the legacy baseline, L1-L4 are the review's phases, and L4 leaves
exactly the schema of the main history's revision 0001, which it stamps.

- :func:`stamp_legacy` marks an existing legacy database as L0; :func:`upgrade` moves it to a phase;
- :func:`run_backfill` copies in batches, each batch committed together with its progress row in
  ``venuepulse_upgrade_progress`` (step name + last key), so an interrupted backfill resumes where it
  stopped and re-running one is harmless;
- :func:`verify` compares old and new tables during the parallel run (row counts, per-key md5 of the
  mapped rows) and lists every difference; phase 3 refuses to drop the old tables unless it finds none;
- :func:`plan` says which phase a database is at and what the next step does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from venuepulse.errors import ConfigError, QueryError, UpgradeRefused, VenuePulseError
from venuepulse.queries.core.connect import connect
from venuepulse.queries.core.execute import execute

UPGRADE_DIR = Path(__file__).resolve().parent / "upgrade"
LAST_PHASE = 4
LEGACY_TABLES = ["users", "venues", "check_ins", "reviews", "favorites", "collections", "collection_venues",
                 "flash_offers", "flash_offer_claims", "flash_offer_events", "flash_offer_rate_limits",
                 "notification_preferences", "social_notifications", "device_tokens", "activity_feed"]
RETRYABLE = {"40P01", "40001", "55P03"}  # deadlock, serialization failure, lock not available

PHASES = {
    0: ("legacy baseline", "the app's tables as they were before the review"),
    1: ("non-breaking changes",
        "adds venues' check-in counters and flash offers' redeemed/view/click/push columns (backfilled in "
        "batches from the rows), the venue_stats materialized view, counter triggers and VenuePulse's "
        "monitoring tables; the app keeps working unchanged"),
    2: ("new tables",
        "creates notification_settings, notifications, event_stream, venue_interactions and user_privacy, "
        "backfills them in batches from notification_preferences, social_notifications, activity_feed, "
        "flash_offer_events and the history, and mirrors every write to the old tables into the new ones "
        "(the parallel run)"),
    3: ("deprecation",
        "verifies old against new (refuses on any difference) and drops notification_preferences, "
        "social_notifications, activity_feed, flash_offer_events and flash_offer_rate_limits"),
    4: ("partitioning",
        "copies check_ins and event_stream in batches into monthly partitions (kept in step by triggers), "
        "swaps them in under one short lock, and stamps the main history at 0001"),
}


class UpgradeError(VenuePulseError):
    """The legacy upgrade cannot go on; the message says why and what to do."""


# --- backfills ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backfill:
    """One batched copy: ``bound`` gives the next batch's upper key, ``batch`` copies (last, upper]."""

    phase: int
    name: str
    count: str
    bound: str
    batch: str
    lock: str | None = None
    batch_size: int = 1000
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def step(self) -> str:
        return f"L{self.phase}.{self.name}"


_BACKFILL = (("venuepulse.upgrade_backfill", "on"),)
_QUIET = (("venuepulse.bulk_load", "on"),)

BACKFILLS: list[Backfill] = [
    Backfill(1, "venue_counters", "legacy.count_venues", "legacy.bound_venues", "legacy.backfill_venue_counters",
             lock="legacy.lock_venues", batch_size=200),
    Backfill(1, "offer_counters", "legacy.count_offers", "legacy.bound_offers", "legacy.backfill_offer_counters",
             lock="legacy.lock_offers", batch_size=200, settings=_BACKFILL),
    Backfill(2, "notification_settings", "legacy.count_notification_preferences",
             "legacy.bound_notification_preferences", "legacy.backfill_notification_settings", batch_size=2000),
    Backfill(2, "notifications", "legacy.count_social_notifications", "legacy.bound_social_notifications",
             "legacy.backfill_notifications", batch_size=2000),
    Backfill(2, "events_from_activity_feed", "legacy.count_activity_feed", "legacy.bound_activity_feed",
             "legacy.backfill_events_from_activity", batch_size=2000, settings=_QUIET),
    Backfill(2, "events_from_offer_events", "legacy.count_flash_offer_events", "legacy.bound_flash_offer_events",
             "legacy.backfill_events_from_offer_events", batch_size=2000, settings=_QUIET),
    Backfill(2, "check_in_events", "legacy.count_check_ins", "legacy.bound_check_ins",
             "legacy.backfill_check_in_events", batch_size=2000, settings=_QUIET),
    Backfill(2, "review_events", "legacy.count_reviews", "legacy.bound_reviews", "legacy.backfill_review_events",
             batch_size=2000, settings=_QUIET),
    Backfill(2, "favorite_events", "legacy.count_favorite_users", "legacy.bound_favorite_users",
             "legacy.backfill_favorite_events", batch_size=200, settings=_QUIET),
    Backfill(2, "claim_events", "legacy.count_claims", "legacy.bound_claims", "legacy.backfill_claim_events",
             batch_size=2000, settings=_QUIET),
    Backfill(2, "venue_interactions", "legacy.count_users", "legacy.bound_users",
             "legacy.backfill_venue_interactions", lock="legacy.lock_interaction_pairs", batch_size=50),
    Backfill(4, "copy_check_ins", "legacy.count_check_ins", "legacy.bound_check_ins", "legacy.copy_check_ins",
             batch_size=5000),
    Backfill(4, "copy_event_stream", "legacy.count_event_stream", "legacy.bound_event_stream",
             "legacy.copy_event_stream", batch_size=5000),
]


def backfills(phase: int | None = None) -> list[Backfill]:
    return [b for b in BACKFILLS if phase is None or b.phase == phase]


@dataclass
class BatchEvent:
    """Reported after every committed batch (and once when a backfill finds nothing left)."""

    step: str
    batches: int
    rows_done: int
    total: int
    finished: bool


OnBatch = Callable[[BatchEvent], None]


def _exec(cur: psycopg.Cursor, name: str, params: dict | None = None) -> list[tuple]:
    """Named query ``name`` on ``cur`` (rows as tuples); every upgrade query is kind maintenance: no timeout."""
    return execute(cur, name, params)


def run_backfill(url: str, backfill: Backfill, *, batch_size: int | None = None, max_batches: int | None = None,
                 on_batch: OnBatch | None = None) -> BatchEvent:
    """Run ``backfill`` from where its progress row says it stopped, until done (or ``max_batches``).

    Each batch runs in its own transaction with its progress update; a deadlock or lock timeout retries
    the batch.  Returns the last progress event.
    """
    size = batch_size or backfill.batch_size
    if size < 1:
        raise ConfigError(f"batch size must be at least 1, not {size}")
    with connect(url, autocommit=True) as conn:
        with conn.cursor() as cur:
            _exec(cur, "legacy.progress_table")
            _exec(cur, "legacy.progress_start", {"step": backfill.step})
            total = _exec(cur, backfill.count)[0][0]
        done_batches = 0
        while True:
            event = _one_batch(conn, backfill, size, total)
            done_batches += 1
            if on_batch is not None:
                on_batch(event)
            if event.finished or (max_batches is not None and done_batches >= max_batches):
                return event


def _one_batch(conn: psycopg.Connection, backfill: Backfill, size: int, total: int) -> BatchEvent:
    for attempt in range(8):
        try:
            with conn.transaction(), conn.cursor() as cur:
                for key, value in backfill.settings:
                    _exec(cur, "legacy.backfill_setting", {"key": key, "value": value})
                row = _exec(cur, "legacy.progress_get", {"step": backfill.step})[0]
                last, rows_done, batches, finished = row[1], row[2], row[3], row[4]
                if finished is not None:
                    return BatchEvent(backfill.step, batches, rows_done, total, True)
                bound = _exec(cur, backfill.bound, {"last": last, "limit": size})
                upper = bound[0][0] if bound else None
                if upper is None:
                    _exec(cur, "legacy.progress_finish", {"step": backfill.step})
                    return BatchEvent(backfill.step, batches, rows_done, total, True)
                params = {"last": last, "upper": upper}
                if backfill.lock:
                    # what the lock statement saw and locked: a batch may restrict itself to it
                    params["locked"] = [r[0] for r in _exec(cur, backfill.lock, params)]
                result = _exec(cur, backfill.batch, params)
                n = result[0][0] if result else max(cur.rowcount, 0)
                _exec(cur, "legacy.progress_advance", {"step": backfill.step, "last_key": upper, "rows": n})
                return BatchEvent(backfill.step, batches + 1, rows_done + n, total, False)
        except QueryError as exc:
            state = getattr(exc.original, "sqlstate", None)
            if state not in RETRYABLE or attempt == 7:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def run_phase_backfills(url: str, phase: int, *, batch_sizes: dict[str, int] | None = None,
                        on_batch: OnBatch | None = None) -> None:
    for backfill in backfills(phase):
        run_backfill(url, backfill, batch_size=(batch_sizes or {}).get(backfill.name), on_batch=on_batch)


def unfinished_backfills_on(raw: psycopg.Connection, phase: int) -> list[str]:
    """Backfills of ``phase`` not finished, as seen on an open connection."""
    with raw.cursor() as cur:
        done = {r[0] for r in _exec(cur, "legacy.progress_all") if r[6] is not None}
    return [b.step for b in backfills(phase) if b.step not in done]


# --- verification ---------------------------------------------------------------------------------------

COMPARISONS: list[tuple[str, str, str]] = [
    # (comparison, named query, prefix of its columns in legacy.verify_counts)
    ("notification_preferences -> notification_settings", "legacy.verify_notification_settings",
     "notification_settings"),
    ("social_notifications -> notifications", "legacy.verify_notifications", "notifications"),
    ("activity_feed -> event_stream", "legacy.verify_activity_feed", "activity_feed"),
    ("flash_offer_events -> event_stream (analytics)", "legacy.verify_offer_events", "offer_events"),
    ("check_ins -> check_in events", "legacy.verify_check_in_events", "check_in_events"),
    ("reviews -> review events", "legacy.verify_review_events", "review_events"),
    ("favorites -> favorite events", "legacy.verify_favorite_events", "favorite_events"),
    ("flash_offer_claims -> claim events", "legacy.verify_claim_events", "claim_events"),
    ("redeemed claims -> redeem events", "legacy.verify_redeem_events", "redeem_events"),
    ("venue check-in counters = recount", "legacy.verify_venue_counters", "venue_counters"),
    ("flash offer counters = recount", "legacy.verify_offer_counters", "offer_counters"),
    ("venue_interactions = recount", "legacy.verify_venue_interactions", "venue_interactions"),
]


@dataclass(frozen=True)
class Difference:
    comparison: str
    key: str
    kind: str  # missing_in_new, extra_in_new, changed, duplicate

    def describe(self) -> str:
        return f"{self.comparison}: {self.kind} {self.key}"


@dataclass
class VerifyReport:
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # comparison -> (old rows, new rows)
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        out = []
        width = max(len(c) for c, _, _ in COMPARISONS)
        for comparison, _, _ in COMPARISONS:
            old, new = self.counts[comparison]
            n = sum(1 for d in self.differences if d.comparison == comparison)
            out.append(f"{comparison:<{width}}  old {old:>9}  new {new:>9}  "
                       + ("ok" if n == 0 else f"{n} difference(s)"))
        for d in self.differences:
            out.append(f"  {d.describe()}")
        return out


def verify_on(raw: psycopg.Connection) -> VerifyReport:
    """Compare old and new tables on an open connection (any transaction state the caller chose)."""
    report = VerifyReport()
    with raw.cursor() as cur:
        row = _exec(cur, "legacy.verify_counts")[0]
        names = [d.name for d in cur.description]
        counts = dict(zip(names, row, strict=True))
        for comparison, query, prefix in COMPARISONS:
            report.counts[comparison] = (counts[f"{prefix}_old"], counts[f"{prefix}_new"])
            for key, kind in _exec(cur, query):
                report.differences.append(Difference(comparison, key, kind))
    return report


def verify(url: str) -> VerifyReport:
    """Old vs new during the parallel run (the database must be at phase 2)."""
    state = status(url)
    if state.version != "L2":
        where = state.version or "not on the legacy upgrade path"
        raise UpgradeError(
            "verify compares the old tables with the new ones during the parallel run (phase 2); "
            f"this database is at {where}."
        )
    with connect(url, autocommit=True) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one snapshot for every comparison
        with conn.transaction():
            return verify_on(conn)


# --- state and plan -------------------------------------------------------------------------------------


@dataclass
class Progress:
    step: str
    last_key: str | None
    rows_done: int
    batches: int
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass
class UpgradeState:
    version: str | None  # L0..L4, or None when not on the upgrade path
    main_version: str | None  # the main history's revision (alembic_version)
    legacy_tables_present: list[str]
    progress: list[Progress]

    @property
    def phase(self) -> int | None:
        return int(self.version[1:]) if self.version else None


def status(url: str) -> UpgradeState:
    with connect(url, autocommit=True) as conn, conn.cursor() as cur:
        has_version, has_progress, has_main = _exec(cur, "legacy.version_tables")[0]
        version = next(iter(_exec(cur, "legacy.upgrade_version")), (None,))[0] if has_version else None
        main_version = next(iter(_exec(cur, "legacy.main_version")), (None,))[0] if has_main else None
        present = [t for t, ok in _exec(cur, "legacy.tables_present", {"tables": LEGACY_TABLES}) if ok]
        progress = [Progress(*r) for r in _exec(cur, "legacy.progress_all")] if has_progress else []
    return UpgradeState(version, main_version, present, progress)


@dataclass
class Plan:
    state: UpgradeState
    summary: str
    next_step: str | None
    command: str | None
    progress: list[Progress]

    def lines(self) -> list[str]:
        out = [f"state: {self.summary}"]
        if self.progress:
            out.append("progress:")
            for p in self.progress:
                if p.step.endswith(".ddl"):
                    out.append(f"  {p.step:<34} {'done' if p.finished_at else 'started'}")
                else:
                    what = "done" if p.finished_at else f"in progress (last key {p.last_key or '-'})"
                    out.append(f"  {p.step:<34} {what}: {p.rows_done} rows in {p.batches} batches")
        out.append(f"next: {self.next_step}" if self.next_step else "next: nothing to do")
        if self.command:
            out.append(f"run:  {self.command}")
        return out


def plan(url: str) -> Plan:
    """Which phase the database is at and what the next step will do."""
    s = status(url)
    if s.version is None:
        if s.main_version is not None:
            return Plan(s, f"on VenuePulse's schema (main history at {s.main_version}); not a legacy database",
                        None, None, [])
        if not s.legacy_tables_present:
            return Plan(s, "empty database",
                        "create VenuePulse's schema, or a legacy database to rehearse the upgrade on",
                        "venuepulse migrate   (or: venuepulse seed --legacy --scale tiny)", [])
        missing = [t for t in LEGACY_TABLES if t not in s.legacy_tables_present]
        if missing:
            return Plan(s, f"has some of the app's tables but not {', '.join(missing)}",
                        "this does not look like the legacy app database the upgrade path starts from", None, [])
        return Plan(s, "a legacy app database, not yet on the upgrade path",
                    "record it as the legacy baseline (L0); nothing is changed",
                    "venuepulse migrate upgrade-legacy --stamp-legacy", [])
    phase = s.phase
    assert phase is not None
    name, _ = PHASES[phase]
    if phase == LAST_PHASE:
        return Plan(s, f"legacy upgrade complete (L4 = revision 0001); main history now at {s.main_version}",
                    "apply VenuePulse's later revisions", "venuepulse migrate", s.progress)
    nxt = phase + 1
    nname, ndesc = PHASES[nxt]
    started = any(p.step.startswith(f"L{nxt}.") for p in s.progress)
    summary = (f"L{phase}, phase {phase} of {LAST_PHASE} done ({name})" if phase
               else "L0, the legacy baseline: no phase applied yet")
    if started:
        summary += f"; phase {nxt} ({nname}) started and interrupted — running it again resumes"
    return Plan(s, summary, f"phase {nxt} ({nname}): {ndesc}",
                f"venuepulse migrate upgrade-legacy --phase {nxt}", s.progress)


# --- running the path -----------------------------------------------------------------------------------


def upgrade_config(url: str, **attributes: Any):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("script_location", str(UPGRADE_DIR))
    cfg.set_main_option("version_locations", str(UPGRADE_DIR / "versions"))
    cfg.attributes["url"] = url
    cfg.attributes.update(attributes)
    return cfg


def stamp_legacy(url: str) -> None:
    """Record an existing legacy database as the baseline L0 (checks it has the legacy tables)."""
    from alembic import command

    s = status(url)
    if s.version is not None:
        raise UpgradeError(f"this database is already on the upgrade path, at {s.version}.")
    if s.main_version is not None:
        raise UpgradeError(f"this database already has VenuePulse's schema (main history at {s.main_version}).")
    missing = [t for t in LEGACY_TABLES if t not in s.legacy_tables_present]
    if missing:
        raise UpgradeError(f"this is not the legacy app database: it has no {', '.join(missing)}.")
    command.stamp(upgrade_config(url), "L0")


def upgrade(url: str, phase: int = LAST_PHASE, *, batch_sizes: dict[str, int] | None = None,
            on_batch: OnBatch | None = None) -> tuple[str | None, str | None]:
    """Move the database along the upgrade path to ``phase`` (0-4; down only from phase 2 or 1).

    ``phase=0`` on an empty database creates the legacy baseline (what ``seed --legacy`` loads into).
    Returns (before, after).
    """
    from alembic import command
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError

    if not 0 <= phase <= LAST_PHASE:
        raise ConfigError(f"phase must be 0 to {LAST_PHASE}, not {phase}")
    s = status(url)
    before = s.version
    if before is None:
        if s.main_version is not None:
            raise UpgradeError(f"this database already has VenuePulse's schema (main history at {s.main_version}); "
                               "there is nothing to upgrade.")
        if s.legacy_tables_present:
            raise UpgradeError("this database has the app's tables but is not on the upgrade path yet: "
                               "check it with 'venuepulse migrate plan', then stamp it with "
                               "'venuepulse migrate upgrade-legacy --stamp-legacy'.")
        if phase > 0:
            raise UpgradeError("this database is empty: 'venuepulse migrate' creates VenuePulse's schema; to "
                               "rehearse the upgrade, first make a legacy database with "
                               "'venuepulse seed --legacy --scale tiny'.")
    cfg = upgrade_config(url, batch_sizes=batch_sizes, on_batch=on_batch)
    target = f"L{phase}"
    try:
        if before is not None and phase < int(before[1:]):
            command.downgrade(cfg, target)
        elif before != target:
            command.upgrade(cfg, target)
    except UpgradeRefused as exc:
        raise UpgradeError(str(exc)) from exc
    except DBAPIError as exc:
        raise QueryError(f"upgrade-legacy {before or 'base'} -> {target}", exc.orig or exc) from exc
    except CommandError as exc:
        raise UpgradeError(f"upgrade-legacy {before or 'base'} -> {target} failed: {exc}") from exc
    return before, status(url).version


def refuse_main_migration(url: str) -> None:
    """Stop ``venuepulse migrate`` on a legacy database (it would try to create tables that exist)."""
    s = status(url)
    if s.version is not None and s.version != f"L{LAST_PHASE}":
        raise UpgradeError(f"this database is partway through the legacy upgrade (at {s.version}); "
                           "continue with 'venuepulse migrate upgrade-legacy' (see 'venuepulse migrate plan').")
    if s.version is None and s.main_version is None and s.legacy_tables_present:
        raise UpgradeError("this database has the legacy app's tables; upgrade it with "
                           "'venuepulse migrate upgrade-legacy' (see 'venuepulse migrate plan').")
