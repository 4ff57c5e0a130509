"""pulse-sensor under faults: a broker outage, a SIGKILL, a libvirtd restart, domain churn, a
full spool and a stop while the broker is away.

    tests/integration/run faults
    # or by hand, with the lab up (libvirt-lab.sh up) and the Kafka jars installed:
    /usr/bin/python3 -m pytest -v -s tests/integration/test_faults.py

Real components only: the lab's libvirtd with QEMU domains (KVM_HOST=qemu:///system from
lab.env, started with `libvirt-lab.sh up` when it is not up, and then taken down again) and a
Kafka broker of this module's own (`kafka.sh` with PULSE_IT_STATE=$PULSE_IT_STATE/faults-kafka):
tests 1-2 stop the broker for two minutes, and a broker that other tests or people use must not
go away under them. Every sensor runs at PAUSE=1 with its own topic and its own SPOOL_DIR (in a
temporary directory), from a copy of the binary taken at the start (it may be rebuilt meanwhile).
DEBUG=true makes the sensor print every message it produces on stdout (run through
`stdbuf -oL`, so that a SIGKILL loses at most a line of it) and log one line per poll: that is
what "produced" means below, compared with what kcat reads back from the topic.

Other domains may come and go on the same libvirtd (someone may benchmark on the lab): the
per-poll checks are about the lab's own domains that run for the whole test ("stable"); other
keys are only checked for shape and duplicates.

  1  broker stopped for >= 120 s (kafka.sh stop / start) under a running sensor: after the
     broker is back and delivery caught up, every produced message is on the topic exactly once,
     every poll has one message per stable domain, no poll time is missing unless the sensor
     logged an overrun, and each key's messages are in time order on the topic
  2  the same outage (run side by side with 1, own topic and spool): the sensor is SIGKILLed
     about half-way into it and started again on the same SPOOL_DIR; everything produced before
     the kill (but the last poll) arrives; duplicates are allowed across the restart only
  3  libvirtd stopped for about 5 s (libvirt-lab.sh stop-daemon / start-daemon): the sensor
     keeps running, logs the loss once (at most 3 warning/error lines, overruns aside), and
     has a complete poll within PAUSE + 3 s after libvirtd answers again; SIGTERM exits 0
  4  the lab's spare domain started and destroyed over and over (at least 3 cycles, about
     15 s: `libvirt-lab.sh start-domain`, which waits for the guest's disk IO, alternating with
     a bare `virsh start` for shorter cycles; `libvirt-lab.sh destroy-domain`) while the sensor
     polls: no crash, exit 0, at most 2 warning/error lines per cycle + 2 (overruns, from polls
     that wait for a destroy, counted apart), every message contract-shaped; the spare's
     messages may lack NIC/disk points only in polls that overlapped a destroy
  5  no broker and SPOOL_MAX_BYTES=64K: "spool full" logged once with a count, dropped > 0 in
     the exit line, the spool directory stays within the bound
  6  SIGTERM with no broker and SHUTDOWN_TIMEOUT=3: exit 0 within 4 s with messages left in the
     spool, which a `--once` run on the same SPOOL_DIR delivers

Each test writes a summary line (produced, delivered, spooled, dropped) to stderr and to
$PULSE_IT_STATE/faults-summary.log. The module takes about 3.5 minutes (2 of them the outage).

Environment: PULSE_SENSOR, PULSE_IT_STATE (as for the other modules), PULSE_IT_KEEP=1 (leave the
lab and broker this module started running), PULSE_IT_OUTAGE_S (length of the broker outage of
tests 1-2, default 120; shorter only to try the test logic out).
"""

import calendar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import unittest
import uuid
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True   # keep the source tree clean
from lib import contract  # noqa: E402
from lib.common import STATE, free_port, read_env_file  # noqa: E402
from lib.contract import ContractChecks  # noqa: E402
from lib.kafka import KAFKA_SH, consume  # noqa: E402
from lib.sensor import CRASH_MARKERS, SENSOR  # noqa: E402
from lib.sensor import SENSOR_VARS as _SENSOR_VARS  # noqa: E402
from lib.lab import ensure_lab, lab  # noqa: E402

ROOT = HERE.parent.parent
KAFKA_STATE = STATE / "faults-kafka"      # this module's own broker (kafka.sh state directory)
LAB_SH = HERE / "libvirt-lab.sh"
SUMMARY_LOG = STATE / "faults-summary.log"

PAUSE = 1
OUTAGE_S = float(os.environ.get("PULSE_IT_OUTAGE_S", "120"))
RECOVERY_MARGIN_S = 3.0      # test 3: a complete poll within PAUSE + this after libvirtd is back
CATCH_UP_BOUND_S = 120.0     # tests 1-2: delivery must catch up within this after the broker is back

SENSOR_VARS = _SENSOR_VARS + ("SPOOL_DIR", "SPOOL_MAX_BYTES", "SHUTDOWN_TIMEOUT")
EXIT_RE = re.compile(r"kafka: (\d+) messages produced, (\d+) delivered, (\d+) failed, "
                     r"(\d+) dropped \(spool full\), (\d+) left in the spool")
POLL_RE = re.compile(r"\[debug\] poll (\S+): (\d+) domains, (\d+) messages, (\d+) points, "
                     r"(\d+) libvirt calls")
POLL_MS_RE = re.compile(r"\[debug\] poll .* libvirt calls, ([\d.]+) ms")
OVERRUN_RE = re.compile(r"\[warning\] a poll took .* skipped (\d+) tick")
LEVEL_RE = re.compile(r"\[(warning|error|critical)\]")
# The brief's wording is "a warning line containing `spool full`"; this finds lines that are
# about a full spool in other words, to say so when the exact wording is missing.
FULL_LOOSE_RE = re.compile(r"spool\b.*\bfull\b")

# set by setUpModule
SENSOR_BIN = None
TMP = None
URI = None
LAB = {}
LAB_DOMS = {}         # lab domain name -> lab.json entry
BOOTSTRAP = None
_started = []         # what this module brought up: "lab", "kafka"
_sensors = []         # every Sensor started, to make sure none is left running


# ------------------------------------------------------------------ module set-up
def run(cmd, timeout, env=None):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, env=env)


def kafka_env():
    return {**os.environ, "PULSE_IT_STATE": str(KAFKA_STATE)}


