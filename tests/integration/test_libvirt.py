"""Integration tests: the built pulse-sensor against a real libvirtd.

Needs root and the lab from libvirt-lab.sh (QEMU domains) and sshd.sh (for
qemu+ssh).  If their state files ($PULSE_IT_STATE, default /tmp/pulse-it,
lab.env / ssh.env) are missing, this module brings them up itself and takes
them down again at the end; a runner that brought them up keeps them.

    sudo tests/integration/libvirt-lab.sh install
    /usr/bin/python3 -m pytest -v tests/integration/test_libvirt.py
    # or: /usr/bin/python3 tests/integration/test_libvirt.py

Environment: PULSE_SENSOR (default build/pulse-sensor under the repo root),
PULSE_IT_STATE, PULSE_IT_KEEP=1 (leave a lab this module started running).
The tests are skipped when the sensor binary does not exist.

Tests:
  a  --once on qemu:///system with GATHER_HOST_STATS=true (and false), checked
     by pulse_check against virsh reads taken just before and just after; and
     pulse_check must notice that poll broken on purpose in various ways
  b  the same through qemu+ssh://root@127.0.0.1:PORT/... (vmHost = that URI)
  c  PAUSE=1 for about 7 s while one domain is destroyed and another started:
     they disappear / appear, polls keep a fixed rate, SIGTERM exits 0, and
     stderr has no error
"""

import json
import re
import signal
import subprocess
import time
import unittest

from lib import pulse_check
from lib.common import STATE, read_env_file
from lib.lab import lab, release, require_lab
from lib.sensor import SENSOR, Sensor, bad_stderr_lines, run_sensor, sensor_env

_started = []   # scripts this module brought up (to take down at the end)


def setUpModule():
    _started.extend(require_lab(ssh=True))


def tearDownModule():
    release(_started)


