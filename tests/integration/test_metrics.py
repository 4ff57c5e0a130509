"""The sensor's own /metrics and /healthz (METRICS_ADDR) against the lab and a real broker.

    tests/integration/run metrics
    # or by hand, with the lab up (libvirt-lab.sh up) and the Kafka jars installed:
    /usr/bin/python3 -m pytest -v tests/integration/test_metrics.py

The module runs a Kafka broker of its own (kafka.sh with PULSE_IT_STATE=$PULSE_IT_STATE/
metrics-kafka), because it stops it: a broker other tests use must not go away under them.
Every sensor runs at PAUSE=1 with its own topic, its own SPOOL_DIR and METRICS_ADDR on a free
loopback port; /metrics is read with a strict parser of the text exposition format 0.0.4
(below), so a malformed line, a family split in two or a bad escape fails the test.

  1  the counters grow from poll to poll; pulse_domains equals the lab's active domains
     (virsh), and once delivery caught up, messages and points produced, delivered
     and what kcat reads back from the topic all agree
  2  the broker stopped (kafka.sh stop) with HEALTH_DELIVERY_TIMEOUT=3: /healthz turns 503
     naming Kafka while messages wait in the spool, and 200 again once the broker is back
  3  a sensor whose only URI is dead (a closed port, a password in the URI) answers 503 naming
     the host, with the password in neither /metrics nor /healthz
  4  METRICS_ADDR on a port already in use stops the sensor at start with status 2 and one line

Environment: PULSE_SENSOR, PULSE_IT_STATE (as for the other modules).
"""

import json
import math
import re
import shutil
import socket
import sys
import tempfile
import time
import unittest
from pathlib import Path

from lib.common import STATE, free_port, read_env_file
from lib.kafka import Broker, consume
from lib.lab import TEST_URI, live_domains
from lib.sensor import SENSOR, Sensor, run_sensor, sensor_env

BROKER = Broker(STATE / "metrics-kafka")   # this module's own: it stops it
# Settings of the sensor this module sets itself, besides lib.sensor's SENSOR_VARS.
METRICS_VARS = ("SPOOL_DIR", "METRICS_ADDR", "HEALTH_DELIVERY_TIMEOUT")

BOOTSTRAP = None
URI = None
_tmp = None
_sensors = []


def setUpModule():
    global BOOTSTRAP, URI, _tmp
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR}")
    if not (STATE / "lab.env").exists():
        raise unittest.SkipTest("libvirt lab is not up (libvirt-lab.sh up)")
    URI = read_env_file(STATE / "lab.env")["LAB_URI"]
    BROKER.state.mkdir(parents=True, exist_ok=True)
    BROKER.sh("up", timeout=120)
    BOOTSTRAP = BROKER.env()["KAFKA_BOOTSTRAP"]
    _tmp = Path(tempfile.mkdtemp(prefix="pulse-it-metrics-"))


def tearDownModule():
    for sensor in _sensors:
        sensor.stop()
        sensor.close()
    BROKER.sh("down", timeout=60, check=False)
    if _tmp:
        shutil.rmtree(_tmp, ignore_errors=True)


# ------------------------------------------------------------------ the exposition format
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
HELP_RE = re.compile(rf"^# HELP ({NAME}) (.*)$")
TYPE_RE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")
SAMPLE_RE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


