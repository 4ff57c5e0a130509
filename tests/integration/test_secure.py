"""pulse-sensor against a Kafka broker that wants SASL over TLS, and its secrets under scrutiny.

    tests/integration/run secure
    # or by hand, with the Kafka jars installed (kafka.sh install) and, for the lab test, the
    # libvirt lab up (libvirt-lab.sh up):
    /usr/bin/python3 -m pytest -v tests/integration/test_secure.py

The module runs a broker of its own, `kafka.sh up --sasl-ssl --no-auto-create` with
PULSE_IT_STATE=$PULSE_IT_STATE/secure-kafka (left running when it was up already): clients get
only a SASL_SSL listener, with a broker certificate from a CA made for the run, a PLAIN and a
SCRAM-SHA-512 user with random passwords (kafka.env). Topics are created over the broker's
internal plaintext listener; messages are read back with kcat over SASL_SSL (kcat -F with the
PLAIN user's client.properties).

What is checked:
  a  PLAIN over TLS, every setting a --kafka-property: one --once poll of the lab's QEMU
     domains (KVM_HOST from lab.env) arrives, contract-shaped, one message per domain + host
  b  SCRAM-SHA-512, the settings in a KAFKA_PROPERTIES_FILE: the test driver's poll arrives
  c  a wrong password: the log says "Authentication failure" with the broker's reason, --once
     exits 1, --check prints FAIL with the auth hint and exits 1; a CA that did not sign the
     broker's certificate: --check FAIL with the TLS hint naming ssl.ca.location, and the log
     of a run says "certificate verify failed"
  e  Write denied on the topic by an ACL, or a topic not created yet: the records stay in
     the spool (pulse_spool_records, pulse_sink_messages_refused_total), the log names the
     topic and the broker's error once, /healthz turns 503; a restart after the ACL is
     removed delivers every one of them (read back with kcat), as does creating the missing
     topic while the sensor runs; /healthz is 200 again
  d  neither password appears in stdout or stderr of: a DEBUG=true run with librdkafka's
     debug=all routed through the sensor's log, the wrong-password run, --help (with the
     password among the arguments), a mistyped command line, --check (ok and FAIL), and a
     sensor killed by SIGSEGV and by SIGABRT (no core file: RLIMIT_CORE is 0)

Environment: PULSE_SENSOR, PULSE_IT_STATE (as for the other modules).
"""

import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import uuid
from pathlib import Path

from lib.common import free_port
from lib.contract import ContractChecks
from lib.kafka import (SECURE, consume, no_core_file, properties_file, property_flags,
                       run_secured, sasl_properties, secure_broker_down, secure_broker_up,
                       secured_env)
from lib.lab import TEST_URI, lab_env, lab_uri, live_domains
from lib.sensor import SENSOR, assert_no_crash, http_get

KAFKA = {}            # the secured broker's kafka.env
TMP = None
_started_broker = False


def setUpModule():
    global KAFKA, TMP, _started_broker
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR} (build it or set PULSE_SENSOR)")
    KAFKA, _started_broker = secure_broker_up()
    TMP = Path(tempfile.mkdtemp(prefix="pulse-secure-"))


def tearDownModule():
    if _started_broker:
        secure_broker_down()
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)


# ------------------------------------------------------------------ running the sensor
def secure_env(**settings):
    """secured_env, for this broker unless the settings name another."""
    settings.setdefault("KAFKA_BOOTSTRAP", KAFKA["KAFKA_BOOTSTRAP"])
    return secured_env(**settings)


def run_sensor(args, timeout=60, **settings):
    """The sensor with `args`, run to its end in TMP; returns the CompletedProcess."""
    settings.setdefault("KAFKA_BOOTSTRAP", KAFKA["KAFKA_BOOTSTRAP"])
    return run_secured(args, TMP, timeout, **settings)


def crash_output(sig, seconds, args, **settings):
    """Start the sensor, let it run `seconds`, send `sig`; returns (returncode, stdout, stderr)."""
    proc = subprocess.Popen([str(SENSOR), *args], env=secure_env(**settings), cwd=TMP,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=no_core_file)
    try:
        time.sleep(seconds)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode, out, err


