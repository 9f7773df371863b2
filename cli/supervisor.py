"""`venuepulse up` and `venuepulse dashboard`: start the product's processes and stop them cleanly.

`up` runs, in order: the database (embedded unless a URL is configured), migrations, the dashboard's
database roles, demo data (`small`) if the database has no app data, demo accounts, then three child
processes — the jobs scheduler, a gentle traffic simulator and the Streamlit dashboard — and waits.
Ctrl-C (or SIGTERM) stops every child it started and, if it started the embedded server, that too.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from venuepulse.config import data_dir as user_data_dir
from venuepulse.console import say
from venuepulse.errors import ConfigError

DASHBOARD_DIR = Path(importlib.util.find_spec("venuepulse.dashboard").origin).parent
APP = DASHBOARD_DIR / "app.py"
# Streamlit's settings, shipped with the dashboard (the repository's .streamlit/config.toml links to it).
STREAMLIT_CONFIG = DASHBOARD_DIR / "streamlit.toml"


def streamlit_flags(config: Path = STREAMLIT_CONFIG) -> list[str]:
    """``--section.option value`` for every setting in ``config``: flags reach Streamlit whatever directory
    it runs in, where a config.toml is read only from the working directory."""
    with config.open("rb") as f:
        settings = tomllib.load(f)
    flags = []
    for section, options in settings.items():
        for option, value in options.items():
            flags += [f"--{section}.{option}", str(value).lower() if isinstance(value, bool) else str(value)]
    return flags


DEFAULT_PORT = 8501


def _bindable(address: str, port: int) -> int | None:
    """The port bound on ``address`` (``port`` 0 picks one), or None when it is taken."""
    with socket.socket() as s:
        try:
            s.bind((address, port))
        except OSError:
            return None
        return s.getsockname()[1]


def choose_port(port: int | None, address: str = "127.0.0.1") -> int:
    """The dashboard's port: ``port`` when given (0 means any free one), an error naming it when it is
    taken — a person who asked for a port must not find the dashboard elsewhere; without one, 8501 or
    any free port."""
    if port is not None:
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port must be from 0 to 65535, not {port}")
        got = _bindable(address, port)
        if got is None:
            raise ConfigError(f"port {port} on {address} is already in use; stop what listens there "
                              "or choose another with --port")
        return got
    for candidate in (DEFAULT_PORT, 0):
        got = _bindable(address, candidate)
        if got is not None:
            return got
    raise ConfigError("no free TCP port for the dashboard")


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "venuepulse", *args]


def streamlit_command(port: int, address: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", address, *streamlit_flags()]


@dataclass
class Children:
    """Child processes started by this process, stopped in reverse order."""

    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
        """Start ``cmd``; its output goes to ``log`` (appended) when given, else to this terminal."""
        out = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            out = open(log, "ab")  # noqa: SIM115 - the child owns it; closed when the child is reaped
        try:
            proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=out, stderr=out)
        finally:
            if out is not None:
                out.close()
        self.procs.append((name, proc))
        return proc

    def check(self) -> str | None:
        """The name of a child that has exited, if any."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                return f"{name} exited with status {proc.returncode}"
        return None

    def stop(self, timeout: float = 15.0) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()  # SIGTERM: each child shuts down cleanly on it
        deadline = time.monotonic() + timeout
        for name, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
            say(f"stopped {name}")


def dashboard_env(admin_url: str) -> dict[str, str]:
    """Environment for the Streamlit process: the read-only role for pm and engineer, the row-level
    security role for venue owners, the sign-in role and the timings' append-only role — never the
    administrative URL."""
    from venuepulse.config import data_dir
    from venuepulse.queries.access.roles import ensure_login_roles

    roles = ensure_login_roles(admin_url, passwords_file=data_dir() / "dashboard-roles.json")
    env = {k: v for k, v in os.environ.items() if k != "VENUEPULSE_DATABASE_URL"}
    env["VENUEPULSE_DASHBOARD_DATABASE_URL"] = roles["reader_url"]
    env["VENUEPULSE_OWNER_DATABASE_URL"] = roles["owner_url"]
    env["VENUEPULSE_SIGNIN_DATABASE_URL"] = roles["signin_url"]
    env["VENUEPULSE_RECORDER_DATABASE_URL"] = roles["recorder_url"]
    return env


