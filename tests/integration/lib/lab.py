"""The libvirt lab (libvirt-lab.sh, and sshd.sh for qemu+ssh) and the libvirtd it runs."""

import os
import shutil
import subprocess
import unittest

from lib.common import FIXTURES, HERE, STATE, read_env_file, take_down
from lib.sensor import SENSOR

LAB_SH = HERE / "libvirt-lab.sh"
SSHD_SH = HERE / "sshd.sh"
QEMU_URI = "qemu:///system"   # the lab's libvirtd, where tests also start domains of their own
TEST_URI = "test:///default"  # libvirt's built-in test driver: one running domain, no daemon


def run(cmd, timeout=60, check=True, **kw):
    """cmd to its end, output captured (text); unless check=False, a failure raises."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}): {p.stderr}")
    return p


def virsh(*args, timeout=60, check=True, uri=QEMU_URI):
    return run(["virsh", "-q", "-c", uri, *args], timeout, check)


def virsh_lines(uri, *args, timeout=60):
    """virsh's output lines, stripped, blank ones left out; a failure raises."""
    res = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True,
                         timeout=timeout, check=True)
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]


def live_domains(uri):
    """{uuid: {"name", "nics", "disks"}} for the active domains (any state), as virsh sees them."""
    domains = {}
    for name in virsh_lines(uri, "list", "--name"):
        dom_uuid = virsh_lines(uri, "domuuid", name)[0]
        nics = len(virsh_lines(uri, "domiflist", name))
        # domblklist --details: Type Device Target Source; an empty drive shows "-".
        disks = sum(1 for line in virsh_lines(uri, "domblklist", "--details", name)
                    if line.split()[1] == "disk" and line.split()[-1] != "-")
        domains[dom_uuid] = {"name": name, "nics": nics, "disks": disks}
    return domains


def lab(*args, timeout=300):
    p = run([str(LAB_SH), *args], timeout, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"libvirt-lab.sh {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")


def lab_env():
    """$PULSE_IT_STATE/lab.env: LAB_URI, LAB_DOMAINS, LAB_ACTIVE, LAB_SPARE, LAB_JSON, ..."""
    return read_env_file(STATE / "lab.env")


def lab_uri():
    """The lab's LAB_URI, or None when the lab is not up."""
    return lab_env()["LAB_URI"] if (STATE / "lab.env").exists() else None


def ssh_env():
    """$PULSE_IT_STATE/ssh.env (SSH_URI, SSH_PORT, SSH_KEY), or None when sshd.sh is not up."""
    env_file = STATE / "ssh.env"
    return read_env_file(env_file) if env_file.exists() else None


def lab_ok(env):
    """libvirtd answers and every lab domain is defined."""
    try:
        p = run(["virsh", "-c", env["LAB_URI"], "list", "--all", "--name"], 20, check=False)
    except subprocess.TimeoutExpired:
        return False
    return p.returncode == 0 and set(env["LAB_DOMAINS"].split()) <= set(p.stdout.split())


def ensure_lab():
    """Brings the lab up unless it answers already. True when this call started it from
    nothing, so the caller's teardown takes it down; a lab that was up but broken is mended
    and left up for whoever started it."""
    if (STATE / "lab.env").exists() and lab_ok(lab_env()):
        return False
    started = not (STATE / "lab.env").exists()
    lab("up", timeout=600)
    return started


def require_lab(ssh=False):
    """setUpModule of a module on the lab: skipped without the sensor binary or root; the lab
    (and with ssh, its sshd) brought up unless it is up. Returns the scripts it started, for
    release()."""
    if not SENSOR.exists():
        raise unittest.SkipTest(f"sensor binary {SENSOR} not built")
    if os.geteuid() != 0:
        raise unittest.SkipTest("the libvirt lab needs root")
    started = [LAB_SH] if ensure_lab() else []
    if ssh and not (STATE / "ssh.env").exists():
        p = run([str(SSHD_SH), "up"], 120, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"sshd.sh up failed:\n{p.stderr}")
        started.append(SSHD_SH)
    return started


def release(started):
    """tearDownModule's end: takes down what require_lab started, unless PULSE_IT_KEEP=1."""
    if os.environ.get("PULSE_IT_KEEP") == "1":
        return
    take_down(started)


# ------------------------------------------------------------------ domains of a test's own
def boot_image(directory, name, source):
    """`directory`/`name`.qcow2, 64 MiB, whose boot sector is fixtures/`source` assembled: the
    guest runs that and nothing else."""
    directory.mkdir(parents=True, exist_ok=True)
    obj, boot = directory / f"{name}.o", directory / f"{name}.bin"
    run(["as", "--32", "-o", str(obj), str(FIXTURES / source)])
    run(["ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o", str(boot),
         str(obj)])
    image = directory / f"{name}.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"])
    run(["qemu-io", "-f", "qcow2", "-c", f"write -s {boot} 0 512", str(image)], 30)
    return image


def disk(kind, fmt, source, target):
    attr = "dev" if kind == "block" else "file"
    return (f"<disk type='{kind}' device='disk'><driver name='qemu' type='{fmt}'/>"
            f"<source {attr}='{source}'/><target dev='{target}' bus='virtio'/></disk>")


def domain_xml(name, virt_type, devices, vcpu="<vcpu>1</vcpu>", extra=""):
    """A QEMU domain of a test's own: 32 MiB, SeaBIOS booting its first disk, no balloon.
    devices: <devices> besides the emulator (disks first); extra: elements after <os>
    (<features>, <on_crash>)."""
    devices = "\n    ".join(devices)
    return f"""<domain type='{virt_type}'>
  <name>{name}</name>
  <memory unit='KiB'>32768</memory>
  {vcpu}
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  {extra}
  <devices>
    <emulator>{shutil.which("qemu-system-x86_64")}</emulator>
    {devices}
    <memballoon model='none'/>
  </devices>
</domain>
"""
