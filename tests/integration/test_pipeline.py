"""The old pipeline, unchanged, on the sensor's default output: every message must be readable
by the old importer and every query of the old Grafana dashboard and of the CloudStack pulse
server must find its data.

    tests/integration/old-importer.sh install                # once per machine
    PULSE_IT_STATE=... /usr/bin/python3 -m pytest -v tests/integration/test_pipeline.py

Needs the libvirt lab ($PULSE_IT_STATE/lab.env), a Kafka broker and InfluxDB (started with
kafka.sh up / influxdb.sh up unless they are up; what it started it stops).

 1. The consumer (old_importer.py, in the venv of old-importer.sh: kafka-python and
    influxdb-python, no lz4, snappy or zstd package) joins a group on a new topic, with
    kafka-python's defaults and the importer's json.loads(value.decode('ascii')), and writes
    each message with write_points into a database of its own.
 2. The sensor runs with its defaults (no FORMAT, no compression or other Kafka property, no
    RATES) except GATHER_HOST_STATS=true, as both old images set it, and PAUSE=2 for a short
    run, on the lab (qemu:///system) and a test-driver hypervisor whose domain has a
    non-ASCII name and disk path, until each hypervisor has polled POLLS times.
 3. The consumer must write every message on the topic (read back with kcat) without an
    exception; SELECT * per measurement must give exactly the topic's points, values and
    types (cpuTime float, the rest integer).
 4. Every panel query of the old dashboard (fixtures/grafana-dashboard-libvirt.json, rendered
    the way Grafana 4.5's InfluxDB query editor renders it, $timeFilter and $interval filled
    as below) must return data, for every domain where it groups by vmId; every
    cs-pulse-server query shape (fixtures/cs-pulse-server-queries.json) must return data for
    every domain (cputime, ram), disk by its `image` tag (the file name, the default) and NIC
    by MAC, with counters that moved showing as non-zero; the same shapes for a UUID that
    does not exist must return nothing.

Environment: PULSE_SENSOR (default build/pulse-sensor), PULSE_IT_STATE (default /tmp/pulse-it),
PULSE_IT_CACHE (default /var/cache/pulse-it).
"""

import calendar
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid
from pathlib import Path

from lib import kafka
from lib.common import FIXTURES, HERE, STATE, bring_up, read_env_file, take_down, terminate
from lib.influx import INFLUXDB_SH, InfluxDB
from lib.kafka import KAFKA_SH, new_topic
from lib.lab import LAB_SH, ensure_lab, live_domains
from lib.sensor import SENSOR, sensor_env

OLD_IMPORTER_SH = HERE / "old-importer.sh"
OLD_IMPORTER = HERE / "old_importer.py"
DASHBOARD = FIXTURES / "grafana-dashboard-libvirt.json"
PULSE_SERVER = FIXTURES / "cs-pulse-server-queries.json"

PAUSE_S = 2
POLLS = 5  # per hypervisor; the derivative queries need two
READY_TIMEOUT_S = 60
POLLS_TIMEOUT_S = 60
IMPORT_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30

# Grafana 4.5's InfluxDB datasource turns the range "Last 5 minutes" into this filter, and
# $interval into $__interval: the range over the panel's width in pixels, rounded, a fraction
# of a second for five minutes on any screen. 1s keeps each 2-s poll in a bucket of its own,
# as a dashboard of a few hours over 10-s polls has them.
TIME_FILTER = "time >= now() - 5m"
INTERVAL = "1s"

# Flags added to the sensor's command line: none, since the point is its defaults.
SENSOR_ARGS = []

# A test-driver hypervisor with one running domain whose name and disk path are not ASCII.
NODE_DOMAIN = {
    "name": "тест-vm",
    "uuid": "7d3c1e52-5a0f-4c1b-9d7e-0000000000a1",
    "source": "/mnt/пул-хранения/образ-диска.qcow2",
    "image": "образ-диска.qcow2",
    "mac": "06:f2:64:00:0a:01",
    "cpus": 2,
}
NODE_XML = """<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes>
       <sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>
  <memory>8388608</memory>
  <domain type='test'>
    <name>{name}</name>
    <uuid>{uuid}</uuid>
    <memory unit='KiB'>1048576</memory>
    <currentMemory unit='KiB'>1048576</currentMemory>
    <vcpu>{cpus}</vcpu>
    <os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <source file='{source}'/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <interface type='bridge'>
        <mac address='{mac}'/>
        <source bridge='cloudbr0'/>
      </interface>
      <memballoon model='virtio'/>
    </devices>
  </domain>
</node>
"""