class Exposition:
    """A strict reading of the text format 0.0.4: raises AssertionError on any deviation."""

    def __init__(self, text):
        self.types = {}
        self.samples = {}   # (name, frozenset of label pairs) -> float
        if not text.endswith("\n"):
            raise AssertionError("the exposition does not end with a newline")
        family = family_type = help_for = None
        for n, line in enumerate(text.splitlines(), 1):
            if m := HELP_RE.match(line):
                help_for = m[1]
                if help_for in self.types:
                    raise AssertionError(f"line {n}: family {help_for} appears twice")
                continue
            if m := TYPE_RE.match(line):
                if m[1] != help_for:
                    raise AssertionError(f"line {n}: TYPE without its HELP: {line}")
                family, family_type = m[1], m[2]
                self.types[family] = family_type
                continue
            m = SAMPLE_RE.match(line)
            if not m:
                raise AssertionError(f"line {n}: not a sample: {line!r}")
            name, labels_text, value = m[1], m[2] or "", m[3]
            allowed = {family}
            if family_type == "histogram":
                allowed = {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
            if name not in allowed:
                raise AssertionError(f"line {n}: {name} outside its family {family}")
            labels, pos = {}, 0
            while pos < len(labels_text):
                lm = LABEL_RE.match(labels_text, pos)
                if not lm:
                    raise AssertionError(f"line {n}: bad labels {labels_text!r}")
                raw = lm[2]
                labels[lm[1]] = re.sub(r"\\(.)", lambda e: "\n" if e[1] == "n" else e[1], raw)
                pos = lm.end()
            key = (name, frozenset(labels.items()))
            if key in self.samples:
                raise AssertionError(f"line {n}: sample twice: {line}")
            self.samples[key] = float(value)   # "+Inf" and "NaN" parse too
        self._check_histograms()

    def _check_histograms(self):
        for family, kind in self.types.items():
            if kind != "histogram":
                continue
            series = {}
            for (name, labels), value in self.samples.items():
                if name == f"{family}_bucket":
                    rest = frozenset((k, v) for k, v in labels if k != "le")
                    le = dict(labels)["le"]
                    series.setdefault(rest, []).append((float(le), value))
            for rest, buckets in series.items():
                buckets.sort()
                counts = [v for _, v in buckets]
                if counts != sorted(counts) or not math.isinf(buckets[-1][0]):
                    raise AssertionError(f"{family}{dict(rest)}: buckets {buckets}")
                if self.samples[(f"{family}_count", rest)] != counts[-1]:
                    raise AssertionError(f"{family}{dict(rest)}: +Inf bucket is not the count")

    def get(self, name, **labels):
        want = set(labels.items())
        found = [v for (n, ls), v in self.samples.items() if n == name and want <= set(ls)]
        if len(found) != 1:
            raise AssertionError(f"{len(found)} samples of {name}{labels}")
        return found[0]

    def has(self, name, **labels):
        want = set(labels.items())
        return any(n == name and want <= set(ls) for (n, ls) in self.samples)


# ------------------------------------------------------------------ a sensor with a listener
def start(uri, topic=None, **settings):
    """A sensor at PAUSE=1 on `uri` with METRICS_ADDR on a free loopback port and a spool of its
    own; with a topic, into this module's broker."""
    values = {"KVM_HOST": uri, "PAUSE": "1", "METRICS_ADDR": f"127.0.0.1:{free_port()}",
              "SPOOL_DIR": tempfile.mkdtemp(prefix="spool-", dir=_tmp)}
    if topic:
        values.update({"KAFKA_BOOTSTRAP": BOOTSTRAP, "KAFKA_TOPIC": topic})
    values.update(settings)
    sensor = Sensor(sensor_env(drop=METRICS_VARS, **values))
    _sensors.append(sensor)
    return sensor


def scrape(sensor):
    status, body = sensor.get("/metrics")
    if status != 200:
        raise AssertionError(f"/metrics answered {status}: {body}\n{sensor.err_tail()}")
    return Exposition(body)


def scrape_if_up(sensor):
    """The exposition, or None while the listener is not up yet."""
    status, body = sensor.get("/metrics")
    return Exposition(body) if status == 200 else None


class TestMetricsEndpoint(unittest.TestCase):
    def test_1_counters_grow_and_agree_with_kafka_and_the_lab(self):
        topic = BROKER.new_topic()
        sensor = start(URI, topic, GATHER_HOST_STATS="true")
        self.addCleanup(sensor.stop)
        host = {"host": URI}
        sink = {"sink": "kafka"}
        m1 = sensor.wait_for("two polls on /metrics", lambda: (
            (m := scrape_if_up(sensor)) and m.get("pulse_polls_total", **host) >= 2 and m),
            timeout=30)
        self.assertEqual(sensor.get("/healthz"), (200, "ok\n"))
        time.sleep(2.5)
        before = live_domains(URI)
        m2 = scrape(sensor)
        after = live_domains(URI)

        for name in ("pulse_polls_total", "pulse_points_total", "pulse_messages_total"):
            self.assertGreater(m2.get(name, **host), m1.get(name, **host), name)
        self.assertGreater(m2.get("pulse_sink_messages_produced_total", **sink),
                           m1.get("pulse_sink_messages_produced_total", **sink))
        self.assertEqual(m2.get("pulse_host_up", **host), 1)
        self.assertEqual(m2.get("pulse_missed_polls_total", reason="libvirt", **host), 0)
        self.assertAlmostEqual(m2.get("pulse_last_successful_poll_timestamp_seconds", **host),
                               time.time(), delta=5)
        self.assertEqual(m2.get("pulse_poll_duration_seconds_count", **host),
                         m2.get("pulse_polls_total", **host))
        self.assertGreater(m2.get("pulse_poll_duration_seconds_sum", **host), 0)
        if len(before) == len(after):   # nobody started or stopped a domain meanwhile
            self.assertEqual(m2.get("pulse_domains", **host), len(after),
                             f"pulse_domains vs. virsh's active domains {after}")
        self.assertEqual(m2.types["pulse_polls_total"], "counter")
        self.assertEqual(m2.types["pulse_domains"], "gauge")
        self.assertEqual(m2.types["pulse_poll_duration_seconds"], "histogram")
        self.assertTrue(m2.has("pulse_spool_records", **sink))
        self.assertTrue(m2.has("pulse_sink_queue_messages", **sink))
        self.assertTrue(m2.has("pulse_libvirt_reconnects_total", **host))

        # The sensor keeps polling while the topic is read, so the topic is compared with a
        # scrape taken once delivery had caught up (everything counted by then is on the
        # topic) and one taken after the read (everything on the topic is counted by then).
        def caught_up():
            m = scrape(sensor)
            produced = m.get("pulse_sink_messages_produced_total", **sink)
            return (m.get("pulse_messages_total", **host) == produced
                    and m.get("pulse_sink_messages_delivered_total", **sink) == produced
                    and m.get("pulse_sink_messages_pending", **sink) == 0 and m)

        m3 = sensor.wait_for("delivery to catch up", caught_up, timeout=30)
        messages = consume(topic, BOOTSTRAP)
        time.sleep(1.5)   # acknowledgements of what the read saw reach the sensor
        m4 = scrape(sensor)
        points = sum(len(json.loads(m[3])) for m in messages)
        self.assertLessEqual(m3.get("pulse_sink_messages_delivered_total", **sink), len(messages))
        self.assertLessEqual(len(messages), m4.get("pulse_sink_messages_delivered_total", **sink))
        self.assertLessEqual(m3.get("pulse_points_total", **host), points)
        self.assertLessEqual(points, m4.get("pulse_points_total", **host))
        sys.stderr.write(f"\n  {m4.get('pulse_polls_total', **host):.0f} polls, "
                         f"{len(messages)} messages and {points} points on the topic, "
                         f"scrapes {m3.get('pulse_points_total', **host):.0f}.."
                         f"{m4.get('pulse_points_total', **host):.0f} points\n")
        self.assertEqual(sensor.stop()[0], 0, sensor.err_tail())

    def test_2_healthz_fails_while_the_broker_is_down_and_recovers(self):
        topic = BROKER.new_topic()
        sensor = start(URI, topic, HEALTH_DELIVERY_TIMEOUT=3)
        self.addCleanup(sensor.stop)
        self.addCleanup(lambda: BROKER.sh("start", timeout=180))   # whatever happens below
        sensor.wait_for("a delivery", lambda: (m := scrape_if_up(sensor)) and m.has(
            "pulse_sink_messages_delivered_total") and m.get(
            "pulse_sink_messages_delivered_total", sink="kafka") > 0, timeout=30)
        self.assertEqual(sensor.get("/healthz"), (200, "ok\n"))
        t0 = time.monotonic()
        BROKER.sh("stop", timeout=60)
        status, reason = sensor.wait_for(
            "/healthz 503", lambda: (h := sensor.get("/healthz"))[0] == 503 and h, timeout=60)
        took = time.monotonic() - t0
        self.assertRegex(reason, r"^kafka: nothing delivered for \d+ s with \d+ message\(s\) "
                                 r"outstanding \(HEALTH_DELIVERY_TIMEOUT 3 s\)\n$")
        m = scrape(sensor)
        self.assertGreater(m.get("pulse_spool_records", sink="kafka"), 0)
        self.assertGreater(m.get("pulse_spool_bytes", sink="kafka"), 0)
        self.assertEqual(m.get("pulse_host_up", host=URI), 1, "libvirt is fine all along")
        t1 = time.monotonic()
        BROKER.sh("start", timeout=180)
        sensor.wait_for("/healthz 200 after the broker came back",
                        lambda: sensor.get("/healthz") == (200, "ok\n"), timeout=90)
        sys.stderr.write(f"\n  broker stopped: 503 after {took:.1f} s; "
                         f"200 again {time.monotonic() - t1:.1f} s after kafka.sh start began\n")
        self.assertEqual(sensor.stop()[0], 0, sensor.err_tail())

    def test_3_a_sensor_whose_only_hypervisor_is_dead_is_unhealthy(self):
        secret = "Zq9-metrics-S3CRET"
        uri = f"qemu+tcp://pulse:{secret}@127.0.0.1:{free_port()}/system"
        shown = f"qemu+tcp://pulse@127.0.0.1:{uri.rsplit(':', 1)[1]}"
        sensor = start(uri)   # no Kafka: stdout
        self.addCleanup(sensor.stop)
        status, reason = sensor.wait_for(
            "/healthz 503", lambda: (h := sensor.get("/healthz"))[0] == 503 and h, timeout=20)
        self.assertEqual(reason, f"hypervisor unreachable: {shown}\n")
        status, body = sensor.get("/metrics")
        self.assertEqual(status, 200)
        self.assertNotIn(secret, body)
        m = Exposition(body)
        self.assertEqual(m.get("pulse_host_up", host=shown), 0)
        self.assertGreater(m.get("pulse_missed_polls_total", host=shown, reason="libvirt"), 0)
        self.assertFalse(m.has("pulse_last_successful_poll_timestamp_seconds"))
        self.assertEqual(sensor.stop()[0], 0, sensor.err_tail())
        self.assertNotIn(secret, sensor.err_text().replace(uri, ""),
                         "the password outside the configured URI")

    def test_4_a_port_in_use_stops_the_sensor_at_start(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            env = sensor_env(drop=METRICS_VARS, KVM_HOST=TEST_URI,
                             METRICS_ADDR=f"127.0.0.1:{port}", SPOOL_DIR="off")
            res = run_sensor([], env, 30)
        self.assertEqual(res.returncode, 2, res.stderr)
        lines = res.stderr.splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertIn(f"METRICS_ADDR (--metrics-addr) '127.0.0.1:{port}'", lines[0])


if __name__ == "__main__":
    unittest.main()
