"""Sensor -> real Kafka -> `pulse-sensor import` -> a real InfluxDB 1.x: what InfluxDB returns
is what the sensor produced, in both formats.

    tests/integration/influxdb.sh install                   # once per machine
    PULSE_IT_STATE=... /usr/bin/python3 -m pytest -v tests/integration/test_influx.py

Needs the libvirt lab ($PULSE_IT_STATE/lab.env) and starts a Kafka broker (kafka.sh up) and
an influxd (influxdb.sh up) unless they are already up; what it started it stops.

For FORMAT=json and FORMAT=influx, each on a topic of its own: two sensor polls of the lab with
GATHER_HOST_STATS=true, read back from the topic with kcat; the importer (a consumer group of
its own) writes them into a database of its own and is stopped with SIGTERM (exit 0). Then, for
every measurement, `SELECT *` must give the same series, times and field values as the
messages, and `SHOW FIELD KEYS` the same types (integer or float). A second importer in the
same group must then find nothing left to import: the first one committed what it wrote.

And on a topic fed by kcat: a malformed message and a point InfluxDB refuses (a float into an
integer field) are logged by topic/partition/offset and skipped, while the good ones around
them are written; a database that does not exist yet (404) is waited for, not skipped.

And a rebalance, with the eager protocol (the default) and with cooperative-sticky: on a topic
of 4 partitions fed by kcat, a second importer joins the group mid-stream and the first one
leaves; every point must then be in InfluxDB, none missing. Delivery is at least once (a
batch in hand when partitions move may be written twice), which InfluxDB turns into exactly
once: a point is keyed by series and time, so the count of points is the count of messages.

Environment: PULSE_SENSOR (default build/pulse-sensor), PULSE_IT_STATE (default /tmp/pulse-it).
"""

import calendar
import subprocess
import time
import unittest
import uuid

from lib.common import STATE, bring_up, read_env_file, take_down
from lib.influx import INFLUXDB_SH, InfluxDB, points_of, stop_importer
from lib.kafka import KAFKA_SH, new_topic, produce, read_topic
from lib.sensor import SENSOR, run_once

IMPORT_TIMEOUT_S = 60

_started = []
BOOTSTRAP = ""
INFLUX = None


def setUpModule():
    global BOOTSTRAP, INFLUX
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR}")
    if not (STATE / "lab.env").exists():
        raise unittest.SkipTest("libvirt lab is not up (libvirt-lab.sh up)")
    for script, env_name in ((KAFKA_SH, "kafka.env"), (INFLUXDB_SH, "influxdb.env")):
        bring_up(script, env_name, _started)
    BOOTSTRAP = read_env_file(STATE / "kafka.env")["KAFKA_BOOTSTRAP"]
    INFLUX = InfluxDB(read_env_file(STATE / "influxdb.env")["INFLUXDB_URL"])


def tearDownModule():
    take_down(_started, timeout=60)


# ------------------------------------------------------------------ messages
def expected_points(messages):
    """(measurement, tags, time) -> fields; a later write of a series and time wins, as in
    InfluxDB."""
    expected = {}
    for m in messages:
        for measurement, tags, fields, t in points_of(m["payload"]):
            tags = {k: v for k, v in tags.items() if v != ""}
            expected[(measurement, tuple(sorted(tags.items())), t)] = fields
    return expected


# ------------------------------------------------------------------ importer
def start_importer(topic, group, db, stderr=subprocess.PIPE, args=()):
    return INFLUX.start_importer(BOOTSTRAP, topic, group, db, stderr, args)


