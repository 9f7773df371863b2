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

from venuepulse.alerts_command import register_alerts
from venuepulse.annotate_command import register_annotate
from venuepulse.console import say
from venuepulse.errors import ConfigError, VenuePulseError, describe_url, first_line
from venuepulse.jobs.seed.scales import SCALES
from venuepulse.queries.access import ROLES


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
    from venuepulse.config import get_database_url

    return get_database_url(getattr(args, "database_url", None), start_embedded=start_embedded)


def url_source(args: argparse.Namespace) -> tuple[str, str]:
    from venuepulse.config import resolve_database_url

    return resolve_database_url(getattr(args, "database_url", None))


# --- db -------------------------------------------------------------------------------------------------


def cmd_db_url(args: argparse.Namespace) -> int:
    say(database_url(args))
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    from venuepulse import embedded
    from venuepulse.config import data_dir
    from venuepulse.queries.access import privileges
    from venuepulse.queries.core.connect import server_info
    from venuepulse.queries.schema.migrate import heads

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
    say()
    for line in privileges.lines(privilege_report(url)):
        say(line)
    return 0


def privilege_report(url: str) -> dict:
    """The configured role's privilege checklist (queries/access/privileges.py)."""
    from venuepulse.queries.access import privileges
    from venuepulse.queries.core.runner import Database

    with Database(url, record=False, max_size=1, application_name="venuepulse-cli") as db:
        return privileges.checklist(db)


def _embedded_only(args: argparse.Namespace, verb: str) -> None:
    _, source = url_source(args)
    if source != "embedded":
        raise ConfigError(
            f"'venuepulse db {verb}' manages only the embedded server, but the database URL comes from {source}."
        )


def cmd_db_start(args: argparse.Namespace) -> int:
    from venuepulse import embedded
    from venuepulse.config import data_dir

    _embedded_only(args, "start")
    was = embedded.is_running(data_dir())
    url = embedded.ensure_running(data_dir())
    say(f"embedded PostgreSQL {'already running' if was else 'started'} in {data_dir()}: {url}")
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    from venuepulse import embedded
    from venuepulse.config import data_dir

    _embedded_only(args, "stop")
    stopped = embedded.stop(data_dir())
    say(f"embedded PostgreSQL in {data_dir()} {'stopped' if stopped else 'was not running'}")
    return 0


def _replica_dir(args: argparse.Namespace):
    from venuepulse import replica

    return replica.default_dir() if args.dir is None else args.dir


def _embedded_admin_url(args: argparse.Namespace, verb: str) -> str:
    """The running embedded primary's superuser URL (maintenance database), for making a replica of it."""
    from venuepulse import embedded
    from venuepulse.config import data_dir

    _embedded_only(args, f"replica {verb}")
    embedded.ensure_running(data_dir())
    return embedded.current_url(data_dir(), "postgres")


def cmd_db_replica(args: argparse.Namespace) -> int:
    from venuepulse import replica

    rdir = _replica_dir(args)
    action = args.replica_command
    if action == "create":
        url = replica.create(_embedded_admin_url(args, "create"), rdir, port=args.port)
        say(f"replica: streaming from the embedded server into {rdir}, slot {replica.slot_name(rdir)}: {url}")
        say(f"replica: point the dashboard at it with VENUEPULSE_READ_DATABASE_URL='{url}' (or 'venuepulse up --replica')")
    elif action == "start":
        was = replica.is_running(rdir)
        url = replica.start_replica(rdir)
        say(f"replica in {rdir} {'already running' if was else 'started'}: {url}")
    elif action == "stop":
        stopped = replica.stop_replica(rdir)
        say(f"replica in {rdir} {'stopped' if stopped else 'was not running'}")
    elif action == "remove":
        dropped = replica.remove(rdir)
        say(f"replica in {rdir} removed" + ("" if dropped else
            "; its replication slot could not be dropped (is the primary running?): drop it there with "
            f"SELECT pg_drop_replication_slot('{replica.slot_name(rdir)}')"))
    else:
        return _replica_status(replica.status(rdir))
    return 0


