"""Kafka brokers (kafka.sh) and their topics, read back with kcat."""

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

from lib.common import HERE, STATE, read_env_file
from lib.influx import topic_points
from lib.sensor import Sensor, run_sensor, sensor_env

KAFKA_SH = HERE / "kafka.sh"


class Broker:
    """A broker kafka.sh runs with its state (kafka.env, config, data, log) in `state`: the
    suite's plain one in $PULSE_IT_STATE, or a module's own in a directory below it, for a
    module that stops its broker or secures it (a broker other modules use must not change
    under them)."""

    def __init__(self, state, topic_prefix="pulse-it"):
        self.state = Path(state)
        self.topic_prefix = topic_prefix

    def sh(self, *args, timeout=180, check=True):
        """kafka.sh on this broker; unless check=False, a failure raises with its stderr."""
        p = subprocess.run([str(KAFKA_SH), *args], capture_output=True, text=True,
                           timeout=timeout, env={**os.environ, "PULSE_IT_STATE": str(self.state)})
        if check and p.returncode != 0:
            raise RuntimeError(f"kafka.sh {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
        return p

    def env(self):
        """Its kafka.env: KAFKA_BOOTSTRAP, KAFKA_PID, and a secured broker's credentials."""
        return read_env_file(self.state / "kafka.env")

    def new_topic(self, partitions=1):
        """A topic of its own, so that tests never see each other's messages."""
        name = f"{self.topic_prefix}-{uuid.uuid4().hex[:12]}"
        self.sh("create-topic", name, str(partitions), timeout=90)
        return name

    def add_partitions(self, name, partitions):
        """Grows a live topic to `partitions`."""
        self.sh("add-partitions", name, str(partitions), timeout=90)


PLAIN = Broker(STATE)   # `kafka.sh up`: the broker most modules share (auto-creates topics)


def plain_broker_up():
    """The plain broker, started unless it runs (then it is left as found): (its bootstrap,
    whether this started it)."""
    started = not (PLAIN.state / "kafka.env").exists()
    subprocess.run([str(KAFKA_SH), "up"], check=True, timeout=120)
    return PLAIN.env()["KAFKA_BOOTSTRAP"], started


def plain_broker_down(started):
    """Stops the plain broker if plain_broker_up() started it."""
    if started:
        subprocess.run([str(KAFKA_SH), "down"], timeout=60)


def new_topic(partitions=1):
    """A topic of its own on the plain broker."""
    return PLAIN.new_topic(partitions)


def consume(topic, bootstrap, config=None):
    """Every message of the topic: list of (key, partition, offset, value).

    config: a librdkafka properties file for kcat -F (a secured broker's client settings)."""
    res = subprocess.run(
        ["kcat", *(["-F", str(config)] if config else []), "-C", "-b", bootstrap,
         "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%p\t%o\t%s\n"],
        capture_output=True, text=True, timeout=60, check=True)
    messages = []
    for line in res.stdout.splitlines():
        key, partition, offset, value = line.split("\t", 3)
        messages.append((key, int(partition), int(offset), value))
    return messages


def read_topic(topic, bootstrap):
    """Every message of the topic as kcat -J gives it (a dict: key, partition, offset,
    payload, ...): -J keeps multi-line payloads (line protocol) whole."""
    res = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                          "-q", "-J"], capture_output=True, text=True, timeout=60, check=True)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def produce(topic, bootstrap, lines, key_delimiter=None):
    """One message per line (single-line payloads); with key_delimiter, KEY<delimiter>VALUE."""
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic,
                    *(["-K", key_delimiter] if key_delimiter else [])],
                   input="\n".join(lines) + "\n", text=True, timeout=60, check=True)


# ------------------------------------------------------------------ topics filled from the lab
FILL_POLLS = 3             # the first poll has no rates; three give two of them
FILL_WAIT_S = 60           # for those polls at PAUSE=2, with room for a slow start
FILL_STOP_TIMEOUT_S = 30


def odd_node_uri(directory, node):
    """A test:// URI of a copy of `node` (a test-driver node XML) under a directory whose name
    puts a space (URI-escaped) and an equals sign into vmHost."""
    directory = directory / "odd dir a=b"
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / node.name
    shutil.copyfile(node, copy)
    return "test://" + urllib.parse.quote(str(copy), safe="/=")