class TestImportIntoInfluxDB(unittest.TestCase):
    def run_format(self, fmt):
        lab = read_env_file(STATE / "lab.env")
        topic = new_topic()
        for _ in range(2):
            res = run_once(timeout=120, KVM_HOST=lab["LAB_URI"], KAFKA_BOOTSTRAP=BOOTSTRAP,
                           KAFKA_TOPIC=topic, GATHER_HOST_STATS="true", FORMAT=fmt)
            self.assertEqual(res.returncode, 0, res.stderr)
        messages = read_topic(topic, BOOTSTRAP)
        self.assertTrue(messages, "nothing on the topic")
        for m in messages:
            self.assertEqual(m["payload"].lstrip().startswith("["), fmt == "json", m["payload"])
        expected = expected_points(messages)
        measurements = sorted({k[0] for k in expected})
        self.assertEqual(measurements, ["cpuTime", "disk", "networkInterface", "nodeInfo", "rss"])

        db = f"pulse_{fmt}_{uuid.uuid4().hex[:8]}"
        INFLUX.query(f'CREATE DATABASE "{db}"', method="POST")
        group = f"pulse-it-{uuid.uuid4().hex[:8]}"
        importer = start_importer(topic, group, db)
        try:
            deadline = time.monotonic() + IMPORT_TIMEOUT_S
            while INFLUX.count_points(db, measurements) < len(expected):
                if importer.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            rc, err = stop_importer(importer)
        self.assertEqual(rc, 0, err)
        self.assertEqual(INFLUX.count_points(db, measurements), len(expected), err)
        self.assertNotIn("refused", err.split("stopping on")[0])
        self.assertIn(", 0 message(s) refused, 0 malformed", err)

        self.compare(db, measurements, expected)
        self.assert_offsets_committed(topic, group)

    def compare(self, db, measurements, expected):
        for m in measurements:
            tag_keys = {row[0] for s in INFLUX.query(f'SHOW TAG KEYS FROM "{m}"', db)
                        for row in s["values"]}
            types = {row[0]: row[1] for s in INFLUX.query(f'SHOW FIELD KEYS FROM "{m}"', db)
                     for row in s["values"]}
            want_types = {}
            for (measurement, _, _), fields in expected.items():
                if measurement == m:
                    for k, v in fields.items():
                        want_types[k] = "float" if isinstance(v, float) else "integer"
            self.assertEqual(types, want_types, f"field types of {m}")
            if m == "cpuTime":  # the contract's one float: it must not become an integer field
                self.assertEqual(types, {"cpuTime": "float", "cpus": "integer"})
            actual = {}
            for series in INFLUX.query(f'SELECT * FROM "{m}"', db):
                columns = series["columns"]
                for row in series["values"]:
                    record = dict(zip(columns, row))
                    tags = tuple(sorted((k, v) for k, v in record.items()
                                        if k in tag_keys and v is not None))
                    fields = {k: v for k, v in record.items()
                              if k != "time" and k not in tag_keys and v is not None}
                    actual[(m, tags, record["time"])] = fields
            want = {k: v for k, v in expected.items() if k[0] == m}
            self.assertEqual(sorted(actual), sorted(want), f"series and times of {m}")
            for key, fields in want.items():
                # JSON gives InfluxDB's 4.0 back as 4: types are checked above, values here.
                self.assertEqual(actual[key], fields, f"{key}")

    def assert_offsets_committed(self, topic, group):
        db = f"pulse_again_{uuid.uuid4().hex[:8]}"
        INFLUX.query(f'CREATE DATABASE "{db}"', method="POST")
        again = start_importer(topic, group, db)
        time.sleep(8)  # joins the group and fetches; anything uncommitted would be written
        rc, err = stop_importer(again)
        self.assertEqual(rc, 0, err)
        self.assertIn("0 message(s) read", err)
        self.assertEqual(INFLUX.query('SHOW MEASUREMENTS', db), [], err)

    def test_bad_messages_are_named_and_skipped_and_a_missing_database_is_waited_for(self):
        topic = new_topic()
        produce(topic, BOOTSTRAP, [
            "probe,vmId=a cpus=1i 1795600000",
            "this is not line protocol",
            "probe,vmId=a cpus=1.5 1795600001",  # a float into an integer field: refused
            '[{"measurement":"probe","tags":{"vmId":"b"},"fields":{"cpus":2},'
            '"time":"2026-11-25T10:00:02Z"}]',
        ])
        db = f"pulse_late_{uuid.uuid4().hex[:8]}"
        log_path = STATE / f"import-{db}.log"
        with open(log_path, "w") as log:
            importer = start_importer(topic, f"pulse-it-{uuid.uuid4().hex[:8]}", db, stderr=log)
            try:
                time.sleep(4)  # the database does not exist yet: InfluxDB answers 404
                self.assertIsNone(importer.poll(), log_path.read_text())
                INFLUX.query(f'CREATE DATABASE "{db}"', method="POST")
                deadline = time.monotonic() + IMPORT_TIMEOUT_S
                while time.monotonic() < deadline and importer.poll() is None:
                    if INFLUX.count_points(db, ["probe"]) >= 2:
                        break
                    time.sleep(0.5)
            finally:
                rc, _ = stop_importer(importer)
        err = log_path.read_text()
        log_path.unlink()
        self.assertEqual(rc, 0, err)
        self.assertEqual(err.count("InfluxDB unavailable"), 1, err)
        self.assertIn("database not found", err)
        self.assertIn("InfluxDB accepts writes again", err)
        self.assertIn(f"message {topic}/0/1 skipped, malformed", err)
        self.assertIn(f"message {topic}/0/2 refused by InfluxDB, skipped", err)
        self.assertIn("field type conflict", err)
        self.assertIn("4 message(s) read", err)
        self.assertIn(", 1 message(s) refused, 1 malformed", err)
        rows = INFLUX.query('SELECT cpus, vmId FROM "probe"', db)[0]["values"]
        self.assertEqual(rows, [[1795600000, 1, "a"],
                                [calendar.timegm((2026, 11, 25, 10, 0, 2)), 2, "b"]])
        types = INFLUX.query('SHOW FIELD KEYS FROM "probe"', db)[0]["values"]
        self.assertEqual(types, [["cpus", "integer"]])

    def test_json_messages_arrive_in_influxdb_with_their_values_and_types(self):
        self.run_format("json")

    def test_line_protocol_messages_arrive_in_influxdb_with_their_values_and_types(self):
        self.run_format("influx")