def ensure_demo_data(url: str, scale: str) -> None:
    from venuepulse.queries.ops.seeding import has_app_data

    if has_app_data(url):
        say("demo data: the database already has app data; not seeding")
        return
    from venuepulse.jobs.seed import seed

    say(f"demo data: seeding scale '{scale}' (this happens once) ...")
    summary = seed(url, scale=scale, mode="empty", progress=True)
    say(f"demo data: {summary.get('total_rows', 'all')} rows in {summary.get('seconds', 0):.1f}s")


def ensure_demo_accounts(url: str) -> None:
    from venuepulse.queries.access.accounts import create_demo_accounts
    from venuepulse.queries.core.runner import Database

    with Database(url, record=False) as db:
        created = create_demo_accounts(db)
    if not created:
        say("accounts: demo accounts exist already (change a password with 'venuepulse users set-password NAME')")
        return
    say("accounts: demo accounts created — these passwords are shown only now:")
    for username, role, password in created:
        say(f"  {role:<12} {username:<16} {password}")


def run_dashboard(admin_url: str, port: int | None, address: str = "127.0.0.1") -> int:
    """`venuepulse dashboard`: Streamlit in place of this process.

    Exec rather than a child: a supervisor's SIGTERM (systemd, supervisord, a container runtime) then
    reaches Streamlit itself, and nothing is left running when it is stopped.
    """
    env = dashboard_env(admin_url)
    port = choose_port(port, address)
    say(f"dashboard: http://{address}:{port}")
    cmd = streamlit_command(port, address)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(cmd[0], cmd, env)
    return 1  # not reached: execve only returns by raising


def up(admin_url: str, *, started_embedded: bool, data_dir: Path | None, port: int | None, scale: str,
       seed: bool = True, simulate_rate: float = 1.0, jobs: bool = True, read_url: str | None = None,
       replica_dir: Path | None = None) -> int:
    """Everything after the database and migrations; blocks until Ctrl-C.

    ``read_url``: the dashboard reads from that replica; ``replica_dir``: a replica started here, stopped
    with the rest."""
    if seed:
        ensure_demo_data(admin_url, scale)
    ensure_demo_accounts(admin_url)
    env = dashboard_env(admin_url)
    if read_url:
        env["VENUEPULSE_READ_DATABASE_URL"] = read_url  # the dashboard's roles, on the replica (docs/scaling.md)
    child_env = dict(os.environ, VENUEPULSE_DATABASE_URL=admin_url)
    children = Children()
    logs = user_data_dir() / "logs"
    stopping = False

    def on_term(signum, frame):  # SIGTERM behaves like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C stops everything even when SIGINT came in ignored (started in the background by a shell
    # without job control, which leaves Python's KeyboardInterrupt handler uninstalled)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if jobs:
            children.start("jobs", cli_command("jobs"), child_env, logs / "jobs.log")
        if simulate_rate > 0:
            children.start("simulate", cli_command("simulate", "--rate", str(simulate_rate)), child_env,
                           logs / "simulate.log")
        port = choose_port(port)
        children.start("dashboard", streamlit_command(port), env, logs / "dashboard.log")
        running = ", ".join(n for n, _ in children.procs)
        say(f"running: {running}; their output goes to {logs}/<name>.log")
        say(f"VenuePulse is up: http://127.0.0.1:{port}   (Ctrl-C stops everything)")
        while True:
            time.sleep(1.0)
            gone = children.check()
            if gone:
                say(f"venuepulse up: {gone}; stopping the rest")
                return 1
    except KeyboardInterrupt:
        stopping = True
        say("\nstopping ...")
        return 0
    finally:
        children.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        if replica_dir is not None:
            from venuepulse import replica

            replica.stop_replica(replica_dir)
            say(f"stopped the replica in {replica_dir}")
        if started_embedded and data_dir is not None:
            from venuepulse import embedded

            embedded.stop(data_dir)
            say(f"stopped the embedded PostgreSQL in {data_dir}")
        if not stopping:
            say("all processes stopped")