_started = []
_tmp = None
BOOTSTRAP = ""
INFLUX = None


def setUpModule():
    global BOOTSTRAP, INFLUX, _tmp
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR}")
    if ensure_lab():
        _started.append(LAB_SH)
    for script, env_name in ((KAFKA_SH, "kafka.env"), (INFLUXDB_SH, "influxdb.env")):
        bring_up(script, env_name, _started)
    subprocess.run([str(OLD_IMPORTER_SH), "install"], check=True, timeout=300)
    BOOTSTRAP = read_env_file(STATE / "kafka.env")["KAFKA_BOOTSTRAP"]
    INFLUX = InfluxDB(read_env_file(STATE / "influxdb.env")["INFLUXDB_URL"])
    _tmp = Path(tempfile.mkdtemp(prefix="pulse-it-old-pipeline-"))


def tearDownModule():
    if _tmp:
        shutil.rmtree(_tmp, ignore_errors=True)
    take_down(_started)


def venv_python():
    res = subprocess.run([str(OLD_IMPORTER_SH), "python"], capture_output=True, text=True,
                         timeout=30, check=True)
    return res.stdout.strip()


# ------------------------------------------------------------------ the topic
def topic_messages(topic):
    """[(key, offset, points)] of every message."""
    return [(m["key"], m["offset"], json.loads(m["payload"]))
            for m in kafka.read_topic(topic, BOOTSTRAP)]


def poll_times(messages):
    """vmHost -> set of the poll times of its nodeInfo messages."""
    times = {}
    for _, _, points in messages:
        for p in points:
            if p["measurement"] == "nodeInfo":
                times.setdefault(p["tags"]["vmHost"], set()).add(p["time"])
    return times


def expected_points(messages):
    """(measurement, sorted tags, epoch s) -> fields. influxdb-python drops empty tags."""
    expected = {}
    for _, _, points in messages:
        for p in points:
            tags = tuple(sorted((k, v) for k, v in p["tags"].items() if v != ""))
            t = calendar.timegm(time.strptime(p["time"], "%Y-%m-%dT%H:%M:%SZ"))
            expected[(p["measurement"], tags, t)] = p["fields"]
    return expected


# ------------------------------------------------------------------ processes
class LineReader:
    """A child's stdout lines, readable with a deadline."""

    def __init__(self, stream):
        self.stream = stream
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def close(self):
        """After the child has exited: its stdout is at EOF."""
        self.thread.join(timeout=10)
        self.stream.close()

    def _pump(self, stream):
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pred, deadline):
        """First line for which pred is true; None at EOF or deadline."""
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line is None or pred(line):
                return line


def sigterm(proc, timeout=STOP_TIMEOUT_S):
    """The exit status after SIGTERM, or what went wrong."""
    return proc.returncode if terminate(proc, timeout) else f"ignored SIGTERM for {timeout} s"


