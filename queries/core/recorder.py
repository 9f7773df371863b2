"""Off-path timing recorder: named-query timings go to ``query_performance_log`` in COPY batches.

``Recorder.add`` is what the query path pays: one tuple appended to a bounded deque under a lock
(about a microsecond). A daemon thread wakes every ``flush_interval`` seconds, or as soon as
``batch_size`` entries wait, and writes them with one ``COPY`` on its own connection. The recorder
never raises into the caller and never blocks on the database: when the buffer is full the oldest
entry is dropped and counted (``dropped``); when the database is unreachable the batch is counted
as ``failed`` and dropped (timings are telemetry, not data), and the thread retries with backoff.
``close()`` (also run at interpreter exit) flushes what is left. The recorder's own writes go
through its private connection, not through ``Database.run``, so they are never recorded themselves.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from venuepulse.config import normalize_url
from venuepulse.errors import error_line
from venuepulse.queries.core.registry import get

log = logging.getLogger(__name__)

_NAME_MAX = 100  # query_performance_log.query_name is varchar(100)
_live: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _uuid_or_none(value: Any) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


class Recorder:
    """Bounded buffer of ``(query_name, elapsed_ms, row_count, user_id, created_at)`` with a writer thread."""

    def __init__(self, url: str, *, capacity: int = 50_000, batch_size: int = 2_000,
                 flush_interval: float = 1.0, application_name: str = "venuepulse-recorder"):
        if capacity < 1 or batch_size < 1 or flush_interval <= 0:
            raise ValueError("recorder capacity and batch size must be positive, flush interval above 0")
        self.url = normalize_url(url)
        self.capacity = capacity
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.application_name = application_name
        self._buf: deque[tuple] = deque(maxlen=capacity)
        self._lock = threading.Lock()          # guards the buffer and the counters
        self._write_lock = threading.Lock()    # one writer at a time (thread or explicit flush)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        self._retry_at = 0.0
        self._backoff = 0.5
        self._copy_sql = get("performance.copy_log").sql
        self.recorded = 0
        self.written = 0
        self.dropped = 0
        self._dropped_said = 0  # drops already logged: each new run of them gets one warning
        self.failed = 0
        self.batches = 0
        self.last_error: str | None = None
        self.closed = False
        _live.add(self)

    # -- the caller's path -----------------------------------------------------------------------------

    def add(self, query_name: str, elapsed_ms: float, row_count: int | None = None, user_id: Any = None) -> None:
        """Buffer one timing. Never raises, never waits for the database."""
        try:
            item = (query_name, elapsed_ms, row_count, user_id, time.time())
            with self._lock:
                if len(self._buf) == self.capacity:
                    self.dropped += 1  # deque(maxlen) drops the oldest on append
                self._buf.append(item)
                self.recorded += 1
                pending = len(self._buf)
            if self._thread is None and not self.closed:
                self._start()
            if pending >= self.batch_size:
                self._wake.set()
        except Exception:  # recording must never fail the query it measures
            log.debug("query timing not recorded", exc_info=True)

    # -- writing ---------------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self.closed:
                return
            self._thread = threading.Thread(target=self._loop, name="venuepulse-recorder", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            if time.monotonic() >= self._retry_at:
                self._flush_once()

    def _take(self) -> list[tuple]:
        with self._lock:
            items = list(self._buf)
            self._buf.clear()
        return items

    @staticmethod
    def _row(item: tuple) -> tuple:
        name, ms, rows, user, at = item
        name = str(name)[:_NAME_MAX]
        try:
            ms = max(float(ms), 0.0)
        except (TypeError, ValueError):
            ms = 0.0
        if rows is not None:
            try:
                rows = max(int(rows), 0)
            except (TypeError, ValueError):
                rows = None
        return (name, ms, rows, _uuid_or_none(user), datetime.fromtimestamp(at, UTC))

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, connect_timeout=5, application_name=self.application_name)
        return self._conn

    def _say_drops(self) -> None:
        """A warning for timings dropped since the last one (the buffer was full): counted in ``stats()`` and
        said in the log, never silent."""
        with self._lock:
            new, self._dropped_said = self.dropped - self._dropped_said, self.dropped
        if new:
            log.warning("query timing buffer full (%d entries): dropped the %d oldest timings (%d in all) while "
                        "the database was slow or unreachable", self.capacity, new, self.dropped)

    def _flush_once(self) -> int:
        """Write everything buffered now; returns rows written (0 on failure, which is counted)."""
        self._say_drops()
        with self._write_lock:
            items = self._take()
            if not items:
                return 0
            try:
                conn = self._connection()
                with conn.cursor() as cur, cur.copy(self._copy_sql) as copy:
                    for item in items:
                        copy.write_row(self._row(item))
                conn.commit()
            except Exception as exc:  # the database is down, or a row was refused
                with self._lock:
                    self.failed += len(items)
                    self.last_error = error_line(exc)
                log.warning("could not write %d query timings: %s", len(items), self.last_error)
                self._drop_connection()
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, 30.0)
                return 0
            self._backoff = 0.5
            with self._lock:
                self.written += len(items)
                self.batches += 1
            return len(items)

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def flush(self) -> int:
        """Write what is buffered now, in this thread; returns rows written."""
        self._retry_at = 0.0
        return self._flush_once()

    def close(self) -> None:
        """Stop the writer thread, write what is left, close the connection. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
        self._drop_connection()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "buffered": len(self._buf),
                "capacity": self.capacity,
                "recorded": self.recorded,
                "written": self.written,
                "dropped": self.dropped,
                "failed": self.failed,
                "batches": self.batches,
                "last_error": self.last_error,
            }


@atexit.register
def _close_all() -> None:
    for rec in list(_live):
        try:
            rec.close()
        except Exception:
            log.debug("recorder not flushed at exit", exc_info=True)
