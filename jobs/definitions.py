"""The scheduled jobs: each one a thin call into ``queries``, with its default schedule and grace time.

A schedule is ``interval:<seconds>`` (or ``interval:5m`` / ``interval:1h``), ``cron:<5-field crontab, UTC>``
or ``off``; ``VENUEPULSE_JOB_<NAME>`` overrides a job's default (see docs/jobs.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from venuepulse.errors import ConfigError
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import alerts, changes, maintenance, outbox, plans, waits
from venuepulse.queries.ops.maintenance import Outcome


@dataclass(frozen=True)
class JobContext:
    """What a job knows about its own run."""

    name: str
    run_id: int | None
    scheduled_at: datetime | None
    trigger: str  # "schedule" or "manual"
    # set when the jobs process is stopping: a long-running job (sample_waits) ends early on it
    stop: threading.Event | None = None


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[Database, JobContext], Outcome]
    schedule: str  # default schedule
    grace_seconds: int  # a run starting later than this after its time is missed (and coalesced)
    description: str


def _spec(name: str, schedule: str, grace: int, description: str):
    def register(func: Callable[[Database, JobContext], Outcome]) -> Callable[[Database, JobContext], Outcome]:
        JOBS[name] = JobSpec(name, func, schedule, grace, description)
        return func

    return register


JOBS: dict[str, JobSpec] = {}


def get_job(name: str, jobs: Mapping[str, JobSpec] | None = None) -> JobSpec:
    """The job called ``name`` (among ``jobs``, default every job); a ConfigError listing them if none is."""
    jobs = JOBS if jobs is None else jobs
    spec = jobs.get(name)
    if spec is None:
        raise ConfigError(f"no job named {name!r}; jobs are {', '.join(jobs)}.")
    return spec


@_spec("refresh_venue_stats", "interval:300", 240,
       "venue_stats brought current: the changes since its last fold applied (fold_rollups does it too)")
def refresh_venue_stats(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.refresh_venue_stats(db)


@_spec("fold_rollups", "interval:15", 10,
       "the change log folded into the rollups the pages read (activity, pairs, venue_stats); its lag shows here")
def fold_rollups(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.fold_rollups(db)


@_spec("reconcile_rollups", "interval:3600", 1800,
       "venue_stats compared with a full recount in the same snapshot; drift listed and repaired")
def reconcile_rollups(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.reconcile_rollups(db)


@_spec("maintain_partitions", "interval:3600", 1800,
       "partitions made ahead per partition_policies, rows in default partitions moved out, retention applied "
       "to query_performance_log after its hours are rolled into the histograms")
def maintain_partitions(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.maintain_partitions(db)


@_spec("reconcile_counters", "interval:3600", 1800,
       "every denormalized number compared with a recount; drift repaired and recorded in counter_drift")
def reconcile_counters(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.reconcile_counters(db, run_id=ctx.run_id)


@_spec("expire_claims", "interval:60", 50, "active flash-offer claims past expires_at become expired")
def expire_claims(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.expire_claims(db)


@_spec("expire_notifications", "interval:60", 50, "notifications past expires_at get is_expired")
def expire_notifications(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.expire_notifications(db)


@_spec("send_offer_pushes", "interval:60", 50,
       "offers that have started: a notification per recipient on the channels they allow, push sent once")
def send_offer_pushes(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.send_offer_pushes(db)


@_spec("snapshot_stat_statements", "interval:300", 240,
       "a snapshot of pg_stat_statements (where the extension is loaded)")
def snapshot_stat_statements(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.snapshot_stat_statements(db)


@_spec("snapshot_schema", "interval:300", 240,
       "catalog definitions (tables, columns, indexes, functions) compared with the last snapshot; changes recorded "
       "as change markers where no event trigger records DDL as it happens (the first run sets the baseline)")
def snapshot_schema(db: Database, ctx: JobContext) -> Outcome:
    n = changes.snapshot_schema(db)
    return Outcome(n, f"{n} schema change(s) recorded as change markers", {"changes": n})


@_spec("sample_waits", "interval:60", 50,
       "pg_stat_activity sampled every VENUEPULSE_WAIT_SAMPLE_INTERVAL (5 s) for most of the minute: each active "
       "session's wait event added to wait_samples under its named query (one statement per sample)")
def sample_waits(db: Database, ctx: JobContext) -> Outcome:
    return waits.sample_waits(db, manual=ctx.trigger == "manual", stop=ctx.stop)


@_spec("rollup_query_histograms", "interval:900", 600,
       "completed hours of query_performance_log rolled into per-query latency histograms")
def rollup_query_histograms(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.rollup_query_histograms(db)


@_spec("check_privileges", "interval:3600", 1800,
       "what the jobs' database role may do (the checklist of venuepulse db status), kept for the Jobs & health page")
def check_privileges(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.check_privileges(db)


@_spec("capture_plans", "interval:600", 500,
       "the generic plan of every registered read query EXPLAINed and its shape fingerprinted; a fingerprint "
       "differing from the query's previous one is recorded as a plan change (Query performance shows it)")
def capture_plans(db: Database, ctx: JobContext) -> Outcome:
    return plans.capture_job(db)


@_spec("probe_queries", "interval:60", 50,
       "the app's key read queries run once each, so latency history exists without live traffic")
def probe_queries(db: Database, ctx: JobContext) -> Outcome:
    return maintenance.probe_queries(db)


@_spec("evaluate_alerts", "interval:60", 50,
       "alert rules evaluated (pending and keep-firing periods); each state change and its notifications written "
       "in one transaction to alert_events and the outbox")
def evaluate_alerts(db: Database, ctx: JobContext) -> Outcome:
    return alerts.evaluate_job(db)


@_spec("deliver_notifications", "interval:30", 25,
       "due notifications in the outbox sent to their webhook and e-mail channels, in order per channel; every "
       "attempt recorded, failures retried with backoff")
def deliver_notifications(db: Database, ctx: JobContext) -> Outcome:
    return outbox.deliver_job(db)


@_spec("send_owner_reports", "cron:0 7 * * 1", 86400,
       "owners' weekly report: each subscribed owner's offer funnels of the last complete week (CSV attached), "
       "read through the owners' row-level-security role, written once per owner and week to the outbox and "
       "delivered by e-mail; skipped (and recorded) when nothing ran")
def send_owner_reports(db: Database, ctx: JobContext) -> Outcome:
    from venuepulse.queries.ops import owner_reports

    return owner_reports.send_job(db, run_id=ctx.run_id)
