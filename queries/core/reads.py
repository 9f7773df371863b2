"""Reads routed to a streaming replica, falling back to the primary while it is unreachable.

:class:`ReadRouter` looks like a :class:`~venuepulse.queries.core.runner.Database` to the pages (``run``,
``one``, ``scalar``; other attributes come from the database it reads from now). Both of its databases
connect as the same read role (the replica replicates the cluster's roles), and both record their timings
through the primary's recorder role, since a standby accepts no writes.

While the replica answers, every read goes there. When it does not (connection refused, lost, pool
exhausted), the router marks it down for ``retry_after`` seconds and reads from the primary (``fallback``)
or raises :class:`ReplicaUnavailable`; after that window one direct connection probes it again, so a down
replica never costs each page a connection timeout. :meth:`ReadRouter.status` says which server answers
and, for a replica, how far behind it is (``replication.lag``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from venuepulse.errors import DatabaseUnavailable, QueryError, describe_url
from venuepulse.queries.core.connect import connect
from venuepulse.queries.core.execute import execute
from venuepulse.queries.core.runner import Database, RowShortcuts

log = logging.getLogger(__name__)

# SQLSTATE classes meaning "this server is not serving you": connection exception, operator intervention
# (shutdown, "the database system is starting up"), and a database dropped under the standby's sessions.
_UNAVAILABLE_STATES = ("08", "57P")


class _Down(Exception):
    """The replica did not answer (internal to ReadRouter)."""


class ReplicaUnavailable(DatabaseUnavailable):
    """The read replica is unreachable and falling back to the primary is turned off (read_fallback = false)."""


@dataclass(frozen=True)
class ReadStatus:
    """Where reads go now. ``source``: ``replica``, ``fallback`` (replica down, reading the primary),
    ``refused`` (replica down, no fallback) or ``primary`` (no replica configured)."""

    source: str
    replica: str | None = None  # host/port/db of the replica, for messages (never credentials)
    lag_seconds: float | None = None
    replay_behind_bytes: int | None = None
    replayed_commit_at: datetime | None = None
    replay_lsn: str | None = None
    receive_lsn: str | None = None
    in_recovery: bool | None = None
    checked_at: float = field(default_factory=time.monotonic)
    reason: str | None = None  # why the replica is not used

    @property
    def from_replica(self) -> bool:
        return self.source == "replica"

    def describe(self) -> str:
        """One sentence for the page's "as of" line."""
        from venuepulse.durations import format_duration

        if self.source == "primary":
            return "Read from the primary."
        if self.source == "replica":
            if self.in_recovery is False:
                return f"Read from {self.replica}, which is not a standby (promoted?): no replication lag to show."
            if self.lag_seconds is None:
                return f"Read from the replica {self.replica}; its lag is unknown (nothing replayed yet)."
            lag = "0 s" if self.lag_seconds < 0.001 else (
                f"{self.lag_seconds:.1f} s" if self.lag_seconds < 60 else format_duration(self.lag_seconds))
            behind = "" if not self.replay_behind_bytes else f", {self.replay_behind_bytes:,} bytes of WAL to replay"
            return f"Read from the replica {self.replica}, {lag} behind the primary{behind}."
        if self.source == "fallback":
            return (f"The read replica {self.replica} is unreachable ({self.reason}): read from the primary "
                    "instead.")
        return f"The read replica {self.replica} is unreachable ({self.reason}) and read_fallback is off."


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, QueryError):
        state = getattr(exc.original, "sqlstate", None) or ""
        return state.startswith(_UNAVAILABLE_STATES)
    return False


