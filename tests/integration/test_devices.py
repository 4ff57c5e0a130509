"""Integration test of device and vCPU changes in a running domain: the poll after each change
reports what the domain has now, as `virsh` shows it.

The sensor keeps each domain's XML (disk sources, MACs, vCPU count) and reads it again when
libvirt's domain events say it changed. The test starts a transient domain of its own,
pulse-it-devices (the lab's boot sector, 1 of 2 vCPUs online, ACPI for PCI hot-plug, a
virtio-scsi controller: SCSI disks unplug without the guest's help, which a guest with no OS
could not give), runs one sensor
at PAUSE=1 with its points on stdout, and changes the domain under it:
  - a SCSI disk hot-plugged: the first poll that starts a second after `virsh attach-disk`
    returns has its disk point, tagged with its image and pool;
  - that disk unplugged and another file plugged in at the same target: the image and pool tags
    follow the new file (a cache keyed only by device names would keep the old ones forever);
  - a NIC hot-plugged: its networkInterface point, tagged with its MAC;
  - a vCPU brought online (libvirt sends no event for it): `cpus` follows `virsh vcpucount
    --live`.
The lab's own domains are only read.

    PULSE_IT_STATE=... PULSE_SENSOR=build/pulse-sensor \\
        /usr/bin/python3 -m pytest -v tests/integration/test_devices.py
"""

import math
import shutil
import time
import unittest
from datetime import datetime, timezone
from pathlib import Path

from lib.lab import QEMU_URI as URI
from lib.lab import boot_image, disk, domain_xml, lab_env, release, require_lab, run, virsh
from lib.sensor import Sensor, bad_stderr_lines, sensor_env

NAME = "pulse-it-devices"
IMAGES = Path("/var/lib/libvirt/images/pulse-it-devices")
MAC = "06:5e:04:00:00:01"
POLL_TIMEOUT = 30   # seconds to wait for a poll that should come every second

_started = []


def remove_domain():
    virsh("destroy", NAME, check=False)
    shutil.rmtree(IMAGES, ignore_errors=True)


def setUpModule():
    _started.extend(require_lab())
    remove_domain()   # left over from an interrupted run
    try:
        image = boot_image(IMAGES, "root", "bootsector.S")
        # Two pools of one image each: the tags must name the file plugged in now.
        for pool, img in (("pool-a", "image-a"), ("pool-b", "image-b")):
            (IMAGES / pool).mkdir()
            run(["qemu-img", "create", "-q", "-f", "qcow2", str(IMAGES / pool / img), "16M"])
        xml = IMAGES / f"{NAME}.xml"
        virt_type = lab_env().get("LAB_VIRT_TYPE", "kvm")
        xml.write_text(domain_xml(
            NAME, virt_type, [disk("file", "qcow2", image, "vda"),
                              "<controller type='scsi' model='virtio-scsi'/>"],
            vcpu="<vcpu placement='static' current='1'>2</vcpu>",
            extra="<features><acpi/></features>"))
        virsh("create", str(xml))
    except BaseException:
        remove_domain()
        raise


def tearDownModule():
    remove_domain()
    release(_started)


def poll_after(sensor, uuid, wall):
    """The domain's points from the first poll that started at least a second after `wall` (a
    poll's time is its start, in whole seconds)."""
    not_before = math.ceil(wall) + 2
    deadline = time.monotonic() + POLL_TIMEOUT
    while time.monotonic() < deadline:
        if not sensor.alive():
            raise AssertionError(f"the sensor exited with {sensor.proc.returncode}")
        polls = {}   # poll time (epoch seconds) -> that poll's points for the domain
        for _, points in sensor.messages():
            if points and points[0]["tags"].get("vmUuid") == uuid:
                stamp = datetime.strptime(points[0]["time"], "%Y-%m-%dT%H:%M:%SZ")
                polls[stamp.replace(tzinfo=timezone.utc).timestamp()] = points
        later = sorted(t for t in polls if t >= not_before)
        if later:
            return polls[later[0]]
        time.sleep(0.2)
    raise AssertionError(f"no poll of {NAME} within {POLL_TIMEOUT} s")


def of(points, measurement):
    return [p for p in points if p["measurement"] == measurement]


class DeviceChanges(unittest.TestCase):
    maxDiff = None

    def test_each_change_shows_in_the_first_poll_after_it(self):
        uuid = virsh("domuuid", NAME).stdout.strip()
        sensor = Sensor(sensor_env(KVM_HOST=URI, PAUSE=1))   # on the lab, points on stdout
        try:
            self.changes(sensor, uuid)
        finally:
            status, _ = sensor.stop(timeout=20)
            sensor.close()
        self.assertEqual(status, 0, sensor.err_text())
        self.assertEqual(bad_stderr_lines(sensor.err_text()), [])

    def changes(self, sensor, uuid):
        points = poll_after(sensor, uuid, time.time())
        self.assertEqual(of(points, "cpuTime")[0]["fields"]["cpus"], 1)
        self.assertEqual([d["tags"]["image"] for d in of(points, "disk")], ["root.qcow2"])

        virsh("attach-disk", NAME, str(IMAGES / "pool-a" / "image-a"), "sda",
              "--targetbus", "scsi", "--subdriver", "qcow2", "--live")
        points = poll_after(sensor, uuid, time.time())
        self.assertEqual(sorted((d["tags"]["pool"], d["tags"]["image"])
                                for d in of(points, "disk")),
                         [("pool-a", "image-a"), ("pulse-it-devices", "root.qcow2")],
                         "the hot-plugged disk in the first poll after it")

        virsh("detach-disk", NAME, "sda", "--live")
        virsh("attach-disk", NAME, str(IMAGES / "pool-b" / "image-b"), "sda",
              "--targetbus", "scsi", "--subdriver", "qcow2", "--live")
        swapped = time.time()
        for _ in range(3):   # and it stays so
            points = poll_after(sensor, uuid, swapped)
            self.assertEqual(sorted((d["tags"]["pool"], d["tags"]["image"])
                                    for d in of(points, "disk")),
                             [("pool-b", "image-b"), ("pulse-it-devices", "root.qcow2")],
                             "another file plugged in at the same target")
            swapped += 1

        nic = IMAGES / "nic.xml"
        nic.write_text(f"<interface type='ethernet'><mac address='{MAC}'/>"
                       "<target dev='pdtap001'/><model type='virtio'/></interface>")
        virsh("attach-device", NAME, str(nic), "--live")
        points = poll_after(sensor, uuid, time.time())
        self.assertEqual([n["tags"]["mac"] for n in of(points, "networkInterface")], [MAC],
                         "the hot-plugged NIC in the first poll after it")

        virsh("setvcpus", NAME, "2", "--live")
        self.assertEqual(virsh("vcpucount", NAME, "--live", "--current").stdout.strip(), "2")
        points = poll_after(sensor, uuid, time.time())
        self.assertEqual(of(points, "cpuTime")[0]["fields"]["cpus"], 2,
                         "cpus after a vCPU was brought online")


if __name__ == "__main__":
    unittest.main()
