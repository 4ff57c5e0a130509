"""Integration test of which domains are reported, of allocatedSpace, and of a password in KVM_HOST.

Besides the lab (libvirt-lab.sh), the test starts three transient domains of its own, removed
at the end (the lab's domains are only read):
  pulse-it-s3     its boot sector (fixtures/s3-bootsector.S) puts the guest to sleep through
                  ACPI S3: libvirt reports it pmsuspended
  pulse-it-panic  its boot sector (fixtures/panic-bootsector.S) reports a guest panic through
                  pvpanic, with on_crash=preserve: crashed, and still active
  pulse-it-fresh  started paused, so nothing is ever written to its disks: a preallocated qcow2
                  file, a fallocated raw file, a sparse raw file and a loop block device, 1100
                  MiB each. For the first two virDomainGetBlockInfo's allocation (the old
                  sensor's allocatedSpace: QEMU's actual-size) is 1 GiB while the bulk
                  block.N.allocation (the highest written offset) is 0.
The old sensor reported every active domain (listDomainsID). Every check of a poll goes through
pulse_check, which compares each value with virsh; allocatedSpace with `virsh domblkinfo` only.

    PULSE_IT_STATE=... PULSE_SENSOR=build/pulse-sensor \\
        /usr/bin/python3 -m pytest -v tests/integration/test_domains.py
"""

import shutil
import unittest
from pathlib import Path

from lib import pulse_check
from lib.common import wait_for
from lib.lab import QEMU_URI as URI
from lib.lab import boot_image, disk, domain_xml, lab_env, release, require_lab, run, virsh
from lib.sensor import bad_stderr_lines, run_sensor, sensor_env

IMAGES = Path("/var/lib/libvirt/images/pulse-it-domains")
S3, PANIC, FRESH = "pulse-it-s3", "pulse-it-panic", "pulse-it-fresh"
EXPECTED_STATES = {S3: "pmsuspended", PANIC: "crashed", FRESH: "paused"}
DISK_SIZE = "1100M"   # just over 1 GiB: 1 in whole GiB where the allocation is the whole disk
SECRET = "Zq9-pulse-S3CRET"
# ACPI (S3 goes through it), and a guest that panicked stays active, crashed
FEATURES = "<features><acpi/></features>\n  <on_crash>preserve</on_crash>"

_started = []
_loop = []


def sensor(*args, timeout=120, **settings):
    return run_sensor(args, sensor_env(**settings), timeout)


# ------------------------------------------------------------------ the extra domains

def start_domains(virt_type):
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, source, device in (
            (S3, "s3-bootsector.S", ""),
            (PANIC, "panic-bootsector.S",
             "<panic model='isa'><address type='isa' iobase='0x505'/></panic>")):
        image = boot_image(IMAGES, name, source)
        xml = IMAGES / f"{name}.xml"
        xml.write_text(domain_xml(name, virt_type, [disk("file", "qcow2", image, "vda"), device],
                                  extra=FEATURES))
        virsh("create", str(xml))

    qcow2, full, sparse, backing = (IMAGES / n for n in (
        "fresh.qcow2", "fresh-full.raw", "fresh-sparse.raw", "fresh-lv.img"))
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=falloc", str(qcow2),
         DISK_SIZE])
    run(["fallocate", "-l", DISK_SIZE, str(full)])
    run(["truncate", "-s", DISK_SIZE, str(sparse), str(backing)])
    loop = run(["losetup", "--find", "--show", str(backing)]).stdout.strip()
    _loop.append(loop)
    xml = IMAGES / f"{FRESH}.xml"
    xml.write_text(domain_xml(FRESH, virt_type, [
        disk("file", "qcow2", qcow2, "vda"), disk("file", "raw", full, "vdb"),
        disk("file", "raw", sparse, "vdc"), disk("block", "raw", loop, "vdd")], extra=FEATURES))
    virsh("create", "--paused", str(xml))

    def states():
        return {n: virsh("domstate", n, check=False).stdout.strip() for n in EXPECTED_STATES}
    # SeaBIOS takes some seconds before the boot sector runs.
    wait_for(f"the domains' states {EXPECTED_STATES}", lambda: states() == EXPECTED_STATES, 120)


def remove_domains():
    for name in EXPECTED_STATES:
        virsh("destroy", name, check=False)
    for loop in _loop:
        run(["losetup", "-d", loop], check=False)
    _loop.clear()
    shutil.rmtree(IMAGES, ignore_errors=True)


