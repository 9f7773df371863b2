"""Named queries on pooled connections: venue scoping, result caching, timing into query_performance_log,
EXPLAIN of registered SQL. Each statement itself goes through :func:`queries.core.execute.execute`
(timeout, name tag, timing, error mapping).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from venuepulse.config import normalize_url
from venuepulse.errors import DatabaseUnavailable, QueryError, describe_url
from venuepulse.queries.core.cache import QueryCache, cache_key
from venuepulse.queries.core.execute import Record, execute, sql_statement
from venuepulse.queries.core.recorder import Recorder
from venuepulse.queries.core.registry import NamedQuery, get, positional

log = logging.getLogger(__name__)

Params = Mapping[str, Any] | None


def _scope_text(venue_scope: Sequence[UUID | str]) -> str:
    if isinstance(venue_scope, str | bytes):
        raise ValueError("venue_scope is a list of venue ids, not a single string")
    ids = []
    for v in venue_scope:
        try:
            ids.append(str(UUID(str(v))))
        except ValueError:
            raise ValueError(f"venue_scope holds {v!r}, which is not a venue id (uuid)") from None
    return ",".join(ids)


class RowShortcuts(ABC):
    """``one`` and ``scalar`` for anything with ``run(name, params, **kw)`` returning rows as dicts: the
    Database, the read router and the dashboard's scoped view of either."""

    @abstractmethod
    def run(self, name: str, params: Params = None, **kw: Any) -> list[dict[str, Any]]:
        """Rows of the named query, as dicts."""

    def one(self, name: str, params: Params = None, **kw: Any) -> dict[str, Any] | None:
        rows = self.run(name, params, **kw)
        return rows[0] if rows else None

    def scalar(self, name: str, params: Params = None, **kw: Any) -> Any:
        row = self.one(name, params, **kw)
        return next(iter(row.values())) if row else None


