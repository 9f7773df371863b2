"""`venuepulse dashboard` as a service manager runs it: stopped by SIGTERM, on the port it was given."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "venuepulse"
    return [str(script)] if script.exists() else [sys.executable, "-m", "venuepulse"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENUEPULSE_")}
    env["VENUEPULSE_DATA_DIR"] = str(tmp_path / "data")
    return env


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _streamlit_pids_on(port: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            cmd = _cmdline(int(entry.name))
            if "streamlit" in cmd and f"--server.port {port} " in cmd + " ":
                pids.append(int(entry.name))
    return pids


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "venuepulse dashboard exited before it served anything"
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as resp:
                if resp.read().decode() == "ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} never became healthy")


def test_sigterm_to_venuepulse_dashboard_stops_streamlit_and_leaves_nothing_behind(db_url, tmp_path):
    proc = subprocess.Popen([*_cli(), "dashboard", "--port", "0", "--database-url", db_url],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"dashboard: (http://\S+:(\d+))", line)
        assert m, line
        url, port = m.group(1), int(m.group(2))
        _wait_healthy(url, proc)
        # the process a supervisor knows (the pid it started) is Streamlit itself, not a parent of it
        assert "streamlit" in _cmdline(proc.pid)
        assert _streamlit_pids_on(port) == [proc.pid]
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while _streamlit_pids_on(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _streamlit_pids_on(port) == []


@pytest.mark.parametrize("command", ["dashboard", "up"])
def test_an_explicit_port_that_is_taken_is_refused_naming_it(run_cli, db_url, command):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run_cli(command, "--port", str(port), "--database-url", db_url)
    assert res.returncode == 2, (res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr
    assert err == (f"venuepulse: port {port} on 127.0.0.1 is already in use; stop what listens there "
                   "or choose another with --port")