class LibvirtLab(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.lab = read_env_file(STATE / "lab.env")
        cls.uri = cls.lab["LAB_URI"]
        cls.lab_json = cls.lab["LAB_JSON"]

    def once(self, kvm_host, host_stats):
        """Run --once between two virsh snapshots; return problems (and the run)."""
        before = pulse_check.snapshot(self.uri)
        t0 = time.time()
        p = run_sensor(["--once"], sensor_env(KVM_HOST=kvm_host, GATHER_HOST_STATS=host_stats), 120)
        took = time.time() - t0
        after = pulse_check.snapshot(self.uri)
        problems = []
        if p.returncode != 0:
            problems.append(f"exit status {p.returncode}")
        problems += [f"stderr: {line}" for line in bad_stderr_lines(p.stderr)]
        msgs, keys, parse_problems = pulse_check.parse_lines(p.stdout)
        problems += parse_problems
        if keys is not None:
            problems.append("stdout lines carry something before the JSON array")
        polls = pulse_check.split_polls(msgs)
        if len(polls) != 1:
            problems.append(f"--once printed {len(polls)} polls (distinct point times)")
        problems += pulse_check.check_poll(
            msgs, self.uri, kvm_host, self.lab_json, before=before, after=after,
            host_stats=host_stats == "true")
        return problems, p, took

    def assertNoProblems(self, problems, p=None):
        if problems:
            detail = "\n  ".join(problems)
            extra = f"\n--- stderr ---\n{p.stderr[-3000:]}" if p is not None else ""
            self.fail(f"{len(problems)} problems:\n  {detail}{extra}")

    # (a)
    def test_a_once_local_with_host_stats(self):
        problems, p, took = self.once(self.uri, "true")
        self.assertNoProblems(problems, p)
        self.assertLess(took, 30, "one poll of four domains should not take 30 s")

    def test_a_once_local_without_host_stats(self):
        problems, p, _ = self.once(self.uri, "false")
        self.assertNoProblems(problems, p)

    # (b)
    def test_b_once_over_ssh(self):
        ssh_uri = read_env_file(STATE / "ssh.env")["SSH_URI"]
        problems, p, _ = self.once(ssh_uri, "true")
        self.assertNoProblems(problems, p)

    def test_a_checker_catches_broken_output(self):
        """pulse_check itself: a real poll, broken on purpose, must be caught."""
        before = pulse_check.snapshot(self.uri)
        p = run_sensor(["--once"], sensor_env(KVM_HOST=self.uri, GATHER_HOST_STATS="true"), 120)
        after = pulse_check.snapshot(self.uri)
        msgs, _, _ = pulse_check.parse_lines(p.stdout)
        dom = next((i for i, m in enumerate(msgs)
                    if any(pt.get("measurement") == "disk" for pt in m)
                    and any(pt.get("measurement") == "networkInterface" for pt in m)), None)
        self.assertIsNotNone(dom, f"no domain message with a disk and a NIC:\n{p.stdout[:2000]}")
        host = next((i for i, m in enumerate(msgs) if m[0].get("measurement") == "nodeInfo"), None)
        self.assertIsNotNone(host, "no nodeInfo message")

        def first(m, name):
            return next(pt for pt in m if pt["measurement"] == name)

        def cpu_as_int(m):
            first(m[dom], "cpuTime")["fields"]["cpuTime"] = int(first(m[dom], "cpuTime")["fields"]["cpuTime"])

        def bytes_as_kib(m):
            f = first(m[dom], "disk")["fields"]
            f["readBytes"] = f["readBytes"] // 1024

        def wrong_mac(m):
            first(m[dom], "networkInterface")["tags"]["mac"] = "06:00:00:00:00:00"

        def cdrom_added(m):
            cd = json.loads(json.dumps(first(m[dom], "disk")))
            cd["tags"]["image"] = "pulse-it-tools.iso"
            m[dom].append(cd)

        def order_swapped(m):
            m[dom][0], m[dom][1] = m[dom][1], m[dom][0]

        def domain_missing(m):
            del m[dom]

        def time_differs(m):
            m[dom][-1]["time"] = "2001-01-01T00:00:00Z"

        def size_rounded_up(m):
            first(m[dom], "disk")["fields"]["totalSpace"] += 1

        def allocation_off_by_one(m):
            first(m[dom], "disk")["fields"]["allocatedSpace"] += 1

        def host_kib(m):
            m[host][0]["fields"]["totalMem"] *= 1024

        unnoticed = []
        for mutate in (cpu_as_int, bytes_as_kib, wrong_mac, cdrom_added, order_swapped,
                       domain_missing, time_differs, size_rounded_up, allocation_off_by_one,
                       host_kib):
            broken = json.loads(json.dumps(msgs))
            mutate(broken)
            if not pulse_check.check_poll(broken, self.uri, self.uri, self.lab_json,
                                          before=before, after=after, host_stats=True):
                unnoticed.append(mutate.__name__)
        self.assertEqual(unnoticed, [], "broken output that pulse_check did not notice")

    # (c)
    def test_c_domains_appear_and_disappear(self):
        gone, new = "i-3-19-VM", self.lab.get("LAB_SPARE", "i-4-20-VM")
        states = pulse_check.snapshot(self.uri).active()
        if gone not in states:
            lab("start-domain", gone)
        if new in states:
            lab("destroy-domain", new)

        sensor = Sensor(sensor_env(KVM_HOST=self.uri, PAUSE=1, GATHER_HOST_STATS="false"))
        try:
            t_start = time.time()
            # first poll out (bounded, in case stdout is not flushed per line),
            # then long enough that a poll stamped before the change completes
            while not sensor.out_text() and time.time() < t_start + 10:
                time.sleep(0.1)
            time.sleep(2.2)
            t_destroy0 = time.time()
            lab("destroy-domain", gone, timeout=60)
            t_destroy1 = time.time()
            t_new0 = time.time()
            lab("start-domain", new, timeout=120)
            t_new1 = time.time()
            time.sleep(3.5)
            t_sigterm = time.time()
            rc, stop_s = sensor.stop(timeout=15)
            t_end = t_sigterm + stop_s   # when it exited
        finally:
            sensor.close()
        after = pulse_check.snapshot(self.uri)
        try:
            self._check_lifecycle(rc, sensor.out_text(), sensor.err_text(), after, gone, new,
                                  t_start, t_destroy0, t_destroy1, t_new0, t_new1, t_end)
        finally:
            lab("destroy-domain", new, timeout=60)
            lab("start-domain", gone, timeout=120)

    def _check_lifecycle(self, rc, out, err, after, gone, new,
                         t_start, t_destroy0, t_destroy1, t_new0, t_new1, t_end):
        problems = []
        if rc != 0:
            problems.append(f"exit status {rc} after SIGTERM, expected 0")
        problems += [f"stderr: {line}" for line in bad_stderr_lines(err)]
        msgs, _, parse_problems = pulse_check.parse_lines(out)
        problems += parse_problems
        polls = pulse_check.split_polls(msgs)
        times = [pulse_check._parse_time(m[0][0]["time"]) for m, _ in polls]
        ran = t_end - t_start
        if len(polls) < int(ran * 0.6):
            problems.append(f"{len(polls)} polls in {ran:.1f}s with PAUSE=1")
        if any(b <= a for a, b in zip(times, times[1:])):
            problems.append(f"poll times not strictly increasing: {times}")
        if any(b - a > 3 for a, b in zip(times, times[1:])):
            problems.append(f"gap of more than 3 s between polls with PAUSE=1: {times}")

        # A poll stamped T started within [T, T+1) and (PAUSE=1) read libvirt
        # before T+2; polls overlapping a change may go either way.
        early = []
        for (m, _), t in zip(polls, times):
            doms = pulse_check.message_domains(m)
            stamp = m[0][0]["time"]
            if t + 2 <= t_destroy0:
                early.append(stamp)
                if gone not in doms:
                    problems.append(f"poll {stamp}: {gone} missing before it was destroyed")
            if t >= t_destroy1 and gone in doms:
                problems.append(f"poll {stamp}: {gone} still reported after 'virsh destroy'")
            if t + 2 <= t_new0 and new in doms:
                problems.append(f"poll {stamp}: {new} reported before it was started")
            if t >= t_new1 and new not in doms:
                problems.append(f"poll {stamp}: {new} missing although it was started")
        if not early:
            problems.append(f"no complete poll before {gone} was destroyed (poll times {times}, "
                            f"sensor started {t_start:.1f}, destroy at {t_destroy0:.1f})")
        late = [m for (m, _), t in zip(polls, times) if t >= t_new1]
        if not late:
            problems.append(f"no poll after {new} was started (poll times {times}, "
                            f"started by {t_new1:.0f})")
        else:
            # the last poll may have been cut short by SIGTERM: check the one before
            check = late[-2] if len(late) > 1 else late[-1]
            problems += pulse_check.check_poll(check, self.uri, self.uri, self.lab_json,
                                               after=after, host_stats=False, max_age=60)
        if problems:
            self.fail(f"{len(problems)} problems:\n  " + "\n  ".join(problems)
                      + f"\n--- stderr ---\n{err[-3000:]}")



class BulkPath(unittest.TestCase):
    """On a real QEMU driver one steady-state poll is one bulk libvirt call plus one
    virDomainGetInfo per domain (cheaper inside libvirtd and QEMU than the cpu-total and vcpu
    groups, see bench/README.md), and no more: the sensor's DEBUG line counts its calls."""

    def test_steady_state_poll_is_the_bulk_call_and_one_info_per_domain(self):
        uri = read_env_file(STATE / "lab.env")["LAB_URI"]
        domains = len(pulse_check.snapshot(uri).active())
        proc = subprocess.Popen([str(SENSOR)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env=sensor_env(KVM_HOST=uri, PAUSE=1, DEBUG="true"))
        try:
            time.sleep(3.5)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        polls = re.findall(r"\[debug\] poll \S+: (\d+) domains, \d+ messages, \d+ points, "
                           r"(\d+) libvirt calls", err)
        self.assertGreaterEqual(len(polls), 3, err)
        first_domains, first_calls = map(int, polls[0])
        # The first poll also reads each domain's XML once.
        self.assertEqual(first_calls, 1 + 2 * first_domains, polls[0])
        for seen, calls in polls[1:]:
            self.assertEqual(int(calls), 1 + int(seen),
                             f"steady-state poll of {seen} domains made {calls} libvirt calls")
        self.assertEqual(int(polls[-1][0]), domains)


if __name__ == "__main__":
    unittest.main(verbosity=2)
