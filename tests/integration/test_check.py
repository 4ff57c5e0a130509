"""pulse-sensor --check against real targets: its verdicts, lines, hints and exit status.

    tests/integration/run check
    # or by hand, with the lab up (libvirt-lab.sh up), sshd.sh up and the Kafka jars installed:
    /usr/bin/python3 -m pytest -v tests/integration/test_check.py

Targets: the lab's libvirtd (KVM_HOST from lab.env), the lab's sshd (ssh.env) reached without
the key it wants, closed loopback ports, the plain broker of test_kafka.py (kafka.sh up in
$PULSE_IT_STATE, topic auto-creation on, Kafka's default) and the secured broker of
test_secure.py (SASL_SSL, auto-creation off). A broker this module starts it also stops.

What is checked:
  * lab + broker with the topic: "ok   libvirt <uri>: N domains" (N as virsh counts running
    and paused domains) and "ok   kafka <bootstrap>: topic T: 1 partitions, 1 brokers", exit 0
  * qemu+ssh without the authorized key, and to a port where no sshd listens: a FAIL line
    naming the URI with the ssh-key or the sshd hint, exit 1, and the Kafka line still printed
  * a broker port nobody listens on: FAIL with the reachability hint, exit 1, within seconds
  * a topic that does not exist, on a broker that creates topics: ok with the note that the
    first write creates it; the check itself creates nothing, and a --once run then delivers
  * the same with the producer's allow.auto.create.topics=false: FAIL
  * a topic that does not exist, on a broker that does not create topics: FAIL naming
    auto.create.topics.enable=false with the create-it hint, and a --once run indeed fails
  * the same for a user the broker will not show its configuration (an ACL denies the SCRAM
    user DescribeConfigs on the cluster, for this test only): FAIL saying it is unknown

Environment: PULSE_SENSOR, PULSE_IT_STATE (as for the other modules).
"""

import re
import shutil
import subprocess
import tempfile
import unittest
import uuid
from pathlib import Path

from lib import kafka
from lib.common import STATE, free_port, read_env_file
from lib.kafka import (KAFKA_SH, consume, new_topic, properties_file, run_secured,
                       sasl_properties, secure_broker_down, secure_broker_up, secured_env)
from lib.lab import TEST_URI, lab_uri, live_domains, ssh_env, virsh_lines
from lib.sensor import SENSOR, run_once, run_sensor

CHECK_TIMEOUT_S = 30      # the Kafka check waits 10 s at most; libvirt over ssh a few

PLAIN = {}                # kafka.env of the plain broker
SECURE = {}               # kafka.env of the secured broker
TMP = None
_started = []             # "plain", "secure": brokers this module started


def setUpModule():
    global PLAIN, SECURE, TMP
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR} (build it or set PULSE_SENSOR)")
    if not (STATE / "kafka.env").exists():
        _started.append("plain")
    subprocess.run([str(KAFKA_SH), "up"], check=True, timeout=120)
    PLAIN = read_env_file(STATE / "kafka.env")
    SECURE, started = secure_broker_up()
    if started:
        _started.append("secure")
    TMP = Path(tempfile.mkdtemp(prefix="pulse-check-"))


def tearDownModule():
    global TMP
    if "plain" in _started:
        subprocess.run([str(KAFKA_SH), "down"], timeout=120)
    if "secure" in _started:
        secure_broker_down()
    _started.clear()
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)
        TMP = None


def check(*args, **settings):
    """pulse-sensor --check; returns (exit status, stdout lines, stderr)."""
    res = run_sensor(["--check", *args], secured_env(**settings), CHECK_TIMEOUT_S,
                     stdin=subprocess.DEVNULL)
    return res.returncode, res.stdout.splitlines(), res.stderr


