"""Integration test: one sensor process watching three hypervisors at once.

Needs root, the lab from libvirt-lab.sh and the sshd from sshd.sh (brought up
and taken down as test_libvirt.py does, with the same module set-up).

The three URIs, with PAUSE=2 for about 12 s, output on stdout:
  local  qemu:///system, the lab
  ssh    the same lab through qemu+ssh to the test sshd
  dead   qemu+ssh to a loopback port that accepts TCP and never answers, so
         that the ssh login hangs instead of failing fast
Both live hosts must produce a poll at every tick (poll i stamped 2*i s after
the first, within the one-second resolution of the stamps, none missing), every
point tagged with its own vmHost, values consistent with virsh (pulse_check);
the dead host is logged once with its URI while it hangs, and the sensor still
stops on SIGTERM.
A comma-separated KVM_HOST with a bad item exits 2 naming the variable.
"""

import socket
import threading
import time
import unittest
from collections import defaultdict

from lib import pulse_check
from lib.common import STATE, read_env_file
from lib.lab import release, require_lab
from lib.sensor import Sensor, bad_stderr_lines, run_sensor, sensor_env

PAUSE = 2
RUN_SECONDS = 12

_started = []


def setUpModule():
    _started.extend(require_lab(ssh=True))


def tearDownModule():
    release(_started)


class SilentServer:
    """A loopback TCP port that accepts connections and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        # ssh, still waiting for the server's banner, sees EOF and exits.
        for conn in self.accepted:
            conn.close()
        self.sock.close()


class MultiHost(unittest.TestCase):
    maxDiff = None

    def test_live_hosts_keep_every_tick_while_a_dead_one_hangs(self):
        lab = read_env_file(STATE / "lab.env")
        ssh = read_env_file(STATE / "ssh.env")
        local_uri, ssh_uri = lab["LAB_URI"], ssh["SSH_URI"]
        dead = SilentServer()
        self.addCleanup(dead.close)
        dead_uri = (f"qemu+ssh://root@127.0.0.1:{dead.port}/system"
                    f"?keyfile={ssh['SSH_KEY']}&no_verify=1")

        # The lab is shared: other tests' domains (named after them) come and go meanwhile, so
        # virsh reads and the checks are about the lab's own domains only.
        lab_domains = lab["LAB_DOMAINS"].split()
        before = pulse_check.snapshot(local_uri, lab_domains)
        t_start = time.time()
        sensor = Sensor(sensor_env(KVM_HOST=f"{local_uri}, {ssh_uri}, {dead_uri}", PAUSE=PAUSE,
                                   GATHER_HOST_STATS="true", SPOOL_DIR="off"))
        try:
            time.sleep(RUN_SECONDS)
            t_stop = time.time()
            rc, stop_s = sensor.stop(timeout=30)
        finally:
            sensor.close()
        after = pulse_check.snapshot(local_uri, lab_domains)
        stderr = sensor.err_text()

        problems = []
        if rc != 0:
            problems.append(f"exit status {rc} after SIGTERM, expected 0")
        if stop_s > 15:
            problems.append(f"SIGTERM took {stop_s:.1f} s with a host stuck in ssh")
        problems += [f"stderr: {line}" for line in bad_stderr_lines(stderr)
                     if dead_uri not in line]

        msgs, keys, parse_problems = pulse_check.parse_lines(sensor.out_text())
        problems += parse_problems
        by_host = defaultdict(lambda: defaultdict(list))   # vmHost -> time -> messages
        for msg in msgs:
            tags = msg[0].get("tags", {}) if msg and isinstance(msg[0], dict) else {}
            by_host[tags.get("vmHost")][msg[0].get("time")].append(msg)
        if set(by_host) != {local_uri, ssh_uri}:
            problems.append(f"vmHost tags seen: {sorted(map(str, by_host))}, expected the two "
                            f"live URIs only")

        for uri in (local_uri, ssh_uri):
            polls = by_host.get(uri, {})
            times = sorted(pulse_check._parse_time(t) for t in polls)
            if not times:
                problems.append(f"{uri}: no poll at all")
                continue
            # The first tick is at start-up: the dead host must not hold it back.
            if times[0] > t_start + PAUSE + 1:
                problems.append(f"{uri}: first poll stamped {times[0] - t_start:.1f} s after "
                                f"start")
            # Ticks are PAUSE apart on the monotonic clock; a stamp is the wall-clock second a
            # poll started, so a tick that fires a few ms late across a second boundary is
            # stamped one second later. Poll i must thus be stamped t0 + i*PAUSE, give or take
            # that one second: a missed or extra tick shifts every later poll by PAUSE.
            off_grid = [(i, t - times[0]) for i, t in enumerate(times)
                        if abs(t - times[0] - i * PAUSE) > 1]
            if off_grid or len(set(times)) != len(times):
                gaps = [b - a for a, b in zip(times, times[1:])]
                problems.append(f"{uri}: polls not every {PAUSE} s: gaps {gaps}")
            expected = int((t_stop - times[0]) // PAUSE)   # ticks after the first, up to stop
            if len(times) < expected:
                problems.append(f"{uri}: {len(times)} polls in {t_stop - times[0]:.1f} s, "
                                f"expected at least {expected}")
            # The last complete poll (the very last may have been cut by SIGTERM) against virsh,
            # between the readings before the start and after the stop: counters must lie
            # between them, and a domain that changed state meanwhile (the lab is shared) may
            # or may not be there.
            stamp = sorted(polls, key=pulse_check._parse_time)[max(len(polls) - 2, 0)]
            ours = [m for m in polls[stamp] if pulse_check._is_host_msg(m)
                    or m[0].get("tags", {}).get("vmId") in lab_domains]
            problems += [f"{uri} poll {stamp}: {p}" for p in pulse_check.check_poll(
                ours, local_uri, uri, lab["LAB_JSON"], before=before, after=after,
                host_stats=True, max_age=60)]

        # Logged once, with its URI, while it hangs; nothing about it per tick.
        stuck_lines = [line for line in stderr.splitlines()
                       if dead_uri in line and "no answer" in line]
        if len(stuck_lines) != 1:
            problems.append(f"dead host: {len(stuck_lines)} 'no answer' lines, expected 1")
        running = stderr.split("stopping on SIGTERM")[0].splitlines()
        about_dead = [line for line in running if dead_uri in line and "watching" not in line]
        if len(about_dead) != 1:
            problems.append(f"dead host: {len(about_dead)} log lines while running, expected "
                            f"1: {about_dead}")
        if not dead.accepted:
            problems.append("the dead host's port was never connected to (URI not used?)")
        if before.errors or after.errors:
            problems.append(f"virsh: {before.errors + after.errors}")
        if problems:
            self.fail(f"{len(problems)} problems:\n  " + "\n  ".join(problems)
                      + f"\n--- stderr ---\n{stderr[-4000:]}")

    def test_a_list_with_a_bad_item_exits_2_naming_the_variable(self):
        for value in ("qemu:///system,,qemu:///session", "qemu:///system, qemu:///system",
                      "qemu:///system,not-a-uri"):
            with self.subTest(value=value):
                p = run_sensor(["--once"], sensor_env(KVM_HOST=value), 30)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
                self.assertIn("KVM_HOST (--kvm-host)", p.stderr)
                self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main()
