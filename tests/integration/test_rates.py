"""Integration test of RATES=true: known IO in a real QEMU domain shows the expected rates.

Besides the lab (libvirt-lab.sh), the test starts one transient domain of its own, rates-io
(removed at the end; the lab's domains are only read). Its boot sector
(fixtures/rates-bootsector.S) does one 16-sector read and one 4-sector write per BIOS timer
tick, 18.2 of each per second; its NIC (an rtl8139, which QEMU drains and drops from while no
guest driver runs it) gets 200 frames of 500 bytes per second injected from the host side
with a packet socket on its tap. libvirt reports frames sent into a tap as the guest's receive
counters, so they show as networkInterface readBytes/readPackets and as the read rates.

One run of the sensor (PAUSE=2, stdout) covers it all:
  phase A  at least five polls of rates-io with the frames flowing; virsh reads of the
           domains' counters just before the sensor starts and just after phase A are the
           reference for disk and CPU rates
  restart  rates-io is destroyed and created again (a new domain id, counters from 0)
  phase B  its polls while it boots, and three more once its boot sector runs again
Then: rates only from a domain's second poll on, after its contract points; net and disk
rates within tolerance of what was injected or designed and of virsh; rate x interval equal
to the change of the contract's cumulative counters; the paused domain at 0 % CPU; no rate for
the restart's interval, and none negative anywhere. The measured numbers go to
$PULSE_IT_STATE/rates-summary.log.

    PULSE_IT_STATE=... PULSE_SENSOR=build/pulse-sensor \\
        /usr/bin/python3 -m pytest -v tests/integration/test_rates.py
"""

import re
import shutil
import socket
import sys
import threading
import time
import unittest
from pathlib import Path

from lib.common import STATE, wait_for
from lib.lab import boot_image, domain_xml, lab_env, release, require_lab, virsh
from lib.lab import disk as disk_xml
from lib.sensor import Sensor, bad_stderr_lines, sensor_env

DOMAIN = "rates-io"
TAP = "ratestap0"
MAC = "06:5e:07:00:00:01"
IMAGES = Path("/var/lib/libvirt/images/rates-it")
IMAGE = IMAGES / f"{DOMAIN}.qcow2"
# An rtl8139, which QEMU drains and drops from while no guest driver runs it.
NIC = (f"<interface type='ethernet'><mac address='{MAC}'/><target dev='{TAP}'/>"
       "<model type='rtl8139'/><rom bar='off'/></interface>")
PAUSE = 2

TICK_HZ = 1193182 / 65536             # the PC timer's BIOS tick, 18.2065 Hz
DISK = {"readRequestsPerSecond": TICK_HZ, "readBytesPerSecond": TICK_HZ * 16 * 512,
        "writeRequestsPerSecond": TICK_HZ, "writeBytesPerSecond": TICK_HZ * 4 * 512}
FRAMES_PER_S = 200
FRAME_BYTES = 500
NET = {"readPacketsPerSecond": FRAMES_PER_S, "readBytesPerSecond": FRAMES_PER_S * FRAME_BYTES}

# One interval: the sensor's collection time jitters by tens of ms in 2 s, and a tick of the
# guest's IO or a late burst of the injector falls on one side or the other.
NET_TOLERANCE = 0.10
DISK_TOLERANCE = 0.10
# The design rates assume the guest's timer keeps time (it does under KVM; TCG may lag).
DESIGN_TOLERANCE = 0.15
CPU_POINTS_TOLERANCE = 2.0            # percentage points, against virsh over a wider window

_started = []


def setUpModule():
    _started.extend(require_lab())


def tearDownModule():
    remove_domain()
    release(_started)


# ------------------------------------------------------------------ the extra domain

def counters(domain):
    """(monotonic time of the read, {"cpu.time": …, "block.0.rd.reqs": …, "vcpu.current": …})."""
    t0 = time.monotonic()
    out = virsh("domstats", "--raw", "--cpu-total", "--vcpu", "--block", "--interface",
                domain, check=False).stdout
    t1 = time.monotonic()
    return (t0 + t1) / 2, {k: int(v) for k, v in re.findall(r"^\s*([\w.]+)=(\d+)$", out, re.M)}