def topic_exists(bootstrap, topic):
    # Every topic's metadata, never this one's: `kcat -L -t TOPIC` asks as a producer, and the
    # broker then creates the topic itself, which made this probe see its own creation.
    res = subprocess.run(["kcat", "-L", "-b", bootstrap, "-m", "10"],
                         capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise AssertionError(f"kcat -L failed: {res.stderr}")
    return f'topic "{topic}" with' in res.stdout


class TestCheckVerdicts(unittest.TestCase):

    def assert_line(self, lines, target, prefix, pattern=None):
        """The one line of `target`; it starts with `prefix` and matches `pattern`."""
        mine = [line for line in lines if line.split()[1:2] == [target]]
        self.assertEqual(len(mine), 1, f"one {target} line expected in {lines}")
        self.assertTrue(mine[0].startswith(prefix), f"{mine[0]!r} should start with {prefix!r}")
        if pattern:
            self.assertRegex(mine[0], pattern)
        return mine[0]

    @unittest.skipUnless(lab_uri(), "libvirt lab is not up (libvirt-lab.sh up)")
    def test_the_lab_and_a_broker_with_the_topic_give_two_ok_lines_and_exit_0(self):
        uri = lab_uri()
        topic = new_topic()
        before = len(virsh_lines(uri, "list", "--name"))
        rc, lines, err = check(KVM_HOST=uri, KAFKA_BOOTSTRAP=PLAIN["KAFKA_BOOTSTRAP"],
                               KAFKA_TOPIC=topic)
        after = len(virsh_lines(uri, "list", "--name"))
        self.assertEqual(rc, 0, f"{lines}\n{err}")
        self.assertEqual(len(lines), 2, lines)
        line = self.assert_line(lines, "libvirt", f"ok   libvirt {uri}: ", r": \d+ domains$")
        domains = int(re.search(r"(\d+) domains$", line).group(1))
        # Others may start or stop domains on the shared libvirtd meanwhile.
        self.assertTrue(min(before, after) <= domains <= max(before, after),
                        f"{domains} domains; virsh list counted {before} before, {after} after")
        self.assert_line(lines, "kafka",
                         f"ok   kafka {PLAIN['KAFKA_BOOTSTRAP']}: topic {topic}: "
                         "1 partitions, 1 brokers")

    @unittest.skipUnless(ssh_env(), "no sshd for the lab (sshd.sh up)")
    def test_qemu_ssh_without_the_authorized_key_fails_naming_the_uri_with_the_ssh_key_hint(self):
        # The lab's sshd accepts only its own key (SSH_KEY); this one is not it.
        uri = (f"qemu+ssh://root@127.0.0.1:{ssh_env()['SSH_PORT']}/system"
               f"?keyfile=/nonexistent/id_ed25519&no_verify=1")
        rc, lines, err = check(KVM_HOST=uri, KAFKA_BOOTSTRAP=PLAIN["KAFKA_BOOTSTRAP"],
                               KAFKA_TOPIC=new_topic())
        self.assertEqual(rc, 1, f"{lines}\n{err}")
        self.assert_line(lines, "libvirt", f"FAIL libvirt {uri}: ",
                         r"Permission denied \(publickey\).*\(hint: ssh key: .*authorized_keys")
        self.assert_line(lines, "kafka", "ok   kafka ")

    def test_qemu_ssh_to_a_port_without_sshd_fails_with_the_sshd_hint(self):
        uri = f"qemu+ssh://root@127.0.0.1:{free_port()}/system?no_verify=1"
        rc, lines, err = check(KVM_HOST=uri)
        self.assertEqual(rc, 1, f"{lines}\n{err}")
        self.assertEqual(len(lines), 1, "no Kafka line without KAFKA_BOOTSTRAP")
        self.assert_line(lines, "libvirt", f"FAIL libvirt {uri}: ",
                         r"Connection refused.*\(hint: is sshd running on the hypervisor")

    def test_a_broker_port_nobody_listens_on_fails_with_the_reachability_hint(self):
        bootstrap = f"127.0.0.1:{free_port()}"
        rc, lines, err = check(KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=bootstrap)
        self.assertEqual(rc, 1, f"{lines}\n{err}")
        self.assert_line(lines, "libvirt", "ok   libvirt test:///default: ")
        self.assert_line(lines, "kafka", f"FAIL kafka {bootstrap}: ",
                         r"Connection refused.*\(hint: is the broker up and reachable from here")

    def test_a_missing_topic_is_ok_when_the_broker_creates_it_and_the_first_write_does(self):
        bootstrap = PLAIN["KAFKA_BOOTSTRAP"]
        topic = f"pulse-check-{uuid.uuid4().hex[:12]}"
        rc, lines, err = check(KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=bootstrap, KAFKA_TOPIC=topic)
        self.assertEqual(rc, 0, f"{lines}\n{err}")
        self.assert_line(lines, "kafka",
                         f"ok   kafka {bootstrap}: topic {topic} does not exist yet; broker 1 "
                         "creates it on the first write (auto.create.topics.enable=true)")
        self.assertFalse(topic_exists(bootstrap, topic), "--check created the topic")
        res = run_once(KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=bootstrap, KAFKA_TOPIC=topic)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(len(consume(topic, bootstrap)), len(live_domains(TEST_URI)))

    def test_a_missing_topic_fails_when_the_producer_may_not_have_it_created(self):
        topic = f"pulse-check-{uuid.uuid4().hex[:12]}"
        rc, lines, err = check("--kafka-property", "allow.auto.create.topics=false",
                               KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=PLAIN["KAFKA_BOOTSTRAP"],
                               KAFKA_TOPIC=topic)
        self.assertEqual(rc, 1, f"{lines}\n{err}")
        self.assert_line(lines, "kafka", "FAIL kafka ",
                         r"allow\.auto\.create\.topics=false .*\(hint: create it")

    def test_a_missing_topic_fails_when_the_broker_does_not_create_topics(self):
        bootstrap = SECURE["KAFKA_BOOTSTRAP"]
        props = properties_file(TMP, sasl_properties(SECURE, "PLAIN"))
        topic = f"pulse-check-{uuid.uuid4().hex[:12]}"
        rc, lines, err = check(KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=bootstrap, KAFKA_TOPIC=topic,
                               KAFKA_PROPERTIES_FILE=str(props))
        self.assertEqual(rc, 1, f"{lines}\n{err}")
        self.assert_line(lines, "kafka",
                         f"FAIL kafka {bootstrap}: topic {topic} does not exist, and broker 1 "
                         "does not create topics (auto.create.topics.enable=false) (hint: create "
                         f"it (kafka-topics.sh --create --topic {topic}), or check KAFKA_TOPIC)")
        # The verdict holds: the sensor cannot deliver there.
        res = run_secured(["--once"], TMP, KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=bootstrap,
                          KAFKA_TOPIC=topic, KAFKA_PROPERTIES_FILE=str(props),
                          SHUTDOWN_TIMEOUT="3")
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("0 delivered", res.stderr)

    def test_a_missing_topic_fails_when_the_broker_will_not_say_whether_it_creates_it(self):
        user = SECURE["KAFKA_SCRAM_USER"]
        # Deny wins over allow; the allow keeps the cluster open to everyone else.
        allow = ["--allow-principal", "User:*", "--operation", "All", "--cluster"]
        deny = ["--deny-principal", f"User:{user}", "--operation", "DescribeConfigs", "--cluster"]
        kafka.SECURE.sh("acls", "--add", *allow)
        self.addCleanup(kafka.SECURE.sh, "acls", "--remove", "--force", *allow)
        kafka.SECURE.sh("acls", "--add", *deny)
        self.addCleanup(kafka.SECURE.sh, "acls", "--remove", "--force", *deny)
        props = properties_file(TMP, sasl_properties(SECURE, "SCRAM-SHA-512"))
        topic = f"pulse-check-{uuid.uuid4().hex[:12]}"
        rc, lines, err = check(KVM_HOST=TEST_URI, KAFKA_BOOTSTRAP=SECURE["KAFKA_BOOTSTRAP"],
                               KAFKA_TOPIC=topic, KAFKA_PROPERTIES_FILE=str(props))
        self.assertEqual(rc, 1, f"{lines}\n{err}")
        self.assert_line(lines, "kafka", "FAIL kafka ",
                         rf"topic {topic} does not exist, and whether broker 1 creates it on the "
                         r"first write is unknown \(DescribeConfigs: Cluster authorization "
                         r"failed\.?\) \(hint: create it")


if __name__ == "__main__":
    unittest.main()