class Database(RowShortcuts):
    """A pool of connections to one PostgreSQL database, running named queries.

    ``venue_scope`` (a list of venue ids) runs a query with those ids set on the connection for the
    transaction (``venuepulse.venue_ids``), which row-level security uses to keep venue owners apart.

    ``record=False`` runs without timing anything into query_performance_log. ``cache_size`` bounds
    the result cache (entries); ``recorder_capacity`` bounds the timing buffer (entries).
    """

    def __init__(self, url: str, *, record: bool = True, min_size: int = 1, max_size: int = 8,
                 application_name: str = "venuepulse", cache_size: int = 1024,
                 recorder_capacity: int = 50_000, flush_interval: float = 1.0,
                 recorder_url: str | None = None):
        self.url = normalize_url(url)
        # timings may go through another role than the queries (the dashboard's readers may not write)
        self.recorder_url = normalize_url(recorder_url) if recorder_url else self.url
        self._pool = ConnectionPool(
            self.url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"application_name": application_name, "connect_timeout": 10},
            open=False,
            reconnect_timeout=30,
        )
        self._opened = False
        self.recording = record
        self._recorder_args = {"capacity": recorder_capacity, "flush_interval": flush_interval}
        self._recorder: Recorder | None = Recorder(self.recorder_url, **self._recorder_args) if record else None
        self._cache = QueryCache(cache_size)
        self._server_version: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def open(self) -> Database:
        if not self._opened:
            self._pool.open(wait=False)
            self._opened = True
            if self.recording and (self._recorder is None or self._recorder.closed):
                self._recorder = Recorder(self.recorder_url, **self._recorder_args)
        return self

    def close(self) -> None:
        """Flush recorded timings and close every connection."""
        if self._recorder is not None:
            self._recorder.close()
        if self._opened:
            self._pool.close()
            self._opened = False

    def __enter__(self) -> Database:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -----------------------------------------------------------------------------------------

    @contextmanager
    def connection(self, timeout: float = 15.0) -> Iterator[psycopg.Connection]:
        """A pooled connection (one transaction per ``with``); unavailability becomes DatabaseUnavailable."""
        self.open()
        try:
            with self._pool.connection(timeout=timeout) as conn:
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnavailable(
                f"could not get a connection to PostgreSQL at {describe_url(self.url)} within {timeout:g}s"
            ) from exc
        except psycopg.OperationalError as exc:
            if isinstance(exc, psycopg.errors.QueryCanceled):
                raise
            raise DatabaseUnavailable(f"lost the connection to PostgreSQL at {describe_url(self.url)}: {exc}") from exc

    def run(self, name: str, params: Params = None, *, user_id: UUID | str | None = None,
            venue_scope: Sequence[UUID | str] | None = None, cache: bool = True) -> list[dict[str, Any]]:
        """Run named query ``name`` and return its rows as dicts (empty for statements without rows).

        Queries with a ``-- cache:`` option are answered from the cache when ``cache`` is true (hits are
        counted in :meth:`cache_stats`, not timed into the log). Every execution, failed ones included
        (with ``row_count`` NULL), is timed into query_performance_log unless ``record=False``.
        Driver errors become :class:`QueryError`, a statement timeout :class:`QueryTimeout`.
        """
        q = get(name)
        venue_ids = None if venue_scope is None else _scope_text(venue_scope)
        key = None
        generation = 0
        if cache and q.cached:
            key = cache_key(name, params, venue_scope)
            if key is not None:
                hit = self._cache.get(key, name)
                if hit is not None:
                    return hit
                generation = self._cache.generation()
        try:
            with self.connection() as conn:
                # one transaction per statement: its timeout and scope end with it (restore=False)
                rows = execute(conn, q, params, venue_ids=venue_ids, restore=False, record=self._timing(user_id))
        except psycopg.Error as exc:  # the commit after the statement (execute maps the statement's own)
            raise QueryError(name, exc) from exc
        if key is not None:
            self._cache.put(key, q, params, rows, generation)
        return rows

    # -- timing ------------------------------------------------------------------------------------------

    def _timing(self, user_id: UUID | str | None) -> Record | None:
        recorder = self._recorder
        if recorder is None:
            return None
        return lambda name, elapsed_ms, row_count: recorder.add(name, elapsed_ms, row_count, user_id)

    def record(self, query_name: str, elapsed_ms: float, row_count: int | None = None, user_id: Any = None) -> None:
        """Record a timing that did not come from :meth:`run` (jobs record ``job.<name>``). Never raises."""
        if self._recorder is not None:
            self._recorder.add(query_name, elapsed_ms, row_count, user_id)

    def flush(self) -> int:
        """Write buffered timings now; returns how many rows were written."""
        return self._recorder.flush() if self._recorder is not None else 0

    def recorder_stats(self) -> dict[str, Any]:
        """buffered, capacity, recorded, written, dropped (buffer full), failed (write errors), batches."""
        if self._recorder is None:
            return {"enabled": False}
        return {"enabled": True, **self._recorder.stats()}

    # -- cache -------------------------------------------------------------------------------------------

    def cache_stats(self) -> dict[str, dict[str, Any]]:
        """Per query name: hits, misses, evictions, expirations, invalidations, size, hit_rate; plus "total"."""
        return self._cache.stats()

    def invalidate(self, tag: str) -> int:
        """Drop cached results carrying exactly ``tag`` (e.g. ``venue:<id>``, ``venues``, ``query:<name>``)."""
        return self._cache.invalidate(tag)

    # -- EXPLAIN -----------------------------------------------------------------------------------------

    def server_version(self) -> int:
        if self._server_version is None:
            with self.connection() as conn:
                self._server_version = conn.info.server_version
        return self._server_version

    def explain(self, name: str, params: Params = None, analyze: bool = False) -> str:
        """The plan of registered query ``name`` as text (``EXPLAIN (FORMAT TEXT)``).

        With ``params``: the plan for those values (``analyze=True`` also runs it, inside a transaction
        that is rolled back, so writes leave no trace). Without: the generic plan, with
        ``EXPLAIN (GENERIC_PLAN)`` on PostgreSQL 16 and later, and on 15 by preparing the statement and
        explaining its forced generic plan (the parameters' values do not matter to that plan).
        """
        q = get(name)
        missing = [p for p in q.params if params is None or p not in params]
        if analyze and missing:
            raise ValueError(f"EXPLAIN ANALYZE of {name} runs it, so it needs values for: {', '.join(missing)}")
        if params is not None and missing:
            raise ValueError(f"EXPLAIN of {name} is missing parameters: {', '.join(missing)}")
        options = "ANALYZE, BUFFERS, " if analyze else ""
        label = f"explain.{name}"  # the EXPLAIN's own name, for its tag and its errors
        with self.connection() as conn, conn.cursor() as cur:
            try:
                if params is not None:
                    stmt = sql_statement(label, f"EXPLAIN ({options}FORMAT TEXT) {q.sql}", timeout_ms=q.timeout_ms)
                    lines = [r[0] for r in execute(cur, stmt, params, restore=False)]
                else:
                    lines = self._explain_generic(conn, cur, q, "TEXT")
            finally:
                conn.rollback()
        return "\n".join(lines)

    def generic_plan(self, query: str | NamedQuery) -> Any:
        """The generic plan of a named query (or a :class:`NamedQuery` built elsewhere, e.g. by a test) as
        ``EXPLAIN (FORMAT JSON)`` gives it (a list holding one object), without running it."""
        q = get(query) if isinstance(query, str) else query
        with self.connection() as conn, conn.cursor() as cur:
            try:
                return self._explain_generic(conn, cur, q, "JSON")[0]
            finally:
                conn.rollback()

    def _explain_generic(self, conn: psycopg.Connection, cur: psycopg.Cursor, q: NamedQuery, fmt: str) -> list[Any]:
        """The EXPLAIN output of ``q``'s generic plan in format ``fmt``: lines for TEXT, one parsed value for JSON.
        Plain EXPLAIN without parameters, ``GENERIC_PLAN`` on PostgreSQL 16+, a forced generic plan of a
        prepared statement on 15."""
        label = f"explain.{q.name}"
        if not q.params:
            stmt = sql_statement(label, f"EXPLAIN (FORMAT {fmt}) {q.sql}", timeout_ms=q.timeout_ms)
            return [r[0] for r in execute(cur, stmt, {}, restore=False)]
        if conn.info.server_version >= 160000:
            stmt = sql_statement(label, f"EXPLAIN (GENERIC_PLAN, FORMAT {fmt}) {positional(q.sql)}",
                                 timeout_ms=q.timeout_ms)
            return [r[0] for r in execute(cur, stmt, restore=False)]
        return self._explain_prepared(conn, cur, q, fmt)

    @staticmethod
    def _explain_prepared(conn: psycopg.Connection, cur: psycopg.Cursor, q: NamedQuery,
                          fmt: str = "TEXT") -> list[Any]:
        """PostgreSQL 15: PREPARE, force the generic plan, EXPLAIN EXECUTE with NULLs (partition pruning
        off), DEALLOCATE.

        (Prepared statements outlive transactions, so the DEALLOCATE runs even after a failure.)
        """
        stmt = "vp_explain_" + q.name.replace(".", "_")  # registered names are [a-z0-9_.]
        label = f"explain.{q.name}"
        execute(cur, "session.generic_plan", restore=False)
        try:
            execute(cur, sql_statement(label, f"PREPARE {stmt} AS {positional(q.sql)}"),
                    timeout_ms=q.timeout_ms, restore=False)
            nulls = ", ".join("NULL" for _ in q.params)
            plan = execute(cur, sql_statement(label, f"EXPLAIN (FORMAT {fmt}) EXECUTE {stmt}({nulls})"),
                           timeout_ms=q.timeout_ms, restore=False)
            return [r[0] for r in plan]
        finally:
            conn.rollback()
            # only if the PREPARE ran: a DEALLOCATE error must not hide the error that got us here
            if execute(cur, "session.prepared", {"name": stmt}, restore=False):
                execute(cur, sql_statement(label, f"DEALLOCATE {stmt}"), restore=False)
            conn.rollback()
