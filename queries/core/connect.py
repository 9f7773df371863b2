"""Connections to PostgreSQL with readable errors."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from venuepulse.config import normalize_url
from venuepulse.errors import DatabaseUnavailable, describe_url
from venuepulse.queries.core.execute import execute


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # psycopg: 'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'
    msg = lines[0] if lines else type(exc).__name__
    if "failed:" in msg:
        msg = msg.rsplit("failed:", 1)[1].strip()
    # the server's own severity ('FATAL:  database "x" does not exist') says nothing to the reader
    msg = re.sub(r"^(FATAL|ERROR|PANIC):\s*", "", msg)
    # 'Connection refused' reads on after a colon as 'connection refused'; 'SSL ...' keeps its capitals
    return msg[:1].lower() + msg[1:] if msg[1:2].islower() else msg


def connect(url: str, *, autocommit: bool = False, connect_timeout: int = 10, **kw: Any) -> psycopg.Connection:
    """A psycopg connection; connection failures become :class:`DatabaseUnavailable`."""
    conninfo = normalize_url(url)
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=connect_timeout, **kw)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"could not connect to PostgreSQL at {describe_url(conninfo)}: {_why(exc)}"
        ) from None


def server_info(url: str) -> dict[str, Any]:
    """Version, database, host and Alembic revision (None when not migrated) of the server at ``url``."""
    with connect(url, autocommit=True) as conn:
        server = execute(conn, "health.server_info")[0]
        revision = None
        if server["migrated"]:
            rows = execute(conn, "health.alembic_revision")
            revision = rows[0]["version_num"] if rows else None
        info = conn.info
        host = info.host
        port = info.port
    preload = server["preload"]
    return {
        "version": server["version"],
        "server_version_num": server["server_version_num"],
        "database": server["database"],
        "host": host,
        "port": port,
        "alembic_revision": revision,
        # None when the role may not read it (pg_read_all_settings)
        "shared_preload_libraries": None if preload is None else [p.strip() for p in preload.split(",") if p.strip()],
        "pg_stat_statements_loaded": bool(server["pgss_loaded"]),
        "pg_stat_statements_installed": bool(server["pgss_installed"]),
    }
