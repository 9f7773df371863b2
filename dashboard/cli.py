"""The ``venuepulse`` command line.

Adding a command: write ``register_<name>(sub)`` that adds a parser with ``set_defaults(func=handler)``
(``handler(args) -> int | None``) and append it to ``COMMANDS``. Handlers raise ``VenuePulseError`` for
anything a person should read; ``main`` prints it as one line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from queries.errors import ConfigError, VenuePulseError, describe_url


def _common() -> argparse.ArgumentParser:
    """Options accepted both before and after the subcommand."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="PostgreSQL URL (overrides VENUEPULSE_DATABASE_URL, .streamlit/secrets.toml and the embedded server)",
    )
    return p


COMMON = _common()


def add_command(sub: Any, name: str, handler: Callable[[argparse.Namespace], int | None], **kw: Any):
    """Add subcommand ``name`` running ``handler``; returns its parser for adding arguments."""
    parser = sub.add_parser(name, parents=[COMMON], **kw)
    parser.set_defaults(func=handler)
    return parser


# --- helpers shared by handlers -------------------------------------------------------------------------


def database_url(args: argparse.Namespace, start_embedded: bool = True) -> str:
    from queries.config import get_database_url

    return get_database_url(getattr(args, "database_url", None), start_embedded=start_embedded)


def url_source(args: argparse.Namespace) -> tuple[str, str]:
    from queries.config import resolve_database_url

    return resolve_database_url(getattr(args, "database_url", None))


def say(msg: str = "") -> None:
    print(msg, flush=True)


# --- db -------------------------------------------------------------------------------------------------


def cmd_db_url(args: argparse.Namespace) -> int:
    say(database_url(args))
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    from queries import embedded
    from queries.config import data_dir
    from queries.db import server_info
    from queries.migrate import heads

    url, source = url_source(args)
    if source == "embedded":
        ddir = data_dir()
        found = embedded.current_url(ddir)
        if found is None:
            say("database:   venuepulse (embedded)")
            say("source:     embedded")
            say(f"data dir:   {ddir}")
            say("server:     not running (start it with 'venuepulse db start' or 'venuepulse up')")
            return 1
        url = found
    info = server_info(url)
    head = heads()
    rev = info["alembic_revision"]
    if rev is None:
        rev_text = "not migrated"
    elif rev in head:
        rev_text = f"{rev} (head)"
    else:
        rev_text = f"{rev} (head is {', '.join(head)}; run 'venuepulse migrate')"
    where = info["host"] or "localhost"
    where = f"unix socket {where}" if where.startswith("/") else f"{where}:{info['port']}"
    say(f"database:   {info['database']}")
    say(f"source:     {source}")
    say(f"where:      {where}")
    if source == "embedded":
        say(f"data dir:   {data_dir()}")
    else:
        say(f"url:        {describe_url(url)}")
    say(f"server:     {info['version'].split(' on ')[0].split(',')[0]} ({info['server_version_num']})")
    say(f"revision:   {rev_text}")
    loaded = "loaded" if info["pg_stat_statements_loaded"] else "not loaded (add it to shared_preload_libraries)"
    say(f"pg_stat_statements: {loaded}")
    return 0


def _embedded_only(args: argparse.Namespace, verb: str) -> None:
    _, source = url_source(args)
    if source != "embedded":
        raise ConfigError(
            f"'venuepulse db {verb}' manages only the embedded server, but the database URL comes from {source}."
        )


def cmd_db_start(args: argparse.Namespace) -> int:
    from queries import embedded
    from queries.config import data_dir

    _embedded_only(args, "start")
    was = embedded.is_running(data_dir())
    url = embedded.ensure_running(data_dir())
    say(f"embedded PostgreSQL {'already running' if was else 'started'} in {data_dir()}: {url}")
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    from queries import embedded
    from queries.config import data_dir

    _embedded_only(args, "stop")
    stopped = embedded.stop(data_dir())
    say(f"embedded PostgreSQL in {data_dir()} {'stopped' if stopped else 'was not running'}")
    return 0


def register_db(sub: Any) -> None:
    db = sub.add_parser("db", parents=[COMMON], help="the database: url, status, start, stop")
    dbsub = db.add_subparsers(dest="db_command", metavar="{url,status,start,stop}", required=True)
    add_command(dbsub, "url", cmd_db_url, help="print the libpq URL (starts the embedded server if used)")
    add_command(dbsub, "status", cmd_db_status, help="which database, where, version, migration state")
    add_command(dbsub, "start", cmd_db_start, help="start the embedded server")
    add_command(dbsub, "stop", cmd_db_stop, help="stop the embedded server")


# --- migrate --------------------------------------------------------------------------------------------


def step_migrate(url: str, to: str = "head") -> tuple[str | None, str | None]:
    from queries.migrate import migrate

    before, after = migrate(url, to)
    if before == after:
        say(f"migrate: already at {after or 'base'}")
    else:
        say(f"migrate: {before or 'base'} -> {after or 'base'}")
    return before, after


