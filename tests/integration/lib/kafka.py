"""Kafka brokers (kafka.sh) and their topics, read back with kcat."""

import subprocess
import uuid

from lib.common import HERE

KAFKA_SH = HERE / "kafka.sh"


def new_topic(partitions=1):
    """A topic of its own on the plain broker ($PULSE_IT_STATE/kafka.env)."""
    name = f"pulse-it-{uuid.uuid4().hex[:12]}"
    res = subprocess.run([str(KAFKA_SH), "create-topic", name, str(partitions)],
                         timeout=90, capture_output=True, text=True)
    if res.returncode != 0:
        raise AssertionError(f"kafka.sh create-topic {name} failed:\n{res.stderr}")
    return name


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