def setUpModule():
    _started.extend(require_lab())
    remove_domains()   # left over from an interrupted run
    try:
        start_domains(lab_env().get("LAB_VIRT_TYPE", "kvm"))
    except BaseException:
        remove_domains()
        raise


def tearDownModule():
    remove_domains()
    release(_started)


# ------------------------------------------------------------------ the tests

class ExtraDomains(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.lab_json = lab_env()["LAB_JSON"]

    def poll(self, kvm_host=URI, vm_host=URI):
        """One --once run between two virsh snapshots: (messages, pulse_check's problems, after)."""
        before = pulse_check.snapshot(URI)
        p = sensor("--once", KVM_HOST=kvm_host, GATHER_HOST_STATS="true")
        after = pulse_check.snapshot(URI)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(bad_stderr_lines(p.stderr), [])
        msgs, _, problems = pulse_check.parse_lines(p.stdout)
        problems += pulse_check.check_poll(msgs, URI, vm_host, self.lab_json, before=before,
                                           after=after, host_stats=True)
        return msgs, problems, after, p

    def test_every_active_domain_is_reported_whatever_its_state(self):
        msgs, problems, after, _ = self.poll()
        states = {n: after.domains.get(n, {}).get("state") for n in EXPECTED_STATES}
        self.assertEqual(states, EXPECTED_STATES, "virsh domstats --list-active --state")
        reported = set(pulse_check.message_domains(msgs))
        self.assertEqual(sorted(set(EXPECTED_STATES) - reported), [],
                         f"active domains without a message (reported: {sorted(reported)})")
        self.assertEqual(problems, [])

    def test_allocated_space_is_what_domblkinfo_gives_before_the_first_write(self):
        msgs, problems, after, _ = self.poll()
        self.assertEqual(problems, [])
        fresh = after.domains[FRESH]
        xml_disks = {Path(d["source"]).name: d["target"] for d in fresh["xml"]["disks"]}
        msg = next(m for m in msgs if pulse_check.message_domains([m]) == [FRESH])
        rows, differ = [], 0
        for point in (p for p in msg if p["measurement"] == "disk"):
            target = xml_disks[point["tags"]["image"]]
            blkinfo = fresh["blkinfo"][target]["allocation"] // pulse_check.GIB
            idx = pulse_check._block_index(fresh["stats"], target)
            bulk = int(fresh["stats"][f"block.{idx}.allocation"]) // pulse_check.GIB
            rows.append((target, point["fields"]["allocatedSpace"], blkinfo, bulk))
            differ += blkinfo != bulk
        table = "\n".join(f"  {t}: sensor={s} domblkinfo={b} domstats={d}" for t, s, b, d in rows)
        self.assertEqual(len(rows), 4, table)
        self.assertEqual([r[1] for r in rows], [r[2] for r in rows],
                         f"allocatedSpace against virsh domblkinfo (GiB):\n{table}")
        # Unless the two sources disagree somewhere, this test would prove nothing.
        self.assertGreaterEqual(differ, 2, f"domblkinfo and domstats agree:\n{table}")

    def test_a_password_in_kvm_host_is_in_no_output(self):
        # libvirt's remote driver ignores the userinfo of a local socket URI: this one works.
        good = f"qemu://pulse:{SECRET}@/system"
        shown = "qemu://pulse@/system"
        dead = f"qemu+tcp://pulse:{SECRET}@127.0.0.1:1/system"
        msgs, problems, _, p = self.poll(good, shown)
        self.assertEqual(problems, [], "vmHost must be the URI without its password")
        self.assertTrue(msgs)
        runs = {"--once": p,
                "--once DEBUG=true": sensor("--once", KVM_HOST=good, DEBUG="true",
                                            GATHER_HOST_STATS="true"),
                "--once, one hypervisor unreachable, DEBUG=true":
                    sensor("--once", KVM_HOST=f"{good},{dead}", DEBUG="true"),
                "--check": sensor("--check", KVM_HOST=f"{good},{dead}"),
                "--once, a URI listed twice": sensor("--once", KVM_HOST=f"{dead},{dead}")}
        self.assertEqual(runs["--once, one hypervisor unreachable, DEBUG=true"].returncode, 1)
        self.assertEqual(runs["--check"].returncode, 1)
        self.assertEqual(runs["--once, a URI listed twice"].returncode, 2)
        for what, r in runs.items():
            out = r.stdout + r.stderr
            self.assertNotIn(SECRET, out, f"{what} printed the password:\n{out[-3000:]}")
            self.assertIn("pulse@", out, f"{what} never names the hypervisor:\n{out[-3000:]}")


if __name__ == "__main__":
    unittest.main()