def cmd_migrate(args: argparse.Namespace) -> int:
    step_migrate(database_url(args), args.to)
    return 0


def register_migrate(sub: Any) -> None:
    p = add_command(sub, "migrate", cmd_migrate, help="apply (or roll back) schema migrations")
    p.add_argument("--to", default="head", metavar="REV", help="target revision: head (default), base or an id")


# --- up -------------------------------------------------------------------------------------------------


def step_database(args: argparse.Namespace) -> tuple[str, bool]:
    """Resolve (and for the embedded default, start) the database; returns (url, started_here)."""
    from queries import embedded
    from queries.config import data_dir

    url, source = url_source(args)
    if source == "embedded":
        was_running = embedded.is_running(data_dir())
        url = database_url(args)
        state = "already running" if was_running else "started"
        say(f"database: embedded PostgreSQL {state} in {data_dir()} ({describe_url(url)})")
        return url, not was_running
    say(f"database: {describe_url(url)} (from {source})")
    from queries.db import connect

    connect(url).close()
    return url, False


def up(args: argparse.Namespace) -> int:
    """Bring the whole product up: database, schema, demo data, accounts, jobs, simulator, dashboard."""
    from queries.config import data_dir

    from . import launcher

    url, started = step_database(args)
    step_migrate(url, "head")
    _, source = url_source(args)
    return launcher.up(
        url,
        started_embedded=started,
        data_dir=data_dir() if source == "embedded" else None,
        port=args.port,
        scale=args.scale,
        seed=not args.no_seed,
        simulate_rate=args.simulate_rate,
        jobs=not args.no_jobs,
    )


def register_up(sub: Any) -> None:
    p = add_command(sub, "up", up, help="start everything: database, migrations, demo data, jobs, dashboard")
    p.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501, or a free one)")
    p.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"],
                   help="demo data size when the database is empty (default small)")
    p.add_argument("--no-seed", action="store_true", help="do not load demo data into an empty database")
    p.add_argument("--no-jobs", action="store_true", help="do not start the jobs scheduler")
    p.add_argument("--simulate-rate", type=float, default=1.0, metavar="EPS",
                   help="live demo traffic in events per second (0 turns it off; default 1)")


def cmd_dashboard(args: argparse.Namespace) -> int:
    from . import launcher

    return launcher.run_dashboard(database_url(args), args.port, args.address)


def register_dashboard(sub: Any) -> None:
    p = add_command(sub, "dashboard", cmd_dashboard, help="run only the Streamlit dashboard")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501, or a free one)")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")


# --- jobs -----------------------------------------------------------------------------------------------


def cmd_jobs(args: argparse.Namespace) -> int:
    """The jobs process (default), ``--list`` its jobs, or ``--once NAME`` one run now."""
    from jobs import scheduler

    if args.list:
        scheduler.schedules()  # a bad VENUEPULSE_JOB_* value is reported before anything else
        try:
            url = database_url(args)
        except VenuePulseError as exc:
            rows, problem = scheduler.job_table(None)
            problem = str(exc)
        else:
            rows, problem = scheduler.job_table(url)
        for line in scheduler.format_job_table(rows, problem):
            say(line)
        return 0
    if args.once:
        from jobs.definitions import JOBS

        if args.once not in JOBS:
            raise ConfigError(f"no job named {args.once!r}; jobs are {', '.join(JOBS)}.")
        rec = scheduler.run_once(database_url(args), args.once)
        run = f"run {rec.run_id}" if rec.run_id is not None else "run (not recorded yet)"
        say(f"{rec.job} {run} {rec.status} in {rec.duration_ms:.0f} ms"
            + (f": {rec.summary}" if rec.summary and rec.status != "skipped" else ""))
        if rec.error:
            say(f"error: {rec.error}")
        shown = {k: v for k, v in rec.details.items() if k not in ("pid", "host", "trigger", "summary")}
        if shown:
            import json

            say("details: " + json.dumps(shown, default=str, sort_keys=True))
        return 0 if rec.status == "succeeded" else 1
    scheduler.schedules()
    scheduler.run_scheduler(database_url(args))
    return 0


def register_jobs(sub: Any) -> None:
    p = add_command(sub, "jobs", cmd_jobs, help="run the jobs scheduler; --list its jobs; --once NAME runs one now")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--list", action="store_true", help="every job with its schedule, next and last run")
    g.add_argument("--once", metavar="NAME", help="run job NAME now and print what it did")


# --- wiring ---------------------------------------------------------------------------------------------

COMMANDS: list[Callable[[Any], None]] = [register_up, register_dashboard, register_db, register_migrate, register_jobs]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="venuepulse",
        parents=[COMMON],
        description="VenuePulse: analytics and observability for a venue-discovery PostgreSQL backend.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except VenuePulseError as exc:
        msg = str(exc).strip()
        first = msg.splitlines()[0] if msg else type(exc).__name__
        print(f"venuepulse: {first}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("venuepulse: interrupted", file=sys.stderr, flush=True)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