def kafka_sh(*args, timeout=180):
    p = run([KAFKA_SH, *args], timeout, env=kafka_env())
    if p.returncode != 0:
        raise RuntimeError(f"kafka.sh {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


def broker_pid_alive(env_file):
    pid = read_env_file(env_file).get("KAFKA_PID", "")
    try:
        return bool(pid) and "kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


def setUpModule():
    global SENSOR_BIN, TMP, URI, LAB, LAB_DOMS, BOOTSTRAP
    STATE.mkdir(parents=True, exist_ok=True)
    SUMMARY_LOG.write_text("")
    sensor = SENSOR if SENSOR.is_absolute() else ROOT / SENSOR
    if not sensor.exists():
        raise unittest.SkipTest(f"no sensor binary at {sensor} (build it or set PULSE_SENSOR)")
    if os.geteuid() != 0:
        raise unittest.SkipTest("the libvirt lab needs root")
    helptext = run([sensor, "--help"], 30).stdout
    if "SPOOL_DIR" not in helptext or "SHUTDOWN_TIMEOUT" not in helptext:
        raise unittest.SkipTest(f"{sensor} has no SPOOL_DIR/SHUTDOWN_TIMEOUT yet (--help)")
    TMP = Path(tempfile.mkdtemp(prefix="pulse-faults-"))
    SENSOR_BIN = TMP / "pulse-sensor"
    shutil.copy2(sensor, SENSOR_BIN)

    if ensure_lab():
        _started.append("lab")
    LAB = read_env_file(STATE / "lab.env")
    URI = LAB["LAB_URI"]
    LAB_DOMS = {d["name"]: d for d in json.loads(Path(LAB["LAB_JSON"]).read_text())["domains"]}

    env_file = KAFKA_STATE / "kafka.env"
    if not (env_file.exists() and broker_pid_alive(env_file)):
        _started.append("kafka")
    KAFKA_STATE.mkdir(parents=True, exist_ok=True)
    kafka_sh("up")
    BOOTSTRAP = read_env_file(env_file)["KAFKA_BOOTSTRAP"]


def tearDownModule():
    for s in _sensors:
        s.close()
    keep = os.environ.get("PULSE_IT_KEEP") == "1"
    if "kafka" in _started and not keep:
        run([KAFKA_SH, "down"], 120, env=kafka_env())
        shutil.rmtree(KAFKA_STATE, ignore_errors=True)
    if "lab" in _started and not keep:
        run([LAB_SH, "down"], 300)
    _started.clear()
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)