# ------------------------------------------------------------------ tests
class TestDeliveryOverSaslSsl(ContractChecks, unittest.TestCase):

    @unittest.skipUnless(lab_uri(), "libvirt lab is not up (libvirt-lab.sh up)")
    def test_plain_over_tls_from_command_line_properties_delivers_the_labs_poll(self):
        uri = lab_uri()
        topic = SECURE.new_topic()
        before = live_domains(uri)
        res = run_sensor(["--once", *property_flags(sasl_properties(KAFKA, "PLAIN"))], timeout=120,
                         KVM_HOST=uri, KAFKA_TOPIC=topic, GATHER_HOST_STATS="true")
        after = live_domains(uri)
        assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 0, res.stderr)
        messages = consume(topic, KAFKA["KAFKA_BOOTSTRAP"], KAFKA["KAFKA_CLIENT_PROPERTIES"])
        # Others may start or stop domains on the shared libvirtd meanwhile: the full checks
        # are for the domains that were there before and after the poll.
        stable = {k: v for k, v in after.items() if before.get(k) == v}
        keys = [m[0] for m in messages]
        for key, _, _, value in messages:
            if key == uri or key in stable:
                self.check_message(key, value, uri, stable)
            else:
                self.assertIn(key, set(before) | set(after), f"message for unknown key {key}")
        self.assertEqual(keys.count(uri), 1, f"one host message, keys {keys}")
        for key, dom in stable.items():
            self.assertEqual(keys.count(key), 1, f"messages for {dom['name']}")
        lab_active = set(lab_env()["LAB_ACTIVE"].split())
        self.assertLessEqual(lab_active, {d["name"] for d in stable.values()},
                             "the lab's active domains")

    def test_scram_sha_512_from_a_properties_file_delivers_the_test_drivers_poll(self):
        topic = SECURE.new_topic()
        props = properties_file(TMP, sasl_properties(KAFKA, "SCRAM-SHA-512"))
        res = run_sensor(["--once"], KVM_HOST=TEST_URI, KAFKA_TOPIC=topic,
                         GATHER_HOST_STATS="true", KAFKA_PROPERTIES_FILE=str(props))
        assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("sasl.mechanism=SCRAM-SHA-512", res.stderr, "start-up line lists it")
        messages = consume(topic, KAFKA["KAFKA_BOOTSTRAP"], KAFKA["KAFKA_CLIENT_PROPERTIES"])
        domains = live_domains(TEST_URI)
        self.assertEqual(len(messages), len(domains) + 1, messages)
        self.assertEqual(len(self.check_polls(messages, TEST_URI, domains)), 1)


class TestRefusedConnections(unittest.TestCase):

    def wrong_password_properties(self):
        return sasl_properties(KAFKA, "PLAIN", KAFKA["KAFKA_PLAIN_USER"], "wrong-" + uuid.uuid4().hex)

    def test_a_wrong_password_is_logged_as_an_authentication_failure_and_once_exits_1(self):
        props = self.wrong_password_properties()
        t0 = time.monotonic()
        res = run_sensor(["--once", *property_flags(props)], KVM_HOST=TEST_URI,
                         KAFKA_TOPIC=SECURE.new_topic(), SHUTDOWN_TIMEOUT="3")
        assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertLess(time.monotonic() - t0, 30)
        auth = [line for line in res.stderr.splitlines()
                if "[warning] kafka: Local: Authentication failure" in line]
        self.assertTrue(auth, f"no authentication warning in:\n{res.stderr[-3000:]}")
        self.assertIn("Invalid username or password", auth[0], "the broker's reason")
        self.assertNotIn(props["sasl.password"], res.stdout + res.stderr)

    def test_check_with_a_wrong_password_fails_with_the_auth_hint(self):
        props = self.wrong_password_properties()
        res = run_sensor(["--check", *property_flags(props)], KVM_HOST=TEST_URI,
                         KAFKA_TOPIC="kvm-metrics")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), 2, res.stdout)
        self.assertTrue(lines[0].startswith("ok   libvirt test:///default: "), lines[0])
        self.assertTrue(lines[1].startswith(f"FAIL kafka {KAFKA['KAFKA_BOOTSTRAP']}: "), lines[1])
        self.assertIn("Authentication failure", lines[1])
        self.assertIn("(hint: auth? check sasl.mechanism, sasl.username and sasl.password)",
                      lines[1])
        self.assertNotIn(props["sasl.password"], res.stdout + res.stderr)

    def untrusted_ca(self):
        ca = TMP / "other-ca.pem"
        if not ca.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                            "1", "-subj", "/CN=not the broker's CA", "-keyout",
                            str(TMP / "other-ca.key"), "-out", str(ca)],
                           check=True, capture_output=True, timeout=60)
        return ca

    def test_check_with_a_ca_that_did_not_sign_the_broker_fails_with_the_tls_hint(self):
        props = sasl_properties(KAFKA, "PLAIN", ca=str(self.untrusted_ca()))
        res = run_sensor(["--check", *property_flags(props)], KVM_HOST=TEST_URI)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        kafka_line = res.stdout.splitlines()[-1]
        self.assertTrue(kafka_line.startswith("FAIL kafka "), kafka_line)
        self.assertIn("certificate verify failed", kafka_line)
        self.assertIn("(hint: TLS: the broker's certificate is not trusted: does "
                      "ssl.ca.location hold the CA", kafka_line)

    def test_a_run_with_a_ca_that_did_not_sign_the_broker_logs_the_verification_failure(self):
        props = sasl_properties(KAFKA, "PLAIN", ca=str(self.untrusted_ca()))
        res = run_sensor(["--once", *property_flags(props)], KVM_HOST=TEST_URI,
                         KAFKA_TOPIC=SECURE.new_topic(), SHUTDOWN_TIMEOUT="3")
        assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertRegex(res.stderr, r"\[warning\] kafka: .*certificate verify failed")


