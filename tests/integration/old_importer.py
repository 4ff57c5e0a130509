"""The old pipeline's consumer, for test_pipeline.py: reads a topic the way
bwsw/python-kafka-influxdb-importer does and writes what it reads into InfluxDB.

What it shares with that importer (written from its documented behaviour, not copied):
kafka-python's KafkaConsumer with only topic, group_id, bootstrap_servers and a
value_deserializer that does json.loads(value.decode('ascii')), everything else at the
library's defaults (so no compression codec beyond what kafka-python finds installed, and
auto_offset_reset='latest'); each message's value handed as it is to influxdb-python's
InfluxDBClient.write_points. Any exception ends the process with its traceback, as it ended
the importer.

What it adds for the test: it prints `ready` once the group has assigned it the topic's
partitions and their starting positions are known (with 'latest', a message produced before
that would be skipped), then `wrote <partition> <offset> <points>` after each write. SIGTERM
closes the consumer and exits 0.

Runs under the venv of old-importer.sh. Environment: KAFKA_BOOTSTRAP, KAFKA_TOPIC,
KAFKA_GROUP, INFLUX_HOST, INFLUX_PORT, INFLUX_DB.
"""

import json
import os
import signal
import sys
import time

from influxdb import InfluxDBClient
from kafka import KafkaConsumer

READY_TIMEOUT_S = 60


def stop(signum, frame):
    raise SystemExit(0)


def write(influx, message):
    influx.write_points(message.value)
    print(f"wrote {message.partition} {message.offset} {len(message.value)}", flush=True)


def main():
    signal.signal(signal.SIGTERM, stop)
    influx = InfluxDBClient(os.environ["INFLUX_HOST"], int(os.environ["INFLUX_PORT"]),
                            "root", "root", os.environ["INFLUX_DB"])
    consumer = KafkaConsumer(os.environ["KAFKA_TOPIC"],
                             group_id=os.environ["KAFKA_GROUP"],
                             bootstrap_servers=os.environ["KAFKA_BOOTSTRAP"].split(","),
                             value_deserializer=lambda m: json.loads(m.decode("ascii")))
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not consumer.assignment():
            if time.monotonic() > deadline:
                sys.exit(f"no partition assigned within {READY_TIMEOUT_S} s")
            for records in consumer.poll(timeout_ms=200).values():
                for message in records:
                    write(influx, message)
        for tp in consumer.assignment():
            consumer.position(tp)
        print("ready", flush=True)
        for message in consumer:
            write(influx, message)
    finally:
        consumer.close()


if __name__ == "__main__":
    main()
