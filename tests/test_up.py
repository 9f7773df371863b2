"""`venuepulse up` as a new user runs it: everything starts, the dashboard answers, Ctrl-C stops it all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from venuepulse import embedded

pytestmark = pytest.mark.slow


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float) -> tuple[str, re.Match | None]:
    seen = []
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        m = rx.search(line)
        if m:
            return "".join(seen), m
    return "".join(seen), None


def test_up_on_a_fresh_machine_starts_everything_and_ctrl_c_stops_it(tmp_path: Path):
    data = Path(f"/tmp/vp-up-{os.getpid()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENUEPULSE_")}
    env["VENUEPULSE_DATA_DIR"] = str(data)
    env["PYTHONUNBUFFERED"] = "1"  # what it said before a kill stays in the failure message
    script = Path(sys.executable).parent / "venuepulse"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "venuepulse"]
    proc = subprocess.Popen([*cmd, "up", "--scale", "tiny", "--port", "0", "--simulate-rate", "2"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, m = _read_until(proc, r"VenuePulse is up: (http://\S+)", timeout=600)
        assert m, out
        assert "passwords are shown only now" in out
        assert re.search(r"venue_owner\s+\S+\s+\S{12,}", out), out
        url = m.group(1)
        body = ""
        for _ in range(60):
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(1)
        assert body == "ok"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
        time.sleep(3)  # let jobs and the simulator do something
        assert embedded.is_running(data)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    assert proc.returncode == 0, rest
    for name in ("dashboard", "simulate", "jobs"):
        assert f"stopped {name}" in rest
    assert "Traceback" not in rest
    assert not embedded.is_running(data)
    subprocess.run(["rm", "-rf", str(data)], check=False)
