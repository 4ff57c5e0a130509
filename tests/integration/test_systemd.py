"""The systemd unit's confinement still lets the sensor work: local libvirt, qemu+ssh, Kafka,
METRICS_ADDR and the spool.

systemd is not PID 1 here, so packaging/pulse-sensor.service cannot be started. The sensor is
started as root the way the unit confines it instead: the unit's CapabilityBoundingSet= and
NoNewPrivileges= with setpriv (root's permitted set after exec is the bounding set, as in a
service), its SystemCallFilter=, SystemCallErrorNumber= and RestrictAddressFamilies= as a
seccomp filter (confine.py). The mount options (ProtectSystem=, ProtectHome=, PrivateTmp=,
...), ProtectProc= and RestrictNamespaces= are not emulated. A control run with an empty
bounding set shows that the emulation bites: libvirt then cannot start ssh.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from lib.common import HERE, ROOT, STATE, free_port, read_env_file
from lib.kafka import consume, new_topic
from lib.proc import children, status_field
from lib.sensor import SENSOR, assert_no_crash, sensor_env

UNIT = ROOT / "packaging" / "pulse-sensor.service"
CONFINE = HERE / "confine.py"
SYSTEM_PYTHON = "/usr/bin/python3"
CAP_SETPCAP = 8


def unit_value(key):
    values = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
              if line.startswith(key + "=")]
    return values[-1] if values else None


def setpriv_bounding_set(value):
    """CapabilityBoundingSet=CAP_A CAP_B as setpriv's -all,+a,+b (unset: keep all)."""
    if value is None:
        return "+all"
    return ",".join(["-all"] + [f"+{c.lower().removeprefix('cap_')}" for c in value.split()])


def confined(command, bounding_set=None):
    bset = setpriv_bounding_set(unit_value("CapabilityBoundingSet")
                                if bounding_set is None else bounding_set)
    prefix = ["setpriv", f"--bounding-set={bset}", "--inh-caps=-all"]
    if unit_value("NoNewPrivileges") == "yes":
        prefix.append("--no-new-privs")
    return [*prefix, "--", SYSTEM_PYTHON, str(CONFINE), str(UNIT), "--", *command]


def _ready():
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("setpriv", "systemd-analyze", "kcat"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True).returncode:
        return "python3-seccomp is not installed"
    for env in ("lab.env", "ssh.env", "kafka.env"):
        if not (STATE / env).exists():
            return f"no {env}: the lab, its sshd or the broker is not up"
    return None


@unittest.skipIf(_ready(), _ready())
class TestConfinedAsTheUnitSays(unittest.TestCase):
    def setUp(self):
        self.ssh_uri = read_env_file(STATE / "ssh.env")["SSH_URI"]
        self.lab_uri = read_env_file(STATE / "lab.env")["LAB_URI"]
        self.bootstrap = read_env_file(STATE / "kafka.env")["KAFKA_BOOTSTRAP"]
        self.tmp = Path(tempfile.mkdtemp(prefix="pulse-it-systemd-"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def env(self, **settings):
        return sensor_env(**settings)

    def test_the_confined_sensor_polls_local_libvirt_and_qemu_ssh_into_kafka(self):
        topic = new_topic()
        port = free_port()
        spool = self.tmp / "spool"
        env = self.env(KVM_HOST=f"{self.lab_uri},{self.ssh_uri}", KAFKA_BOOTSTRAP=self.bootstrap,
                       KAFKA_TOPIC=topic, GATHER_HOST_STATS="true", PAUSE="1",
                       METRICS_ADDR=f"127.0.0.1:{port}", SPOOL_DIR=str(spool))
        proc = subprocess.Popen(confined([str(SENSOR)]), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            ssh, hosts, health = [], set(), None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                ssh = ssh or children(proc.pid, "ssh")
                hosts = {m[0] for m in consume(topic, self.bootstrap)} & {
                    self.lab_uri, self.ssh_uri}
                if len(hosts) == 2 and ssh:
                    break
                time.sleep(0.5)
            self.assertIsNone(proc.poll(), "the confined sensor exited")
            # Root with CAP_SETPCAP only, no new privileges, a seccomp filter; ssh with nothing.
            self.assertEqual(int(status_field(proc.pid, "CapEff"), 16), 1 << CAP_SETPCAP)
            self.assertEqual(status_field(proc.pid, "NoNewPrivs"), "1")
            self.assertEqual(status_field(proc.pid, "Seccomp"), "2")
            self.assertTrue(ssh, "libvirt started no ssh")
            self.assertEqual(int(status_field(ssh[0], "CapEff"), 16), 0)
            self.assertEqual(hosts, {self.lab_uri, self.ssh_uri}, "nodeInfo from both hypervisors")
            health = subprocess.run([str(SENSOR), "--healthcheck", "--metrics-addr",
                                     f"127.0.0.1:{port}"], capture_output=True, text=True,
                                    timeout=30)
            self.assertEqual((health.returncode, health.stdout), (0, "ok: 200 ok\n"),
                             health.stderr)
            os.kill(proc.pid, signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        assert_no_crash(self, proc.returncode, err)
        self.assertEqual(proc.returncode, 0, err)
        self.assertNotRegex(err, re.compile("operation not permitted|cannot apply", re.I))
        self.assertTrue(any(spool.iterdir()), "nothing in the spool")

    def test_an_empty_bounding_set_would_break_qemu_ssh(self):
        # Why the unit keeps CAP_SETPCAP, and proof that the emulation is applied at all.
        res = subprocess.run(confined([str(SENSOR), "--once"], bounding_set=""),
                             env=self.env(KVM_HOST=self.ssh_uri, SPOOL_DIR="off"),
                             capture_output=True, text=True, timeout=120)
        # libvirt's child fails "cannot apply process capabilities" before it runs ssh; the
        # parent reports that, a broken pipe or a closed socket, whichever it meets first.
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn(f"[error] connecting to {self.ssh_uri}: ", res.stderr)


if __name__ == "__main__":
    unittest.main()