def last_exception(stderr_text):
    """The exception line of a Python traceback (the last line that names one)."""
    lines = [line for line in stderr_text.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b", line):
            return line
    return lines[-1] if lines else "(no stderr)"


class Pipeline:
    """One run: consumer up, sensor polls, consumer catches up; what each step saw."""

    def __init__(self):
        self.problem = None  # the first thing that went wrong, as a sentence
        self.messages = []
        self.consumer_rc = None
        self.consumer_err = ""
        self.db = f"old_pipeline_{uuid.uuid4().hex[:8]}"

    def run(self):
        node = _tmp / "node.xml"
        node.write_text(NODE_XML.format(**NODE_DOMAIN), encoding="utf-8")
        self.node_uri = f"test://{node}"
        lab = read_env_file(STATE / "lab.env")
        self.lab_uri = lab["LAB_URI"]
        self.lab_domains = live_domains(self.lab_uri)
        topic = new_topic()
        INFLUX.query(f'CREATE DATABASE "{self.db}"', method="POST")
        host, port = urllib.parse.urlsplit(INFLUX.url).netloc.rsplit(":", 1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "INFLUX"))}
        env.update(KAFKA_BOOTSTRAP=BOOTSTRAP, KAFKA_TOPIC=topic,
                   KAFKA_GROUP=f"old-importer-{uuid.uuid4().hex[:8]}",
                   INFLUX_HOST=host, INFLUX_PORT=port, INFLUX_DB=self.db)
        err_path = _tmp / "consumer.err"
        with open(err_path, "w") as err_file:
            consumer = subprocess.Popen([venv_python(), str(OLD_IMPORTER)], env=env,
                                        stdout=subprocess.PIPE, stderr=err_file, text=True)
            out = LineReader(consumer.stdout)
            try:
                self._drive(consumer, out, topic)
            finally:
                self.consumer_rc = sigterm(consumer)
                out.close()
        self.consumer_err = err_path.read_text(errors="replace")
        if self.problem is None and self.consumer_rc != 0:
            self.problem = f"the consumer stopped with {self.consumer_rc}"

    def _drive(self, consumer, out, topic):
        deadline = time.monotonic() + READY_TIMEOUT_S
        if out.until(lambda line: line == "ready", deadline) is None:
            self.problem = "the consumer never got ready"
            return
        sensor_err = _tmp / "sensor.err"
        with open(sensor_err, "w") as err_file:
            sensor = subprocess.Popen(
                [str(SENSOR), *SENSOR_ARGS], stdout=subprocess.DEVNULL, stderr=err_file,
                env=sensor_env(own_spool=True, KVM_HOST=f"{self.lab_uri},{self.node_uri}",
                               PAUSE=PAUSE_S, KAFKA_BOOTSTRAP=BOOTSTRAP, KAFKA_TOPIC=topic,
                               GATHER_HOST_STATS="true"))
            try:
                deadline = time.monotonic() + POLLS_TIMEOUT_S
                while time.monotonic() < deadline and sensor.poll() is None:
                    times = poll_times(topic_messages(topic))
                    if len(times) == 2 and all(len(t) >= POLLS for t in times.values()):
                        break
                    time.sleep(1)
            finally:
                rc = sigterm(sensor)
        if rc != 0:
            self.problem = f"the sensor stopped with {rc}: {sensor_err.read_text()[-2000:]}"
            return
        self.messages = topic_messages(topic)
        times = poll_times(self.messages)
        if len(times) != 2 or any(len(t) < POLLS for t in times.values()):
            self.problem = f"fewer than {POLLS} polls per hypervisor on the topic: {times}"
            return
        last = max(offset for _, offset, _ in self.messages)
        deadline = time.monotonic() + IMPORT_TIMEOUT_S
        done = out.until(lambda line: line.startswith("wrote ") and int(line.split()[2]) >= last,
                         deadline)
        if done is None:
            self.problem = (f"the consumer did not write offset {last}"
                            + (" (it exited)" if consumer.poll() is not None else ""))


# ------------------------------------------------------------------ Grafana
def render_target(target):
    """A target's InfluxQL as Grafana's InfluxDB query editor builds it, variables unfilled."""
    if target["rawQuery"]:
        return target["query"]
    assert not target["tags"], "the dashboard's targets have no WHERE tags"
    selects = []
    for parts in target["select"]:
        expr = ""
        for part in parts:
            kind, params = part["type"], [str(p) for p in part["params"]]
            if kind == "field":
                expr = "*" if params[0] == "*" else f'"{params[0]}"'
            elif kind == "math":
                expr = f"{expr} {params[0]}"
            elif kind == "alias":
                expr = f'{expr} AS "{params[0]}"'
            else:  # aggregations, selectors, transformations: name(inner, params...)
                expr = f"{kind}({', '.join(([expr] if expr else []) + params)})"
        selects.append(expr)
    group = ""
    for i, part in enumerate(target["groupBy"]):
        if i:
            group += " " if part["type"] == "fill" else ", "
        param = part["params"][0]
        group += f'"{param}"' if part["type"] == "tag" else f"{part['type']}({param})"
    policy = "" if target["policy"] == "default" else f'"{target["policy"]}".'
    query = f'SELECT {", ".join(selects)} FROM {policy}"{target["measurement"]}" WHERE $timeFilter'
    return query + (f" GROUP BY {group}" if group else "")


