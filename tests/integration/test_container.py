"""The Docker image, built and started with buildah: it runs the sensor and delivers to Kafka.

    tests/integration/kafka.sh install && tests/integration/container.sh install   # once
    /usr/bin/python3 -m pytest -v tests/integration/test_container.py

setUpModule builds localhost/pulse-sensor:test from the working tree (container.sh build,
about 1-2 minutes once the base image exists; PULSE_IT_IMAGE_PREBUILT=1 reuses an image
already built) and starts a broker with kafka.sh unless one is up. Each run starts the
image's entrypoint in a fresh buildah container (container.sh run), which shares the
host's loopback, so the broker and the lab's sshd are reached at 127.0.0.1.

The image starts as root and its entrypoint runs the sensor as the user pulse (uid 10001),
also under --user 0, unless PULSE_RUN_AS_ROOT=true; --user pulse starts it as pulse directly.
It keeps the old images' PAUSE=20 and GATHER_HOST_STATS=true. Its HEALTHCHECK command
(pulse-sensor --healthcheck) is read from the image and run in a container of its own against
a sensor's METRICS_ADDR, healthy and not.

With the libvirt lab and its sshd up ($PULSE_IT_STATE/lab.env and ssh.env) the image also
watches the lab over qemu+ssh://, with keys mounted the ways users mount them: the old
sensor's own `docker run` line (root's ~/.ssh at /root/.ssh, keys 0600 owned by root); a
~/.ssh at /home/pulse/.ssh; a key named by SSH_KEY_FILE under --user pulse; a whole ~/.ssh at
/root/.ssh under --user 0 (read-only, owned by another uid, with its own config and
known_hosts) and a keyfile= URI parameter pointing into that mount. A /root/.ssh mount under
--user pulse is explained in one line, and a key the running uid cannot read stops the
container with status 2.
"""

import json
import os
import socket
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from pathlib import Path

from lib import pulse_check
from lib.common import HERE, ROOT, STATE, free_port, read_env_file
from lib.contract import ContractChecks
from lib.kafka import KAFKA_SH, consume, new_topic
from lib.lab import TEST_URI, live_domains
from lib.proc import (children, find_process_with_arg, find_process_with_env, proc_gids,
                      proc_groups, proc_parent, proc_uids)
from lib.sensor import assert_no_crash

CONTAINER_SH = HERE / "container.sh"
USER_UID = 1000  # owner of the mounted "user" ~/.ssh: not root, as on a real workstation
PULSE_UID = 10001  # the image's user (Dockerfile)

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
    subprocess.run([str(KAFKA_SH), "up"], check=True, timeout=120)
    BOOTSTRAP = read_env_file(env_file)["KAFKA_BOOTSTRAP"]


def tearDownModule():
    subprocess.run([str(CONTAINER_SH), "clean"], timeout=120)
    if _started_broker:
        subprocess.run([str(KAFKA_SH), "down"], timeout=60)


def run_options(env, volumes=(), user=None):
    opts = []
    for k, v in env.items():
        opts += ["--env", f"{k}={v}"]
    for v in volumes:
        opts += ["-v", v]
    if user is not None:
        opts += ["--user", str(user)]
    return opts


def run_image(env, sensor_args=("--once",), volumes=(), user=None):
    """container.sh run with -e/-v/--user options; returns CompletedProcess."""
    return subprocess.run([str(CONTAINER_SH), "run", *run_options(env, volumes, user), "--",
                           *sensor_args], capture_output=True, text=True, timeout=240)


def exec_image(env, command):
    """container.sh exec: `command` instead of the entrypoint; returns CompletedProcess."""
    return subprocess.run([str(CONTAINER_SH), "exec", *run_options(env), "--", *command],
                          capture_output=True, text=True, timeout=120)


def image_config(template):
    image = os.environ.get("PULSE_IMAGE", "localhost/pulse-sensor:test")
    return subprocess.run(["buildah", "--storage-driver", "vfs", "inspect", "--type", "image",
                           "--format", template, image],
                          capture_output=True, text=True, timeout=60, check=True).stdout.strip()


