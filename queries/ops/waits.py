"""Wait sampling: what the active sessions of the database are waiting on, attributed to named queries.

Each sample is one statement (``waits.sample``): it reads pg_stat_activity and adds every active session to
the current minute's ``wait_samples`` row of its named query (the ``/*query_name='...'*/`` tag every
VenuePulse statement carries; untagged rows keep their ``query_id`` and are named at read time through the
pg_stat_statements snapshots) and wait event, weighted by the sampling interval.  The ``sample_waits`` job
samples for most of a minute per run, so its bookkeeping (lock, ``job_runs`` row) costs once a minute, not
once a sample.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from venuepulse.durations import parse_duration
from venuepulse.errors import ConfigError
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops.maintenance import Outcome

ENV_INTERVAL = "VENUEPULSE_WAIT_SAMPLE_INTERVAL"
DEFAULT_INTERVAL_S = 5.0
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.1, 60.0
# A scheduled run samples while the next tick is less than this far in (5 s: at 0, 5, ... 55 s); the job runs
# every minute, so the gap between runs stays one interval or so and
# a run never overlaps the next one (which would be dropped, max_instances=1).
RUN_SECONDS = 58.0


def interval_s(env: Mapping[str, str] | None = None) -> float:
    """The sampling interval in seconds: ``VENUEPULSE_WAIT_SAMPLE_INTERVAL`` (``5``, ``5s``, ``500ms``,
    ``1s``) or 5 s; a ConfigError naming the variable when it is not a duration from 0.1 s to 60 s."""
    env = os.environ if env is None else env
    raw = (env.get(ENV_INTERVAL) or "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        seconds = parse_duration(raw, default_unit="s").total_seconds()
    except ValueError:
        seconds = -1.0
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise ConfigError(f"{ENV_INTERVAL}={raw!r} is not a sampling interval; use a duration from "
                          f"{MIN_INTERVAL_S:g} s to {MAX_INTERVAL_S:g} s, such as 5 or 1s.")
    return seconds


def sample(db: Database, interval: float) -> dict[str, Any]:
    """Take one sample (one statement): ``active`` sessions recorded, ``hidden`` sessions whose state this
    role may not see, ``rows_written``, ``role_name``, ``reads_all_stats``."""
    return db.one("waits.sample", {"interval": float(interval)}, cache=False) or {}


def sample_for(db: Database, interval: float, seconds: float, *, stop: threading.Event | None = None,
               clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Sample every ``interval`` seconds for ``seconds`` (at least once), on a fixed cadence (a slow sample
    does not push the next ones later); ends early when ``stop`` is set. Returns the totals."""
    stop = stop or threading.Event()
    started = clock()
    totals: dict[str, Any] = {"samples": 0, "sightings": 0, "rows_written": 0, "hidden_max": 0,
                              "interval_s": interval, "role": None, "reads_all_stats": None}
    due = started
    while True:
        got = sample(db, interval)
        totals["samples"] += 1
        totals["sightings"] += int(got.get("active") or 0)
        totals["rows_written"] += int(got.get("rows_written") or 0)
        totals["hidden_max"] = max(totals["hidden_max"], int(got.get("hidden") or 0))
        totals["role"], totals["reads_all_stats"] = got.get("role_name"), got.get("reads_all_stats")
        due += interval
        now = clock()
        if due < now:  # fell behind (a slow sample, a busy machine): skip the missed ticks, not catch up
            due = now + interval - ((now - started) % interval)
        if due - started >= seconds or stop.wait(max(0.0, due - now)):
            return totals


def sample_waits(db: Database, *, manual: bool = False, stop: threading.Event | None = None,
                 env: Mapping[str, str] | None = None) -> Outcome:
    """The ``sample_waits`` job: a scheduled run samples for :data:`RUN_SECONDS`, a manual one once."""
    interval = interval_s(env)
    totals = sample_for(db, interval, 0.0 if manual else RUN_SECONDS, stop=stop)
    summary = (f"{totals['samples']} samples every {interval:g} s: {totals['sightings']} active-session "
               f"sightings in {totals['rows_written']} row updates")
    if totals["reads_all_stats"] is False:
        summary += (f"; role {totals['role']} lacks pg_read_all_stats, so other roles' sessions are not sampled "
                    f"(up to {totals['hidden_max']} hidden)")
    return Outcome(totals["sightings"], summary, totals)
