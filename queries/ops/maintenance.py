"""Maintenance the jobs process runs: view refresh, partitions, counter reconciliation, expiry, offer pushes,
query probes.  Each function does one job's work against a :class:`queries.runner.Database` and returns an
:class:`Outcome` (rows affected, a one-line summary, details for ``job_runs.details``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from venuepulse.errors import QueryError, VenuePulseError
from venuepulse.queries.core.registry import registry
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import rollups
from venuepulse.queries.ops.job_runs import jsonb, run_on
from venuepulse.queries.pages import query_performance as performance

log = logging.getLogger(__name__)

DRIFT_KINDS = ("venue_counters", "flash_offer_counters", "venue_interactions")


@dataclass
class Outcome:
    """What a maintenance step did: ``rows`` for job_runs.rows_affected, ``summary`` for people."""

    rows: int
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


class MaintenanceError(VenuePulseError):
    """A maintenance step finished with problems; ``details`` says what was done and what failed."""

    def __init__(self, message: str, details: Mapping[str, Any]):
        super().__init__(message)
        self.details = dict(details)


# -- refresh_venue_stats ---------------------------------------------------------------------------------


def refresh_venue_stats(db: Database) -> Outcome:
    """Bring venue_stats current: refresh_venue_stats() folds the changes since its last fold (docs/rollups.md)."""
    db.run("maintenance.refresh_venue_stats")
    row = db.one("maintenance.venue_stats_summary") or {}
    venues = int(row.get("venues") or 0)
    return Outcome(venues, f"venue_stats refreshed: {venues} venues",
                   {"venues": venues, "refreshed_at": row.get("refreshed_at")})


# -- rollups ---------------------------------------------------------------------------------------------


def fold_rollups(db: Database) -> Outcome:
    """Fold the change log into every rollup consumer (activity, pairs, venue_stats), each in its own
    transaction under its own lock; the details give each fold's changes and milliseconds."""
    folded = rollups.fold(db)
    changes = sum(int(r.get("changes") or 0) for r in folded.values())
    parts = ", ".join(f"{c} {int(r.get('changes') or 0)} in {r['ms']:.0f} ms" for c, r in folded.items())
    return Outcome(changes, f"{changes} changes folded ({parts})", {"consumers": folded})


def reconcile_rollups(db: Database, *, repair: bool = True, detail_limit: int = 100) -> Outcome:
    """venue_stats against a full recount from raw rows in the same snapshot (after a fold): rows that
    differ are drift, listed (up to ``detail_limit``) and repaired. A difference means a change reached
    the tables without the capture (e.g. written directly into a partition)."""
    drift = rollups.venue_stats_drift(db.url, repair=repair)
    details = {"venue_stats": {"drifted": len(drift), "repaired": len(drift) if repair else 0,
                               "rows": drift[:detail_limit]}}
    if drift:
        log.warning("reconcile_rollups: %d venue_stats rows drifted from the recount", len(drift))
    summary = "venue_stats equals its recount" if not drift else (
        f"{len(drift)} venue_stats rows differed from the recount" + (", repaired" if repair else ""))
    return Outcome(len(drift), summary, details)


# -- maintain_partitions ---------------------------------------------------------------------------------


def _default_rollup(db: Database, upto: datetime) -> int:
    # each log partition is one day: look back that far, whatever the rollup job did meanwhile
    return performance.rollup_histograms(db, upto=upto, since=upto - timedelta(days=1))


