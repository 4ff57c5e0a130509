"""The Grafana dashboard (dashboards/pulse-sensor-influxdb.json) answers with data for the lab.

    PULSE_IT_STATE=... /usr/bin/python3 -m pytest -v tests/integration/test_dashboard.py

Grafana itself cannot run here, so the test does what Grafana would do with the dashboard:
it runs the template variables' queries, fills $vmHost and $vmId the way Grafana's InfluxDB
data source does for multi-value variables (each value regex-escaped, several joined as
(a|b)), $timeFilter as `time >= <from>ms and time <= <to>ms` and $__interval as the data
source's Min time interval (the sensor's PAUSE, as docs/dashboard.md advises; Grafana uses it
whenever the range divided by the panel's width is shorter), and sends every panel's query to
the suite's real InfluxDB 1.x.

The data: one sensor at PAUSE=2 with GATHER_HOST_STATS=true and RATES=true, four polls of
the lab (qemu:///system) and of the odd-names test-driver host (quotes, commas, equals signs,
backslashes and non-ASCII in vmId and vmHost), through Kafka and `pulse-sensor import` into a
database of the test's own. Every panel must answer for the lab host with a series per
running or paused lab domain (and disk or NIC) that has the panel's measurement, with numbers
in it; the same for the odd-names host, whose names only reach InfluxQL through the escaped
variables.

Environment: PULSE_SENSOR (default build/pulse-sensor), PULSE_IT_STATE (default /tmp/pulse-it).
"""

import json
import os
import re
import shutil
import time
import unittest
import uuid

from lib.common import FIXTURES, ROOT, STATE, bring_up, read_env_file, take_down
from lib.influx import INFLUXDB_SH, InfluxDB, series_key, stop_importer, topic_points
from lib.kafka import KAFKA_SH, fill_topic, new_topic, odd_node_uri
from lib.lab import LAB_SH, ensure_lab, lab_env
from lib.sensor import SENSOR

DASHBOARD = ROOT / "dashboards" / "pulse-sensor-influxdb.json"
ODD_NODE = FIXTURES / "odd-names-node.xml"
WORK = STATE / "dashboard"
PAUSE_S = 2
POLLS = 4                  # the first has no rates; a derivative needs two buckets
IMPORT_TIMEOUT_S = 60

_started = []
BOOTSTRAP = ""
INFLUX = None
DB = ""
POINTS = []


def setUpModule():
    global BOOTSTRAP, INFLUX, DB, POINTS
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR}")
    if os.geteuid() != 0:
        raise unittest.SkipTest("the libvirt lab needs root")
    if ensure_lab():
        _started.append(LAB_SH)
    for script, env_name in ((KAFKA_SH, "kafka.env"), (INFLUXDB_SH, "influxdb.env")):
        bring_up(script, env_name, _started)
    BOOTSTRAP = read_env_file(STATE / "kafka.env")["KAFKA_BOOTSTRAP"]
    INFLUX = InfluxDB(read_env_file(STATE / "influxdb.env")["INFLUXDB_URL"])

    topic = new_topic()
    hosts = [lab_env()["LAB_URI"], odd_node_uri(WORK, ODD_NODE)]
    POINTS = topic_points(fill_topic(topic, "json", BOOTSTRAP, hosts, polls=POLLS))
    DB = f"pulse_dashboard_{uuid.uuid4().hex[:8]}"
    INFLUX.query(f'CREATE DATABASE "{DB}"', method="POST")
    measurements = sorted({p[0] for p in POINTS})
    want = len({series_key(m, tags, t) for m, tags, _, t in POINTS})
    importer = INFLUX.start_importer(BOOTSTRAP, topic, f"pulse-it-{uuid.uuid4().hex[:8]}", DB)
    try:
        deadline = time.monotonic() + IMPORT_TIMEOUT_S
        while INFLUX.count_points(DB, measurements) < want and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        rc, err = stop_importer(importer)
    if rc != 0 or INFLUX.count_points(DB, measurements) != want:
        raise AssertionError(f"the importer wrote {INFLUX.count_points(DB, measurements)} of "
                             f"{want} points (exit {rc}):\n{err[-3000:]}")


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)
    if DB:
        INFLUX.query(f'DROP DATABASE "{DB}"', method="POST")
    take_down(_started)