class RunningSensor:
    """The image's entrypoint started without --once; the sensor found by a marker variable."""

    def __init__(self, test, env, volumes=(), user=None, command=None):
        """command: run it (container.sh exec) instead of the entrypoint alone."""
        self.marker = f"PULSE_IT_MARKER=pulse-it-{uuid.uuid4().hex[:12]}"
        env = {**env, "PULSE_IT_MARKER": self.marker.split("=", 1)[1]}
        how = ["exec", *run_options(env, volumes, user), "--", *command] if command else \
            ["run", *run_options(env, volumes, user), "--"]
        self.proc = subprocess.Popen([str(CONTAINER_SH), *how], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out = self.err = ""
        test.addCleanup(self.stop)
        self.pid = None
        deadline = time.monotonic() + 60
        while self.pid is None and time.monotonic() < deadline and self.proc.poll() is None:
            self.pid = find_process_with_env(self.marker, comm="pulse-sensor")
            time.sleep(0.2)
        if self.pid is None:
            self.stop()
            test.fail(f"no pulse-sensor process in the container; stderr:\n{self.err}")

    def stop(self):
        """SIGTERM to the sensor, as `docker stop` does; returns the container's status."""
        if self.proc.returncode is None:
            if self.pid is not None and self.proc.poll() is None:
                try:
                    os.kill(self.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.out, self.err = self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.out, self.err = self.proc.communicate(timeout=10)
        return self.proc.returncode


class TestImage(ContractChecks, unittest.TestCase):
    def test_entrypoint_runs_the_sensor_and_delivers_one_poll_to_kafka(self):
        topic = new_topic()
        res = run_image({"KVM_HOST": TEST_URI, "KAFKA_BOOTSTRAP": BOOTSTRAP,
                         "KAFKA_TOPIC": topic, "GATHER_HOST_STATS": "true"})
        assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 0, res.stderr)
        messages = consume(topic, BOOTSTRAP)
        domains = live_domains(TEST_URI)
        self.assertEqual(len(messages), len(domains) + 1)
        self.assertEqual(len(self.check_polls(messages, TEST_URI, domains)), 1)

    def test_an_empty_kafka_bootstrap_means_stdout(self):
        res = run_image({"KVM_HOST": TEST_URI, "KAFKA_BOOTSTRAP": "",
                         "GATHER_HOST_STATS": "yes"})
        self.assertEqual(res.returncode, 0, res.stderr)
        lines = res.stdout.splitlines()
        self.assertEqual(len(lines), len(live_domains(TEST_URI)) + 1, res.stdout)
        for line in lines:
            self.assertIsInstance(json.loads(line), list)

    def test_entrypoint_execs_the_sensor_so_sigterm_stops_it_cleanly(self):
        # `docker stop` sends SIGTERM to PID 1: that must be the sensor, not a shell.
        marker = f"pulse-it-{uuid.uuid4().hex[:12]}"
        proc = subprocess.Popen(
            [str(CONTAINER_SH), "run", "--env", f"KVM_HOST={TEST_URI}", "--env", "PAUSE=1",
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
            self.assertEqual(proc_uids(pid), [PULSE_UID] * 4, "the sensor must not run as root")
            self.assertNotIn(0, proc_groups(pid), "the sensor must not keep root's group")
            self.assertIn("NoNewPrivs:\t1", Path(f"/proc/{pid}/status").read_text())
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

    def test_the_image_starts_as_root_and_declares_a_healthcheck(self):
        # Root only until the entrypoint has copied the keys: the sensor's own uid is checked
        # by the tests below.
        self.assertEqual(image_config("{{.Docker.Config.User}}"), "")
        self.assertEqual(image_config("{{.Docker.Config.Healthcheck.Test}}"),
                         "[CMD /usr/local/bin/pulse-sensor --healthcheck]")
        res = exec_image({}, ["id", "-u"])
        self.assertEqual((res.returncode, res.stdout.strip()), (0, "0"), res.stderr)

    def test_without_pause_and_gather_host_stats_the_image_keeps_the_old_images_defaults(self):
        # The old images set PAUSE=20 and GATHER_HOST_STATS=true; a container started without
        # them must still send nodeInfo, every 20 s.
        domains = len(live_domains(TEST_URI))
        res = run_image({"KVM_HOST": TEST_URI})
        self.assertEqual(res.returncode, 0, res.stderr)
        measurements = [json.loads(line)[0]["measurement"] for line in res.stdout.splitlines()]
        self.assertEqual(measurements.count("nodeInfo"), 1, res.stdout)
        self.assertEqual(len(measurements), domains + 1, res.stdout)
        self.assertIn(f"watching {TEST_URI} every 20 s", res.stderr)
        # -e still wins.
        res = run_image({"KVM_HOST": TEST_URI, "GATHER_HOST_STATS": "false", "PAUSE": "7"})
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(len(res.stdout.splitlines()), domains, res.stdout)
        self.assertNotIn("nodeInfo", res.stdout)
        self.assertIn(f"watching {TEST_URI} every 7 s", res.stderr)

    def test_the_sensor_runs_as_pulse_under_user_0_and_user_pulse(self):
        # --user 0 looks like the default start to the entrypoint (uid 0): it drops too.
        for user in (0, "pulse", PULSE_UID):
            with self.subTest(user=user):
                sensor = RunningSensor(self, {"KVM_HOST": TEST_URI, "PAUSE": "1"}, user=user)
                self.assertEqual(proc_uids(sensor.pid), [PULSE_UID] * 4)
                self.assertEqual(proc_gids(sensor.pid), [PULSE_UID] * 4, "gid 10001 too")
                self.assertNotIn(0, proc_groups(sensor.pid))
                self.assertEqual(sensor.stop(), 0, sensor.err)

    def test_groups_the_container_starts_with_are_kept_but_root_s(self):
        # As `docker run --group-add 4242` starts it (the libvirt socket's group, say): root
        # with a supplementary group, which pulse keeps; root's group 0 is not kept.
        start = ["setpriv", "--groups=0,4242", "--", "/usr/local/bin/docker-entrypoint.sh"]
        sensor = RunningSensor(self, {"KVM_HOST": TEST_URI, "PAUSE": "1"}, command=start)
        self.assertEqual(proc_uids(sensor.pid), [PULSE_UID] * 4)
        self.assertEqual(sorted(proc_groups(sensor.pid)), [4242, PULSE_UID])
        self.assertEqual(sensor.stop(), 0, sensor.err)

    def test_pulse_run_as_root_keeps_the_sensor_root(self):
        sensor = RunningSensor(self, {"KVM_HOST": TEST_URI, "PAUSE": "1",
                                      "PULSE_RUN_AS_ROOT": "true"})
        self.assertEqual(proc_uids(sensor.pid), [0] * 4)
        self.assertEqual(sensor.stop(), 0, sensor.err)
        res = run_image({"KVM_HOST": TEST_URI, "PULSE_RUN_AS_ROOT": "maybe"})
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("invalid PULSE_RUN_AS_ROOT", res.stderr)

    def healthcheck(self, env):
        # The command as the image declares it ("[CMD a b]"), run as Docker would run it.
        command = image_config("{{.Docker.Config.Healthcheck.Test}}").strip("[]").split()[1:]
        return exec_image(env, command)

    def sensor_container(self, port, uri):
        proc = subprocess.Popen(
            [str(CONTAINER_SH), "run", "--env", f"KVM_HOST={uri}", "--env", "PAUSE=1",
             "--env", f"METRICS_ADDR=127.0.0.1:{port}", "--env", "SPOOL_DIR=off", "--"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def stop():
            # SIGTERM to the sensor itself, as `docker stop` does; the container then ends.
            pid = find_process_with_env(f"METRICS_ADDR=127.0.0.1:{port}", comm="pulse-sensor")
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=10)
        self.addCleanup(stop)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            self.assertIsNone(proc.poll(), "the sensor's container exited")
            time.sleep(0.3)
        self.fail("the sensor in the container never listened")

    def test_the_healthcheck_command_works_inside_the_container(self):
        res = self.healthcheck({})
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("METRICS_ADDR is not set", res.stdout)
        healthy, dead = free_port(), free_port()
        self.sensor_container(healthy, TEST_URI)
        self.sensor_container(dead, f"qemu+tcp://127.0.0.1:{free_port()}/system")
        time.sleep(2)   # a poll each: the dead one has failed by now
        res = self.healthcheck({"METRICS_ADDR": f"127.0.0.1:{healthy}"})
        self.assertEqual((res.returncode, res.stdout), (0, "ok: 200 ok\n"), res.stderr)
        res = self.healthcheck({"METRICS_ADDR": f":{dead}"})
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("FAIL: 503 hypervisor unreachable", res.stdout)
        res = self.healthcheck({"METRICS_ADDR": f"127.0.0.1:{free_port()}"})
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)

    def test_an_invalid_setting_stops_the_container_with_status_2(self):
        res = run_image({"KVM_HOST": TEST_URI, "PAUSE": "soon"})
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("PAUSE", res.stderr)


def _need_ssh_lab():
    return (STATE / "lab.env").exists() and (STATE / "ssh.env").exists()


@unittest.skipUnless(_need_ssh_lab(), "libvirt lab or its sshd is not up")
class TestImageOverQemuSsh(ContractChecks, unittest.TestCase):
    """The image watching the lab's libvirtd through the lab's sshd on 127.0.0.1."""

    def setUp(self):
        self.ssh = read_env_file(STATE / "ssh.env")
        self.lab = read_env_file(STATE / "lab.env")
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

    def poll_lab(self, uri, volumes=(), extra_env=None, user=None):
        virsh_uri = self.lab["LAB_URI"]
        topic = new_topic()
        env = {"KVM_HOST": uri, "KAFKA_BOOTSTRAP": BOOTSTRAP, "KAFKA_TOPIC": topic,
               "GATHER_HOST_STATS": "true", **(extra_env or {})}
        before = pulse_check.snapshot(virsh_uri)
        res = run_image(env, volumes=volumes, user=user)
        after = pulse_check.snapshot(virsh_uri)
        assert_no_crash(self, res.returncode, res.stderr)
        self.assertEqual(res.returncode, 0, res.stderr)
        for stream in (res.stdout, res.stderr):
            self.assertNotIn("PRIVATE KEY", stream, "key material in the container's output")
        messages = consume(topic, BOOTSTRAP)
        domains = live_domains(virsh_uri)
        self.assertEqual(len(self.check_polls(messages, uri, domains)), 1)
        problems = pulse_check.check_poll(
            [json.loads(m[3]) for m in messages], virsh_uri, uri,
            lab_json=self.lab.get("LAB_JSON"), keys=[m[0] for m in messages],
            before=before, after=after, host_stats=True)
        self.assertEqual(problems, [], "\n".join(problems))

    def test_mounted_dot_ssh_at_the_pulse_users_home(self):
        # As pulse: no no_verify, the host key must be found in the mounted known_hosts.
        d = self.user_dot_ssh(owner=PULSE_UID)
        self.poll_lab(self.base_uri, volumes=[f"{d}:/home/pulse/.ssh:ro"])

    def test_mounted_dot_ssh_at_root_with_known_hosts_and_foreign_owner_under_user_0(self):
        d = self.user_dot_ssh()
        self.poll_lab(self.base_uri, volumes=[f"{d}:/root/.ssh:ro"], user=0)

    def test_the_old_sensors_docker_run_line_polls_the_lab_as_pulse(self):
        # bwsw/cs-pulse-sensor-kafka's README, verbatim but for the image, the addresses and the
        # topic (a fresh one per run); -d and --restart=always are the engine's, not the
        # container's. Root's ~/.ssh: owned by root, keys 0600, the hypervisor in known_hosts.
        d = self.user_dot_ssh(owner=0)
        self.assertEqual((d / "id_ed25519").stat().st_mode & 0o777, 0o600)
        topic = new_topic()
        uri = self.base_uri
        env = {"PAUSE": "10", "KAFKA_BOOTSTRAP": BOOTSTRAP, "KAFKA_TOPIC": topic,
               "GATHER_HOST_STATS": "true", "CS_ENDPOINT": "https://server/client/api",
               "CS_API_KEY": "secret", "CS_SECRET_KEY": "secret", "LOGLEVEL": "DEBUG",
               "KVM_HOST": uri}
        virsh_uri = self.lab["LAB_URI"]
        domains = live_domains(virsh_uri)
        before = pulse_check.snapshot(virsh_uri)
        sensor = RunningSensor(self, env, volumes=[f"{d}:/root/.ssh"])
        self.assertEqual(proc_uids(sensor.pid), [PULSE_UID] * 4, "the sensor must run as pulse")
        messages, ssh_uids = [], None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.assertIsNone(sensor.proc.poll(), "the container exited")
            for pid in children(sensor.pid, "ssh") if ssh_uids is None else ():
                try:
                    ssh_uids = proc_uids(pid)
                except OSError:
                    pass   # an ssh that failed and exited already
            messages = consume(topic, BOOTSTRAP)
            if len(messages) >= len(domains) + 1 and ssh_uids is not None:
                break
            time.sleep(0.5)
        after = pulse_check.snapshot(virsh_uri)
        rc = sensor.stop()
        self.assertGreaterEqual(len(messages), len(domains) + 1,
                                f"no poll of the lab reached Kafka; stderr:\n{sensor.err}")
        # libvirt's ssh, with the keys the entrypoint copied for pulse, is pulse's too.
        self.assertEqual(ssh_uids, [PULSE_UID] * 4, "libvirt's ssh process")
        self.assertEqual(rc, 0, sensor.err)
        assert_no_crash(self, sensor.proc.returncode, sensor.err)
        self.assertNotIn("PRIVATE KEY", sensor.out + sensor.err)
        self.assertNotIn("is mounted but", sensor.err)
        first = self.check_polls(messages, uri, domains)[0]
        first_poll = [m for m in messages if json.loads(m[3])[0]["time"] == first]
        problems = pulse_check.check_poll(
            [json.loads(m[3]) for m in first_poll], virsh_uri, uri,
            lab_json=self.lab.get("LAB_JSON"), keys=[m[0] for m in first_poll],
            before=before, after=after, host_stats=True)
        self.assertEqual(problems, [], "\n".join(problems))

    def test_keyfile_parameter_pointing_into_the_mount_with_a_too_open_key(self):
        # ssh ignores a root-owned key readable by others; the entrypoint's copy is 0600.
        d = self.user_dot_ssh(key_mode=0o644, owner=0, known_hosts=False, config=False)
        uri = f"{self.base_uri}?keyfile=/root/.ssh/id_ed25519&no_verify=1"
        self.poll_lab(uri, volumes=[f"{d}:/root/.ssh:ro"], user=0)

    def test_ssh_key_file_variable_as_the_pulse_user(self):
        keys = self.tmp / "keys"
        keys.mkdir()
        shutil.copy(self.key, keys / "lab-key")
        os.chown(keys / "lab-key", PULSE_UID, PULSE_UID)
        (keys / "lab-key").chmod(0o400)
        self.poll_lab(f"{self.base_uri}?no_verify=1", volumes=[f"{keys}:/keys:ro"],
                      extra_env={"SSH_KEY_FILE": "/keys/lab-key"}, user=PULSE_UID)

    def test_a_root_ssh_mount_under_user_pulse_is_explained(self):
        d = self.user_dot_ssh()
        res = run_image({"KVM_HOST": f"{self.base_uri}?no_verify=1"},
                        volumes=[f"{d}:/root/.ssh:ro"], user="pulse")
        self.assertEqual(res.returncode, 1, "the hypervisor cannot be reached without a key")
        hints = [line for line in res.stderr.splitlines() if "/root/.ssh is mounted" in line]
        self.assertEqual(len(hints), 1, res.stderr)
        self.assertIn("start it as root (without --user)", hints[0])

    def test_an_unreadable_key_in_a_mounted_dot_ssh_stops_the_container_with_status_2(self):
        # The directory can be listed, the key (0600, another uid's) not read.
        d = self.user_dot_ssh(owner=USER_UID)
        d.chmod(0o755)
        res = run_image({"KVM_HOST": self.base_uri}, volumes=[f"{d}:/home/pulse/.ssh:ro"],
                        user=PULSE_UID)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn(f"/home/pulse/.ssh/id_ed25519 is not readable by uid {PULSE_UID}",
                      res.stderr)
        self.assertNotIn("PRIVATE KEY", res.stdout + res.stderr)

    def test_an_unreadable_ssh_key_file_stops_the_container_with_a_hint(self):
        keys = self.tmp / "keys"
        keys.mkdir()
        shutil.copy(self.key, keys / "lab-key")
        os.chown(keys / "lab-key", USER_UID, USER_UID)
        (keys / "lab-key").chmod(0o600)
        res = run_image({"KVM_HOST": self.base_uri, "SSH_KEY_FILE": "/keys/lab-key"},
                        volumes=[f"{keys}:/keys:ro"], user=PULSE_UID)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn(f"not readable by uid {PULSE_UID}", res.stderr)
        self.assertNotIn("PRIVATE KEY", res.stdout + res.stderr)


if __name__ == "__main__":
    unittest.main()
