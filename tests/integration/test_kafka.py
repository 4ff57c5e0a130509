"""pulse-sensor against a real Kafka broker: what arrives on the topic is what the contract says.

    tests/integration/kafka.sh install                       # once per machine
    /usr/bin/python3 -m pytest -v tests/integration/test_kafka.py

The module starts a broker with `kafka.sh up` unless one is already up (then it is left
running, as found) and reads every topic back with kcat. Each test produces to a topic of
its own, so tests never see each other's messages.

What is checked (shared/CONTRACT.md):
  * one message per active domain (any state) per poll, keyed by the domain UUID, plus one
    host message keyed by the vmHost string when GATHER_HOST_STATS is on;
  * every message is a JSON array of {measurement, tags, fields, time} points in the order
    cpuTime, rss, networkInterface..., disk..., with the contract's tags and field types;
  * one timestamp per poll, shared by all its messages; PAUSE=1 gives one poll a second;
  * one key always lands in one partition (so one VM's points stay ordered);
  * a SIGTERM stops the sensor with status 0, also while the broker is unreachable;
  * a fatal producer error (raised by tests/plugins/fatal_error_plugin.c, loaded into the
    sensor as it ships through plugin.library.paths) makes it exit 1 at once, and the restart
    delivers every message the first run produced.
The test driver (test:///default) needs no daemon. When the libvirt lab is up
($PULSE_IT_STATE/lab.env, from libvirt-lab.sh) the same checks run against its QEMU domains,
and pulse_check.py compares the values with virsh; with $PULSE_IT_STATE/ssh.env also over
qemu+ssh.

Environment: PULSE_SENSOR (default build/pulse-sensor), PULSE_IT_STATE (default /tmp/pulse-it),
PULSE_TEST_FATAL_PLUGIN (default build/tests/libpulse_test_fatal_error.so).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest
from collections import defaultdict
from pathlib import Path

from lib import pulse_check
from lib.common import ROOT, STATE, free_port, read_env_file
from lib.contract import ContractChecks
from lib.kafka import consume, new_topic, plain_broker_down, plain_broker_up
from lib.lab import TEST_URI, lab_env, live_domains
from lib.sensor import SENSOR, assert_no_crash, run_once, run_until_sigterm, sensor_env

_started_broker = False
BOOTSTRAP = ""


def setUpModule():
    global _started_broker, BOOTSTRAP
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR} (build it or set PULSE_SENSOR)")
    BOOTSTRAP, _started_broker = plain_broker_up()


def tearDownModule():
    plain_broker_down(_started_broker)


# ------------------------------------------------------------------ tests
class TestWithTestDriver(ContractChecks, unittest.TestCase):
    """libvirt's built-in test driver: one running domain, no daemon."""

    def test_once_sends_one_message_per_domain_and_one_for_the_host(self):
        topic = new_topic()
        res = run_once(KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=BOOTSTRAP, KAFKA_TOPIC=topic,
                       GATHER_HOST_STATS="true")
        assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, "", "with Kafka configured nothing goes to stdout")
        messages = consume(topic, BOOTSTRAP)
        domains = live_domains(TEST_URI)
        self.assertEqual(len(messages), len(domains) + 1, messages)
        self.assertEqual(len(self.check_polls(messages, TEST_URI, domains)), 1)

    def test_no_host_message_without_gather_host_stats(self):
        topic = new_topic()
        res = run_once(KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=BOOTSTRAP, KAFKA_TOPIC=topic,
                       GATHER_HOST_STATS="false")
        self.assertEqual(res.returncode, 0, res.stderr)
        domains = live_domains(TEST_URI)
        messages = consume(topic, BOOTSTRAP)
        self.assertEqual(sorted(m[0] for m in messages), sorted(domains))
        self.check_polls(messages, TEST_URI, domains, host_stats=False)

    def test_polls_once_a_second_until_sigterm_and_each_key_keeps_its_partition(self):
        topic = new_topic(partitions=3)
        rc, out, err, stop_s = run_until_sigterm(
            3.6, KVM_HOST=TEST_URI, PAUSE=1, KAFKA_BOOTSTRAP=BOOTSTRAP, KAFKA_TOPIC=topic,
            GATHER_HOST_STATS="true")
        assert_no_crash(self, rc, err)
        self.assertEqual(rc, 0, f"exit status after SIGTERM (stderr:\n{err[-2000:]})")
        self.assertLess(stop_s, 15, "SIGTERM to exit")
        messages = consume(topic, BOOTSTRAP)
        domains = live_domains(TEST_URI)
        times = self.check_polls(messages, TEST_URI, domains)
        # Polls at t0, t0+1, t0+2, t0+3 (the fourth may or may not fit before SIGTERM).
        self.assertTrue(3 <= len(times) <= 5, f"{len(times)} polls in 3.6 s with PAUSE=1: {times}")
        epochs = [time.mktime(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ")) for t in times]
        gaps = [b - a for a, b in zip(epochs, epochs[1:])]
        self.assertTrue(all(1 <= g <= 2 for g in gaps), f"gaps between polls {gaps} s")
        self.assertLessEqual(epochs[-1] - epochs[0], len(times), f"poll times {times} drift")
        partitions = defaultdict(set)
        for key, partition, _, _ in messages:
            partitions[key].add(partition)
        for key, parts in partitions.items():
            self.assertEqual(len(parts), 1, f"key {key} spread over partitions {parts}")
        # Within its partition, one key's polls arrive in time order.
        for key in partitions:
            seen = [json.loads(v)[0]["time"] for k, _, _, v in sorted(messages, key=lambda m: m[2])
                    if k == key]
            self.assertEqual(seen, sorted(seen), f"key {key} out of order")


class TestBrokerUnreachable(ContractChecks, unittest.TestCase):
    """A broker that is down must not stop polling or crash the sensor."""

    def test_keeps_polling_while_the_broker_is_down_and_stops_on_sigterm(self):
        bootstrap = f"127.0.0.1:{free_port()}"
        # DEBUG=true also prints every message (indented) on stdout: that shows the polls.
        rc, out, err, stop_s = run_until_sigterm(
            4, stop_timeout=30, KVM_HOST=TEST_URI, PAUSE=1, KAFKA_BOOTSTRAP=bootstrap,
            GATHER_HOST_STATS="true", DEBUG="true")
        assert_no_crash(self, rc, err)
        self.assertEqual(rc, 0, f"exit status after SIGTERM (stderr:\n{err[-2000:]})")
        self.assertLess(stop_s, 25, "SIGTERM to exit while the broker is down")
        decoder, pos, polls = json.JSONDecoder(), 0, set()
        while out[pos:].strip():
            pos += len(out[pos:]) - len(out[pos:].lstrip())
            message, pos = decoder.raw_decode(out, pos)
            polls.add(message[0]["time"])
        self.assertGreaterEqual(len(polls), 3, f"polls in 4 s with PAUSE=1 and no broker: {polls}")
        sys.stderr.write(f"\n  broker down: stopped {stop_s:.1f} s after SIGTERM, "
                         f"{len(err.splitlines())} log lines in 4 s\n")

    def test_once_gives_up_within_its_flush_bound_when_the_broker_is_down(self):
        bootstrap = f"127.0.0.1:{free_port()}"
        t0 = time.monotonic()
        res = run_once(timeout=60, KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=bootstrap)
        took = time.monotonic() - t0
        assert_no_crash(self, res.returncode, res.stderr)
        # --help: "1 when --once could not poll or deliver".
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertLess(took, 30, "--once with no broker")


FATAL_PLUGIN = Path(os.environ.get("PULSE_TEST_FATAL_PLUGIN",
                                   ROOT / "build" / "tests" / "libpulse_test_fatal_error.so"))


@unittest.skipUnless(FATAL_PLUGIN.exists(), f"no test plugin at {FATAL_PLUGIN}")
class TestFatalProducerError(unittest.TestCase):
    """The idempotent producer's fatal error cannot be undone in-process: exit, lose nothing."""

    def test_a_fatal_producer_error_exits_1_and_the_restart_delivers_what_the_spool_kept(self):
        topic = new_topic()
        env = sensor_env(own_spool=True, KVM_HOST=TEST_URI, PAUSE=1, KAFKA_BOOTSTRAP=BOOTSTRAP,
                         KAFKA_TOPIC=topic, GATHER_HOST_STATS="true", SHUTDOWN_TIMEOUT=2,
                         PULSE_TEST_FATAL_AFTER=7)   # the 7th message: after 3 polls
        proc = subprocess.Popen(
            [str(SENSOR), "--kafka-property", f"plugin.library.paths={FATAL_PLUGIN}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            self.fail(f"still running 20 s after the start; its log:\n{err[-3000:]}")
        assert_no_crash(self, proc.returncode, err)
        self.assertEqual(proc.returncode, 1, err[-3000:])
        self.assertIn("raised by the test plugin", err)
        produced = int(re.search(r"kafka: (\d+) messages produced", err)[1])
        self.assertGreaterEqual(produced, 7, err[-3000:])

        # The restart's own poll goes to another topic: a spooled record keeps its topic, so
        # the first one then holds exactly the first run's messages.
        del env["PULSE_TEST_FATAL_AFTER"]
        env["KAFKA_TOPIC"] = new_topic()
        res = subprocess.run([str(SENSOR), "--once"], env=env, timeout=60, capture_output=True,
                             text=True)
        self.assertEqual(res.returncode, 0, res.stderr[-3000:])
        self.assertIn("0 left in the spool", res.stderr)
        # Each poll's messages are distinct (each has its poll's time): all of the first
        # run's are there, none missing (at least once: one may come twice).
        payloads = [m[3] for m in consume(topic, BOOTSTRAP)]
        self.assertEqual(len(set(payloads)), produced, res.stderr[-3000:])


@unittest.skipUnless((STATE / "lab.env").exists(), "libvirt lab is not up (libvirt-lab.sh up)")
class TestWithLibvirtLab(ContractChecks, unittest.TestCase):
    """Real libvirtd and QEMU domains (tests/integration/libvirt-lab.sh).

    Values are compared with virsh by the lab's pulse_check.check_poll, with snapshots taken
    just before and just after the poll, so counters must lie between the two."""

    def run_against(self, kvm_host):
        lab = lab_env()
        virsh_uri = lab["LAB_URI"]
        topic = new_topic()
        before = pulse_check.snapshot(virsh_uri)
        res = run_once(timeout=120, KVM_HOST=kvm_host, KAFKA_BOOTSTRAP=BOOTSTRAP,
                       KAFKA_TOPIC=topic, GATHER_HOST_STATS="true")
        after = pulse_check.snapshot(virsh_uri)
        assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 0, res.stderr)
        messages = consume(topic, BOOTSTRAP)
        domains = live_domains(virsh_uri)
        self.assertTrue(domains, "the lab has no running domain")
        self.assertEqual(len(self.check_polls(messages, kvm_host, domains)), 1)
        problems = pulse_check.check_poll(
            [json.loads(m[3]) for m in messages], virsh_uri, kvm_host,
            lab_json=lab.get("LAB_JSON"), keys=[m[0] for m in messages],
            before=before, after=after, host_stats=True)
        self.assertEqual(problems, [], "sensor values differ from virsh:\n" + "\n".join(problems))

    def test_once_against_the_lab_matches_virsh(self):
        self.run_against(lab_env()["LAB_URI"])

    @unittest.skipUnless((STATE / "ssh.env").exists(), "no sshd for the lab (sshd.sh up)")
    def test_once_over_qemu_ssh_matches_virsh_and_keys_the_host_by_the_ssh_uri(self):
        self.run_against(read_env_file(STATE / "ssh.env")["SSH_URI"])


if __name__ == "__main__":
    unittest.main()