def _replica_status(info: dict) -> int:
    say(f"replica dir: {info['dir']}")
    if not info["exists"]:
        say("replica:     none (make one with 'venuepulse db replica create')")
        return 1
    say(f"primary:     {info['primary'] or 'unknown'}")
    say(f"slot:        {info['slot'] or 'unknown'}")
    slot = info["slot_state"]
    if slot is not None:
        held = "" if slot["retained_bytes"] is None else f", holding {slot['retained_bytes']:,} bytes of WAL"
        say(f"slot state:  {'active' if slot['active'] else 'inactive'}, wal_status {slot['wal_status']}{held}")
    elif info["slot"]:
        say("slot state:  not found on the primary (or the primary is not reachable)")
    if not info["running"]:
        say("server:      not running (start it with 'venuepulse db replica start')")
        return 1
    say(f"url:         {info['url']}")
    lag = info["lag"]
    if lag is not None:
        seconds = "unknown" if lag["lag_seconds"] is None else f"{lag['lag_seconds']:.1f} s"
        say(f"lag:         {seconds} (received {lag['receive_lsn']}, replayed {lag['replay_lsn']})")
    return 0


def register_db(sub: Any) -> None:
    db = sub.add_parser("db", parents=[COMMON], help="the database: url, status, start, stop, replica")
    dbsub = db.add_subparsers(dest="db_command", metavar="{url,status,start,stop,replica}", required=True)
    add_command(dbsub, "url", cmd_db_url, help="print the libpq URL (starts the embedded server if used)")
    add_command(dbsub, "status", cmd_db_status, help="which database, where, version, migration state")
    add_command(dbsub, "start", cmd_db_start, help="start the embedded server")
    add_command(dbsub, "stop", cmd_db_stop, help="stop the embedded server")
    rp = dbsub.add_parser("replica", parents=[COMMON],
                          help="a streaming replica of the embedded server: create, start, stop, status, remove")
    rsub = rp.add_subparsers(dest="replica_command", metavar="{create,start,stop,status,remove}", required=True)
    from venuepulse.replica import DEFAULT_PORT

    for name, what in (("create", "copy the embedded server (pg_basebackup -R, a replication slot) and start it"),
                       ("start", "start the replica"), ("stop", "stop the replica"),
                       ("status", "running?, lag, and its slot on the primary"),
                       ("remove", "stop the replica, drop its slot on the primary, delete DIR")):
        p = add_command(rsub, name, cmd_db_replica, help=what)
        p.add_argument("dir", nargs="?", default=None, metavar="DIR",
                       help="the replica's directory (default: <data dir>/replica)")
        if name == "create":
            p.add_argument("--port", type=int, default=DEFAULT_PORT,
                           help=f"the replica's port, which names its unix socket (default {DEFAULT_PORT})")


# --- migrate --------------------------------------------------------------------------------------------


def step_migrate(url: str, to: str = "head") -> tuple[str | None, str | None]:
    from venuepulse.queries.schema.legacy import refuse_main_migration
    from venuepulse.queries.schema.migrate import migrate

    refuse_main_migration(url)
    before, after = migrate(url, to)
    if before == after:
        say(f"migrate: already at {after or 'base'}")
    else:
        say(f"migrate: {before or 'base'} -> {after or 'base'}")
        if after is not None:
            # what the migrations skipped for want of a privilege (they go on without, with a notice)
            for check in privilege_report(url)["checks"]:
                if check["key"] in MIGRATE_NOTES and check["missing"]:
                    say(f"migrate: note: {check['missing']}")
    return before, after


# checklist lines a migration depends on but carries on without (0002's extension, 0004's grant)
MIGRATE_NOTES = ("pgss_loaded", "pgss_installed", "readers_read_all_stats")


def cmd_migrate(args: argparse.Namespace) -> int:
    step_migrate(database_url(args), args.to)
    return 0


def cmd_migrate_plan(args: argparse.Namespace) -> int:
    from venuepulse.queries.schema.legacy import plan

    for line in plan(database_url(args)).lines():
        say(line)
    return 0


def cmd_migrate_verify(args: argparse.Namespace) -> int:
    from venuepulse.queries.schema.legacy import verify

    report = verify(database_url(args))
    for line in report.lines():
        say(line)
    say("verify: no differences" if report.ok else f"verify: {len(report.differences)} difference(s)")
    return 0 if report.ok else 1


