"""Where things are, the env files the lab scripts write, and waiting for a condition."""

import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent   # tests/integration: the scripts and fixtures
ROOT = HERE.parent.parent                        # the repository
FIXTURES = HERE / "fixtures"
STATE = Path(os.environ.get("PULSE_IT_STATE", "/tmp/pulse-it"))


def read_env_file(path):
    """KEY=VALUE lines as written by the lab scripts (values may be shell-quoted)."""
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        parts = shlex.split(value)
        env[key] = parts[0] if parts else ""
    return env


def free_port():
    """A loopback TCP port nothing listens on: bound to learn it, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, step=0.2):
    """cond() once it is true, polled every `step` s; after `timeout` s, whatever it gives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def wait_for(what, predicate, timeout, step=0.5):
    """Like wait_until, but a timeout fails the test, naming `what`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def terminate(proc, timeout):
    """SIGTERM (unless it has ended), then up to `timeout` s for it to end; one still running
    then is killed. Returns whether it ended by itself."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return False


def bring_up(script, env_name, started):
    """`script up` (nothing to do when it runs already); appended to `started` when there was
    no $PULSE_IT_STATE/`env_name` yet, so that take_down stops what this module started."""
    if not (STATE / env_name).exists():
        started.append(script)
    subprocess.run([str(script), "up"], check=True, timeout=120)


def take_down(started, timeout=300):
    """`script down` for every script in `started`, the last started first."""
    for script in reversed(started):
        subprocess.run([str(script), "down"], timeout=timeout)
    started.clear()