def fill_grafana_variables(query):
    query = query.replace("$timeFilter", TIME_FILTER)
    return re.sub(r"\$(__interval|interval)\b", INTERVAL, query)


def dashboard_queries():
    """[(panel title, refId, InfluxQL)] for every target Grafana runs (hidden ones it does not)."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert not dashboard["templating"]["list"], "no template variables to fill"
    return [(panel["title"], target["refId"], fill_grafana_variables(render_target(target)))
            for panel in dashboard["panels"] for target in panel["targets"]
            if not target.get("hide")]


def pulse_server_queries():
    spec = json.loads(PULSE_SERVER.read_text())
    return spec["queries"], spec["scale"]


# ------------------------------------------------------------------ the tests
class TestOldImporterEnvironment(unittest.TestCase):
    def test_the_consumer_has_no_compression_packages(self):
        res = subprocess.run([venv_python(), "-c", "import kafka.codec as c; "
                              "print(c.has_lz4(), c.has_snappy(), c.has_zstd())"],
                             capture_output=True, text=True, timeout=60, check=True)
        self.assertEqual(res.stdout.split(), ["False", "False", "False"])


class TestOldPipeline(unittest.TestCase):
    pipeline = None

    @classmethod
    def setUpClass(cls):
        cls.pipeline = Pipeline()
        cls.pipeline.run()

    @classmethod
    def tearDownClass(cls):
        INFLUX.query(f'DROP DATABASE "{cls.pipeline.db}"', method="POST")

    def setUp(self):
        p = self.pipeline
        if p.problem is not None:
            detail = p.consumer_err[-3000:] if "test_1_" in self.id() else ""
            self.fail(f"{p.problem}; the consumer's exception: {last_exception(p.consumer_err)}"
                      f"\n{detail}")

    # -------------------------------------------------------------- expectations
    def domains(self):
        """vmUuid -> {"name", "cpus", "images", "macs"}: the lab's live domains (lab.json) and
        the test-driver domain, each of which must be on the topic."""
        lab = json.loads((STATE / "lab.json").read_text())
        out = {}
        for d in lab["domains"]:
            if d["uuid"] in self.pipeline.lab_domains:
                out[d["uuid"]] = {"name": d["name"], "cpus": d["cpus"],
                                  "images": [disk["image"] for disk in d["disks"]],
                                  "macs": [nic["mac"] for nic in d["nics"]]}
        self.assertGreaterEqual(len(out), 2, f"lab domains live: {self.pipeline.lab_domains}")
        n = NODE_DOMAIN
        out[n["uuid"]] = {"name": n["name"], "cpus": n["cpus"], "images": [n["image"]],
                          "macs": [n["mac"]]}
        return out

    def topic_values(self, measurement, field, **tags):
        return [p["fields"][field] for _, _, points in self.pipeline.messages for p in points
                if p["measurement"] == measurement and field in p["fields"]
                and all(p["tags"].get(k) == v for k, v in tags.items())]

    # -------------------------------------------------------------- the importer
    def test_1_every_message_is_written_by_the_old_importer_unchanged(self):
        p = self.pipeline
        self.assertEqual(p.consumer_rc, 0, p.consumer_err)
        self.assertNotIn("Traceback", p.consumer_err)
        expected = expected_points(p.messages)
        self.assertEqual(set(p.lab_domains) | {NODE_DOMAIN["uuid"]},
                         {dict(k[1])["vmUuid"] for k in expected if k[0] == "cpuTime"},
                         "one message per live domain")
        measurements = sorted({k[0] for k in expected})
        self.assertEqual(measurements, ["cpuTime", "disk", "networkInterface", "nodeInfo", "rss"])
        actual = {}
        for m in measurements:
            tag_keys = {row[0] for s in INFLUX.query(f'SHOW TAG KEYS FROM "{m}"', p.db)
                        for row in s["values"]}
            types = {row[0]: row[1] for s in INFLUX.query(f'SHOW FIELD KEYS FROM "{m}"', p.db)
                     for row in s["values"]}
            self.assertEqual(set(types.values()), {"float", "integer"} if m == "cpuTime"
                             else {"integer"}, f"field types of {m}: {types}")
            if m == "cpuTime":
                self.assertEqual(types["cpuTime"], "float")
            for series in INFLUX.query(f'SELECT * FROM "{m}"', p.db):
                for row in series["values"]:
                    record = dict(zip(series["columns"], row))
                    tags = tuple(sorted((k, v) for k, v in record.items()
                                        if k in tag_keys and v is not None))
                    actual[(m, tags, record["time"])] = {
                        k: v for k, v in record.items()
                        if k != "time" and k not in tag_keys and v is not None}
        self.assertEqual(sorted(actual), sorted(expected), "series and times")
        for key, fields in expected.items():
            self.assertEqual(actual[key], fields, key)

    # -------------------------------------------------------------- the dashboard
    def test_2_every_panel_of_the_old_dashboard_shows_every_domain(self):
        names = {d["name"] for d in self.domains().values()}
        queries = dashboard_queries()
        self.assertEqual(len(queries), 12)
        for title, ref, q in queries:
            with self.subTest(panel=title, target=ref, query=q):
                series = INFLUX.query(q, self.pipeline.db)
                self.assertTrue(series, "no data")
                by_vm = "GROUP BY" in q and '"vmId"' in q.split("GROUP BY", 1)[1]
                if by_vm:
                    self.assertLessEqual(names, {s["tags"]["vmId"] for s in series})
                for s in series:
                    for i, column in enumerate(s["columns"][1:], 1):
                        self.assertTrue(any(row[i] is not None for row in s["values"]),
                                        f"{s.get('tags')}: no value for {column}")

    # -------------------------------------------------------------- the pulse server
    def test_3_every_pulse_server_query_finds_each_domain_disk_and_nic(self):
        templates, scale = pulse_server_queries()
        asked, checked = [], 0
        for vm_uuid, d in self.domains().items():
            asked += [("cputime", {"uuid": vm_uuid}, {"vmUuid": vm_uuid}, "cpuTime"),
                      ("ram", {"uuid": vm_uuid}, {"vmUuid": vm_uuid}, "rss")]
            asked += [("disk", {"uuid": vm_uuid, "diskUuid": image},
                       {"vmUuid": vm_uuid, "image": image}, "disk") for image in d["images"]]
            asked += [("network-interface", {"uuid": vm_uuid, "mac": mac},
                       {"vmUuid": vm_uuid, "mac": mac}, "networkInterface")
                      for mac in d["macs"]]
        for kind, params, tags, measurement in asked:
            q = templates[kind].format(**scale, **params)
            with self.subTest(kind=kind, **params):
                series = INFLUX.query(q, self.pipeline.db)
                self.assertEqual(len(series), 1, f"no data: {q}")
                rows = [dict(zip(series[0]["columns"], row)) for row in series[0]["values"]]
                self.assertTrue(rows, q)
                # A counter that moved, or a gauge above 0, must show as above 0 somewhere.
                for field, alias in re.findall(r'MEAN\("(\w+)"\)(?:, \w+\))?[^,]*? AS (\w+)', q):
                    if max(self.topic_values(measurement, field, **tags), default=0) > 0:
                        self.assertGreater(max(r[alias] for r in rows), 0, f"{alias}: {q}")
                        checked += 1
                if kind == "cputime":
                    cpus = self.domains()[params["uuid"]]["cpus"]
                    self.assertIn(cpus, [r["cpuCount"] for r in rows], q)
        self.assertGreaterEqual(len(asked), 14)
        self.assertGreaterEqual(checked, 3 * len(self.domains()), "cpus, cpuTime, rss at least")
        # The same shapes for a domain that does not exist find nothing, so "data" above is
        # the filters matching, not fill(0) making rows up.
        nobody = {"uuid": "00000000-0000-4000-8000-000000000000", "diskUuid": "nothing",
                  "mac": "06:00:00:00:00:00"}
        for kind, template in templates.items():
            self.assertEqual(INFLUX.query(template.format(**scale, **nobody), self.pipeline.db), [],
                             kind)


if __name__ == "__main__":
    unittest.main()