class TestRebalance(unittest.TestCase):
    """Two importers in one group: one joins mid-stream, the other leaves; nothing is missed."""

    def wait_until(self, what, cond, logs, timeout=IMPORT_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.25)
        self.fail(f"no {what} within {timeout} s\n" +
                  "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs))

    def run_rebalance(self, strategy_args):
        topic = new_topic(4)
        db = f"pulse_rebalance_{uuid.uuid4().hex[:8]}"
        INFLUX.query(f'CREATE DATABASE "{db}"', method="POST")
        group = f"pulse-it-{uuid.uuid4().hex[:8]}"
        sent = 0

        def feed(n):
            nonlocal sent
            # Keys spread the messages over the partitions; each is one point of its own.
            lines = [f"k{i % 16}\tprobe,vm=k{i % 16} seq={i}i {1795600000 + i}"
                     for i in range(sent, sent + n)]
            produce(topic, BOOTSTRAP, lines, key_delimiter="\t")
            sent += n

        logs = [STATE / f"import-{db}-a.log", STATE / f"import-{db}-b.log"]
        files = [open(p, "w") for p in logs]
        a = start_importer(topic, group, db, stderr=files[0], args=strategy_args)
        b = None
        try:
            feed(200)
            self.wait_until("points from the first importer",
                            lambda: INFLUX.count_points(db, ["probe"]) > 0, logs)
            b = start_importer(topic, group, db, stderr=files[1], args=strategy_args)
            for _ in range(5):  # mid-stream: the group rebalances while messages arrive
                feed(40)
                time.sleep(0.5)
            self.wait_until("partitions for the second importer",
                            lambda: "assigned" in logs[1].read_text()
                            and INFLUX.count_points(db, ["probe"]) > 0, logs)
            rc_a, _ = stop_importer(a)       # leaves the group: its partitions move to b
            feed(200)
            self.wait_until(f"all {sent} points",
                            lambda: INFLUX.count_points(db, ["probe"]) >= sent, logs)
            rc_b, _ = stop_importer(b)
        finally:
            for proc in (a, b):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
            for f in files:
                f.close()
        texts = [p.read_text() for p in logs]
        for p in logs:
            p.unlink()
        self.assertEqual((rc_a, rc_b), (0, 0), "\n".join(texts))
        for text in texts:
            self.assertNotIn("rebalance: ", text, text)   # no failed assign/unassign
        self.assertRegex(texts[1], r"assigned [1-9]", texts[1])
        self.assertEqual(INFLUX.count_points(db, ["probe"]), sent)
        rows = INFLUX.query('SELECT seq FROM "probe"', db)[0]["values"]
        self.assertEqual(sorted(r[1] for r in rows), list(range(sent)), "points missing")
        INFLUX.query(f'DROP DATABASE "{db}"', method="POST")
        return texts

    def test_eager_rebalance_writes_every_message(self):
        self.run_rebalance(())

    def test_cooperative_sticky_rebalance_writes_every_message(self):
        texts = self.run_rebalance(
            ("--kafka-property", "partition.assignment.strategy=cooperative-sticky"))
        self.assertIn("assigned", texts[0])


if __name__ == "__main__":
    unittest.main()
