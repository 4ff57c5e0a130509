"""The sensor binary: its environment, runs of it to the end, and the Sensor class for one
that keeps running while a test watches it."""

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
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


def run_once(timeout=60, **settings):
    """--once with its own spool."""
    return run_sensor(["--once"], sensor_env(own_spool=True, **settings), timeout)


def assert_no_crash(test, rc, err):
    for marker in CRASH_MARKERS:
        test.assertNotIn(marker, err, f"sensor stderr shows a crash:\n{err[-3000:]}")
    test.assertFalse(isinstance(rc, int) and rc < 0, f"sensor died by signal {-rc if isinstance(rc, int) else rc}")


def bad_stderr_lines(text):
    return [line for line in text.splitlines() if any(b in line for b in BAD_STDERR)]


def http_get(addr, path):
    """GET http://addr/path (METRICS_ADDR's /metrics or /healthz): (status, body); (None,
    reason) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


class Sensor:
    """One pulse-sensor process that keeps running while a test watches it. Its stdout and
    stderr are read by threads as they come, each line with its arrival time (time.time());
    stdout's messages, one JSON array a line or (DEBUG=true) indented over several lines, are
    parsed as soon as they are whole."""

    def __init__(self, env, args=(), label="sensor", binary=None, line_buffered=False):
        """line_buffered: through `stdbuf -oL`, so that a SIGKILL loses at most a line of
        stdout."""
        self.label = label
        self.env = env
        command = [str(binary or SENSOR), *args]
        if line_buffered:
            command = ["stdbuf", "-oL", *command]
        self.started = time.time()
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.bad_stdout = []   # what looked like a message but was no JSON
        self._out = []         # (arrival, line)
        self._err = []         # (arrival, line)
        self._msgs = []        # (arrival, points)
        self._stopped = None
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_err(self):
        for line in self.proc.stderr:
            with self._lock:
                self._err.append((time.time(), line))

    def _read_out(self):
        buf = []
        for line in self.proc.stdout:
            with self._lock:
                self._out.append((time.time(), line))
            text = line.rstrip("\n")
            if not buf and text.startswith("[") and text.endswith("]"):
                self._message(text)
                continue
            buf.append(line)
            if text in ("]", "[]"):   # the end of an indented one
                self._message("".join(buf))
                buf = []
        # a SIGKILL may cut the last message short: that one is simply not counted

    def _message(self, text):
        try:
            points = json.loads(text)
        except ValueError as e:
            self.bad_stdout.append(f"{e}: {text[:300]!r}")
            return
        with self._lock:
            self._msgs.append((time.time(), points))

    # -- what it said
    def messages(self):
        """[(arrival, points)] of every message on stdout so far."""
        with self._lock:
            return list(self._msgs)

    def out_text(self):
        with self._lock:
            return "".join(line for _, line in self._out)

    def err_lines(self):
        with self._lock:
            return [line.rstrip("\n") for _, line in self._err]

    def err_text(self):
        with self._lock:
            return "".join(line for _, line in self._err)

    def err_tail(self, n=30):
        return "\n".join(self.err_lines()[-n:])

    def alive(self):
        return self.proc.poll() is None

    def get(self, path):
        """http_get on its METRICS_ADDR."""
        return http_get(self.env["METRICS_ADDR"], path)

    def wait_for(self, what, cond, timeout):
        """cond()'s first true value, polled every 0.2 s; fails the test when the sensor exits
        first or `timeout` s pass."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sensor exited ({self.proc.returncode}) waiting for "
                                     f"{what}\n{self.err_tail()}")
            last = cond()
            if last:
                return last
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {timeout} s (last: {last!r})\n{self.err_tail()}")

    # -- stopping it
    def stop(self, timeout=30):
        """SIGTERM, as systemd and `docker stop` send it; returns (exit status, seconds to
        exit): None when it was still alive `timeout` s later (it is killed then),
        ("exited before SIGTERM", status) when it was gone already. Again: the same answer."""
        if self._stopped is not None:
            return self._stopped
        if not self.alive():
            self._stopped = (("exited before SIGTERM", self.proc.returncode), 0.0)
            self._join()
            return self._stopped
        self.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            self.proc.wait(timeout=timeout)
            rc = self.proc.returncode
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            rc = None
        self._stopped = (rc, time.monotonic() - t0)
        self._join()
        return self._stopped

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._join()

    def close(self):
        """Whatever happened: not running any more, its output read."""
        if self.alive():
            self.kill()
        self._join()

    def _join(self):
        for t in self._threads:
            t.join(timeout=10)


def run_until_sigterm(seconds, stop_timeout=30, **settings):
    """Start the sensor (its own spool), let it run, SIGTERM it; returns (returncode, stdout,
    stderr, stop_s).

    returncode is None when it was still alive stop_timeout seconds after SIGTERM."""
    sensor = Sensor(sensor_env(own_spool=True, **settings))
    try:
        time.sleep(seconds)
        rc, stop_s = sensor.stop(timeout=stop_timeout)
    finally:
        sensor.close()
    return rc, sensor.out_text(), sensor.err_text(), stop_s