# ------------------------------------------------------------------ the sensor under test
class Sensor:
    """One pulse-sensor process; stdout and stderr are read by threads as they come, each line
    with its arrival time. With DEBUG=true stdout carries every message indented: parsed here
    into (arrival, points) as soon as the closing bracket arrives."""

    def __init__(self, label, spool_dir, topic=None, bootstrap=None, args=(), **settings):
        self.label = label
        env = {k: v for k, v in os.environ.items() if k not in SENSOR_VARS}
        env.update(KVM_HOST=URI, PAUSE=str(PAUSE), GATHER_HOST_STATS="false", DEBUG="true",
                   SPOOL_DIR=str(spool_dir))
        if bootstrap:
            env.update(KAFKA_BOOTSTRAP=bootstrap, KAFKA_TOPIC=topic)
        env.update({k: str(v) for k, v in settings.items()})
        self.env = env
        self.started = time.time()
        self.proc = subprocess.Popen(["stdbuf", "-oL", str(SENSOR_BIN), *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _sensors.append(self)
        self.err = []          # (arrival, line)
        self.msgs = []         # (arrival, points)
        self.bad_stdout = []
        self.rc = None
        self.stop_s = None
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_err(self):
        for line in self.proc.stderr:
            with self._lock:
                self.err.append((time.time(), line.rstrip("\n")))

    def _read_out(self):
        buf = []
        for line in self.proc.stdout:
            buf.append(line)
            if line.rstrip("\n") in ("]", "[]"):
                text = "".join(buf)
                buf = []
                try:
                    points = json.loads(text)
                except ValueError as e:
                    self.bad_stdout.append(f"{e}: {text[:300]!r}")
                    continue
                with self._lock:
                    self.msgs.append((time.time(), points))
        # a SIGKILL may cut the last message short: that one is simply not counted

    # -- what it said
    def err_lines(self):
        with self._lock:
            return [line for _, line in self.err]

    def err_text(self):
        return "\n".join(self.err_lines())

    def messages(self):
        with self._lock:
            return list(self.msgs)

    def produced(self):
        """(key, time) of every message printed, in order."""
        return [msg_pair(points) for _, points in self.messages()]

    def poll_lines(self):
        with self._lock:
            return [(t, int(m.group(2))) for t, line in self.err if (m := POLL_RE.search(line))]

    def skipped_ticks(self):
        return sum(int(m.group(1)) for line in self.err_lines() if (m := OVERRUN_RE.search(line)))

    def exit_counters(self):
        found = [m for line in self.err_lines() if (m := EXIT_RE.search(line))]
        if not found:
            return None
        return dict(zip(("produced", "delivered", "failed", "dropped", "left"),
                        map(int, found[-1].groups())))

    def alive(self):
        return self.proc.poll() is None

    # -- stopping it
    def stop(self, timeout=30):
        """SIGTERM; returns (exit status or None if it hung, seconds to exit)."""
        if not self.alive():
            self.rc = ("exited before SIGTERM", self.proc.returncode)
            self._join()
            return self.rc, 0.0
        self.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            self.proc.wait(timeout=timeout)
            self.rc = self.proc.returncode
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.rc = None
        self.stop_s = time.monotonic() - t0
        self._join()
        return self.rc, self.stop_s

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._join()

    def close(self):
        if self.alive():
            self.kill()
        self._join()

    def _join(self):
        for t in self._threads:
            t.join(timeout=10)


def wait_until(cond, timeout, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def sleep_until(t):
    while time.time() < t:
        time.sleep(min(0.5, max(0.0, t - time.time())))


class SpoolWatch:
    """Samples a spool directory's size every 50 ms in a thread: segments and other files."""

    def __init__(self, path):
        self.path = Path(path)
        self.max_segments = 0
        self.max_total = 0
        self.max_files = 0
        self.last = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.05)

    def sample(self):
        segs, total, files = spool_usage(self.path)
        self.max_segments = max(self.max_segments, segs)
        self.max_total = max(self.max_total, total)
        self.max_files = max(self.max_files, files)
        self.last = (segs, total)
        return segs, total

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()


def spool_usage(path):
    """(bytes in *.seg files, bytes in all files, number of files) of a spool directory."""
    segs = total = files = 0
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return 0, 0, 0
    for e in entries:
        try:
            if not e.is_file(follow_symlinks=False):
                continue
            size = e.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue   # deleted while we looked
        files += 1
        total += size
        if e.name.endswith(".seg"):
            segs += size
    return segs, total, files


# ------------------------------------------------------------------ messages and topics
def msg_pair(points):
    """(key, time) of a message, from its points: the domain UUID, or vmHost for nodeInfo."""
    first = points[0] if points and isinstance(points[0], dict) else {}
    tags = first.get("tags") or {}
    key = tags.get("vmHost") if first.get("measurement") == "nodeInfo" else tags.get("vmUuid")
    return key, first.get("time")


def epoch(t):
    return calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ"))


def create_topics(n, partitions=2):
    names = [f"pulse-faults-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    procs = [subprocess.Popen([str(KAFKA_SH), "create-topic", name, str(partitions)],
                              env=kafka_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for name in names]
    errors = []
    for name, p in zip(names, procs):
        try:
            _, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        if p.returncode != 0:
            errors.append(f"kafka.sh create-topic {name} failed ({p.returncode}):\n{err}")
    if errors:
        raise AssertionError("\n".join(errors))
    return names


def read_topic(topic):
    """Every message of the topic as dicts: key, partition, offset, time, points (None when
    the value is not JSON), value."""
    out = []
    for key, partition, offset, value in consume(topic, BOOTSTRAP):
        try:
            points = json.loads(value)
            t = points[0]["time"]
        except (ValueError, LookupError, TypeError):
            points, t = None, None
        out.append({"key": key, "partition": partition, "offset": offset, "time": t,
                    "points": points, "value": value})
    return out


def topic_pairs(msgs):
    return Counter((m["key"], m["time"]) for m in msgs)


def missing_from_topic(produced, pairs):
    """Messages the sensor printed, as (key, time) counts, that the topic does not hold."""
    missing = produced - pairs
    return [f"{sum(missing.values())} produced messages not on the topic"] if missing else []


def live_uuids():
    """UUIDs of the active domains (any state), in one virsh call (other domains may come and
    go meanwhile: lib.lab.live_domains' per-domain calls would race with them)."""
    p = run(["virsh", "-q", "-c", URI, "list", "--uuid"], 60)
    if p.returncode != 0:
        raise RuntimeError(f"virsh list --uuid failed: {p.stderr}")
    return set(p.stdout.split())


def domain_names():
    p = run(["virsh", "-q", "-c", URI, "list", "--all", "--name"], 60)
    return set(p.stdout.split())


def lab_uuid(name):
    return LAB_DOMS[name]["uuid"]


def stable_lab_uuids(*live_sets):
    """UUIDs of the lab's domains that were active in every one of the given live_domains()
    readings (the spare domain excluded)."""
    spare = LAB.get("LAB_SPARE", "i-4-20-VM")
    out = {}
    for name, d in LAB_DOMS.items():
        if name != spare and all(d["uuid"] in live for live in live_sets):
            out[d["uuid"]] = name
    return out


def name_of(key):
    for name, d in LAB_DOMS.items():
        if d["uuid"] == key:
            return name
    return key


def poll_problems(msgs_or_pairs, stable, times=None, exact=True, limit=15):
    """Every poll time (all seen, or the given ones) has one message per stable domain (at
    least one when exact is False), and no key twice at one time when exact."""
    per_time = defaultdict(Counter)
    for key, t in msgs_or_pairs:
        per_time[t][key] += 1
    problems = []
    for t in sorted(times if times is not None else per_time):
        keys = per_time.get(t, Counter())
        for u, name in stable.items():
            n = keys.get(u, 0)
            if n == 0 or (exact and n != 1):
                problems.append(f"poll {t}: {n} messages for {name} (key {u}), expected "
                                f"{'exactly' if exact else 'at least'} 1")
        if exact:
            for k, n in keys.items():
                if n > 1 and k not in stable:
                    problems.append(f"poll {t}: {n} messages for key {k}, expected at most 1")
    return problems[:limit] + ([f"... {len(problems) - limit} more"] if len(problems) > limit else [])


def order_problems(msgs, keys=None, limit=10):
    """Each key in one partition, and its poll times strictly increasing with the offset."""
    by_key = defaultdict(list)
    for m in msgs:
        if keys is None or m["key"] in keys:
            by_key[m["key"]].append(m)
    problems = []
    for key, ms in by_key.items():
        parts = {m["partition"] for m in ms}
        if len(parts) > 1:
            problems.append(f"key {key} ({name_of(key)}) spread over partitions {sorted(parts)}")
            continue
        ms.sort(key=lambda m: m["offset"])
        for a, b in zip(ms, ms[1:]):
            if not (a["time"] and b["time"] and a["time"] < b["time"]):
                problems.append(f"key {key} ({name_of(key)}): offset {a['offset']} has time "
                                f"{a['time']}, the next offset {b['offset']} has {b['time']}")
    return problems[:limit]


def _shape_checker():
    class Shape(ContractChecks, unittest.TestCase):
        def runTest(self):
            pass
    return Shape()


def shape_problems(msgs, dying=(), limit=10):
    """Contract shape of each topic message: strict for the lab's domains (NIC and disk counts
    from lab.json), the common rules for other domains. Domains in `dying` (UUIDs) are being
    destroyed during the test: a poll that overlaps `virsh destroy` may find the tap gone, so
    their messages may have fewer NICs and disks than lab.json, never more (short_messages
    counts those)."""
    checker = _shape_checker()
    lab_domains = {d["uuid"]: {"name": d["name"], "nics": len(d["nics"]), "disks": len(d["disks"])}
                   for d in LAB_DOMS.values()}
    problems = []
    for m in msgs:
        if m["points"] is None:
            problems.append(f"offset {m['offset']}: not a JSON array with a time: {m['value'][:200]!r}")
            continue
        try:
            if m["key"] in dying:
                foreign_shape(checker, m["key"], m["points"])
                letters = "".join(contract.ORDER_LETTER.get(p["measurement"], "?") for p in m["points"])
                lab = lab_domains[m["key"]]
                checker.assertLessEqual(letters.count("N"), lab["nics"], "networkInterface points")
                checker.assertLessEqual(letters.count("D"), lab["disks"], "disk points")
                checker.assertEqual(m["points"][0]["tags"]["vmId"], lab["name"])
            elif m["key"] in lab_domains or m["key"] == URI:
                checker.check_message(m["key"], m["value"], URI, lab_domains)
            else:
                foreign_shape(checker, m["key"], m["points"])
        except AssertionError as e:
            problems.append(f"offset {m['offset']} key {m['key']} ({name_of(m['key'])}): {e}")
        if len(problems) >= limit:
            break
    return problems


def short_messages(msgs, name):
    """'<poll time> <measurement letters>' of `name`'s messages with fewer NIC or disk points
    than lab.json lists."""
    d = LAB_DOMS[name]
    out = []
    for m in msgs:
        if m["key"] == d["uuid"] and m["points"]:
            letters = "".join(contract.ORDER_LETTER.get(p.get("measurement"), "?") for p in m["points"])
            if letters.count("N") < len(d["nics"]) or letters.count("D") < len(d["disks"]):
                out.append(f"{m['time']} {letters}")
    return out


def foreign_shape(checker, key, points):
    """A domain the lab does not know (someone else's): the contract's common rules only."""
    checker.assertIsInstance(points, list)
    checker.assertTrue(points, f"empty message for key {key}")
    checker.assertEqual(len({p.get("time") for p in points}), 1, "points carry different times")
    letters = "".join(contract.ORDER_LETTER.get(p.get("measurement"), "?") for p in points)
    checker.assertRegex(letters, contract.ORDER_RE, "measurement order")
    for p in points:
        checker.assertEqual(set(p), {"measurement", "tags", "fields", "time"}, p)
        checker.assertRegex(p["time"], contract.TIME_RE)
        m = p["measurement"]
        checker.assertEqual(set(p["tags"]), {"vmHost", "vmId", "vmUuid"} | contract.EXTRA_TAGS[m])
        checker.assertEqual(p["tags"]["vmUuid"], key)
        checker.assertEqual(p["tags"]["vmHost"], URI)
        checker.assertLessEqual(set(p["fields"]), contract.FIELDS[m], f"fields of {m}")


def missing_seconds(times):
    """Poll times (strings) -> list of (after, before, missing count) gaps larger than PAUSE."""
    secs = sorted({epoch(t) for t in times})
    return [(a, b, b - a - PAUSE) for a, b in zip(secs, secs[1:]) if b - a > PAUSE]


def fmt_gaps(gaps, limit=8):
    out = [f"{time.strftime('%H:%M:%S', time.gmtime(a))}->{time.strftime('%H:%M:%S', time.gmtime(b))}"
           f" ({n} missing)" for a, b, n in gaps[:limit]]
    return ", ".join(out) + (f", ... {len(gaps) - limit} more" if len(gaps) > limit else "")


def bad_lines(sensor, levels=("critical",)):
    crash = [line for line in sensor.err_lines() if any(c in line for c in CRASH_MARKERS)]
    lvl = [line for line in sensor.err_lines()
           if (m := LEVEL_RE.search(line)) and m.group(1) in levels]
    return crash + lvl


def summary(test, produced, delivered, spooled, dropped, extra=""):
    line = (f"faults {test}: produced {produced}, delivered {delivered} (seen on the topic), "
            f"spooled {spooled}, dropped {dropped}" + (f"; {extra}" if extra else ""))
    sys.stderr.write(f"\n  {line}\n")
    sys.stderr.flush()
    with open(SUMMARY_LOG, "a") as f:
        f.write(line + "\n")


def tail(sensor, n=40):
    return "\n".join(sensor.err_lines()[-n:])


class FaultTest(unittest.TestCase):
    maxDiff = None

    def assertNoProblems(self, problems, what, sensors=()):
        if problems:
            logs = "".join(f"\n--- {s.label} stderr (last lines) ---\n{tail(s)}" for s in sensors)
            self.fail(f"{what}: {len(problems)} problem(s):\n  " + "\n  ".join(problems) + logs)


# ------------------------------------------------------------------ 1 and 2: broker outage
class Test12BrokerOutage(FaultTest):
    """One outage of >= 120 s for two sensors side by side: A runs throughout (test 1), B is
    SIGKILLed half-way into the outage and started again on its spool (test 2)."""

    @classmethod
    def setUpClass(cls):
        r = cls.r = types.SimpleNamespace(catch_up={})
        r.topic_a, r.topic_b = create_topics(2)
        r.spool_a, r.spool_b = TMP / "spool-1", TMP / "spool-2"
        r.live_before = live_uuids()
        r.a = Sensor("A (test 1)", r.spool_a, r.topic_a, BOOTSTRAP, SHUTDOWN_TIMEOUT=20)
        r.b1 = Sensor("B1 (test 2, killed)", r.spool_b, r.topic_b, BOOTSTRAP, SHUTDOWN_TIMEOUT=20)
        r.b2 = None
        r.watch_a, r.watch_b = SpoolWatch(r.spool_a), SpoolWatch(r.spool_b)
        broker_down = False
        try:
            if not wait_until(lambda: len(r.a.poll_lines()) >= 3 and len(r.b1.poll_lines()) >= 3, 30):
                raise AssertionError(f"the sensors did not poll 3 times in 30 s:\n{tail(r.a)}\n{tail(r.b1)}")
            r.t_stop0 = time.time()
            broker_down = True
            kafka_sh("stop")
            r.t_down = time.time()
            sleep_until(r.t_down + OUTAGE_S / 2)
            r.b1_alive = r.b1.alive()
            r.b1.kill()
            r.t_kill = time.time()
            r.b2 = Sensor("B2 (test 2, restarted)", r.spool_b, r.topic_b, BOOTSTRAP,
                          SHUTDOWN_TIMEOUT=20)
            sleep_until(r.t_down + OUTAGE_S)
            r.a_alive, r.b2_alive = r.a.alive(), r.b2.alive()
            r.spool_at_start = (r.watch_a.sample(), r.watch_b.sample())
            r.t_start0 = time.time()
            kafka_sh("start")
            broker_down = False
            r.t_up = time.time()
            up = epoch_str(r.t_up)
            # caught up: everything required from before the broker came back is on the topic,
            # and so is a poll stamped after it
            need_a = [p for p in r.a.produced() if p[1] <= up]
            b1_produced = r.b1.produced()
            r.b1_last = max((t for _, t in b1_produced), default=None)
            need_b = [p for p in b1_produced if p[1] != r.b1_last] + \
                     [p for p in r.b2.produced() if p[1] <= up]
            pending = {"A": (r.topic_a, need_a), "B": (r.topic_b, need_b)}
            deadline = r.t_up + CATCH_UP_BOUND_S
            while pending and time.time() < deadline:
                for name, (topic, need) in list(pending.items()):
                    have = topic_pairs(read_topic(topic))
                    if all(have[p] for p in need) and any(t and t > up for _, t in have):
                        r.catch_up[name] = time.time() - r.t_up
                        del pending[name]
                time.sleep(2)
            time.sleep(2)   # a poll or two after catching up
            r.rc_a, r.stop_a = r.a.stop(timeout=40)
            r.rc_b2, r.stop_b2 = r.b2.stop(timeout=40)
            r.t_end = time.time()
        finally:
            for s in (r.a, r.b1, r.b2):
                if s is not None:
                    s.close()
            r.watch_a.stop()
            r.watch_b.stop()
            if broker_down:
                kafka_sh("start")
        r.msgs_a = read_topic(r.topic_a)
        r.msgs_b = read_topic(r.topic_b)
        r.live_after = live_uuids()
        r.stable = stable_lab_uuids(r.live_before, r.live_after)

    def test_1_outage_every_poll_arrives_once_and_in_order(self):
        r = self.r
        a = r.a
        problems = []
        if not r.a_alive:
            problems.append(f"the sensor exited during the outage: {a.proc.returncode}")
        if r.rc_a != 0:
            problems.append(f"exit status after SIGTERM: {r.rc_a}, expected 0")
        problems += [f"stderr: {line}" for line in bad_lines(a)]
        problems += [f"stdout not JSON: {b}" for b in a.bad_stdout[:3]]
        if not r.stable:
            problems.append("no lab domain ran for the whole test")
        produced = Counter(a.produced())
        on_topic = topic_pairs(r.msgs_a)
        lost = sorted(produced - on_topic)
        twice = sorted((p, n) for p, n in on_topic.items() if n > 1)
        extra = sorted(on_topic - produced)
        if lost:
            problems.append(f"{sum((produced - on_topic).values())} produced messages are not on "
                            f"the topic, e.g. {[(name_of(k), t) for k, t in lost[:5]]}")
        if twice:
            problems.append(f"{len(twice)} (key, time) pairs on the topic more than once, e.g. "
                            f"{[(name_of(k), t, n) for (k, t), n in twice[:5]]}")
        if extra:
            problems.append(f"{len(extra)} messages on the topic the sensor did not print, e.g. "
                            f"{extra[:3]}")
        problems += poll_problems(on_topic.elements(), r.stable)
        times = {t for _, t in produced}
        gaps = missing_seconds(times)
        skipped = a.skipped_ticks()
        if sum(n for _, _, n in gaps) > skipped:
            problems.append(f"poll times missing: {fmt_gaps(gaps)}; the sensor logged "
                            f"{skipped} skipped tick(s) (overruns); {len(a.poll_lines())} poll "
                            f"lines, {len(times)} distinct poll times")
        outage_polls = {t for t in times if r.t_down <= epoch(t) < r.t_start0}
        if len(outage_polls) < (r.t_start0 - r.t_down - skipped) * 0.9 - 1:
            problems.append(f"only {len(outage_polls)} polls during the {r.t_start0 - r.t_down:.0f} s "
                            f"outage at PAUSE={PAUSE}")
        problems += order_problems(r.msgs_a)
        problems += shape_problems(r.msgs_a)
        c = a.exit_counters()
        if c is None:
            problems.append("no exit line 'kafka: P messages produced, D delivered, ...'")
        else:
            if c["produced"] != sum(produced.values()):
                problems.append(f"exit line: {c['produced']} produced, but {sum(produced.values())} "
                                f"messages were printed (DEBUG)")
            if c["delivered"] != len(r.msgs_a):
                problems.append(f"exit line: {c['delivered']} delivered, but {len(r.msgs_a)} on the topic")
            if c["failed"] or c["dropped"] or c["left"]:
                problems.append(f"exit line: {c['failed']} failed, {c['dropped']} dropped, "
                                f"{c['left']} left in the spool; expected 0 each")
        if "A" not in r.catch_up:
            problems.append(f"delivery did not catch up within {CATCH_UP_BOUND_S:.0f} s of the broker's return")
        if r.spool_at_start[0][0] == 0:
            problems.append("the spool directory had no segment bytes at the end of the outage")
        spooled = sum(n for (k, t), n in produced.items() if r.t_down <= epoch(t) < r.t_up)
        summary("1 (broker outage)", sum(produced.values()), len(r.msgs_a), spooled,
                c["dropped"] if c else "?",
                f"outage {r.t_up - r.t_stop0:.0f} s (broker stop {r.t_down - r.t_stop0:.1f} s, "
                f"start {r.t_up - r.t_start0:.1f} s), {len(outage_polls)} polls during it, "
                f"spool peak {r.watch_a.max_total // 1024} KiB, caught up "
                f"{r.catch_up.get('A', float('nan')):.1f} s after the broker answered, "
                f"SIGTERM->exit {r.stop_a or 0:.1f} s, {skipped} skipped ticks, "
                f"{len(r.stable)} stable lab domains")
        self.assertNoProblems(problems, "test 1 (broker outage)", [a])

    def test_2_sigkill_during_outage_loses_nothing(self):
        r = self.r
        b1, b2 = r.b1, r.b2
        problems = []
        if not r.b1_alive:
            problems.append(f"B1 exited before the SIGKILL: {b1.proc.returncode}")
        if b2 is None:
            self.fail("B2 was never started")
        if not r.b2_alive:
            problems.append(f"B2 exited during the outage: {b2.proc.returncode}")
        if r.rc_b2 != 0:
            problems.append(f"B2 exit status after SIGTERM: {r.rc_b2}, expected 0")
        problems += [f"B1 stderr: {line}" for line in bad_lines(b1)]
        problems += [f"B2 stderr: {line}" for line in bad_lines(b2)]
        if not any("from an earlier run" in line for line in b2.err_lines()):
            problems.append("B2 did not log '... from an earlier run' although the spool held B1's messages")
        b1_pairs = Counter(b1.produced())
        b2_pairs = Counter(b2.produced())
        on_topic = topic_pairs(r.msgs_b)
        required_b1 = Counter({p: n for p, n in b1_pairs.items() if p[1] != r.b1_last})
        lost_b1 = sorted(required_b1 - on_topic)
        if lost_b1:
            problems.append(f"{len(lost_b1)} messages B1 produced before the SIGKILL (not counting "
                            f"its last poll {r.b1_last}) are not on the topic, e.g. "
                            f"{[(name_of(k), t) for k, t in lost_b1[:6]]}")
        # B1's messages from after the broker went away never reached it: B2 sends them once.
        # B2's first poll may fall in the second of B1's last one: two polls, one time stamp, so
        # the counts below add up what each process printed for a (key, time).
        down = epoch_str(r.t_down + 1)
        both = b1_pairs + b2_pairs
        once = {p for p in required_b1 if p[1] >= down} | set(b2_pairs)
        twice = sorted((name_of(k), t, on_topic[(k, t)], both[(k, t)]) for k, t in once
                       if on_topic[(k, t)] > both[(k, t)])
        if twice:
            problems.append(f"{len(twice)} messages produced after the broker went away are on the "
                            f"topic more often than produced (within one process lifetime): "
                            f"(domain, time, on the topic, produced) {twice[:5]}")
        lost_b2 = sorted(p for p, n in b2_pairs.items() if on_topic[p] < n + required_b1[p])
        if lost_b2:
            problems.append(f"{len(lost_b2)} messages B2 produced are not on the topic, e.g. "
                            f"{[(name_of(k), t) for k, t in lost_b2[:5]]}")
        b1_times = {t for _, t in required_b1}
        b2_times = {t for _, t in b2_pairs}
        incomplete = []
        for t in sorted(b1_times | b2_times):
            for u, name in r.stable.items():
                if both[(u, t)] == 0:
                    incomplete.append(f"poll {t}: no message printed for {name}")
                elif on_topic[(u, t)] == 0:
                    incomplete.append(f"poll {t}: no message on the topic for {name}")
        problems += incomplete[:15]
        b1_polls = len(b1.poll_lines())
        if b1_polls > len(b1_times) + 1:
            problems.append(f"B1 logged {b1_polls} polls but printed only {len(b1_times)} poll times")
        gaps = missing_seconds(set(b1_times) | b2_times)
        # the restart itself leaves a gap of a second or two
        restart_gap = [g for g in gaps if g[0] <= r.t_kill <= g[1] + 1]
        other = [g for g in gaps if g not in restart_gap]
        skipped = b1.skipped_ticks() + b2.skipped_ticks()
        if sum(n for _, _, n in other) > skipped:
            problems.append(f"poll times missing outside the restart: {fmt_gaps(other)}; "
                            f"{skipped} skipped tick(s) logged")
        if restart_gap and restart_gap[0][2] > 5:
            problems.append(f"the restart lost {restart_gap[0][2]} s of polls: {fmt_gaps(restart_gap)}")
        b2_keys_msgs = [m for m in r.msgs_b
                        if (m["key"], m["time"]) in b2_pairs and (m["key"], m["time"]) not in b1_pairs]
        problems += order_problems(b2_keys_msgs)
        problems += shape_problems(r.msgs_b)
        c = b2.exit_counters()
        if c is None:
            problems.append("B2 has no exit line")
        elif c["left"] or c["dropped"] or c["failed"]:
            problems.append(f"B2 exit line: {c['failed']} failed, {c['dropped']} dropped, "
                            f"{c['left']} left in the spool; expected 0 each")
        if "B" not in r.catch_up:
            problems.append(f"delivery did not catch up within {CATCH_UP_BOUND_S:.0f} s of the broker's return")
        dup_total = sum(max(0, n - both[p]) for p, n in on_topic.items())
        shared = sorted({t for _, t in b1_pairs} & b2_times)
        recovered = [line for line in b2.err_lines() if "from an earlier run" in line]
        summary("2 (SIGKILL during the outage)",
                f"{sum(b1_pairs.values())} (B1) + {sum(b2_pairs.values())} (B2)", len(r.msgs_b),
                f"{r.spool_at_start[1][1] // 1024} KiB at the end of the outage",
                c["dropped"] if c else "?",
                f"killed {r.t_kill - r.t_down:.0f} s into the outage, B1 last poll {r.b1_last} "
                f"(not required), poll times printed by both B1 and B2: {shared or 'none'}, "
                f"{dup_total} duplicate(s) across the restart, caught up "
                f"{r.catch_up.get('B', float('nan')):.1f} s after the broker answered; "
                f"B2: {recovered[0].split('] ', 1)[-1] if recovered else 'no recovery line'}")
        self.assertNoProblems(problems, "test 2 (SIGKILL during the outage)", [b1, b2])


def epoch_str(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


# ------------------------------------------------------------------ 3: libvirtd restart
class Test3LibvirtdRestart(FaultTest):
    def test_3_libvirtd_restart(self):
        topic, = create_topics(1)
        live_before = live_uuids()
        s = Sensor("libvirtd restart", TMP / "spool-3", topic, BOOTSTRAP)
        daemon_down = False
        try:
            self.assertTrue(wait_until(lambda: len(s.poll_lines()) >= 3, 30),
                            f"no 3 polls in 30 s:\n{tail(s)}")
            t_stop0 = time.time()
            daemon_down = True
            lab("stop-daemon", timeout=60)
            t_down = time.time()
            sleep_until(t_down + 5)
            t_start0 = time.time()
            lab("start-daemon", timeout=120)
            daemon_down = False
            t_up = time.time()
            stable = stable_lab_uuids(live_before)
            complete = None

            def recovered():
                nonlocal complete
                complete = first_complete_poll(s.messages(), stable, after=t_start0)
                return complete is not None
            wait_until(recovered, PAUSE + RECOVERY_MARGIN_S + 10)
            time.sleep(2)
            alive = s.alive()
            rc, stop_s = s.stop(timeout=30)
        finally:
            s.close()
            if daemon_down:
                lab("start-daemon", timeout=120)
        live_after = live_uuids()
        stable = stable_lab_uuids(live_before, live_after)
        msgs = read_topic(topic)
        lines = s.err_lines()
        lost = [x for x in lines if "lost the connection to" in x]
        back = [x for x in lines if "reconnected to" in x]
        # overruns come from load (others use this machine), not from the outage: counted apart
        overruns = [x for x in lines if OVERRUN_RE.search(x)]
        noisy = [x for x in lines if LEVEL_RE.search(x) and x not in overruns]
        problems = []
        if not alive:
            problems.append(f"the sensor exited: {s.proc.returncode}")
        if rc != 0:
            problems.append(f"exit status after SIGTERM: {rc}, expected 0")
        problems += [f"stderr: {x}" for x in bad_lines(s)]
        if len(lost) != 1 or "[error]" not in (lost[0] if lost else ""):
            problems.append(f"{len(lost)} '[error] lost the connection to {URI}' lines, expected 1: {lost[:5]}")
        if len(back) != 1:
            problems.append(f"{len(back)} 'reconnected to {URI}' lines, expected 1: {back[:5]}")
        if len(noisy) > 3:
            problems.append(f"{len(noisy)} warning/error lines for one 5 s outage at PAUSE={PAUSE} "
                            f"(expected the loss once, not once per poll): {noisy[:8]}")
        latency = None if complete is None else complete[0] - t_up
        if complete is None:
            problems.append(f"no poll with all stable lab domains {sorted(stable.values())} within "
                            f"{PAUSE + RECOVERY_MARGIN_S + 10:.0f} s after libvirtd answered again")
        elif latency > PAUSE + RECOVERY_MARGIN_S:
            problems.append(f"first complete poll ({complete[1]}) {latency:.1f} s after libvirtd "
                            f"answered again, expected within PAUSE + {RECOVERY_MARGIN_S:.0f} s = "
                            f"{PAUSE + RECOVERY_MARGIN_S:.0f} s")
        pairs = topic_pairs(msgs)
        produced = Counter(s.produced())
        problems += missing_from_topic(produced, pairs)
        problems += poll_problems(pairs.elements(), stable)
        problems += shape_problems(msgs)
        times = sorted({t for _, t in produced})
        before = [t for t in times if epoch(t) + 1 < t_stop0]
        after = [t for t in times if epoch(t) >= t_up]
        if not before or not after:
            problems.append(f"polls before the outage {before[-3:]}, after it {after[:3]}")
        c = s.exit_counters()
        summary("3 (libvirtd restart)", sum(produced.values()), len(msgs), c["left"] if c else "?",
                c["dropped"] if c else "?",
                f"libvirtd down {t_up - t_stop0:.1f} s (stop {t_down - t_stop0:.1f} s, start "
                f"{t_up - t_start0:.1f} s), first complete poll "
                f"{'never' if latency is None else f'{latency:+.1f} s'} after it answered "
                f"({complete[1] if complete else '-'}), {len(lost)} loss line(s), "
                f"{len(noisy)} warning/error line(s) (+{len(overruns)} overrun(s)), "
                f"SIGTERM->exit {stop_s:.1f} s; "
                f"{[x.split('] ', 1)[-1][:120] for x in noisy + back]}")
        self.assertNoProblems(problems, "test 3 (libvirtd restart)", [s])


def first_complete_poll(messages, stable, after):
    """(arrival, poll time) of the earliest poll printed after `after` that has every stable
    domain: its arrival is that of its last message."""
    polls = defaultdict(lambda: [0.0, set()])
    for arrival, points in messages:
        key, t = msg_pair(points)
        polls[t][0] = max(polls[t][0], arrival)
        polls[t][1].add(key)
    done = [(arr, t) for t, (arr, keys) in polls.items() if arr > after and set(stable) <= keys]
    return min(done) if done else None


# ------------------------------------------------------------------ 4: domain churn
class Test4DomainChurn(FaultTest):
    def test_4_domains_destroyed_and_created_during_polls(self):
        spare = LAB.get("LAB_SPARE", "i-4-20-VM")
        topic, = create_topics(1)
        live_before = live_uuids()
        spare_was_running = lab_uuid(spare) in live_before
        names_before = domain_names()
        if spare_was_running:
            lab("destroy-domain", spare, timeout=60)
        s = Sensor("domain churn", TMP / "spool-4", topic, BOOTSTRAP)
        cycles, log, destroys = 0, [], []
        try:
            self.assertTrue(wait_until(lambda: len(s.poll_lines()) >= 2, 30),
                            f"no 2 polls in 30 s:\n{tail(s)}")
            t0 = time.time()
            # lab-script starts (they wait for the guest's disk IO and push frames) alternate
            # with bare `virsh start`s, which make the cycles short; every destroy is the lab's
            while cycles < 8 and (time.time() < t0 + 15 or cycles < 3):
                c0 = time.time()
                if cycles % 2 == 0:
                    lab("start-domain", spare, timeout=120)
                else:
                    p = run(["virsh", "-q", "-c", URI, "start", spare], 60)
                    if p.returncode != 0:
                        raise RuntimeError(f"virsh start {spare}: {p.stderr}")
                time.sleep(0.3)
                d0 = time.time()
                lab("destroy-domain", spare, timeout=60)
                destroys.append((d0, time.time()))
                cycles += 1
                log.append(f"{time.time() - c0:.1f}")
            t_churn = time.time() - t0
            time.sleep(2)
            alive = s.alive()
            rc, stop_s = s.stop(timeout=30)
        finally:
            s.close()
            if spare_was_running:
                lab("start-domain", spare, timeout=120)
            else:
                lab("destroy-domain", spare, timeout=60)
        live_after = live_uuids()
        stable = stable_lab_uuids(live_before, live_after)
        msgs = read_topic(topic)
        lines = s.err_lines()
        others = (names_before | domain_names()) - set(LAB_DOMS)
        # a poll that waits for `virsh destroy` may overrun PAUSE=1: those (and overruns from
        # load) are counted apart from the warnings the churn itself causes
        overruns = [x for x in lines if OVERRUN_RE.search(x)]
        noisy = [x for x in lines if LEVEL_RE.search(x) and x not in overruns]
        about_others = [x for x in noisy if any(o in x for o in others)]
        ours = [x for x in noisy if x not in about_others]
        problems = []
        if not alive:
            problems.append(f"the sensor exited: {s.proc.returncode}")
        if rc != 0:
            problems.append(f"exit status after SIGTERM: {rc}, expected 0")
        problems += [f"stderr: {x}" for x in bad_lines(s)]
        limit = 2 * cycles + 2
        if len(ours) > limit:
            problems.append(f"{len(ours)} warning/error lines for {cycles} start/destroy cycles "
                            f"(at most {limit}: a start and an end per cycle, plus 2): {ours[:10]}")
        problems += shape_problems(msgs, dying={lab_uuid(spare)}, limit=10)
        short = short_messages(msgs, spare)
        # a poll stamped T started within [T, T+1) and may have waited for a destroy
        unexplained = [x for x in short if not any(
            int(d0) - 1 <= epoch(x.split()[0]) <= d1 for d0, d1 in destroys)]
        if unexplained:
            problems.append(f"{spare} messages without all of its NIC/disk points in polls that "
                            f"overlapped no destroy: {unexplained[:6]} (destroys at "
                            f"{[(time.strftime('%H:%M:%S', time.gmtime(d0)), round(d1 - d0, 1)) for d0, d1 in destroys]})")
        pairs = topic_pairs(msgs)
        produced = Counter(s.produced())
        problems += missing_from_topic(produced, pairs)
        problems += poll_problems(pairs.elements(), stable)
        spare_polls = sorted({t for k, t in pairs if k == lab_uuid(spare)})
        if not spare_polls:
            problems.append(f"{spare} appears in no poll: the churn did not overlap any poll")
        c = s.exit_counters()
        summary("4 (domain churn)", sum(produced.values()), len(msgs), c["left"] if c else "?",
                c["dropped"] if c else "?",
                f"{cycles} start/destroy cycles of {spare} in {t_churn:.1f} s (each {', '.join(log)} s), "
                f"{spare} in {len(spare_polls)} of {len({t for _, t in pairs})} polls, "
                f"{len(short)} of its messages short of NIC/disk points (polls that overlapped "
                f"a destroy): {short[:6]}, "
                f"{len(ours)} warning/error line(s) (+{len(about_others)} about other domains, "
                f"+{len(overruns)} overrun(s)), "
                f"SIGTERM->exit {stop_s:.1f} s; warnings: "
                f"{[x.split('] ', 1)[-1][:120] for x in ours + overruns]}")
        self.assertNoProblems(problems, "test 4 (domain churn)", [s])


# ------------------------------------------------------------------ 5: spool full
class Test5SpoolFull(FaultTest):
    MAX = 64 * 1024

    def test_5_spool_full_drops_oldest_and_stays_bounded(self):
        spool = TMP / "spool-5"
        bootstrap = f"127.0.0.1:{free_port()}"
        # DEBUG off: stdout stays quiet. Host stats make the polls a little bigger.
        s = Sensor("spool full", spool, "pulse-faults-nobroker", bootstrap, DEBUG="false",
                   GATHER_HOST_STATS="true", SPOOL_MAX_BYTES="64K", SHUTDOWN_TIMEOUT=1)
        watch = SpoolWatch(spool)
        try:
            t0 = time.time()
            full = wait_until(lambda: any(FULL_LOOSE_RE.search(x) for x in s.err_lines()), 60)
            t_full = time.time() - t0
            time.sleep(4)     # keep dropping for a while: the warning must not repeat
            alive = s.alive()
            t_run = time.time() - t0
            rc, stop_s = s.stop(timeout=30)
        finally:
            s.close()
            watch.stop()
        lines = s.err_lines()
        full_lines = [x for x in lines if "spool full" in x and not EXIT_RE.search(x)]
        look_alike = [x for x in lines if FULL_LOOSE_RE.search(x) and x not in full_lines
                      and not EXIT_RE.search(x)]
        c = s.exit_counters()
        problems = []
        if not alive:
            problems.append(f"the sensor exited: {s.proc.returncode}")
        if rc != 0:
            problems.append(f"exit status after SIGTERM: {rc}, expected 0")
        problems += [f"stderr: {x}" for x in bad_lines(s)]
        if not full:
            problems.append(f"no 'spool full' warning in 60 s with SPOOL_MAX_BYTES=64K and no broker "
                            f"(spool peak {watch.max_total} bytes)")
        if len(full_lines) != 1:
            problems.append(f"{len(full_lines)} lines containing 'spool full' in {t_run:.0f} s, "
                            f"expected 1 (at most once a minute): {full_lines[:4]}"
                            + (f"; lines that look like it but do not say 'spool full': "
                               f"{look_alike[:3]}" if look_alike else ""))
        counted = [int(n) for x in full_lines[:1] for n in re.findall(r"\b(\d+)\b", x.split("]", 1)[-1])]
        if full_lines and "[warning]" not in full_lines[0]:
            problems.append(f"'spool full' is not a warning: {full_lines[0]}")
        if full_lines and not any(n > 0 for n in counted):
            problems.append(f"'spool full' line has no count of dropped messages: {full_lines[0]}")
        if c is None:
            problems.append("no exit line")
        else:
            if c["dropped"] <= 0:
                problems.append(f"exit line: {c['dropped']} dropped (spool full), expected > 0")
            if c["delivered"] != 0:
                problems.append(f"exit line: {c['delivered']} delivered with no broker")
            if c["produced"] != c["dropped"] + c["left"] + c["failed"]:
                problems.append(f"exit line: produced {c['produced']} != dropped {c['dropped']} + "
                                f"left {c['left']} + failed {c['failed']} (nothing was delivered)")
        # spool.hpp: "the segments' total size stays within max_bytes"; the lock and ack files
        # (a few bytes) come on top.
        if watch.max_segments > self.MAX:
            problems.append(f"spool segments reached {watch.max_segments} bytes, bound {self.MAX}")
        if watch.max_total > self.MAX + 4096:
            problems.append(f"spool directory reached {watch.max_total} bytes, bound {self.MAX} "
                            f"+ 4096 for the lock and ack files")
        summary("5 (spool full)", c["produced"] if c else "?", 0,
                f"{c['left'] if c else '?'} left at exit",
                c["dropped"] if c else "?",
                f"first drop logged after {t_full:.1f} s: "
                f"{(full_lines or look_alike or ['-'])[0].split('] ', 1)[-1]}; spool peak "
                f"{watch.max_segments} bytes in segments, {watch.max_total} in all files "
                f"(bound {self.MAX}), SIGTERM->exit {stop_s:.1f} s")
        self.assertNoProblems(problems, "test 5 (spool full)", [s])


# ------------------------------------------------------------------ 6: SIGTERM, broker down
class Test6StopWithBrokerDown(FaultTest):
    SHUTDOWN = 3

    def test_6_sigterm_with_broker_down_keeps_the_spool_for_the_next_run(self):
        topic, = create_topics(1)
        spool = TMP / "spool-6"
        live_before = live_uuids()
        bootstrap = f"127.0.0.1:{free_port()}"
        s = Sensor("stop with the broker down", spool, topic, bootstrap,
                   SHUTDOWN_TIMEOUT=self.SHUTDOWN)
        try:
            self.assertTrue(wait_until(lambda: len(s.poll_lines()) >= 4, 30),
                            f"no 4 polls in 30 s:\n{tail(s)}")
            alive = s.alive()
            rc, stop_s = s.stop(timeout=30)
        finally:
            s.close()
        first = Counter(s.produced())
        c1 = s.exit_counters()
        t0 = time.monotonic()
        env = {**s.env, "KAFKA_BOOTSTRAP": BOOTSTRAP, "DEBUG": "false", "SHUTDOWN_TIMEOUT": "30"}
        once = subprocess.run([str(SENSOR_BIN), "--once"], env=env, capture_output=True,
                              text=True, timeout=90)
        once_s = time.monotonic() - t0
        c2 = next((dict(zip(("produced", "delivered", "failed", "dropped", "left"),
                             map(int, m.groups())))
                   for m in map(EXIT_RE.search, reversed(once.stderr.splitlines())) if m), None)
        msgs = read_topic(topic)
        pairs = topic_pairs(msgs)
        stable = stable_lab_uuids(live_before, live_uuids())
        problems = []
        if not alive:
            problems.append(f"the sensor exited before SIGTERM: {s.proc.returncode}")
        if rc != 0:
            problems.append(f"exit status after SIGTERM: {rc}, expected 0")
        if stop_s is not None and stop_s > self.SHUTDOWN + 1:
            took = [m.group(1) for x in s.err_lines() if (m := POLL_MS_RE.search(x))]
            problems.append(f"SIGTERM->exit took {stop_s:.2f} s, expected <= SHUTDOWN_TIMEOUT + 1 "
                            f"= {self.SHUTDOWN + 1} s (the last polls took {took[-3:]} ms)")
        problems += [f"stderr: {x}" for x in bad_lines(s)]
        if c1 is None:
            problems.append("first run: no exit line")
        else:
            if c1["left"] <= 0:
                problems.append(f"first run exit line: {c1['left']} left in the spool, expected > 0")
            if c1["left"] != c1["produced"] or c1["delivered"] != 0:
                problems.append(f"first run exit line: produced {c1['produced']}, delivered "
                                f"{c1['delivered']}, left {c1['left']}; expected all left, none "
                                f"delivered (no broker)")
            if c1["produced"] != sum(first.values()):
                problems.append(f"first run: exit line says {c1['produced']} produced, "
                                f"{sum(first.values())} printed")
        if once.returncode != 0:
            problems.append(f"--once exit status {once.returncode}, expected 0:\n{once.stderr[-2000:]}")
        if "from an earlier run" not in once.stderr:
            problems.append("--once did not log '... from an earlier run'")
        if c2 is None:
            problems.append(f"--once: no exit line:\n{once.stderr[-1500:]}")
        elif c1 is not None:
            own = c2["produced"]
            if c2["delivered"] != c1["left"] + own or c2["left"] != 0:
                problems.append(f"--once exit line: delivered {c2['delivered']}, left {c2['left']}; "
                                f"expected {c1['left']} from the first run + {own} of its own, 0 left")
        lost = sorted(first - pairs)
        if lost:
            problems.append(f"{len(lost)} messages of the first run are not on the topic, e.g. "
                            f"{[(name_of(k), t) for k, t in lost[:5]]}")
        twice = [(name_of(k), t, n) for (k, t), n in pairs.items() if n > 1]
        if twice:
            problems.append(f"{len(twice)} messages on the topic more than once: {twice[:5]}")
        first_times = {t for _, t in first}
        once_times = {t for _, t in pairs} - first_times
        problems += poll_problems(pairs.elements(), stable, times=first_times | once_times)
        if len(once_times) != 1:
            problems.append(f"expected one poll of --once besides the first run's "
                            f"{sorted(first_times)}, found {sorted(once_times)}")
        problems += shape_problems(msgs)
        summary("6 (SIGTERM with the broker down)", c1["produced"] if c1 else "?", len(msgs),
                f"{c1['left'] if c1 else '?'} left at exit", c1["dropped"] if c1 else "?",
                f"SIGTERM->exit {stop_s:.2f} s (SHUTDOWN_TIMEOUT={self.SHUTDOWN}); first run's poll "
                f"times {sorted(first_times)}; --once delivered {c2['delivered'] if c2 else '?'} in "
                f"{once_s:.1f} s")
        self.assertNoProblems(problems, "test 6 (SIGTERM with the broker down)", [s])


if __name__ == "__main__":
    unittest.main(verbosity=2)