def cmd_migrate_upgrade_legacy(args: argparse.Namespace) -> int:
    from venuepulse.queries.schema import legacy

    url = database_url(args)
    if args.stamp_legacy:
        legacy.stamp_legacy(url)
        say("upgrade-legacy: stamped as the legacy baseline L0")
        if args.phase is None:
            return 0

    def progress(event: legacy.BatchEvent) -> None:
        if not event.finished and (event.batches == 1 or event.batches % 10 == 0):
            say(f"  {event.step}: {event.rows_done} rows, {event.batches} batches (of ~{event.total} source rows)")

    before, after = legacy.upgrade(url, legacy.LAST_PHASE if args.phase is None else args.phase,
                                   on_batch=progress)
    say(f"upgrade-legacy: {before or 'base'} -> {after}" if before != after else f"upgrade-legacy: already at {after}")
    if after == f"L{legacy.LAST_PHASE}":
        say("upgrade-legacy: the schema is revision 0001 now; run 'venuepulse migrate' for later revisions")
    return 0


def register_migrate(sub: Any) -> None:
    p = add_command(sub, "migrate", cmd_migrate, help="apply (or roll back) schema migrations")
    p.add_argument("--to", default="head", metavar="REV", help="target revision: head (default), base or an id")
    msub = p.add_subparsers(dest="migrate_command", metavar="{plan,verify,upgrade-legacy}", required=False)
    add_command(msub, "plan", cmd_migrate_plan, help="legacy upgrade: which phase the database is at, what comes next")
    add_command(msub, "verify", cmd_migrate_verify,
                help="legacy upgrade: compare old and new tables (counts, per-key checksums); exit 1 on differences")
    u = add_command(msub, "upgrade-legacy", cmd_migrate_upgrade_legacy,
                    help="upgrade an existing legacy app database through the review's four phases")
    u.add_argument("--phase", type=int, choices=range(0, 5), metavar="N",
                   help="stop after phase N (1-4; default: all the way, to revision 0001); 0-2 also go back")
    u.add_argument("--stamp-legacy", action="store_true",
                   help="first record an existing legacy database as the baseline L0 (changes nothing else)")


# --- up -------------------------------------------------------------------------------------------------


def step_database(args: argparse.Namespace) -> tuple[str, bool]:
    """Resolve (and for the embedded default, start) the database; returns (url, started_here)."""
    from venuepulse import embedded
    from venuepulse.config import data_dir

    url, source = url_source(args)
    if source == "embedded":
        was_running = embedded.is_running(data_dir())
        url = database_url(args)
        state = "already running" if was_running else "started"
        say(f"database: embedded PostgreSQL {state} in {data_dir()} ({describe_url(url)})")
        return url, not was_running
    say(f"database: {describe_url(url)} (from {source})")
    from venuepulse.queries.core.connect import connect

    connect(url).close()
    return url, False


def up(args: argparse.Namespace) -> int:
    """Bring the whole product up: database, schema, demo data, accounts, jobs, simulator, dashboard."""
    from venuepulse import supervisor as launcher
    from venuepulse.config import data_dir

    if args.port is not None:
        launcher.choose_port(args.port)  # a taken --port is refused before anything starts
    _, source = url_source(args)
    if args.replica and source != "embedded":  # refused before anything starts
        raise ConfigError("--replica makes a streaming replica of the embedded server; with a database URL "
                          f"from {source}, point VENUEPULSE_READ_DATABASE_URL at your own replica instead")
    url, started = step_database(args)
    step_migrate(url, "head")
    read_url = replica_dir = None
    if args.replica:
        from venuepulse import replica

        rdir = replica.default_dir()
        read_url, started_replica = replica.ensure(_embedded_admin_url(args, "create"), rdir)
        replica_dir = rdir if started_replica else None
        say(f"replica: streaming replica in {rdir} ({describe_url(read_url)}); the dashboard reads from it")
    return launcher.up(
        url,
        started_embedded=started,
        data_dir=data_dir() if source == "embedded" else None,
        port=args.port,
        scale=args.scale,
        seed=not args.no_seed,
        simulate_rate=args.simulate_rate,
        jobs=not args.no_jobs,
        read_url=read_url,
        replica_dir=replica_dir,
    )