def maintain_partitions(db: Database, *, move_limit: int = 500,
                        rollup: Callable[[Database, datetime], int] | None = _default_rollup) -> Outcome:
    """Keep partitions made ahead, move rows out of default partitions, apply retention.

    1. Rows found in a default partition are moved into the partition of their period (created for it),
       one period per transaction; a period that cannot be moved is reported, never fatal.
    2. Every policy table gets partitions from the current period to ``partition_policies.ahead``
       periods after it (defaults: 3 months for check_ins and event_stream, 7 days for
       query_performance_log).
    3. Partitions older than ``partition_policies.retention`` (query_performance_log: 30 days) are
       dropped, each only after ``rollup(db, upto=<its range end>)`` ran and every hour of it holding
       rows is marked rolled into the hourly histograms (``query_perf_rollups``); a partition with hours
       left unrolled is kept and listed under ``kept``. Without a rollup, retention is skipped.
    """
    details: dict[str, Any] = {"moved": [], "move_problems": [], "created": [], "dropped": [], "kept": [],
                               "retention_problems": [], "ahead_problems": []}

    # 1. default partitions
    periods = db.run("maintenance.default_partition_periods", {"limit": move_limit})
    moved_rows = 0
    for p in periods:
        problem = None
        try:
            res = db.one("maintenance.move_default_rows", {"parent": p["parent_table"], "at": p["period_start"]})
            n = int(res["rows_moved"])
            if n < 0:
                problem = (f"a table named {res['partition_name']} exists but is not a partition of "
                           f"{p['parent_table']}; its rows stay in the default partition")
        except QueryError as exc:
            problem = str(exc)
        if problem:
            details["move_problems"].append({"table": p["parent_table"], "period_start": p["period_start"],
                                             "rows": p["row_count"], "error": problem})
            log.warning("could not move %s rows of %s out of the default partition (period %s): %s",
                        p["row_count"], p["parent_table"], p["period_start"], problem)
            continue
        moved_rows += max(n, 0)
        details["moved"].append({"table": p["parent_table"], "period_start": p["period_start"], "rows": max(n, 0)})
        log.warning("moved %s rows of %s out of its default partition into the partition of %s",
                    n, p["parent_table"], p["period_start"])
    details["default_periods_left"] = max(0, len(periods) - len(details["moved"])) if len(periods) == move_limit else 0

    # 2. partitions ahead
    policies = db.run("maintenance.partition_policies")
    for pol in policies:
        try:
            made = db.run("maintenance.ensure_partitions_ahead", {"parent": pol["parent_table"], "ahead": pol["ahead"]})
        except QueryError as exc:
            details["ahead_problems"].append({"table": pol["parent_table"], "error": str(exc)})
            continue
        for m in made:
            if m["created"]:
                details["created"].append(m["partition_name"])
                moved_rows += int(m["rows_moved"] or 0)

    # 3. retention
    expired = db.run("maintenance.expired_partitions")
    if expired and rollup is None:
        details["retention_problems"].append({"error": "no histogram rollup available; nothing dropped"})
    elif expired:
        for part in expired:
            try:
                rollup(db, part["range_end"])
            except QueryError as exc:
                details["retention_problems"].append(
                    {"partition": part["partition_name"], "error": f"rollup failed, partition kept: {exc}"})
                break
            if part["parent_table"] == "query_performance_log":
                left = int(db.scalar("maintenance.unrolled_hours",
                                     {"start": part["range_start"], "end": part["range_end"]}) or 0)
                if left:
                    details["kept"].append({"partition": part["partition_name"],
                                            "reason": f"{left} hour(s) with rows not rolled into the histograms"})
                    continue
            try:
                db.run("maintenance.drop_expired_partition",
                       {"parent": part["parent_table"], "partition": part["partition_name"]})
            except QueryError as exc:
                details["retention_problems"].append({"partition": part["partition_name"], "error": str(exc)})
                continue
            details["dropped"].append(part["partition_name"])

    rows = moved_rows + len(details["created"]) + len(details["dropped"])
    summary = (f"{len(details['created'])} partitions created, {moved_rows} rows moved out of default partitions"
               f" ({len(details['move_problems'])} periods could not be moved), {len(details['dropped'])} expired"
               f" partitions dropped ({len(details['kept'])} kept: hours not rolled up)")
    if details["ahead_problems"] or details["retention_problems"]:
        problems = details["ahead_problems"] + details["retention_problems"]
        raise MaintenanceError(f"{summary}; problems: {problems[0]['error']}", {**details, "summary": summary})
    return Outcome(rows, summary, details)


# -- reconcile_counters ----------------------------------------------------------------------------------


def _repair_locked(db: Database, lock: str, repair: str, ids: list[Any]) -> set[Any]:
    """Lock the rows, then recount in a new statement: every change committed before the lock is counted,
    every later one waits and applies its increment on top of the repaired value."""
    if not ids:
        return set()
    with db.connection() as conn:
        run_on(conn, lock, {"ids": ids})
        return {r["id"] for r in run_on(conn, repair, {"ids": ids})}


