"""InfluxDB 1.x (influxdb.sh), the sensor's messages as points (JSON or line protocol), and
`pulse-sensor import`."""

import calendar
import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request

from lib.common import HERE
from lib.sensor import SENSOR

INFLUXDB_SH = HERE / "influxdb.sh"
STOP_TIMEOUT_S = 30


class InfluxDB:
    """An influxd at `url` (INFLUXDB_URL of influxdb.env), asked over its HTTP API."""

    def __init__(self, url):
        self.url = url

    def query(self, q, db=None, method="GET"):
        """The series of the first result (epoch seconds); an error in it fails the test."""
        params = {"q": q, "epoch": "s"}
        if db:
            params["db"] = db
        data = None
        url = f"{self.url}/query"
        if method == "POST":
            data = urllib.parse.urlencode(params).encode()
        else:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as res:
            answer = json.load(res)
        result = answer["results"][0]
        if "error" in result:
            raise AssertionError(f"InfluxDB: {q}: {result['error']}")
        return result.get("series", [])

    def count_points(self, db, measurements):
        total = 0
        for m in measurements:
            for series in self.query(f'SELECT count(*) FROM "{m}"', db):
                # count(*) gives one column per field; a point has all of its measurement's fields.
                total += max(series["values"][0][1:])
        return total

    def start_importer(self, bootstrap, topic, group, db, stderr=subprocess.PIPE, args=()):
        """`pulse-sensor import` from the topic into `db`, in consumer group `group`."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KAFKA_", "INFLUXDB_", "IMPORT_"))}
        env.update(KAFKA_BOOTSTRAP=bootstrap, KAFKA_TOPIC=topic, KAFKA_GROUP=group,
                   INFLUXDB_URL=self.url, INFLUXDB_DB=db, IMPORT_BATCH_WAIT_MS="200")
        return subprocess.Popen([str(SENSOR), "import", *args], env=env, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)


def stop_importer(proc):
    """SIGTERM; returns (exit status, stderr). Still running STOP_TIMEOUT_S later fails the test."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"the importer ignored SIGTERM for {STOP_TIMEOUT_S} s:\n{err}")
    return proc.returncode, err


# ------------------------------------------------------------------ line protocol
def parse_lp_token(text, stops, escapable):
    out, i = [], 0
    while i < len(text) and text[i] not in stops:
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in escapable:
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out), text[i:]


def parse_lp_value(text):
    """A field value of line protocol -> (value, rest); strings stay strings, so a number that
    turned into a string shows up as a type difference."""
    if text.startswith('"'):
        out, i = [], 1
        while text[i] != '"':
            if text[i] == "\\" and text[i + 1] in '"\\':
                i += 1
            out.append(text[i])
            i += 1
        return "".join(out), text[i + 1:]
    raw, rest = parse_lp_token(text, ", ", "")
    if raw.endswith("i"):
        return int(raw[:-1]), rest
    if raw in ("true", "false"):
        return raw == "true", rest
    return float(raw), rest


def parse_lp_line(line):
    """One line of InfluxDB 1.x line protocol -> (measurement, tags, fields, timestamp)."""
    measurement, rest = parse_lp_token(line, ", ", ", ")
    tags = {}
    while rest.startswith(","):
        key, rest = parse_lp_token(rest[1:], "=", ",= ")
        value, rest = parse_lp_token(rest[1:], ", ", ",= ")
        tags[key] = value
    fields = {}
    rest = rest[1:]
    while True:
        key, rest = parse_lp_token(rest, "=", ",= ")
        fields[key], rest = parse_lp_value(rest[1:])
        if not rest.startswith(","):
            break
        rest = rest[1:]
    return measurement, tags, fields, int(rest.strip())


# ------------------------------------------------------------------ messages as points
def points_of(payload):
    """(measurement, tags, fields, unix seconds) of every point of one message, JSON (FORMAT=
    json) or line protocol (FORMAT=influx)."""
    if payload.lstrip().startswith("["):
        out = []
        for p in json.loads(payload):
            t = calendar.timegm(time.strptime(p["time"], "%Y-%m-%dT%H:%M:%SZ"))
            out.append((p["measurement"], p["tags"], p["fields"], t))
        return out
    return [parse_lp_line(line) for line in payload.split("\n") if line.strip()]


def topic_points(payloads):
    """points_of every message on a topic."""
    return [point for payload in payloads for point in points_of(payload)]


def series_key(measurement, tags, t):
    # Line protocol has no empty tag values: an empty tag is left out on either side.
    return measurement, tuple(sorted((k, v) for k, v in tags.items() if v != "")), t
