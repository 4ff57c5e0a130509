"""What the fault modules (test_faults_*.py) share: pulse-sensor under faults, with real
components only.

The lab's libvirtd with QEMU domains (KVM_HOST=qemu:///system from lab.env, started with
`libvirt-lab.sh up` when it is not up, and then taken down again) and a Kafka broker of the
fault modules' own (`kafka.sh` with PULSE_IT_STATE=$PULSE_IT_STATE/faults-kafka): the outage
tests stop the broker for two minutes, and a broker that other tests or people use must not go
away under them. Every sensor runs at PAUSE=1 with its own topic and its own SPOOL_DIR (in a
temporary directory), from a copy of the binary taken at the start (it may be rebuilt
meanwhile). DEBUG=true makes the sensor print every message it produces on stdout (run through
`stdbuf -oL`, so that a SIGKILL loses at most a line of it) and log one line per poll: that is
what "produced" means in the tests, compared with what kcat reads back from the topic.

Other domains may come and go on the same libvirtd (someone may benchmark on the lab): the
per-poll checks are about the lab's own domains that run for the whole test ("stable"); other
keys are only checked for shape and duplicates.

Each test writes a summary line (produced, delivered, spooled, dropped) to stderr and to
$PULSE_IT_STATE/faults-summary.log (emptied by the first set_up of a process).

Environment: PULSE_SENSOR, PULSE_IT_STATE (as for the other modules), PULSE_IT_KEEP=1 (leave the
lab and broker a module started running), PULSE_IT_OUTAGE_S (length of the broker outage of
tests 1-2, default 120; shorter only to try the test logic out).
"""

import calendar
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from lib.common import STATE
from lib.contract import EXTRA_TAGS, FIELDS, ORDER_LETTER, ORDER_RE, TIME_RE, ContractChecks
from lib.kafka import KAFKA_SH, Broker, consume
from lib.lab import LAB_SH, ensure_lab, lab_env
from lib.sensor import CRASH_MARKERS, SENSOR, Sensor, sensor_env

BROKER = Broker(STATE / "faults-kafka")   # the fault modules' own: they stop it
SUMMARY_LOG = STATE / "faults-summary.log"

PAUSE = 1
OUTAGE_S = float(os.environ.get("PULSE_IT_OUTAGE_S", "120"))

# Settings of the sensor the fault modules set themselves, besides lib.sensor's SENSOR_VARS.
FAULT_VARS = ("SPOOL_DIR", "SPOOL_MAX_BYTES", "SHUTDOWN_TIMEOUT")
EXIT_RE = re.compile(r"kafka: (\d+) messages produced, (\d+) delivered, (\d+) failed, "
                     r"(\d+) dropped \(spool full\), (\d+) left in the spool")
POLL_RE = re.compile(r"\[debug\] poll (\S+): (\d+) domains, (\d+) messages, (\d+) points, "
                     r"(\d+) libvirt calls")
OVERRUN_RE = re.compile(r"\[warning\] a poll took .* skipped (\d+) tick")
LEVEL_RE = re.compile(r"\[(warning|error|critical)\]")

# set by set_up
SENSOR_BIN = None
TMP = None
URI = None
LAB = {}
LAB_DOMS = {}         # lab domain name -> lab.json entry
BOOTSTRAP = None
_started = []         # what set_up brought up: "lab", "kafka"
_sensors = []         # every Sensor started, to make sure none is left running
_summary_begun = False


# ------------------------------------------------------------------ module set-up
def run(cmd, timeout, env=None):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, env=env)


def broker_alive():
    """The broker's kafka.env names a running broker (not one an interrupted run left)."""
    if not (BROKER.state / "kafka.env").exists():
        return False
    pid = BROKER.env().get("KAFKA_PID", "")
    try:
        return bool(pid) and "kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


def set_up():
    """setUpModule of a fault module: the sensor binary copied, the lab and the broker up."""
    global SENSOR_BIN, TMP, URI, LAB, LAB_DOMS, BOOTSTRAP, _summary_begun
    STATE.mkdir(parents=True, exist_ok=True)
    if not _summary_begun:
        SUMMARY_LOG.write_text("")
        _summary_begun = True
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR} (build it or set PULSE_SENSOR)")
    if os.geteuid() != 0:
        raise unittest.SkipTest("the libvirt lab needs root")
    helptext = run([SENSOR, "--help"], 30).stdout
    if "SPOOL_DIR" not in helptext or "SHUTDOWN_TIMEOUT" not in helptext:
        raise unittest.SkipTest(f"{SENSOR} has no SPOOL_DIR/SHUTDOWN_TIMEOUT yet (--help)")
    TMP = Path(tempfile.mkdtemp(prefix="pulse-faults-"))
    SENSOR_BIN = TMP / "pulse-sensor"
    shutil.copy2(SENSOR, SENSOR_BIN)

    if ensure_lab():
        _started.append("lab")
    LAB = lab_env()
    URI = LAB["LAB_URI"]
    LAB_DOMS = {d["name"]: d for d in json.loads(Path(LAB["LAB_JSON"]).read_text())["domains"]}

    if not broker_alive():
        _started.append("kafka")
    BROKER.state.mkdir(parents=True, exist_ok=True)
    BROKER.sh("up")
    BOOTSTRAP = BROKER.env()["KAFKA_BOOTSTRAP"]