class ReadRouter(RowShortcuts):
    """Run named queries on ``replica`` (a Database), or on ``primary`` while the replica is down."""

    def __init__(self, primary: Database, replica: Database | None, *, fallback: bool = True,
                 retry_after: float = 10.0, probe_timeout: int = 3, status_ttl: float = 1.0):
        self.primary = primary
        self.replica = replica
        self.fallback = fallback
        self.retry_after = retry_after
        self.probe_timeout = probe_timeout
        self.status_ttl = status_ttl
        self._lock = threading.Lock()
        # monotonic; 0 while the replica is thought up. It starts "down until now": the first read probes it
        # with one direct connection, so a replica that is down from the start never costs a pool timeout.
        self._down_until = time.monotonic() if replica is not None else 0.0
        self._reason: str | None = None
        self._status: ReadStatus | None = None
        self.served = {"replica": 0, "primary": 0}  # reads answered by each server, for tests and the page

    # -- the Database surface ------------------------------------------------------------------------------

    def run(self, name: str, params: Any = None, **kw: Any) -> list[dict[str, Any]]:
        if self.replica is not None and self._replica_usable():
            try:
                rows = self.replica.run(name, params, **kw)
            except (DatabaseUnavailable, QueryError) as exc:
                if not _unavailable(exc):
                    raise
                # a pooled connection left broken by a replica restart fails once though the server is back
                if not self._probe():
                    return self._on_primary(name, params, kw)
                try:
                    rows = self.replica.run(name, params, **kw)
                except (DatabaseUnavailable, QueryError) as again:
                    if not _unavailable(again):
                        raise
                    self._mark_down(again)
                    return self._on_primary(name, params, kw)
            self.served["replica"] += 1
            return rows
        return self._on_primary(name, params, kw)

    def __getattr__(self, item: str) -> Any:
        # explain, cache_stats, recorder_stats, ...: of the server that answers reads now
        if item.startswith("_"):
            raise AttributeError(item)
        return getattr(self.current(), item)

    def current(self) -> Database:
        """The database reads go to now (the primary while the replica is down, or when there is none)."""
        if self.replica is not None and self._replica_usable(probe=False):
            return self.replica
        return self.primary

    def close(self) -> None:
        for db in (self.replica, self.primary):
            if db is not None:
                db.close()

    # -- state ---------------------------------------------------------------------------------------------

    def status(self) -> ReadStatus:
        """Where reads go now and the replica's lag (cached for ``status_ttl`` seconds). Never raises."""
        if self.replica is None:
            return ReadStatus("primary")
        with self._lock:
            cached = self._status
        if cached is not None and time.monotonic() - cached.checked_at < self.status_ttl:
            return cached
        where = describe_url(self.replica.url)
        if self._replica_usable():
            try:
                row = self._lag_row()
            except _Down:
                return self._down_status()
            row = row or {}  # it answers, but its lag could not be read: shown as unknown
            status = ReadStatus("replica", where, lag_seconds=row.get("lag_seconds"),
                                replay_behind_bytes=row.get("replay_behind_bytes"),
                                replayed_commit_at=row.get("replayed_commit_at"), replay_lsn=row.get("replay_lsn"),
                                receive_lsn=row.get("receive_lsn"), in_recovery=row.get("in_recovery"))
        else:
            status = self._down_status()
        with self._lock:
            self._status = status
        return status

    def _lag_row(self) -> dict[str, Any] | None:
        """The replica's ``replication.lag`` row; None when it answers but that query failed; raises
        :class:`_Down` (and marks it down) when it does not answer."""
        for attempt in (1, 2):
            try:
                return self.replica.one("replication.lag", cache=False)
            except (DatabaseUnavailable, QueryError) as exc:
                if not _unavailable(exc):
                    log.warning("replica lag not read: %s", exc)
                    return None
                # first failure: maybe a pooled connection broken by a restart; a probe tells
                if attempt == 2 or not self._probe():
                    self._mark_down(exc)
                    raise _Down from exc
        return None

    def _down_status(self) -> ReadStatus:
        status = ReadStatus("fallback" if self.fallback else "refused", describe_url(self.replica.url),
                            reason=self._reason or "not reachable")
        with self._lock:
            self._status = status
        return status

    def refusal(self) -> ReplicaUnavailable:
        return ReplicaUnavailable(
            f"the read replica at {describe_url(self.replica.url)} is not reachable ({self._reason or 'unknown'}), "
            "and read_fallback is off, so the dashboard does not read from the primary instead")

    def _replica_usable(self, probe: bool = True) -> bool:
        with self._lock:
            down_until = self._down_until
        if not down_until:
            return True
        if time.monotonic() < down_until or not probe:
            return False
        return self._probe()

    def _probe(self) -> bool:
        """One direct connection to the replica: True (and marked up) when it answers."""
        try:
            with connect(self.replica.url, autocommit=True, connect_timeout=self.probe_timeout) as conn:
                execute(conn, "replication.in_recovery")
        except Exception as exc:  # any failure means: not usable now
            self._mark_down(exc)
            return False
        with self._lock:
            if self._down_until:
                log.info("read replica %s reachable: reads go there", describe_url(self.replica.url))
            self._down_until = 0.0
            self._reason = None
            self._status = None
        return True

    def _mark_down(self, exc: BaseException) -> None:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        with self._lock:
            first = not self._down_until
            self._down_until = time.monotonic() + self.retry_after
            self._reason = reason
            self._status = None
        if first:
            log.warning("read replica %s unreachable (%s); %s", describe_url(self.replica.url), reason,
                        "reading from the primary" if self.fallback else "refusing reads (read_fallback off)")

    def _on_primary(self, name: str, params: Any, kw: dict[str, Any]) -> list[dict[str, Any]]:
        if self.replica is not None and not self.fallback:
            raise self.refusal()
        rows = self.primary.run(name, params, **kw)
        self.served["primary"] += 1
        return rows
