"""The notification outbox: producers write a row in their own transaction, :func:`deliver` sends it after.

- **Producers.** Alert evaluation writes its rows in the transaction that records the state change
  (``alerts.enqueue``); anything else (a channel test, the owners' weekly report) calls :func:`enqueue` with a
  unique idempotency key, on its own connection or inside its own transaction.
- **Order.** Per channel, rows go out one at a time in id order; a row waiting for a retry holds back the
  later rows of its channel only.
- **Exclusion.** A session advisory lock per channel: two deliverers never send on one channel at once.
- **Attempts.** Each attempt is written and committed *before* the send and completed after it, so an
  attempt cut short by a crash stays visible (``finished_at`` NULL) and the row is sent again.
- **Guarantee.** At least once on the wire, exactly once in the outbox: a process killed after the receiver
  got a message and before it recorded the success sends it again; the receiver recognises the repeat by its
  idempotency key (``X-VenuePulse-Delivery``, the e-mail's ``Message-ID``). docs/alerts.md says more.
- **Retries.** Exponential backoff (30 s doubling, at most 15 min) until ``give_up_after_s`` (default 24 h)
  after the row was written; an answer that rejects the message itself (HTTP 400/413/415/422, SMTP 5xx on
  the sender or the data) fails it at once. Either way the row ends ``failed`` with the reason.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import delivery
from venuepulse.queries.ops.job_runs import dedicated_connection, jsonb, run_on

BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 15 * 60.0
GIVE_UP_AFTER_S = 24 * 3600.0
PER_CHANNEL_LIMIT = 200  # rows one run sends per channel; the rest wait for the next run

Sender = Callable[[str, Mapping[str, Any], Mapping[str, Any], delivery.Message], delivery.SendResult]


def backoff(attempts: int, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: base, 2×base, 4×base … capped."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempts - 1)))


def enqueue(conn: psycopg.Connection, *, key: str, channel_id: int, message: delivery.Message,
            source: str = "report", subject: str = "", at: datetime | None = None) -> int | None:
    """Write one notification for channel ``channel_id`` (inside the caller's transaction, if any).

    Returns its id, or None when a row with ``key`` exists already (the producer ran twice) or the channel
    does not exist. ``message.key`` is replaced by ``key``.
    """
    at = at or datetime.now(UTC)
    rows = run_on(conn, "outbox.enqueue", {"key": key, "channel_id": channel_id, "source": source,
                                           "subject": subject, "payload": jsonb(message.payload()), "at": at})
    return rows[0]["id"] if rows else None


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    dropped: int = 0
    channels: int = 0
    busy_channels: list[str] = field(default_factory=list)  # another deliverer held them
    errors: list[dict[str, Any]] = field(default_factory=list)  # channel, outbox id, error (no secrets)

    @property
    def rows(self) -> int:
        return self.delivered + self.failed

    def summary(self) -> str:
        text = (f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} given up "
                f"on {self.channels} channel(s)")
        if self.busy_channels:
            text += f"; {len(self.busy_channels)} channel(s) busy with another deliverer"
        return text


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def deliver(db: Database | str, *, now: datetime | None = None, channel: str | None = None,
            sender: Sender = delivery.send, limit_per_channel: int = PER_CHANNEL_LIMIT) -> DeliveryReport:
    """Send every due notification (of one channel when ``channel`` names it) and record each attempt.

    ``now`` decides what is due and when retries are; it defaults to the clock. Runs on a connection of its
    own (the channel locks are per session), so a killed process leaves nothing locked.
    """
    url = db if isinstance(db, str) else db.url
    now = now or datetime.now(UTC)
    report = DeliveryReport()
    worker = worker_name()
    with dedicated_connection(url, application_name="venuepulse-delivery") as conn:
        report.dropped = len(run_on(conn, "outbox.drop_orphans"))
        for ch in run_on(conn, "outbox.channels_due", {"now": now}):
            if channel is not None and ch["name"] != channel:
                continue
            report.channels += 1
            if not run_on(conn, "outbox.lock_channel", {"channel_id": ch["id"]})[0]["locked"]:
                report.busy_channels.append(ch["name"])
                continue
            try:
                _deliver_channel(conn, ch, now, worker, sender, limit_per_channel, report)
            finally:
                if not conn.closed:
                    run_on(conn, "outbox.unlock_channel", {"channel_id": ch["id"]})
    return report


def _deliver_channel(conn: psycopg.Connection, ch: Mapping[str, Any], now: datetime, worker: str,
                     sender: Sender, limit: int, report: DeliveryReport) -> None:
    found = run_on(conn, "alerts.channel_secrets", {"channel_id": ch["id"]})
    secrets = found[0]["secrets"] if found else {}
    settings = ch["settings"]
    give_up_after = timedelta(seconds=float(settings.get("give_up_after_s") or GIVE_UP_AFTER_S))
    for _ in range(limit):
        heads = run_on(conn, "outbox.head", {"channel_id": ch["id"]})
        if not heads or heads[0]["next_attempt_at"] > now:
            return
        row = heads[0]
        started = run_on(conn, "outbox.start_attempt", {"id": row["id"], "worker": worker})
        if not started:
            return  # no longer pending (removed meanwhile)
        attempt = started[0]
        message = delivery.Message.from_payload(row["idempotency_key"], row["payload"])
        result = sender(ch["kind"], settings, secrets, message)
        gave_up = not result.ok and (result.permanent or now - row["created_at"] >= give_up_after)
        with conn.transaction():
            run_on(conn, "outbox.finish_attempt", {"attempt_id": attempt["id"], "ok": result.ok,
                                                   "status_code": result.status_code, "error": result.error})
            if result.ok:
                run_on(conn, "outbox.delivered", {"id": row["id"]})
            elif gave_up:
                why = "rejected" if result.permanent else f"still failing after {give_up_after}"
                run_on(conn, "outbox.give_up", {"id": row["id"], "error": f"{why}: {result.error}"})
            else:
                run_on(conn, "outbox.retry_later", {"id": row["id"], "error": result.error,
                                                    "next_at": now + backoff(attempt["attempt"])})
        if result.ok:
            report.delivered += 1
            continue
        report.errors.append({"channel": ch["name"], "outbox_id": row["id"], "error": result.error})
        if gave_up:
            report.failed += 1
            continue  # the next one may go
        report.retrying += 1
        return  # keep the channel's order: nothing after it goes before it


def status(db: Database, ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Outbox rows (all, or those of ``ids``) with their delivery state."""
    return db.run("outbox.status", {"ids": ids})


def deliver_job(db: Database, now: datetime | None = None):
    """The ``deliver_notifications`` job: :func:`deliver` at the clock's time. A channel that is down is not a
    failure of the job (its notifications wait and are retried); its errors are in the details."""
    from venuepulse.queries.ops.maintenance import Outcome

    report = deliver(db, now=now)
    return Outcome(report.rows, report.summary(), {
        "delivered": report.delivered, "retrying": report.retrying, "failed": report.failed,
        "dropped": report.dropped, "busy_channels": report.busy_channels, "errors": report.errors[:20]})