def reconcile_counters(db: Database, *, run_id: int | None = None, repair: bool = True,
                       detail_limit: int = 1000) -> Outcome:
    """Compare every denormalized number with a recount, repair the drifted ones, record what was found.

    Kinds: ``venue_counters`` (venues' check-in counters), ``flash_offer_counters`` (claimed, redeemed,
    view and click counts), ``venue_interactions`` (rows differing, missing or superfluous). Each kind is
    detected in one snapshot, repaired in its own transaction under row (or pair) locks, and written to
    ``counter_drift`` (at most ``detail_limit`` rows per kind per run; the counts are always complete).
    """
    venues = db.run("maintenance.venue_counter_drift")
    offers = db.run("maintenance.offer_counter_drift")
    pairs = db.run("maintenance.interaction_drift")

    fixed_venues: set[Any] = set()
    fixed_offers: set[Any] = set()
    fixed_pairs: set[tuple[Any, Any]] = set()
    if repair:
        fixed_venues = _repair_locked(db, "maintenance.lock_venues", "maintenance.repair_venue_counters",
                                      [r["venue_id"] for r in venues])
        fixed_offers = _repair_locked(db, "maintenance.lock_offers", "maintenance.repair_offer_counters",
                                      [r["offer_id"] for r in offers])
        if pairs:
            synced = db.run("maintenance.repair_interactions", {"users": [p["user_id"] for p in pairs],
                                                                "venues": [p["venue_id"] for p in pairs]})
            fixed_pairs = {(r["user_id"], r["venue_id"]) for r in synced}

    found = {
        "venue_counters": [{"entity": {"venue_id": r["venue_id"]}, "stored": r["stored"], "expected": r["expected"],
                            "repaired": r["venue_id"] in fixed_venues} for r in venues],
        "flash_offer_counters": [{"entity": {"offer_id": r["offer_id"]}, "stored": r["stored"],
                                  "expected": r["expected"], "repaired": r["offer_id"] in fixed_offers}
                                 for r in offers],
        "venue_interactions": [{"entity": {"user_id": r["user_id"], "venue_id": r["venue_id"]}, "stored": r["stored"],
                                "expected": r["expected"], "repaired": (r["user_id"], r["venue_id"]) in fixed_pairs}
                               for r in pairs],
    }
    details: dict[str, Any] = {}
    for kind in DRIFT_KINDS:
        items = found[kind]
        details[kind] = {"drifted": len(items), "repaired": sum(1 for i in items if i["repaired"]),
                         "recorded": min(len(items), detail_limit)}
        if items:
            db.run("maintenance.record_drift", {"run_id": run_id, "kind": kind, "rows": jsonb(items[:detail_limit])})
            log.warning("reconcile_counters: %d %s drifted (%d repaired)", len(items), kind,
                        details[kind]["repaired"])
    total = sum(d["drifted"] for d in details.values())
    repaired = sum(d["repaired"] for d in details.values())
    kinds = ", ".join(f"{d['drifted']} {k}" for k, d in details.items() if d["drifted"])
    summary = "no drift" if total == 0 else f"{total} drifted ({kinds}), {repaired} repaired"
    return Outcome(total, summary, details)


# -- expiry ----------------------------------------------------------------------------------------------


def expire_claims(db: Database, *, limit: int = 10_000) -> Outcome:
    """Active claims whose expires_at has passed become 'expired' (at most ``limit`` per call)."""
    n = len(db.run("maintenance.expire_claims", {"limit": limit}))
    return Outcome(n, f"{n} claims expired", {"expired": n, "limit_reached": n >= limit})


def expire_notifications(db: Database, *, limit: int = 10_000) -> Outcome:
    """Notifications whose expires_at has passed get is_expired = true (at most ``limit`` per call)."""
    n = len(db.run("maintenance.expire_notifications", {"limit": limit}))
    return Outcome(n, f"{n} notifications expired", {"expired": n, "limit_reached": n >= limit})


# -- send_offer_pushes -----------------------------------------------------------------------------------


def send_offer_push(db: Database, offer_id: Any) -> int | None:
    """Send one offer's push: None when it is not due or another run sent it, else the recipient count.

    One transaction: flipping ``push_sent`` (only where it is still false) is the lock, so of two
    overlapping runs exactly one inserts the notifications and sets ``push_recipient_count``.
    """
    with db.connection() as conn:
        if not run_on(conn, "maintenance.claim_offer_push", {"offer_id": offer_id}):
            return None
        inserted = run_on(conn, "maintenance.insert_offer_notifications", {"offer_id": offer_id})
        run_on(conn, "maintenance.set_push_recipient_count", {"offer_id": offer_id, "count": len(inserted)})
        return len(inserted)


def send_offer_pushes(db: Database, *, limit: int = 100) -> Outcome:
    """Offers that have started (and not ended) and were never pushed: a notification per recipient
    (``flash_offer_recipients``) on the channels their settings allow; push_sent, push_sent_at and
    push_recipient_count set once."""
    due = db.run("maintenance.due_offer_pushes", {"limit": limit})
    sent: list[dict[str, Any]] = []
    taken = 0
    for offer in due:
        n = send_offer_push(db, offer["id"])
        if n is None:
            taken += 1
            continue
        sent.append({"offer_id": offer["id"], "recipients": n})
    notifications = sum(s["recipients"] for s in sent)
    return Outcome(notifications, f"{len(sent)} offers pushed to {notifications} recipients",
                   {"offers": sent, "already_sent_by_another_run": taken})


