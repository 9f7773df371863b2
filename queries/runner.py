"""The one place every named query runs: pooled connections, statement timeouts, venue scoping,
readable errors.  (Timing into query_performance_log and caching hook in here too.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from .config import normalize_url
from .errors import DatabaseUnavailable, QueryError, describe_url
from .registry import NamedQuery, get

Params = Mapping[str, Any] | None


class Database:
    """A pool of connections to one PostgreSQL database, running named queries.

    ``venue_scope`` (a list of venue ids) runs a query with those ids set on the connection for the
    transaction (``venuepulse.venue_ids``), which row-level security uses to keep venue owners apart.
    """

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8, application_name: str = "venuepulse"):
        self.url = normalize_url(url)
        self._pool = ConnectionPool(
            self.url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"application_name": application_name, "connect_timeout": 10},
            open=False,
            reconnect_timeout=30,
        )
        self._opened = False

    # -- lifecycle ---------------------------------------------------------------------------------------

    def open(self) -> Database:
        if not self._opened:
            self._pool.open(wait=False)
            self._opened = True
        return self

    def close(self) -> None:
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

    def _prepare(self, cur: psycopg.Cursor, q: NamedQuery, venue_scope: Sequence[UUID | str] | None) -> None:
        cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(q.timeout_ms),))
        if venue_scope is not None:
            cur.execute("SELECT set_config('venuepulse.venue_ids', %s, true)",
                        (",".join(str(UUID(str(v))) for v in venue_scope),))

    def run(self, name: str, params: Params = None, *, user_id: UUID | str | None = None,
            venue_scope: Sequence[UUID | str] | None = None) -> list[dict[str, Any]]:
        """Run named query ``name`` and return its rows as dicts (empty for statements without rows)."""
        q = get(name)
        started = time.perf_counter()
        try:
            with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                self._prepare(cur, q, venue_scope)
                cur.execute(q.tagged_sql, params or {})
                rows = cur.fetchall() if cur.description else []
        except QueryError:
            raise
        except psycopg.Error as exc:
            raise QueryError(name, exc) from exc
        self._observe(q, (time.perf_counter() - started) * 1000.0, len(rows), user_id)
        return rows

    def one(self, name: str, params: Params = None, **kw: Any) -> dict[str, Any] | None:
        rows = self.run(name, params, **kw)
        return rows[0] if rows else None

    def scalar(self, name: str, params: Params = None, **kw: Any) -> Any:
        row = self.one(name, params, **kw)
        return next(iter(row.values())) if row else None

    def _observe(self, q: NamedQuery, elapsed_ms: float, row_count: int, user_id: Any) -> None:
        """Hook for recording timings (see the recorder)."""
