"""The one function that sends a statement to PostgreSQL: :func:`execute`.

Every path goes through it — the pooled runner (``Database.run``, which the dashboard uses), the jobs'
bookkeeping and maintenance (``run_on``), seeding, the legacy upgrade, the bench, ``db status``. For each
statement it:

- looks up the named query (or takes a :func:`sql_statement`: SQL built in code, with a name);
- applies the query's statement timeout: transaction-local inside a transaction; on an autocommit
  connection for the session and set back afterwards, so it never leaks to the next statement;
- sends the SQL with its name tag (``/*query_name='...'*/``) and fetches the rows;
- times the statement (send to rows fetched) and hands ``(name, ms, row_count)`` to ``record`` when given
  (``row_count`` None when it failed);
- maps driver errors once: :class:`QueryTimeout` when PostgreSQL cancelled it for its statement timeout,
  :class:`DatabaseUnavailable` when the connection was lost, :class:`QueryError` (with the contract's
  reason word) otherwise; the driver's exception is chained as ``__cause__``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import RowFactory, dict_row, tuple_row

from venuepulse.errors import DatabaseUnavailable, QueryError, QueryTimeout, VenuePulseError
from venuepulse.queries.core.registry import DEFAULT_TIMEOUTS_MS, NAME, NamedQuery, get

Params = Mapping[str, Any] | Sequence[Any] | None
Record = Callable[[str, float, int | None], None]


def sql_statement(name: str, sql: str, *, kind: str = "maintenance", timeout_ms: int | None = None) -> NamedQuery:
    """SQL built in code (DDL from fixed table lists, EXPLAIN of a registered query) under a name of the
    registry's form, which its tag and its errors carry.

    Run without parameters it is sent as written (``%`` is literal); with parameters they are bound.
    The timeout is ``kind``'s default (maintenance: none) unless ``timeout_ms`` says otherwise.
    """
    if not re.fullmatch(NAME, name):
        raise ValueError(f"statement name {name!r} is not of the form subject.name ([a-z0-9_.])")
    timeout = DEFAULT_TIMEOUTS_MS[kind] if timeout_ms is None else timeout_ms
    return NamedQuery(name, sql, kind, timeout, source="inline", raw=True)


def execute(target: psycopg.Connection | psycopg.Cursor, query: str | NamedQuery, params: Params = None, *,
            timeout_ms: int | None = None, venue_ids: str | None = None, restore: bool = True,
            record: Record | None = None, row_factory: RowFactory = dict_row) -> list[Any]:
    """Run ``query`` (a registered name, or a :func:`sql_statement`) on ``target`` and return its rows
    (empty for statements without rows).

    ``target`` is a connection (rows made by ``row_factory``, dicts by default) or a cursor (its own row
    factory; ``cursor.description`` and ``rowcount`` describe the statement afterwards).
    ``timeout_ms`` overrides the query's statement timeout (0: none).

    Inside a transaction the timeout (and ``venue_ids``, the venue scope row-level security reads) are
    transaction-local; the previous timeout is set back after a successful statement unless
    ``restore=False`` (the pooled runner's transaction ends with the statement, so it saves the round
    trip; a venue scope always lasts to the end of the transaction). On an autocommit connection outside
    a transaction the timeout is set for the session and always set back, failed statement or not.
    """
    q = get(query) if isinstance(query, str) else query
    if params is None and not q.raw:
        params = {}  # registered SQL writes a literal % as %%, which only binding turns back into %
    own = not isinstance(target, psycopg.Cursor)
    conn = target if own else target.connection
    timeout = str(q.timeout_ms if timeout_ms is None else timeout_ms)
    status = conn.info.transaction_status
    in_transaction = not conn.autocommit or status != TransactionStatus.IDLE
    if venue_ids is not None and (restore or not in_transaction):
        raise ValueError("a venue scope lasts to the end of the transaction: pass it with restore=False, "
                         "inside a transaction")
    cur = conn.cursor(row_factory=row_factory) if own else target
    try:
        previous = None  # the timeout to set back afterwards, when it differs from ours
        try:
            if status == TransactionStatus.INERROR:
                pass  # a failed transaction runs nothing but its rollback (to a savepoint), which needs no timeout
            elif not restore and in_transaction:
                if venue_ids is None:
                    cur.execute(_tagged("session.timeout"), {"timeout": timeout})
                else:
                    cur.execute(_tagged("session.timeout_and_scope"), {"timeout": timeout, "venue_ids": venue_ids})
            else:
                before, now = _send(conn, "session.swap_timeout", {"timeout": timeout, "local": in_transaction})
                previous = before if before != now else None
        except psycopg.Error as exc:
            raise map_error(q.name, exc, conn) from exc

        rows: list[Any] | None = None
        started = time.perf_counter()
        try:
            if params is None:
                cur.execute(q.tagged_sql)
            else:
                cur.execute(q.tagged_sql, params)
            rows = cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            raise map_error(q.name, exc, conn, int(timeout), (time.perf_counter() - started) * 1000.0) from exc
        finally:
            if record is not None:
                record(q.name, (time.perf_counter() - started) * 1000.0, None if rows is None else len(rows))
            # a failed statement inside a transaction: its rollback (or the savepoint's) undoes our setting
            if previous is not None and (rows is not None or not in_transaction):
                _set_back(conn, q.name, previous, in_transaction, failed=rows is None)
        return rows
    finally:
        if own:
            cur.close()


@cache
def _tagged(name: str) -> str:
    return get(name).tagged_sql


def _send(conn: psycopg.Connection, name: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """One of execute()'s own session.* statements, on a cursor of its own (the caller's keeps its result)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(_tagged(name), params)
        return cur.fetchone()


def _set_back(conn: psycopg.Connection, name: str, previous: str, local: bool, *, failed: bool) -> None:
    if conn.closed or conn.broken:
        return
    try:
        _send(conn, "session.swap_timeout", {"timeout": previous, "local": local})
    except psycopg.Error as exc:
        if not failed:  # after a failure, the statement's own error is the one to report
            raise map_error(name, exc, conn) from exc


def map_error(name: str, exc: BaseException, conn: psycopg.Connection | None = None, timeout_ms: int = 0,
              elapsed_ms: float = 0.0) -> VenuePulseError:
    """The one error type for driver error ``exc`` of statement ``name`` (raise it ``from exc``)."""
    if isinstance(exc, psycopg.errors.QueryCanceled) and _by_statement_timeout(exc, timeout_ms, elapsed_ms):
        return QueryTimeout(name, exc, timeout_ms or None)
    if isinstance(exc, psycopg.OperationalError) and conn is not None and (conn.closed or conn.broken):
        return DatabaseUnavailable.lost(name, exc)
    return QueryError(name, exc)


def _by_statement_timeout(exc: psycopg.errors.QueryCanceled, timeout_ms: int, elapsed_ms: float) -> bool:
    """Cancelled for statement_timeout, not by pg_cancel_backend or a client's cancel ("user request")."""
    message = getattr(exc.diag, "message_primary", None) or str(exc)
    # the server's lc_messages may translate the message; the elapsed time then tells
    return "statement timeout" in message or (timeout_ms > 0 and elapsed_ms >= timeout_ms)