def tear_down():
    """tearDownModule of a fault module: no sensor left, down what set_up started."""
    global TMP
    for s in _sensors:
        s.close()
    _sensors.clear()
    keep = os.environ.get("PULSE_IT_KEEP") == "1"
    if "kafka" in _started and not keep:
        BROKER.sh("down", timeout=120, check=False)
        shutil.rmtree(BROKER.state, ignore_errors=True)
    if "lab" in _started and not keep:
        run([LAB_SH, "down"], 300)
    _started.clear()
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)
        TMP = None


# ------------------------------------------------------------------ the sensor under test
def start_sensor(label, spool_dir, topic=None, bootstrap=None, args=(), **settings):
    """A copy of the sensor at PAUSE=1 on the lab with DEBUG=true (every message it produces
    on stdout, indented) and no host stats, into `topic` when a bootstrap is given."""
    values = dict(KVM_HOST=URI, PAUSE=str(PAUSE), GATHER_HOST_STATS="false", DEBUG="true",
                  SPOOL_DIR=str(spool_dir))
    if bootstrap:
        values.update(KAFKA_BOOTSTRAP=bootstrap, KAFKA_TOPIC=topic)
    values.update(settings)
    sensor = Sensor(sensor_env(drop=FAULT_VARS, **values), args=args, label=label,
                    binary=SENSOR_BIN, line_buffered=True)
    _sensors.append(sensor)
    return sensor


def produced_pairs(sensor):
    """(key, time) of every message it printed, in order."""
    return [msg_pair(points) for _, points in sensor.messages()]


def poll_lines(sensor):
    """The lines of its log that say it polled."""
    return [line for line in sensor.err_lines() if POLL_RE.search(line)]


def skipped_ticks(sensor):
    return sum(int(m.group(1)) for line in sensor.err_lines() if (m := OVERRUN_RE.search(line)))


def exit_counters(lines):
    """The counters of the last exit line among `lines`: produced, delivered, failed, dropped,
    left (in the spool); None without one."""
    found = [m for line in lines if (m := EXIT_RE.search(line))]
    if not found:
        return None
    return dict(zip(("produced", "delivered", "failed", "dropped", "left"),
                    map(int, found[-1].groups())))


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


def epoch_str(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def create_topics(n, partitions=2):
    names = [f"pulse-faults-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    procs = [subprocess.Popen([str(KAFKA_SH), "create-topic", name, str(partitions)],
                              env={**os.environ, "PULSE_IT_STATE": str(BROKER.state)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in names]
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


def topic_messages(topic):
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
                letters = "".join(ORDER_LETTER.get(p["measurement"], "?") for p in m["points"])
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
            letters = "".join(ORDER_LETTER.get(p.get("measurement"), "?") for p in m["points"])
            if letters.count("N") < len(d["nics"]) or letters.count("D") < len(d["disks"]):
                out.append(f"{m['time']} {letters}")
    return out


def foreign_shape(checker, key, points):
    """A domain the lab does not know (someone else's): the contract's common rules only."""
    checker.assertIsInstance(points, list)
    checker.assertTrue(points, f"empty message for key {key}")
    checker.assertEqual(len({p.get("time") for p in points}), 1, "points carry different times")
    letters = "".join(ORDER_LETTER.get(p.get("measurement"), "?") for p in points)
    checker.assertRegex(letters, ORDER_RE, "measurement order")
    for p in points:
        checker.assertEqual(set(p), {"measurement", "tags", "fields", "time"}, p)
        checker.assertRegex(p["time"], TIME_RE)
        m = p["measurement"]
        checker.assertEqual(set(p["tags"]), {"vmHost", "vmId", "vmUuid"} | EXTRA_TAGS[m])
        checker.assertEqual(p["tags"]["vmUuid"], key)
        checker.assertEqual(p["tags"]["vmHost"], URI)
        checker.assertLessEqual(set(p["fields"]), FIELDS[m], f"fields of {m}")


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
    return sensor.err_tail(n)


class FaultTest(unittest.TestCase):
    maxDiff = None

    def assertNoProblems(self, problems, what, sensors=()):
        if problems:
            logs = "".join(f"\n--- {s.label} stderr (last lines) ---\n{tail(s)}" for s in sensors)
            self.fail(f"{what}: {len(problems)} problem(s):\n  " + "\n  ".join(problems) + logs)