# -- probe_queries ---------------------------------------------------------------------------------------

# The app's key read queries, probed on a schedule so latency history exists without live traffic:
# name -> its parameters, built from a representative sample (the busiest venue, a user, the latest
# offer) at probe time. Names not (or no longer) in the registry are skipped.
def _probe_params(s: Mapping[str, Any], t: datetime) -> dict[str, dict[str, Any]]:
    week, venue = t - timedelta(days=7), s.get("venue_id")
    return {
        "health.ping": {},
        "venues.featured": {"limit": 20},
        "venues.with_details": {"venue_ids": [venue] if venue else [], "viewer_id": s.get("user_id")},
        "feed.activity": {"viewer_id": s.get("user_id"), "since": week, "before_at": t, "before_id": None,
                          "limit": 50},
        "venue_stats.page": {"q": "", "category": None, "sort": "engagement_score", "descending": True,
                             "limit": 50, "offset": 0},
        "venue_stats.leaderboard": {"category": None, "limit": 20},
        "venue_stats.live_counters": {"venue_id": venue},
        "offers.list": {"from": week, "to": t + timedelta(days=1), "venue_id": None, "limit": 100},
        "offers.funnel": {"from": t - timedelta(days=30), "to": t, "venue_id": None, "offer_id": None,
                          "top": 25, "best": 5, "min_viewers": 5},
        "overview.kpis": {"now": None},
    }


PROBE_QUERIES: tuple[str, ...] = tuple(_probe_params({}, datetime.now(UTC)))

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def probe_queries(db: Database, names: Sequence[str] | None = None) -> Outcome:
    """Run each registered read query of ``names`` (default :data:`PROBE_QUERIES`) once, bypassing the
    cache, with representative parameters; the runner records their timings like live traffic. A probe
    that fails fails the run (listing every failure); names not registered, not reads, or whose
    parameters no longer match what the probe supplies are skipped and listed."""
    reg = registry()
    params = _probe_params(db.one("maintenance.probe_sample") or {}, datetime.now(UTC))
    ran: list[str] = []
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    for name in names or PROBE_QUERIES:
        q = reg.get(name)
        if q is None:
            skipped[name] = "not registered"
            continue
        if q.kind != "read":
            skipped[name] = f"kind {q.kind}, probes run reads only"
            continue
        if name not in params:
            skipped[name] = "no representative parameters for it"
            continue
        missing = sorted(set(_PLACEHOLDER.findall(q.sql)) - params[name].keys())
        if missing:
            skipped[name] = f"needs parameters {', '.join(missing)}"
            continue
        try:
            db.run(name, params[name], cache=False)
        except QueryError as exc:
            failed[name] = str(exc)
            continue
        ran.append(name)
    details = {"ran": ran, "skipped": skipped, "failed": failed}
    summary = f"{len(ran)} queries probed, {len(skipped)} skipped, {len(failed)} failed"
    if failed:
        raise MaintenanceError(f"{summary}: {next(iter(failed.values()))}", {**details, "summary": summary})
    return Outcome(len(ran), summary, details)


# -- query statistics (the performance module's work, wrapped as outcomes) ------------------------------


def snapshot_stat_statements(db: Database) -> Outcome:
    n = performance.snapshot_stat_statements(db)
    return Outcome(int(n or 0), f"{n} pg_stat_statements rows snapshotted", {"rows": n})


# -- the jobs' role ------------------------------------------------------------------------------------


def check_privileges(db: Database) -> Outcome:
    """The jobs' role's privilege checklist, kept in the run's details for the Jobs & health page (whose
    read-only role cannot examine the jobs' role itself)."""
    from venuepulse.queries.access import privileges

    report = privileges.checklist(db)
    missing = [c["label"] for c in privileges.missing_needed(report) + privileges.degraded(report)]
    summary = (f"role {report['role']}: {sum(1 for c in report['checks'] if c['ok'])} of "
               f"{len(report['checks'])} available" + (f"; missing: {', '.join(missing)}" if missing else ""))
    return Outcome(len(report["checks"]), summary, {"privileges": report})


def rollup_query_histograms(db: Database) -> Outcome:
    n = performance.rollup_histograms(db)
    return Outcome(int(n or 0), f"{n} hourly histogram rows rolled up", {"rows": n})