class TestFixableRefusals(unittest.TestCase):
    """A refusal an operator can fix keeps the records; fixing it delivers them."""

    def start(self, topic, spool, port, **extra_properties):
        err = open(spool.with_suffix(".err"), "a")
        self.addCleanup(err.close)
        properties = {**sasl_properties(KAFKA, "PLAIN"), **extra_properties}
        proc = subprocess.Popen(
            [str(SENSOR), *property_flags(properties)],
            env=secure_env(KVM_HOST=TEST_URI, KAFKA_TOPIC=topic, PAUSE="1",
                           GATHER_HOST_STATS="true", SPOOL_DIR=str(spool),
                           METRICS_ADDR=f"127.0.0.1:{port}", HEALTH_DELIVERY_TIMEOUT="4",
                           SHUTDOWN_TIMEOUT="2"),
            cwd=TMP, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=no_core_file)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(10)))
        return proc

    @staticmethod
    def get(port, path):
        return http_get(f"127.0.0.1:{port}", path)

    @classmethod
    def metric(cls, port, name):
        status, body = cls.get(port, "/metrics")
        m = re.search(rf'^{name}{{sink="kafka"}} (\S+)$', body or "", re.M) if status == 200 else None
        return float(m[1]) if m else None

    def wait_for(self, what, cond, proc, log, timeout=45):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.fail(f"sensor exited ({proc.returncode}) waiting for {what}\n"
                          f"{log.read_text()[-3000:]}")
            last = cond()
            if last:
                return last
            time.sleep(0.25)
        self.fail(f"no {what} within {timeout} s (last: {last!r})\n{log.read_text()[-3000:]}")

    @staticmethod
    def stop(proc):
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=30)

    def test_records_stay_in_the_spool_while_write_is_denied_and_go_once_it_is_allowed(self):
        topic = SECURE.new_topic()
        user = KAFKA["KAFKA_PLAIN_USER"]
        acl = ["--deny-principal", f"User:{user}", "--operation", "Write", "--topic", topic]
        SECURE.sh("acls", "--add", *acl, timeout=90)
        self.addCleanup(lambda: SECURE.sh("acls", "--remove", "--force", *acl, timeout=90))
        spool = TMP / f"spool-{topic}"
        log = spool.with_suffix(".err")
        port = free_port()

        proc = self.start(topic, spool, port)
        refused = self.wait_for(
            "refusals kept in the spool",
            lambda: (self.metric(port, "pulse_sink_messages_refused_total") or 0) > 0
            and (self.metric(port, "pulse_spool_records") or 0) >= 2, proc, log)
        self.assertTrue(refused)
        status, reason = self.wait_for(
            "/healthz 503", lambda: (h := self.get(port, "/healthz"))[0] == 503 and h, proc, log)
        self.assertIn("Topic authorization failed", reason)
        produced = self.metric(port, "pulse_sink_messages_produced_total")
        self.assertEqual(self.metric(port, "pulse_sink_messages_delivered_total"), 0)
        self.assertEqual(self.metric(port, "pulse_sink_messages_failed_total"), 0)
        self.assertEqual(self.stop(proc), 0)
        text = log.read_text()
        refusal_lines = [l for l in text.splitlines()
                         if f"refuses messages for topic {topic}" in l]
        self.assertEqual(len(refusal_lines), 1, text[-3000:])
        self.assertIn("Topic authorization failed", refusal_lines[0])

        SECURE.sh("acls", "--remove", "--force", *acl, timeout=90)
        proc = self.start(topic, spool, port)
        self.wait_for("an empty spool and /healthz 200",
                      lambda: self.metric(port, "pulse_spool_records") == 0
                      and self.get(port, "/healthz")[0] == 200, proc, log)
        self.assertEqual(self.stop(proc), 0)
        messages = consume(topic, KAFKA["KAFKA_BOOTSTRAP"], KAFKA["KAFKA_CLIENT_PROPERTIES"])
        # Each poll's messages differ (the time); the first run's are all there, each once.
        payloads = [m[3] for m in messages]
        self.assertEqual(len(payloads), len(set(payloads)), "a message delivered twice")
        self.assertGreaterEqual(len(payloads), produced)

    def test_records_for_a_topic_not_created_yet_wait_in_the_spool_and_go_once_it_is(self):
        # This broker does not create topics on demand. librdkafka gives a topic it does not
        # know topic.metadata.propagation.max.ms to appear before it fails the messages.
        topic = f"pulse-secure-{uuid.uuid4().hex[:12]}"
        spool = TMP / f"spool-{topic}"
        log = spool.with_suffix(".err")
        port = free_port()
        proc = self.start(topic, spool, port, **{"topic.metadata.propagation.max.ms": "1000"})
        self.wait_for(
            "refusals kept in the spool",
            lambda: (self.metric(port, "pulse_sink_messages_refused_total") or 0) > 0
            and (self.metric(port, "pulse_spool_records") or 0) >= 2, proc, log)
        status, reason = self.wait_for(
            "/healthz 503", lambda: (h := self.get(port, "/healthz"))[0] == 503 and h, proc, log)
        self.assertIn(topic, reason)
        self.assertEqual(self.metric(port, "pulse_sink_messages_failed_total"), 0)
        SECURE.sh("create-topic", topic, "1", timeout=90)
        self.wait_for("delivery once the topic exists, and /healthz 200",
                      lambda: (self.metric(port, "pulse_sink_messages_delivered_total") or 0) > 0
                      and self.get(port, "/healthz")[0] == 200, proc, log, timeout=60)
        self.assertEqual(self.stop(proc), 0)
        text = log.read_text()
        self.assertEqual(text.count(f"refuses messages for topic {topic}"), 1, text[-3000:])
        self.assertIn(f"topic {topic} accepts messages again", text)
        self.assertIn("0 left in the spool", text)