# ------------------------------------------------------------------ what Grafana does
def escape_regex(value):
    """@grafana/data's escapeRegex, which the InfluxDB data source applies to every value of a
    multi-value variable used in a regex."""
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(0), value)


def variable_value(values):
    escaped = [escape_regex(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def fill(query, variables, time_from_s, time_to_s):
    query = query.replace("$timeFilter",
                          f"time >= {time_from_s * 1000}ms and time <= {time_to_s * 1000}ms")
    query = query.replace("$__interval", f"{PAUSE_S}s")
    for name, values in variables.items():
        query = query.replace(f"${name}", variable_value(values))
    left = re.findall(r"\$\w+", query)
    if left:
        raise AssertionError(f"unknown variables {left} in {query}")
    return query


def show_tag_values(query, variables):
    rows = [row for s in INFLUX.query(fill(query, variables, 0, 0), DB) for row in s["values"]]
    return sorted({row[1] for row in rows})


class TestDashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dashboard = json.loads(DASHBOARD.read_text())
        cls.variables = {v["name"]: v for v in cls.dashboard["templating"]["list"]}
        times = [p[3] for p in POINTS]
        cls.time_from, cls.time_to = min(times) - 300, max(times) + 60

    def panels(self):
        panels = [p for p in self.dashboard["panels"] if p.get("targets")]
        self.assertGreaterEqual(len(panels), 10)
        return panels

    def expected_series(self, measurement, vm_host, group_by, min_polls):
        """The GROUP BY tag values a panel must show: one per series of the measurement on
        that host with points from `min_polls` polls (a derivative needs two; a domain that
        another user of the lab starts meanwhile may have fewer)."""
        times = {}
        for m, tags, _, t in POINTS:
            if m == measurement and tags["vmHost"] == vm_host:
                times.setdefault(tuple(tags.get(k, "") for k in group_by), set()).add(t)
        return {key for key, polls in times.items() if len(polls) >= min_polls}

    def check_host(self, vm_host):
        vm_hosts = show_tag_values(self.variables["vmHost"]["query"], {})
        self.assertIn(vm_host, vm_hosts)
        vm_ids = show_tag_values(self.variables["vmId"]["query"], {"vmHost": [vm_host]})
        self.assertEqual(vm_ids, sorted({tags["vmId"] for m, tags, _, _ in POINTS
                                         if m == "cpuTime" and tags["vmHost"] == vm_host}))
        variables = {"vmHost": [vm_host], "vmId": vm_ids}  # vmId "All"
        for panel in self.panels():
            for target in panel["targets"]:
                query = fill(target["query"], variables, self.time_from, self.time_to)
                with self.subTest(panel=panel["title"], vmHost=vm_host):
                    measurement = re.search(r'FROM "(\w+)"', query).group(1)
                    group_by = re.findall(r'"(\w+)"', query.split("GROUP BY", 1)[1])
                    series = INFLUX.query(query, DB)
                    got = {tuple(s.get("tags", {}).get(k, "") for k in group_by) for s in series}
                    want = self.expected_series(measurement, vm_host, group_by,
                                                2 if "derivative(" in query else 1)
                    self.assertTrue(want, f"no {measurement} points for {vm_host}: {query}")
                    self.assertEqual(got, want, query)
                    for s in series:
                        numbers = [v for row in s["values"] for v in row[1:]
                                   if isinstance(v, (int, float))]
                        self.assertTrue(numbers, f"{s.get('tags')}: only nulls: {query}")

    def test_every_panel_answers_for_the_lab_and_its_domains(self):
        lab = lab_env()
        self.check_host(lab["LAB_URI"])
        vm_ids = show_tag_values(self.variables["vmId"]["query"], {"vmHost": [lab["LAB_URI"]]})
        # Other tests may add domains of their own to the shared lab meanwhile.
        self.assertLessEqual(set(lab["LAB_ACTIVE"].split()), set(vm_ids))

    def test_every_panel_answers_for_a_host_with_odd_names(self):
        self.check_host(odd_node_uri(WORK, ODD_NODE))


if __name__ == "__main__":
    unittest.main()
