"""The sensor binary: its environment and runs of it."""

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from lib.common import ROOT

SENSOR = Path(os.environ.get("PULSE_SENSOR", ROOT / "build" / "pulse-sensor"))
if not SENSOR.is_absolute():
    SENSOR = ROOT / SENSOR

# The sensor's settings a test sets itself: none comes from the caller's environment.
SENSOR_VARS = ("KVM_HOST", "PAUSE", "KAFKA_BOOTSTRAP", "KAFKA_TOPIC", "GATHER_HOST_STATS", "DEBUG")
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