def register_up(sub: Any) -> None:
    p = add_command(sub, "up", up, help="start everything: database, migrations, demo data, jobs, dashboard")
    p.add_argument("--port", type=int, default=None,
                   help="dashboard port; an error if it is taken (default 8501, or a free one)")
    p.add_argument("--scale", default="small", choices=list(SCALES),
                   help="demo data size when the database is empty (default small)")
    p.add_argument("--no-seed", action="store_true", help="do not load demo data into an empty database")
    p.add_argument("--no-jobs", action="store_true", help="do not start the jobs scheduler")
    p.add_argument("--simulate-rate", type=float, default=1.0, metavar="EPS",
                   help="live demo traffic in events per second (0 turns it off; default 1)")
    p.add_argument("--replica", action="store_true",
                   help="the dashboard reads from a streaming replica of the embedded server (made in "
                        "<data dir>/replica the first time; docs/scaling.md)")


def cmd_dashboard(args: argparse.Namespace) -> int:
    from venuepulse import supervisor as launcher

    launcher.choose_port(args.port, args.address)  # a taken --port is refused before anything starts
    return launcher.run_dashboard(database_url(args), args.port, args.address)


def register_dashboard(sub: Any) -> None:
    p = add_command(sub, "dashboard", cmd_dashboard, help="run only the Streamlit dashboard")
    p.add_argument("--port", type=int, default=None,
                   help="port; an error if it is taken (default 8501, or a free one; 0 picks a free one)")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")


# --- jobs -----------------------------------------------------------------------------------------------


def cmd_jobs(args: argparse.Namespace) -> int:
    """The jobs process (default), ``--list`` its jobs, or ``--once NAME`` one run now."""
    from venuepulse.jobs import scheduler

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
        from venuepulse.jobs.definitions import get_job

        get_job(args.once)
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


# --- users ----------------------------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    """The new password from stdin (--password-stdin) or a no-echo prompt; never echoed or logged."""
    import getpass

    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise VenuePulseError("--password-stdin was given but stdin is empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise VenuePulseError("no terminal to ask for the password on; pipe it in with --password-stdin")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise VenuePulseError("the two passwords differ; nothing was changed")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from venuepulse.queries.access import accounts
    from venuepulse.queries.core.runner import Database

    action = args.users_command
    name = accounts.canonical_username(getattr(args, "username", None))  # as stored, for the messages
    with Database(database_url(args), record=False, max_size=1, application_name="venuepulse-cli") as db:
        if action == "list":
            rows = accounts.list_accounts(db)
            if not rows:
                say("no accounts yet; add one with 'venuepulse users add NAME --role pm'")
                return 0
            say(f"{'username':<24} {'role':<12} {'display name':<24} {'venues':>6}  {'last sign-in':<20} state")
            for r in rows:
                state = "disabled" if r["disabled"] else "locked" if r["locked"] else "active"
                venues = str(r["venue_count"]) if r["role"] == "venue_owner" else "all"
                last = r["last_sign_in_at"].strftime("%Y-%m-%d %H:%M") if r["last_sign_in_at"] else "never"
                say(f"{r['username']:<24} {r['role']:<12} {r['display_name'][:24]:<24} {venues:>6}  {last:<20} {state}")
            return 0
        if action == "add":
            accounts.normalize_username(args.username)  # a bad name is reported before the password prompt
            accounts.check_role(args.role)
            row = accounts.add_account(db, args.username, _read_password(args), args.role,
                                       display_name=args.display_name or "", email=args.email, app_user=args.app_user)
            extra = ""
            if args.role == "venue_owner":
                extra = f", sees {len(accounts.owner_venue_ids(db, row['username']))} venue(s)"
            say(f"added {row['role']} account {row['username']}{extra}")
        elif action == "set-password":
            if accounts.get_account(db, args.username) is None:
                raise VenuePulseError(f"there is no account named {name!r}")
            accounts.set_password(db, args.username, _read_password(args))
            say(f"password of {name} changed (and any lock lifted)")
        elif action == "unlock":
            accounts.unlock(db, args.username)
            say(f"{name} unlocked")
        elif action in ("disable", "enable"):
            accounts.set_disabled(db, args.username, action == "disable")
            say(f"{name} {action}d")
        elif action == "remove":
            accounts.remove_account(db, args.username)
            say(f"removed {name}")
    return 0


def register_users(sub: Any) -> None:
    p = sub.add_parser("users", parents=[COMMON], help="dashboard accounts: add, list, set-password, remove, ...")
    us = p.add_subparsers(dest="users_command", metavar="{list,add,set-password,remove,unlock,disable,enable}",
                          required=True)
    add_command(us, "list", cmd_users, help="every account (never passwords or hashes)")
    a = add_command(us, "add", cmd_users, help="add an account (asks for the password)")
    a.add_argument("username")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--display-name", default="")
    a.add_argument("--email", default=None, help="identity-provider e-mail for OIDC sign-in")
    a.add_argument("--app-user", default=None, metavar="USER",
                   help="venue_owner only: the app user (users.id or username) whose venues the account sees")
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    sp = add_command(us, "set-password", cmd_users, help="change a password (and lift a lock)")
    sp.add_argument("username")
    sp.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    for name, what in (("remove", "delete an account"), ("unlock", "lift a sign-in lock"),
                       ("disable", "keep an account but refuse its sign-in"), ("enable", "undo disable")):
        add_command(us, name, cmd_users, help=what).add_argument("username")


# --- bench ----------------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from venuepulse.jobs import bench

    only = [s.strip() for s in args.only.split(",")] if args.only else None
    result = bench.run(database_url(args), args.scale, only, repeats=args.repeats, say=say)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"venuepulse bench --scale {args.scale} ({result['postgres']})")
    for col in ("scenario", "figure", "value"):
        table.add_column(col)
    for row in bench.table_rows(result):
        table.add_row(*row)
    Console().print(table)
    if args.json:
        bench.write_json(result, Path(args.json))
        say(f"wrote {args.json}")
    if args.markdown:
        Path(args.markdown).write_text(bench.markdown(result), encoding="utf-8")
        say(f"wrote {args.markdown}")
    return 0


