"""Telegraf reads the topic with docs/influxdb.md's own snippets and gets every point, unchanged.

    tests/integration/telegraf.sh install                   # once per machine (minutes)
    PULSE_IT_STATE=... /usr/bin/python3 -m pytest -v tests/integration/test_telegraf.py

Needs the libvirt lab ($PULSE_IT_STATE/lab.env) and a Kafka broker (kafka.sh up, started here
when it is not up, and then stopped again), and the Telegraf that telegraf.sh builds.

The configuration Telegraf runs is cut out of docs/influxdb.md ("Telegraf's `kafka_consumer`
input"): the blocks after the `<!-- test_telegraf.py: NAME -->` markers, with only the placeholders
replaced (`kafka1:9092`, `kvm-metrics`, `telegraf-kvm`) and, for a quick bounded run, a
one-second flush added to the `[agent]` block. So what a user copies is what runs here.

For FORMAT=json and FORMAT=influx, each on a topic of its own, one sensor with
GATHER_HOST_STATS=true and RATES=true at PAUSE=2 fills the topic from two hosts, until each
has three polls there (so every contract measurement, nodeInfo and the rate measurements):
  * the lab (qemu:///system), and
  * a test-driver host (fixtures/odd-names-node.xml) whose domain names and disk paths hold
    spaces, commas, equals signs, quotes, backslashes and non-ASCII letters, under a
    directory whose name (in vmHost) holds a space and an equals sign.
Telegraf consumes it with a consumer group of its own and writes influx line protocol to a
file (outputs.file). It is stopped (SIGTERM) once as many lines as the topic has points are
there, or after TELEGRAF_WAIT_S. Every point read back from the topic with kcat must be in the
file once: same measurement and tags, same time to the second, same field names, types
(integer or float) and values; Telegraf must log no error.

Environment: PULSE_SENSOR (default build/pulse-sensor), PULSE_IT_STATE (default /tmp/pulse-it).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import uuid
from collections import Counter

from lib.common import HERE, ROOT, STATE, bring_up, read_env_file, take_down, terminate
from lib.influx import parse_lp_line, series_key, topic_points
from lib.kafka import KAFKA_SH, fill_topic, new_topic, odd_node_uri
from lib.lab import LAB_SH, ensure_lab, lab_env
from lib.sensor import SENSOR

TELEGRAF_SH = HERE / "telegraf.sh"
README = ROOT / "docs" / "influxdb.md"
ODD_NODE = HERE / "fixtures" / "odd-names-node.xml"
WORK = STATE / "telegraf"

# The README's placeholders, replaced by the test's broker, topic and consumer group.
PLACEHOLDERS = ('"kafka1:9092"', '"kvm-metrics"', '"telegraf-kvm"')
CONTRACT = {"cpuTime", "rss", "networkInterface", "disk", "nodeInfo"}
RATE_MEASUREMENTS = {"cpuRate", "networkInterfaceRate", "diskRate"}
TELEGRAF_WAIT_S = 90       # start, join the group, consume, flush
STOP_TIMEOUT_S = 30

_started = []
BOOTSTRAP = ""
TELEGRAF = None


def setUpModule():
    global BOOTSTRAP, TELEGRAF
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR}")
    if os.geteuid() != 0:
        raise unittest.SkipTest("the libvirt lab needs root")
    res = subprocess.run([str(TELEGRAF_SH), "path"], capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        raise unittest.SkipTest(f"no Telegraf: {res.stderr.strip()}")
    TELEGRAF = res.stdout.strip()
    if ensure_lab():
        _started.append(LAB_SH)
    bring_up(KAFKA_SH, "kafka.env", _started)
    BOOTSTRAP = read_env_file(STATE / "kafka.env")["KAFKA_BOOTSTRAP"]
    WORK.mkdir(parents=True, exist_ok=True)


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)
    take_down(_started)


# ------------------------------------------------------------------ README
def readme_snippet(name):
    """The fenced block right after `<!-- test_telegraf.py: NAME -->` in docs/influxdb.md."""
    text = README.read_text()
    marker = f"<!-- test_telegraf.py: {name} -->"
    if text.count(marker) != 1:
        raise AssertionError(f"docs/influxdb.md must hold the marker {marker!r} exactly once")
    after = text.split(marker, 1)[1]
    m = re.match(r"\s*```toml\n(.*?)\n```", after, re.S)
    if not m:
        raise AssertionError(f"no ```toml block right after {marker!r} in docs/influxdb.md")
    return m.group(1) + "\n"


def telegraf_config(fmt, topic, group, out_path):
    """docs/influxdb.md's agent block and its input block for `fmt`, placeholders filled, and an
    outputs.file in line protocol."""
    agent = readme_snippet("agent")
    if not agent.startswith("[agent]\n"):
        raise AssertionError(f"docs/influxdb.md's agent block must start with [agent]:\n{agent}")
    # Only for a quick test: flush every second instead of every 10 s.
    agent = agent.replace("[agent]\n", '[agent]\n  flush_interval = "1s"\n  flush_jitter = "0s"\n', 1)
    inputs = readme_snippet(f"FORMAT={fmt}")
    for placeholder, value in zip(PLACEHOLDERS, (BOOTSTRAP, topic, group)):
        if inputs.count(placeholder) != 1:
            raise AssertionError(f"docs/influxdb.md's FORMAT={fmt} block must hold {placeholder} "
                                 f"exactly once:\n{inputs}")
        inputs = inputs.replace(placeholder, json.dumps(value))
    output = f'[[outputs.file]]\n  files = [{json.dumps(str(out_path))}]\n  data_format = "influx"\n'
    return f"{agent}\n{inputs}\n{output}"


# ------------------------------------------------------------------ Telegraf
def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return 0


def run_telegraf(config, out_path, want_lines):
    """Telegraf on `config` until `want_lines` lines are in out_path (or TELEGRAF_WAIT_S), then
    SIGTERM, which flushes. Returns Telegraf's log."""
    conf = out_path.with_suffix(".conf")
    conf.write_text(config)
    log = out_path.with_suffix(".log")
    with open(log, "w") as log_file:
        proc = subprocess.Popen([TELEGRAF, "--config", str(conf)], stdout=log_file,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + TELEGRAF_WAIT_S
            while (count_lines(out_path) < want_lines and time.monotonic() < deadline
                   and proc.poll() is None):
                time.sleep(0.5)
        finally:
            if not terminate(proc, STOP_TIMEOUT_S):
                raise AssertionError(f"Telegraf ignored SIGTERM:\n{log.read_text()[-3000:]}")
    return log.read_text()


class TestTelegrafReadsTheTopic(unittest.TestCase):
    def run_format(self, fmt):
        topic = new_topic()
        payloads = fill_topic(topic, fmt, BOOTSTRAP,
                              [lab_env()["LAB_URI"], odd_node_uri(WORK, ODD_NODE)])
        for p in payloads:
            self.assertEqual(p.lstrip().startswith("["), fmt == "json", p)
        points = topic_points(payloads)
        self.assertEqual({p[0] for p in points}, CONTRACT | RATE_MEASUREMENTS)
        vm_ids = {p[1].get("vmId") for p in points}
        self.assertIn('odd vm, name=1 "quoted" back\\slash', vm_ids)
        self.assertIn("виртуалка-ü-日本", vm_ids)

        want = Counter()
        want_fields = {}
        for measurement, tags, fields, t in points:
            key = series_key(measurement, tags, t)
            want[key] += 1
            want_fields[key] = fields

        out_path = WORK / f"telegraf-{fmt}-{uuid.uuid4().hex[:8]}.out"
        config = telegraf_config(fmt, topic, f"pulse-it-{uuid.uuid4().hex[:8]}", out_path)
        log = run_telegraf(config, out_path, len(points))
        errors = [line for line in log.splitlines() if " E! " in line]
        got = Counter()
        got_fields = {}
        lines = [line for line in out_path.read_text().splitlines() if line.strip()] \
            if out_path.exists() else []
        for line in lines:
            measurement, tags, fields, t_ns = parse_lp_line(line)
            self.assertEqual(t_ns % 1_000_000_000, 0, f"not a whole second: {line}")
            key = series_key(measurement, tags, t_ns // 1_000_000_000)
            got[key] += 1
            got_fields[key] = fields
        self.assertEqual(len(lines), len(points),
                         f"{len(lines)} of {len(points)} points arrived through Telegraf; its "
                         f"errors ({len(errors)}):\n" + "\n".join(errors[:5]))
        self.assertEqual(sorted(got.elements()), sorted(want.elements()),
                         "series (measurement and tags) and times differ")
        for key, fields in want_fields.items():
            self.assertEqual({k: type(v).__name__ for k, v in got_fields[key].items()},
                             {k: type(v).__name__ for k, v in fields.items()},
                             f"field names and types of {key}")
            self.assertEqual(got_fields[key], fields, f"field values of {key}")
        self.assertEqual(errors, [], "Telegraf logged errors")
        print(f"FORMAT={fmt}: {len(lines)} of {len(points)} points ({len(payloads)} messages) "
              f"arrived through Telegraf unchanged", file=sys.stderr)

    def test_the_readmes_json_snippet_delivers_every_point_unchanged(self):
        self.run_format("json")

    def test_the_readmes_line_protocol_snippet_delivers_every_point_unchanged(self):
        self.run_format("influx")


if __name__ == "__main__":
    unittest.main()