def start_domain(xml_path):
    virsh("create", str(xml_path))   # transient: gone for good once destroyed
    # Host-side IPv6 (router solicitations, MLD) would add frames of its own to the tap.
    try:
        Path(f"/proc/sys/net/ipv6/conf/{TAP}/disable_ipv6").write_text("1\n")
    except OSError:
        pass   # no IPv6 on this host: nothing to silence
    wait_for(f"disk IO in {DOMAIN}",
             lambda: counters(DOMAIN)[1].get("block.0.rd.reqs", 0) > 2, 60, step=0.2)


def remove_domain():
    virsh("destroy", DOMAIN, check=False)
    shutil.rmtree(IMAGES, ignore_errors=True)


class FrameInjector(threading.Thread):
    """Frames into the tap at a fixed rate on an absolute schedule (a late one is caught up)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.halt = threading.Event()
        self.sent = 0
        self.max_lag = 0.0
        self.error = None

    def run(self):
        frame = (bytes.fromhex(MAC.replace(":", "")) + bytes.fromhex("0a5e00000001")
                 + b"\x88\xb5")   # IEEE "local experimental" ethertype
        frame += b"\0" * (FRAME_BYTES - len(frame))
        try:
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
                s.bind((TAP, 0))
                start = time.monotonic()
                while not self.halt.is_set():
                    delay = start + self.sent / FRAMES_PER_S - time.monotonic()
                    if delay > 0:
                        self.halt.wait(delay)
                        continue
                    self.max_lag = max(self.max_lag, -delay)
                    s.send(frame)
                    self.sent += 1
        except OSError as e:
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(timeout=10)


def messages_of(sensor, domain, since=0.0):
    """The domain's messages on the sensor's stdout that arrived at `since` (time.time()) or
    later."""
    return [m for t, m in sensor.messages() if t >= since and vm_id(m) == domain]


def vm_id(message):
    return message[0]["tags"].get("vmId") if message else None


def is_rate(point):
    return point["measurement"].endswith("Rate")


def rates_of(message, measurement, **tags):
    return [p for p in message
            if p["measurement"] == measurement and all(p["tags"].get(k) == v
                                                       for k, v in tags.items())]


def the_point(message, measurement, **tags):
    found = rates_of(message, measurement, **tags)
    assert len(found) == 1, f"{len(found)} {measurement} points with {tags}"
    return found[0]


def relative(value, expected):
    return abs(value - expected) / expected


# ------------------------------------------------------------------ the run

class Rates(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.summary = []
        lab = lab_env()
        cls.running = [d for d in lab["LAB_ACTIVE"].split() if d != "i-2-18-VM"]
        cls.paused = "i-2-18-VM"
        remove_domain()
        boot_image(IMAGES, DOMAIN, "rates-bootsector.S")
        xml = STATE / f"{DOMAIN}.xml"
        xml.write_text(domain_xml(DOMAIN, lab.get("LAB_VIRT_TYPE", "kvm"),
                                  [disk_xml("file", "qcow2", IMAGE, "vda"), NIC],
                                  vcpu="<vcpu>2</vcpu>"))
        start_domain(xml)

        cls.injector = FrameInjector()
        cls.injector.start()
        time.sleep(0.5)
        domains = [DOMAIN, cls.paused, *cls.running]
        cls.ref_a = {d: counters(d) for d in domains}
        sensor = Sensor(sensor_env(KVM_HOST="qemu:///system", PAUSE=PAUSE, RATES="true",
                                   SPOOL_DIR="off"))
        try:
            wait_for("five polls of rates-io", lambda: len(messages_of(sensor, DOMAIN)) >= 5, 60,
                     step=0.2)
            cls.ref_b = {d: counters(d) for d in domains}
            cls.injector.stop()

            virsh("destroy", DOMAIN)
            start_domain(xml)
            # The BIOS takes a few seconds before the boot sector runs, and then the guest
            # gets the timer ticks it missed meanwhile in a burst (KVM's PIT catches up):
            # wait for IO, then for three polls, the last of which is steady.
            io_again = time.time()
            wait_for("three polls of rates-io after its restart",
                     lambda: len(messages_of(sensor, DOMAIN, since=io_again)) >= 3, 60, step=0.2)
        finally:
            cls.returncode, _ = sensor.stop(timeout=30)
            sensor.close()
            cls.stderr = sensor.err_text()
            cls.injector.stop()
        cls.messages = [m for _, m in sensor.messages()]
        cls.by_domain = {}
        for m in cls.messages:
            cls.by_domain.setdefault(vm_id(m), []).append(m)
        # rates-io's messages before and after its restart: its CPU time starts again.
        io = cls.by_domain[DOMAIN]
        cut = next(i for i in range(1, len(io))
                   if the_point(io[i], "cpuTime")["fields"]["cpuTime"]
                   < the_point(io[i - 1], "cpuTime")["fields"]["cpuTime"])
        cls.before_restart, cls.after_restart = io[:cut], io[cut:]
        cls.note(f"sensor: {len(cls.messages)} messages, {len(io)} of {DOMAIN} "
                 f"({cut} before its restart); injector sent {cls.injector.sent} frames, "
                 f"latest {cls.injector.max_lag * 1000:.1f} ms behind schedule")

    @classmethod
    def tearDownClass(cls):
        remove_domain()
        log = STATE / "rates-summary.log"
        log.write_text("\n".join(cls.summary) + "\n")
        print("\n" + log.read_text(), file=sys.stderr)

    @classmethod
    def note(cls, line):
        cls.summary.append(line)

    def rate_messages(self, domain):
        """The messages of `domain` (before rates-io's restart) that carry rates."""
        messages = self.before_restart if domain == DOMAIN else self.by_domain.get(domain, [])
        return [m for m in messages if any(is_rate(p) for p in m)]

    def undisturbed(self, domain):
        """A lab domain that ran through phase A (the lab is shared: others may restart one)."""
        (_, a), (_, b) = self.ref_a[domain], self.ref_b[domain]
        ok = ("cpu.time" in a and "cpu.time" in b and b["cpu.time"] >= a["cpu.time"]
              and len(self.rate_messages(domain)) >= 3)
        if not ok:
            self.note(f"{domain}: restarted or stopped during phase A; not compared with virsh")
        return ok

    def reference(self, domain, key):
        (ta, a), (tb, b) = self.ref_a[domain], self.ref_b[domain]
        return (b[key] - a[key]) / (tb - ta)

    # -------------------------------------------------------------- tests

    def test_the_sensor_ran_cleanly(self):
        self.assertIsNone(self.injector.error)
        self.assertEqual(self.returncode, 0, self.stderr)
        self.assertEqual(bad_stderr_lines(self.stderr), [])

    def test_a_domains_first_poll_has_no_rates_and_later_ones_append_them_after_its_points(self):
        for domain, messages in self.by_domain.items():
            self.assertFalse(any(is_rate(p) for p in messages[0]), f"{domain}: first poll")
            for m in messages[1:]:
                kinds = [is_rate(p) for p in m]
                self.assertEqual(kinds, sorted(kinds), f"{domain}: rates after the contract's")
                if any(kinds):
                    first_rate = kinds.index(True)
                    self.assertEqual(m[first_rate]["measurement"], "cpuRate")
                    self.assertEqual({p["time"] for p in m}, {m[0]["time"]})
            self.assertGreaterEqual(len(self.rate_messages(domain)), 3, domain)

    def test_injected_frames_show_as_the_injected_read_rate(self):
        intervals = []
        for m in self.rate_messages(DOMAIN):
            [nic] = rates_of(m, "networkInterfaceRate", mac=MAC)
            f = nic["fields"]
            intervals.append(f["interval"])
            for field, expected in NET.items():
                self.assertLess(relative(f[field], expected), NET_TOLERANCE,
                                f"{field} {f[field]:.1f}, injected {expected}, at {m[0]['time']}")
            self.note(f"{DOMAIN} {m[0]['time']} over {f['interval']:.3f} s: "
                      f"{f['readPacketsPerSecond']:.1f} frames/s, "
                      f"{f['readBytesPerSecond']:.0f} B/s read (injected {FRAMES_PER_S}, "
                      f"{FRAMES_PER_S * FRAME_BYTES}); write {f['writePacketsPerSecond']:.2f} "
                      f"frames/s")
            self.assertLess(f["writePacketsPerSecond"], 1.0, "nothing comes from the guest")
        self.assertGreaterEqual(len(intervals), 3)
        self.assertLess(relative(self.reference(DOMAIN, "net.0.rx.pkts"), FRAMES_PER_S), 0.05)

    def test_the_io_domains_disk_shows_its_designed_request_and_byte_rates(self):
        for field, design in DISK.items():
            key = {"readRequestsPerSecond": "block.0.rd.reqs",
                   "readBytesPerSecond": "block.0.rd.bytes",
                   "writeRequestsPerSecond": "block.0.wr.reqs",
                   "writeBytesPerSecond": "block.0.wr.bytes"}[field]
            virsh_rate = self.reference(DOMAIN, key)
            measured = []
            for m in self.rate_messages(DOMAIN):
                [disk] = rates_of(m, "diskRate", image=IMAGE.name)
                value = disk["fields"][field]
                measured.append(value)
                self.assertLess(relative(value, virsh_rate), DISK_TOLERANCE,
                                f"{field} {value:.1f}, virsh {virsh_rate:.1f}, at {m[0]['time']}")
                self.assertLess(relative(value, design), DESIGN_TOLERANCE,
                                f"{field} {value:.1f}, designed {design:.1f}, at {m[0]['time']}")
            self.note(f"{DOMAIN} vda {field}: sensor {', '.join(f'{v:.1f}' for v in measured)}; "
                      f"virsh over phase A {virsh_rate:.1f}; designed {design:.1f}")

    def test_rate_times_interval_is_the_change_of_the_contract_counters(self):
        checked = 0
        runs = [self.before_restart, self.after_restart] + [
            self.by_domain.get(d, []) for d in [self.paused, *self.running]]
        for messages in runs:
            domain = vm_id(messages[0]) if messages else None
            for prev, cur in zip(messages, messages[1:]):
                for rate in (p for p in cur if is_rate(p)):
                    seconds = rate["fields"]["interval"]
                    if rate["measurement"] == "cpuRate":
                        c0, c1 = the_point(prev, "cpuTime"), the_point(cur, "cpuTime")
                        cpu_s = rate["fields"]["cpuPercent"] / 100 * seconds * c1["fields"]["cpus"]
                        self.assertAlmostEqual(cpu_s, c1["fields"]["cpuTime"]
                                               - c0["fields"]["cpuTime"], delta=1e-6)
                        checked += 1
                        continue
                    base, tag = (("networkInterface", "mac")
                                 if rate["measurement"] == "networkInterfaceRate"
                                 else ("disk", "image"))
                    c0 = the_point(prev, base, **{tag: rate["tags"][tag]})
                    c1 = the_point(cur, base, **{tag: rate["tags"][tag]})
                    self.assertEqual({k: v for k, v in c1["tags"].items()}, rate["tags"])
                    for field, value in rate["fields"].items():
                        if field == "interval":
                            continue
                        counter = (field.replace("PerSecond", "")
                                   .replace("readRequests", "readIOPS")
                                   .replace("writeRequests", "writeIOPS"))
                        delta = c1["fields"][counter] - c0["fields"][counter]
                        self.assertAlmostEqual(value * seconds, delta,
                                               delta=1e-6 * max(1, delta), msg=f"{domain} {field}")
                        checked += 1
        self.note(f"rate x interval = change of the contract's counters: {checked} fields")
        self.assertGreater(checked, 50)

    def test_the_paused_domain_shows_zero_cpu_and_running_ones_match_virsh(self):
        for m in self.rate_messages(self.paused):
            # Not quite 0: cpu.time is the whole QEMU process's, whose main loop still runs.
            self.assertLess(the_point(m, "cpuRate")["fields"]["cpuPercent"], 2.0, m[0]["time"])
            for disk in rates_of(m, "diskRate"):
                self.assertEqual(disk["fields"]["readRequestsPerSecond"], 0.0)
                self.assertEqual(disk["fields"]["writeRequestsPerSecond"], 0.0)
        for domain in [self.paused, DOMAIN, *self.running]:
            if not self.undisturbed(domain):
                continue
            values = [(the_point(m, "cpuRate")["fields"]["cpuPercent"],
                       the_point(m, "cpuRate")["fields"]["interval"])
                      for m in self.rate_messages(domain)]
            for value, _ in values:
                self.assertGreaterEqual(value, 0.0)
                self.assertLessEqual(value, 100.0)
            mean = sum(v * s for v, s in values) / sum(s for _, s in values)
            vcpus = self.ref_b[domain][1]["vcpu.current"]
            virsh_percent = self.reference(domain, "cpu.time") / 1e9 / vcpus * 100
            self.note(f"{domain} cpuPercent ({vcpus} vCPUs): "
                      f"{', '.join(f'{v:.2f}' for v, _ in values)}; virsh over phase A "
                      f"{virsh_percent:.2f}")
            self.assertLess(abs(mean - virsh_percent), CPU_POINTS_TOLERANCE, domain)

    def test_intervals_are_the_pause_measured_on_the_monotonic_clock(self):
        intervals = [p["fields"]["interval"] for m in self.messages for p in m if is_rate(p)]
        self.assertTrue(all(PAUSE / 2 <= s <= PAUSE * 1.5 for s in intervals), intervals)
        self.assertLess(abs(sum(intervals) / len(intervals) - PAUSE), 0.1)
        self.note(f"intervals: {min(intervals):.3f}-{max(intervals):.3f} s, "
                  f"mean {sum(intervals) / len(intervals):.4f} s over {len(intervals)} points")

    def test_a_restart_gives_no_rate_for_its_interval_and_no_rate_is_ever_negative(self):
        self.assertGreaterEqual(len(self.after_restart), 3)
        self.assertFalse(any(is_rate(p) for p in self.after_restart[0]),
                         "the first poll after the restart compares with nothing")
        later = [m for m in self.after_restart[1:] if any(is_rate(p) for p in m)]
        self.assertTrue(later, "rates start again from the new counters")
        after = []
        for m in later:
            # Polls while the BIOS boots see 0, then the burst of caught-up ticks.
            [disk] = rates_of(m, "diskRate", image=IMAGE.name)
            after.append(disk["fields"]["readRequestsPerSecond"])
            self.assertLess(after[-1], DISK["readRequestsPerSecond"] * 10)
        self.assertLess(relative(after[-1], DISK["readRequestsPerSecond"]), DESIGN_TOLERANCE,
                        f"steady again: {after}")
        for m in self.messages:
            for p in (p for p in m if is_rate(p)):
                for field, value in p["fields"].items():
                    self.assertIsInstance(value, float, f"{p['measurement']}.{field}")
                    self.assertGreaterEqual(value, 0.0, f"{vm_id(m)} {p['measurement']}.{field}")
        self.note(f"{DOMAIN} after its restart: {len(self.after_restart)} polls, the first "
                  f"without rates, then readRequestsPerSecond "
                  f"{', '.join(f'{v:.1f}' for v in after)}")


if __name__ == "__main__":
    unittest.main()
