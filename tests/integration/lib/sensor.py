"""The sensor binary: its environment and runs of it."""

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from lib.common import ROOT

SENSOR = Path(os.environ.get("PULSE_SENSOR", ROOT / "build" / "pulse-sensor"))
if not SENSOR.is_absolute():
    SENSOR = ROOT / SENSOR

# The sensor's settings a test sets itself: none comes from the caller's environment.
SENSOR_VARS = ("KVM_HOST", "PAUSE", "KAFKA_BOOTSTRAP", "KAFKA_TOPIC", "GATHER_HOST_STATS", "DEBUG")
CRASH_MARKERS = ("Segmentation fault", "AddressSanitizer", "terminate called", "core dumped", "Aborted")
BAD_STDERR = ("[error]", "[critical]", "terminate called", "Segmentation fault",
              "AddressSanitizer", "core dumped", "Aborted")

_spools = []
atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _spools])


def sensor_env(drop=(), own_spool=False, **settings):
    """The test's environment without SENSOR_VARS and `drop`, plus `settings`.

    own_spool: a fresh SPOOL_DIR (removed at exit): a shared one would replay earlier tests'
    messages (and two sensors at once would refuse to share it)."""
    env = {k: v for k, v in os.environ.items() if k not in SENSOR_VARS and k not in drop}
    if own_spool:
        env["SPOOL_DIR"] = tempfile.mkdtemp(prefix="pulse-it-spool-")
        _spools.append(env["SPOOL_DIR"])
    env.update({k: str(v) for k, v in settings.items()})
    return env


def run_sensor(args, env, timeout=60, **popen):
    """The sensor with `args` run to its end; returns the CompletedProcess (text)."""
    return subprocess.run([str(SENSOR), *args], env=env, timeout=timeout, capture_output=True,
                          text=True, **popen)


def bad_stderr_lines(text):
    return [line for line in text.splitlines() if any(b in line for b in BAD_STDERR)]


def run_once(timeout=60, **settings):
    """--once with its own spool."""
    return run_sensor(["--once"], sensor_env(own_spool=True, **settings), timeout)


def run_until_sigterm(seconds, stop_timeout=30, **settings):
    """Start the sensor (its own spool), let it run, SIGTERM it; returns (returncode, stdout,
    stderr, stop_s).

    returncode is None when it was still alive stop_timeout seconds after SIGTERM."""
    proc = subprocess.Popen([str(SENSOR)], env=sensor_env(own_spool=True, **settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(seconds)
        alive_before_stop = proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            out, err = proc.communicate(timeout=stop_timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
            rc = None
        stop_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    if not alive_before_stop:
        rc = ("exited before SIGTERM", proc.returncode)
    return rc, out, err, stop_s


def assert_no_crash(test, rc, err):
    for marker in CRASH_MARKERS:
        test.assertNotIn(marker, err, f"sensor stderr shows a crash:\n{err[-3000:]}")
    test.assertFalse(isinstance(rc, int) and rc < 0, f"sensor died by signal {-rc if isinstance(rc, int) else rc}")
