"""The Docker image, built and started with buildah: it runs the sensor and delivers to Kafka.

    tests/integration/kafka.sh install && tests/integration/container.sh install   # once
    /usr/bin/python3 -m pytest -v tests/integration/test_container.py

setUpModule builds localhost/pulse-sensor:test from the working tree (container.sh build,
about 1-2 minutes once the base image exists; PULSE_IT_IMAGE_PREBUILT=1 reuses an image
already built) and starts a broker with kafka.sh unless one is up. Each run starts the
image's entrypoint in a fresh buildah container (container.sh run), which shares the
host's loopback, so the broker and the lab's sshd are reached at 127.0.0.1.

With the libvirt lab and its sshd up ($PULSE_IT_STATE/lab.env and ssh.env) the image also
watches the lab over qemu+ssh://, with keys mounted the three ways users mount them:
a whole ~/.ssh at /root/.ssh (read-only, owned by another uid, with its own config and
known_hosts), a keyfile= URI parameter pointing into that mount, and SSH_KEY_FILE.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_kafka as tk  # noqa: E402  (helpers and contract checks; its tests are not re-run)

HERE = tk.HERE
ROOT = tk.ROOT
STATE = tk.STATE
CONTAINER_SH = HERE / "container.sh"
USER_UID = 1000  # owner of the mounted "user" ~/.ssh: not root, as on a real workstation

_started_broker = False
BOOTSTRAP = ""


def setUpModule():
    global _started_broker, BOOTSTRAP
    if shutil.which("buildah") is None:
        raise unittest.SkipTest("buildah is not installed (container.sh install)")
    if not (ROOT / "CMakeLists.txt").exists():
        raise unittest.SkipTest("no CMakeLists.txt: the image cannot build the sensor yet")
    if os.environ.get("PULSE_IT_IMAGE_PREBUILT") != "1":
        t0 = time.monotonic()
        subprocess.run([str(CONTAINER_SH), "build"], check=True, timeout=2400)
        sys.stderr.write(f"\n  image build: {time.monotonic() - t0:.0f} s\n")
    env_file = STATE / "kafka.env"
    _started_broker = not env_file.exists()
    subprocess.run([str(tk.KAFKA_SH), "up"], check=True, timeout=120)
    BOOTSTRAP = tk.read_env_file(env_file)["KAFKA_BOOTSTRAP"]


def tearDownModule():
    subprocess.run([str(CONTAINER_SH), "clean"], timeout=120)
    if _started_broker:
        subprocess.run([str(tk.KAFKA_SH), "down"], timeout=60)


def run_image(env, sensor_args=("--once",), volumes=()):
    """container.sh run with -e/-v options; returns CompletedProcess."""
    opts = []
    for k, v in env.items():
        opts += ["--env", f"{k}={v}"]
    for v in volumes:
        opts += ["-v", v]
    return subprocess.run([str(CONTAINER_SH), "run", *opts, "--", *sensor_args],
                          capture_output=True, text=True, timeout=240)


def find_process_with_arg(arg, comm):
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            if (proc_dir / "comm").read_text().strip() != comm:
                continue
            if arg in (proc_dir / "cmdline").read_bytes().decode(errors="replace").split("\0"):
                return int(proc_dir.name)
        except OSError:
            continue
    return None


def proc_parent(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


class TestImage(tk.ContractChecks, unittest.TestCase):
    def test_entrypoint_runs_the_sensor_and_delivers_one_poll_to_kafka(self):
        topic = tk.new_topic()
        res = run_image({"KVM_HOST": tk.TEST_URI, "KAFKA_BOOTSTRAP": BOOTSTRAP,
                         "KAFKA_TOPIC": topic, "GATHER_HOST_STATS": "true"})
        tk.assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 0, res.stderr)
        messages = tk.consume(topic, BOOTSTRAP)
        domains = tk.live_domains(tk.TEST_URI)
        self.assertEqual(len(messages), len(domains) + 1)
        self.assertEqual(len(self.check_polls(messages, tk.TEST_URI, domains)), 1)

    def test_an_empty_kafka_bootstrap_means_stdout(self):
        res = run_image({"KVM_HOST": tk.TEST_URI, "KAFKA_BOOTSTRAP": "",
                         "GATHER_HOST_STATS": "yes"})
        self.assertEqual(res.returncode, 0, res.stderr)
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), len(tk.live_domains(tk.TEST_URI)) + 1, res.stdout)
        for line in lines:
            self.assertIsInstance(json.loads(line), list)

    def test_entrypoint_execs_the_sensor_so_sigterm_stops_it_cleanly(self):
        # `docker stop` sends SIGTERM to PID 1: that must be the sensor, not a shell.
        marker = f"pulse-it-{uuid.uuid4().hex[:12]}"
        proc = subprocess.Popen(
            [str(CONTAINER_SH), "run", "--env", f"KVM_HOST={tk.TEST_URI}", "--env", "PAUSE=1",
             "--", "--kafka-topic", marker],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            pid = None
            deadline = time.monotonic() + 60
            while pid is None and time.monotonic() < deadline and proc.poll() is None:
                pid = find_process_with_arg(marker, comm="pulse-sensor")
                time.sleep(0.2)
            self.assertIsNotNone(pid, "no pulse-sensor process with the test's arguments")
            parent = Path(f"/proc/{proc_parent(pid)}/comm").read_text().strip()
            self.assertNotIn(parent, ("sh", "dash", "docker-entrypoi"),
                             "the entrypoint shell is still the sensor's parent: no exec")
            time.sleep(1.5)
            os.kill(pid, signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("SIGTERM", err)
        self.assertTrue(out.strip(), "no poll printed before SIGTERM")

    def test_an_invalid_setting_stops_the_container_with_status_2(self):
        res = run_image({"KVM_HOST": tk.TEST_URI, "PAUSE": "soon"})
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("PAUSE", res.stderr)


def _need_ssh_lab():
    return (STATE / "lab.env").exists() and (STATE / "ssh.env").exists()


@unittest.skipUnless(_need_ssh_lab(), "libvirt lab or its sshd is not up")
class TestImageOverQemuSsh(tk.ContractChecks, unittest.TestCase):
    """The image watching the lab's libvirtd through the lab's sshd on 127.0.0.1."""

    def setUp(self):
        self.ssh = tk.read_env_file(STATE / "ssh.env")
        self.lab = tk.read_env_file(STATE / "lab.env")
        self.key = Path(self.ssh["SSH_KEY"])
        self.tmp = Path(tempfile.mkdtemp(prefix="pulse-it-dotssh-"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.base_uri = f"qemu+ssh://root@127.0.0.1:{self.ssh['SSH_PORT']}/system"

    def user_dot_ssh(self, key_mode=0o600, owner=USER_UID, known_hosts=True, config=True):
        """A directory shaped like a user's ~/.ssh."""
        d = self.tmp / "dot-ssh"
        d.mkdir(mode=0o700)
        shutil.copy(self.key, d / "id_ed25519")
        shutil.copy(f"{self.key}.pub", d / "id_ed25519.pub")
        (d / "id_ed25519").chmod(key_mode)
        if known_hosts:
            host_key = (self.key.parent / "host_ed25519.pub").read_text().split()[:2]
            (d / "known_hosts").write_text(f"[127.0.0.1]:{self.ssh['SSH_PORT']} {' '.join(host_key)}\n")
        if config:
            # ssh refuses a config owned by someone else if used in place.
            (d / "config").write_text("Host *\n    ServerAliveInterval 30\n")
        for p in [d, *d.iterdir()]:
            os.chown(p, owner, owner)
        return d

    def poll_lab(self, uri, volumes=(), extra_env=None):
        import pulse_check  # pylint: disable=import-outside-toplevel

        virsh_uri = self.lab["LAB_URI"]
        topic = tk.new_topic()
        env = {"KVM_HOST": uri, "KAFKA_BOOTSTRAP": BOOTSTRAP, "KAFKA_TOPIC": topic,
               "GATHER_HOST_STATS": "true", **(extra_env or {})}
        before = pulse_check.snapshot(virsh_uri)
        res = run_image(env, volumes=volumes)
        after = pulse_check.snapshot(virsh_uri)
        tk.assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 0, res.stderr)
        for stream in (res.stdout, res.stderr):
            self.assertNotIn("PRIVATE KEY", stream, "key material in the container's output")
        messages = tk.consume(topic, BOOTSTRAP)
        domains = tk.live_domains(virsh_uri)
        self.assertEqual(len(self.check_polls(messages, uri, domains)), 1)
        problems = pulse_check.check_poll(
            [json.loads(m[3]) for m in messages], virsh_uri, uri,
            lab_json=self.lab.get("LAB_JSON"), keys=[m[0] for m in messages],
            before=before, after=after, host_stats=True)
        self.assertEqual(problems, [], "\n".join(problems))

    def test_mounted_dot_ssh_with_known_hosts_and_foreign_owner(self):
        # No no_verify: the host key must be found in the mounted known_hosts.
        d = self.user_dot_ssh()
        self.poll_lab(self.base_uri, volumes=[f"{d}:/root/.ssh:ro"])

    def test_keyfile_parameter_pointing_into_the_mount_with_a_too_open_key(self):
        # ssh ignores a root-owned key readable by others; the entrypoint's copy is 0600.
        d = self.user_dot_ssh(key_mode=0o644, owner=0, known_hosts=False, config=False)
        uri = f"{self.base_uri}?keyfile=/root/.ssh/id_ed25519&no_verify=1"
        self.poll_lab(uri, volumes=[f"{d}:/root/.ssh:ro"])

    def test_ssh_key_file_variable_without_a_dot_ssh_mount(self):
        keys = self.tmp / "keys"
        keys.mkdir()
        shutil.copy(self.key, keys / "lab-key")
        os.chown(keys / "lab-key", USER_UID, USER_UID)
        self.poll_lab(f"{self.base_uri}?no_verify=1", volumes=[f"{keys}:/keys:ro"],
                      extra_env={"SSH_KEY_FILE": "/keys/lab-key"})


if __name__ == "__main__":
    unittest.main()