class TestSecretsNeverPrinted(unittest.TestCase):
    """The passwords (PLAIN and SCRAM, random per broker) in any output the sensor makes."""

    def assert_no_secret(self, label, *texts):
        secrets = {KAFKA["KAFKA_PLAIN_PASSWORD"], KAFKA["KAFKA_SCRAM_PASSWORD"],
                   *getattr(self, "extra_secrets", ())}
        for text in texts:
            for secret in secrets:
                at = text.find(secret)
                self.assertEqual(at, -1, f"{label}: a password is printed: "
                                         f"...{text[max(0, at - 200):at]}<the password>...")

    def test_a_debug_run_with_librdkafkas_debug_all_prints_no_password(self):
        props = {**sasl_properties(KAFKA, "PLAIN"), "debug": "all"}
        res = run_sensor(["--once", *property_flags(props)], KVM_HOST=TEST_URI,
                         KAFKA_TOPIC=SECURE.new_topic(), DEBUG="true", GATHER_HOST_STATS="true")
        self.assertEqual(res.returncode, 0, res.stderr[-3000:])
        # Not vacuous: librdkafka's own log, SASL included, went through the sensor's log.
        self.assertIn("[debug] librdkafka", res.stderr)
        self.assertRegex(res.stderr, r"librdkafka \w+: .*SASL")
        self.assert_no_secret("DEBUG=true, debug=all", res.stdout, res.stderr)

    def test_a_scram_debug_run_from_a_properties_file_prints_no_password(self):
        props = properties_file(TMP, {**sasl_properties(KAFKA, "SCRAM-SHA-512"), "debug": "security,broker"})
        res = run_sensor(["--once"], KVM_HOST=TEST_URI, KAFKA_TOPIC=SECURE.new_topic(),
                         DEBUG="true", KAFKA_PROPERTIES_FILE=str(props))
        self.assertEqual(res.returncode, 0, res.stderr[-3000:])
        self.assertRegex(res.stderr, r"librdkafka \w+: .*SCRAM")
        self.assert_no_secret("SCRAM, debug=security,broker", res.stdout, res.stderr)

    def test_a_wrong_password_run_prints_neither_password(self):
        wrong = "wrong-" + uuid.uuid4().hex
        self.extra_secrets = (wrong,)
        props = {**sasl_properties(KAFKA, "PLAIN", KAFKA["KAFKA_PLAIN_USER"], wrong),
                 "debug": "security,broker"}
        res = run_sensor(["--once", *property_flags(props)], KVM_HOST=TEST_URI,
                         KAFKA_TOPIC=SECURE.new_topic(), DEBUG="true", SHUTDOWN_TIMEOUT="3")
        self.assertEqual(res.returncode, 1, res.stderr[-3000:])
        self.assertIn("Authentication failure", res.stderr)
        self.assert_no_secret("wrong password", res.stdout, res.stderr)

    def test_help_and_a_mistyped_command_line_print_no_password(self):
        flags = property_flags(sasl_properties(KAFKA, "PLAIN"))
        res = run_sensor(["--help", *flags])
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("KAFKA_PROPERTIES_FILE", res.stdout)
        self.assert_no_secret("--help", res.stdout, res.stderr)
        # The property without its flag: CLI11 quotes unexpected arguments.
        res = run_sensor(["--check", f"sasl.password={KAFKA['KAFKA_PLAIN_PASSWORD']}"])
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("sasl.password=***", res.stderr)
        self.assert_no_secret("mistyped command line", res.stdout, res.stderr)

    def test_check_prints_no_password_whether_ok_or_failed(self):
        ok = run_sensor(["--check", *property_flags(sasl_properties(KAFKA, "PLAIN"))], KVM_HOST=TEST_URI,
                        KAFKA_TOPIC=SECURE.new_topic(), DEBUG="true")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertRegex(ok.stdout, r"(?m)^ok   kafka .*: topic .*: 1 partitions, 1 brokers$")
        self.assert_no_secret("--check ok", ok.stdout, ok.stderr)
        # Right password, wrong mechanism for it: FAIL, and the password is still not shown.
        props = sasl_properties(KAFKA, "SCRAM-SHA-512", KAFKA["KAFKA_PLAIN_USER"],
                                KAFKA["KAFKA_PLAIN_PASSWORD"])
        failed = run_sensor(["--check", *property_flags(props)], KVM_HOST=TEST_URI, DEBUG="true")
        self.assertEqual(failed.returncode, 1, failed.stdout + failed.stderr)
        self.assert_no_secret("--check FAIL", failed.stdout, failed.stderr)

    def test_a_sensor_killed_by_sigsegv_or_sigabrt_prints_no_password(self):
        props = {**sasl_properties(KAFKA, "PLAIN"), "debug": "security,broker"}
        for sig in (signal.SIGSEGV, signal.SIGABRT):
            with self.subTest(signal=sig.name):
                rc, out, err = crash_output(sig, 3, property_flags(props), KVM_HOST=TEST_URI,
                                            KAFKA_TOPIC=SECURE.new_topic(), PAUSE="1", DEBUG="true")
                self.assertEqual(rc, -sig, f"exit status after {sig.name}:\n{err[-2000:]}")
                self.assertIn("[debug] librdkafka", err, "it ran and logged before the signal")
                self.assert_no_secret(sig.name, out, err)
                self.assertEqual(list(TMP.glob("core*")), [], "a core file was written")


if __name__ == "__main__":
    unittest.main()