def register_bench(sub: Any) -> None:
    p = add_command(sub, "bench", cmd_bench, help="measure refresh, recording, pages, writes, rollups and load side by side")
    p.add_argument("--scale", default="small", choices=list(SCALES))
    p.add_argument("--only", metavar="NAMES", help="comma-separated scenarios: load,refresh,recording,pages,history,writes,rollups,plans,viewers,waits")
    p.add_argument("--repeats", type=int, default=5, help="repetitions per measurement (default 5)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write the results table as Markdown")


# --- rollups (docs/rollups.md) -----------------------------------------------------------------------


def _day(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--from must be a date like 2025-06-01, not {text[:40]!r}") from None


def cmd_rollups_rebuild(args: argparse.Namespace) -> int:
    from venuepulse.queries.ops import rollups

    start = _day(args.from_day) if args.from_day else None

    def progress(p: dict) -> None:
        if not args.quiet:
            say(f"  rollups rebuilt through {p['next_day']:%Y-%m-%d} ({p['done']}/{p['total']} days)")

    result = rollups.rebuild(database_url(args), from_day=start, batch_days=args.batch_days, progress=progress)
    say(f"rollups rebuild: {result['days']} days from {result['from_day']:%Y-%m-%d} in {result['batches']} batches"
        f"{' (resumed)' if result['resumed'] else ''}, then pair rollups and venue_stats, in {result['seconds']:.1f}s")
    return 0


def cmd_rollups_fold(args: argparse.Namespace) -> int:
    from venuepulse.queries.core.runner import Database
    from venuepulse.queries.ops import rollups

    with Database(database_url(args), record=False) as db:
        for consumer, r in rollups.fold(db).items():
            say(f"{consumer}: {int(r.get('changes') or 0)} changes folded in {r['ms']:.0f} ms")
    return 0


def cmd_rollups_status(args: argparse.Namespace) -> int:
    from venuepulse.queries.core.runner import Database
    from venuepulse.queries.ops import rollups

    with Database(database_url(args), record=False) as db:
        for r in rollups.status(db):
            oldest = f", oldest {r['lag_seconds']:.0f}s ago" if r["tail_rows"] else ""
            say(f"{r['consumer']}: folded at {r['folded_at']:%Y-%m-%d %H:%M:%S} UTC, {r['tail_rows']} changes "
                f"not folded yet{oldest}")
    return 0


def register_rollups(sub: Any) -> None:
    p = sub.add_parser("rollups", parents=[COMMON], help="the pages' rollups: status, fold, rebuild from raw history")
    rs = p.add_subparsers(dest="rollups_command", metavar="ACTION", required=True)
    rb = add_command(rs, "rebuild", cmd_rollups_rebuild,
                     help="recount the rollups from raw rows, in batches of days, resumable, while the app writes")
    rb.add_argument("--from", dest="from_day", metavar="DATE",
                    help="first UTC day to recount (default: the first with data)")
    rb.add_argument("--batch-days", type=int, default=1, help="UTC days per transaction (default 1)")
    rb.add_argument("--quiet", action="store_true", help="no progress lines")
    add_command(rs, "fold", cmd_rollups_fold, help="fold the changes captured since the last fold, now")
    add_command(rs, "status", cmd_rollups_status, help="each rollup consumer's last fold and its live tail")


# --- seed, simulate (demo data and live traffic: jobs/seed, jobs/simulate.py) ---------------------------


def cmd_seed(args: argparse.Namespace) -> int:
    if getattr(args, "legacy", False):
        return cmd_seed_legacy(args)
    from venuepulse.jobs.seed.cli import cmd_seed as run

    return run(args, database_url(args))


def cmd_simulate(args: argparse.Namespace) -> int:
    from venuepulse.jobs.seed.cli import cmd_simulate as run

    return run(args, database_url(args))


def register_seed(sub: Any) -> None:
    p = add_command(sub, "seed", cmd_seed, help="fill the database with a realistic, reproducible app history")
    p.add_argument("--scale", choices=list(SCALES), default="small",
                   help="about 10k, 200k, 2M or 20M check-ins (default small)")
    p.add_argument("--seed", type=int, default=42, help="random seed: the same seed gives the same data")
    p.add_argument("--days", type=int, default=None, help="length of the history in days (default by scale)")
    p.add_argument("--reset", action="store_true", help="delete the existing app data first (says what)")
    p.add_argument("--append", action="store_true", help="add a new population next to the existing data")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--legacy", action="store_true",
                   help="instead: a legacy app database (before the review) to rehearse 'migrate upgrade-legacy' on;"
                        " scales tiny and small, into an empty database")