def fill_topic(topic, fmt, bootstrap, hosts, polls=FILL_POLLS):
    """One sensor on `hosts` (URIs) at PAUSE=2 (GATHER_HOST_STATS, RATES, FORMAT=fmt) until
    each has `polls` polls on the topic. Returns the topic's payloads."""
    sensor = Sensor(sensor_env(own_spool=True, KVM_HOST=",".join(hosts), PAUSE="2", RATES="true",
                               GATHER_HOST_STATS="true", FORMAT=fmt, KAFKA_BOOTSTRAP=bootstrap,
                               KAFKA_TOPIC=topic))
    polled = {}
    try:
        deadline = time.monotonic() + FILL_WAIT_S
        while (min((len(polled.get(h, ())) for h in hosts)) < polls
               and time.monotonic() < deadline and sensor.alive()):
            time.sleep(1)
            polled = {}
            payloads = [m["payload"] for m in read_topic(topic, bootstrap)]
            for _, tags, _, t in topic_points(payloads):
                polled.setdefault(tags["vmHost"], set()).add(t)
    finally:
        rc, _ = sensor.stop(timeout=FILL_STOP_TIMEOUT_S)
        sensor.close()
    counts = {h: len(polled.get(h, ())) for h in hosts}
    if rc != 0 or min(counts.values()) < polls:
        raise AssertionError(f"polls on the topic after {FILL_WAIT_S} s: {counts}, want {polls} "
                             f"each (sensor exit {rc}):\n{sensor.err_text()[-3000:]}")
    return [m["payload"] for m in read_topic(topic, bootstrap)]


# ------------------------------------------------------------------ the secured broker
# `kafka.sh up --sasl-ssl --no-auto-create`: a SASL_SSL listener only, PLAIN and SCRAM-SHA-512
# users, no topic auto-creation (test_secure.py, test_check.py).
SECURE = Broker(STATE / "secure-kafka", topic_prefix="pulse-secure")
# Settings of the sensor that runs against it set themselves, besides SENSOR_VARS.
SECURE_VARS = ("KAFKA_PROPERTIES_FILE", "SHUTDOWN_TIMEOUT")


def secure_broker_up():
    """Start the secured broker unless it runs; returns (its kafka.env, whether we started it)."""
    started = not (SECURE.state / "kafka.env").exists()
    SECURE.state.mkdir(parents=True, exist_ok=True)
    SECURE.sh("up", "--sasl-ssl", "--no-auto-create")
    return SECURE.env(), started


def secure_broker_down():
    SECURE.sh("down", timeout=120)
    shutil.rmtree(SECURE.state, ignore_errors=True)


def sasl_properties(broker_env, mechanism, user=None, password=None, ca=None):
    """librdkafka properties for the secured broker (its kafka.env); its own user of the
    mechanism unless `user` is given."""
    if user is None:
        prefix = "KAFKA_PLAIN" if mechanism == "PLAIN" else "KAFKA_SCRAM"
        user, password = broker_env[f"{prefix}_USER"], broker_env[f"{prefix}_PASSWORD"]
    return {"security.protocol": "SASL_SSL", "ssl.ca.location": ca or broker_env["KAFKA_CA"],
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}


def property_flags(properties):
    return [a for k, v in properties.items() for a in ("--kafka-property", f"{k}={v}")]


def properties_file(directory, properties):
    path = Path(tempfile.mkstemp(dir=directory, suffix=".properties")[1])
    path.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
    path.chmod(0o600)
    return path


def no_core_file():
    # A core file would hold the password; the test is about what the process prints.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def secured_env(**settings):
    """sensor_env with its own spool and none of the caller's Kafka settings."""
    return sensor_env(drop=SECURE_VARS, own_spool=True, **settings)


def run_secured(args, cwd, timeout=60, **settings):
    """The sensor with `args` run to its end in `cwd` (secured_env, no core file); returns the
    CompletedProcess."""
    return run_sensor(args, secured_env(**settings), timeout, cwd=cwd, preexec_fn=no_core_file)