def cmd_seed_legacy(args: argparse.Namespace) -> int:
    from venuepulse.jobs.legacy_seed import seed_legacy

    if args.reset or args.append or args.days is not None:
        raise ConfigError("--legacy loads a fresh legacy database: --reset, --append and --days do not apply")
    counts = seed_legacy(database_url(args), args.scale, seed=args.seed,
                         progress=None if args.quiet else (lambda table, n: say(f"  {table}: {n} rows")))
    if not args.quiet:
        say(f"seed --legacy: {sum(counts.values())} rows in {len(counts)} legacy tables (upgrade revision L0); "
            "next: venuepulse migrate plan")
    return 0


def register_simulate(sub: Any) -> None:
    p = add_command(sub, "simulate", cmd_simulate, help="live traffic through the database contract until stopped")
    p.add_argument("--rate", type=float, default=5.0, metavar="EVENTS_PER_SECOND", help="default 5")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--seed", type=int, default=None, help="random seed for the choice of actions")
    p.add_argument("--quiet", action="store_true", help="print only the final counts")


# --- wiring ---------------------------------------------------------------------------------------------

COMMANDS: list[Callable[[Any], None]] = [register_up, register_dashboard, register_db, register_migrate, register_jobs,
                                         register_users, register_bench, register_seed, register_simulate,
                                         register_alerts, register_rollups, register_annotate]


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
        first = first_line(exc) or type(exc).__name__
        print(f"venuepulse: {first}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("venuepulse: interrupted", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:
        # output piped into e.g. `head`, which stopped reading: not an error worth a traceback
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
