"""pulse_check - compare pulse-sensor messages with what virsh reports.

Standard library only; runs under Debian's /usr/bin/python3.  Used by
test_libvirt.py (stdout) and by the Kafka tests (messages read back with kcat).

API
---
snapshot(uri, domains=None) -> Snapshot
    Reads, over one virsh connection, everything the checks need about the
    active domains, whatever their state (or the named ones): `domstats --raw` (cpu.time,
    balloon.*, vcpu.*, net.*, block.*), `dominfo`, `dumpxml`, `domblkinfo
    --all`, `domifstat` per NIC, and for the host `nodeinfo`, `nodecpustats`,
    `nodememstats`, `freecell --all`.  Take one *before* starting the sensor
    and one *after* it polled: counters are then checked to lie within
    [before, after] (exact for paused domains), which is much stricter than
    "sensor <= virsh".

check_poll(messages, uri, vm_host, lab_json=None, keys=None, before=None,
           after=None, host_stats=None, max_age=120.0) -> list[str]
    messages   one poll's messages, each a parsed JSON array of points
    uri        how virsh reaches the same hypervisor (may differ from vm_host,
               e.g. qemu:///system while the sensor used qemu+ssh://...)
    vm_host    expected vmHost tag (the KVM_HOST string as configured)
    lab_json   path or dict of the lab's lab.json: independent expectations
               (UUID, cpus, maxmem, MACs, image/pool, totalSpace, CD-ROMs)
    keys       Kafka keys, parallel to messages (domain UUID; vmHost for the
               host message); None skips the key checks
    before     Snapshot from before the poll (optional, see above)
    after      Snapshot from after the poll; taken now when None
    host_stats True: exactly one nodeInfo message required; False: none
               allowed; None: optional
    max_age    seconds the poll may lie before `after` (bounds counter
               growth when there is no `before`)
    Returns a list of problems, empty when all is well.  Each names the
    domain (or host), measurement, field, the sensor's value, virsh's value
    and the virsh command it came from.

parse_lines(text) -> (messages, keys, problems)
    Parses stdout lines (one compact JSON array per line) or kcat lines
    '%k %s' (key, space, JSON array).  keys is None when no line had a key.

split_polls(messages, keys=None) -> list[(messages, keys)]
    Groups a stream of messages into polls by their point time (every point
    of one poll carries the poll's start time).

message_domains(messages) -> list[str]
    vmId of each domain message (host messages left out).

Command line: python3 lib/pulse_check.py --uri URI --vm-host HOST [--lab-json F]
    [--host-stats yes|no] < lines    (checks the last poll in the input)

Rules
-----
* exactly one message per active domain, in any state (running, paused, blocked,
  shutting down, pmsuspended, crashed), none for others; keys
* point keys exactly measurement, tags, fields, time (in that order, or
  sorted as in the reference sample); measurement order cpuTime, rss,
  networkInterface x NICs (domain XML order), disk x disks (XML order,
  device='disk' with a source only: no CD-ROM, no empty drive)
* tags exactly vmHost/vmId/vmUuid (+mac, +image/pool); nodeInfo only vmHost
* field sets exact; types: cpuTime float, everything else int (not bool)
* time YYYY-MM-DDTHH:MM:SSZ, one value for the whole poll, not in the future
  and not older than max_age
* counters (cpuTime, bytes, packets, requests, errors, drops, host CPU
  seconds) within [before, after]; without `before`: <= after and not
  smaller than a generous rate allows (RATES)
* cpus, mem, maxmem, totalSpace/onDiskSpace (whole GiB, floored) equal to
  virsh (domstats or domblkinfo); allocatedSpace equal to domblkinfo's
  allocation only (virDomainGetBlockInfo, the old sensor's source, which is
  not domstats' block.N.allocation); ioErrors -1 when libvirt has no error
  counter
* rss within RSS_TOLERANCE_KIB; totalMem and freeMem within
  HOST_MEM_TOLERANCE_MIB, from one consistent source (nodeinfo + freecell,
  or nodememstats), and freeMem <= totalMem
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from calendar import timegm

GIB = 1 << 30

POINT_KEYS = ["measurement", "tags", "fields", "time"]
POINT_KEY_ORDERS = (POINT_KEYS, sorted(POINT_KEYS))

FIELDS = {
    "cpuTime": {"cpuTime": float, "cpus": int},
    "rss": {"rss": int, "mem": int, "maxmem": int},
    "networkInterface": {k: int for k in (
        "readBytes", "readPackets", "readErrors", "readDrops",
        "writeBytes", "writePackets", "writeErrors", "writeDrops")},
    "disk": {k: int for k in (
        "readIOPS", "writeIOPS", "readBytes", "writeBytes", "ioErrors",
        "totalSpace", "allocatedSpace", "onDiskSpace")},
    "nodeInfo": {k: int for k in (
        "user", "kernel", "idle", "iowait", "totalMem", "freeMem")},
}

# sensor field -> (domstats key suffix, domifstat name); rx/tx as libvirt reports them
NET_MAP = {
    "readBytes": ("rx.bytes", "rx_bytes"), "readPackets": ("rx.pkts", "rx_packets"),
    "readErrors": ("rx.errs", "rx_errs"), "readDrops": ("rx.drop", "rx_drop"),
    "writeBytes": ("tx.bytes", "tx_bytes"), "writePackets": ("tx.pkts", "tx_packets"),
    "writeErrors": ("tx.errs", "tx_errs"), "writeDrops": ("tx.drop", "tx_drop"),
}
DISK_COUNTERS = {"readIOPS": "rd.reqs", "writeIOPS": "wr.reqs",
                 "readBytes": "rd.bytes", "writeBytes": "wr.bytes"}
DISK_SIZES = {"totalSpace": "capacity", "allocatedSpace": "allocation",
              "onDiskSpace": "physical"}
# Sizes virsh domstats may give as well as domblkinfo; allocatedSpace is domblkinfo's only.
DOMSTATS_SIZES = {"totalSpace", "onDiskSpace"}
HOST_CPU = {"user": "user", "kernel": "system", "idle": "idle", "iowait": "iowait"}

# Largest plausible growth per second, used only when there is no `before`
# snapshot.  Generous, so that they catch unit errors, not load.
RATES = {
    "cpu_per_vcpu": 1.0,          # cpu seconds per second per vCPU (+1 for QEMU itself)
    "block_reqs": 200_000,
    "block_bytes": 2 * GIB,
    "net_pkts": 2_000_000,
    "net_bytes": 2 * GIB,
    "net_errs": 2_000_000,
    "host_cpu_per_cpu": 1.0,      # host cpu seconds per second per CPU
}
RSS_TOLERANCE_KIB = 64 * 1024
HOST_MEM_TOLERANCE_MIB = 512

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
VIRSH_TIMEOUT = 60


# ------------------------------------------------------------------ virsh

def _virsh_batch(uri, commands, timeout=VIRSH_TIMEOUT):
    """Run several virsh commands over one connection; return {marker: text}."""
    script = "; ".join(f"echo @@{i}; {c}" for i, c in enumerate(commands))
    proc = subprocess.run(["virsh", "-c", uri, script], capture_output=True,
                          text=True, timeout=timeout)
    out, cur = {}, None
    for line in proc.stdout.splitlines():
        m = re.fullmatch(r"@@(\d+)", line.strip())
        if m:
            cur = int(m.group(1))
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return {commands[i]: "\n".join(lines) for i, lines in out.items()}, proc.stderr


def _parse_domstats(text):
    doms, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^Domain: '(.*)'$", line.strip())
        if m:
            cur = doms.setdefault(m.group(1), {})
        elif cur is not None and "=" in line:
            k, v = line.strip().split("=", 1)
            cur[k] = v
    return doms


def _kv_colon(text):
    d = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            d[k.strip()] = v.strip()
    return d


def _num(s):
    m = re.match(r"^\s*(-?\d+)", s or "")
    return int(m.group(1)) if m else None


def _source_of(disk):
    src = disk.find("source")
    if src is None:
        return None
    for attr in ("file", "dev", "name", "volume", "dir"):
        if src.get(attr):
            return src.get(attr)
    return None


def names_from_source(source):
    """(image, pool): the last path component and the one before it."""
    parts = [p for p in source.split("/") if p]
    image = parts[-1] if parts else ""
    pool = parts[-2] if len(parts) > 1 else ""
    return image, pool


def _parse_xml(text):
    root = ET.fromstring(text)
    nics, disks, cdroms = [], [], []
    for itf in root.findall("./devices/interface"):
        mac = itf.find("mac")
        tgt = itf.find("target")
        nics.append({"mac": mac.get("address") if mac is not None else None,
                     "target": tgt.get("dev") if tgt is not None else None})
    for d in root.findall("./devices/disk"):
        tgt = d.find("target")
        entry = {"device": d.get("device", "disk"), "type": d.get("type"),
                 "target": tgt.get("dev") if tgt is not None else None,
                 "source": _source_of(d)}
        if entry["device"] == "disk" and entry["source"]:
            disks.append(entry)
        else:
            cdroms.append(entry)
    return {"uuid": root.findtext("uuid"), "nics": nics, "disks": disks, "other_drives": cdroms}


def _parse_blkinfo(text):
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] not in ("Target",) and not f[0].startswith("-"):
            out[f[0]] = {k: (int(v) if v.lstrip("-").isdigit() else None)
                         for k, v in zip(("capacity", "allocation", "physical"), f[1:])}
    return out


def _parse_ifstat(text):
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 3 and f[2].lstrip("-").isdigit():
            out[f[1]] = int(f[2])
    return out


class Snapshot:
    """What virsh reported at one moment.  t0/t1: wall time around the reads."""

    def __init__(self, uri):
        self.uri = uri
        self.t0 = self.t1 = None
        self.domains = {}    # name -> dict(state, uuid, stats, info, xml, blkinfo, ifstat)
        self.node = {}       # nodeinfo, cpu (ns), memstats (KiB), freecell (KiB)
        self.errors = []

    def active(self):
        """Every domain `domstats --list-active` listed, whatever its state."""
        return {n for n, d in self.domains.items() if d["state"] not in ("shutoff", "unknown")}


def snapshot(uri, domains=None, timeout=VIRSH_TIMEOUT):
    snap = Snapshot(uri)
    snap.t0 = time.time()
    stats_cmd = "domstats --raw --state --cpu-total --balloon --vcpu --interface --block"
    stats_cmd += " " + " ".join(domains) if domains else " --list-active"
    first = [stats_cmd, "nodeinfo", "nodecpustats", "nodememstats", "freecell --all"]
    res, err = _virsh_batch(uri, first, timeout)
    stats = _parse_domstats(res.get(stats_cmd, ""))
    if stats_cmd not in res:
        snap.errors.append(f"virsh -c {uri} {stats_cmd} failed: {err.strip()}")
    second = []
    for name, st in stats.items():
        second += [f"dominfo {name}", f"dumpxml {name}", f"domblkinfo {name} --all"]
        for i in range(int(st.get("net.count", 0))):
            if st.get(f"net.{i}.name"):
                second.append(f"domifstat {name} {st[f'net.{i}.name']}")
    res2, err2 = _virsh_batch(uri, second, timeout) if second else ({}, "")
    snap.t1 = time.time()
    state_names = {1: "running", 2: "blocked", 3: "paused", 4: "shutdown",
                   5: "shutoff", 6: "crashed", 7: "pmsuspended"}
    for name, st in stats.items():
        dom = {"stats": st, "state": state_names.get(_num(st.get("state.state")), "unknown"),
               "info": _kv_colon(res2.get(f"dominfo {name}", "")),
               "blkinfo": _parse_blkinfo(res2.get(f"domblkinfo {name} --all", "")),
               "ifstat": {}}
        try:
            dom["xml"] = _parse_xml(res2.get(f"dumpxml {name}", ""))
        except ET.ParseError:
            dom["xml"] = None
            snap.errors.append(f"virsh dumpxml {name} failed: {err2.strip()}")
        dom["uuid"] = dom["info"].get("UUID") or (dom["xml"] or {}).get("uuid")
        for cmd, text in res2.items():
            p = cmd.split()
            if p[0] == "domifstat" and p[1] == name:
                dom["ifstat"][p[2]] = _parse_ifstat(text)
        snap.domains[name] = dom
    snap.node = {
        "info": _kv_colon(res.get("nodeinfo", "")),
        "cpu": {k: _num(v) for k, v in _kv_colon(res.get("nodecpustats", "")).items()},
        "mem": {k: _num(v) for k, v in _kv_colon(res.get("nodememstats", "")).items()},
        "freecell": _num(_kv_colon(res.get("freecell --all", "")).get("Total")),
    }
    return snap


# ------------------------------------------------------------------ input

def parse_lines(text):
    messages, keys, problems, keyed = [], [], [], False
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, body = None, line
        if not line.lstrip().startswith("["):
            key, _, body = line.partition(" ")
            keyed = True
        try:
            msg = json.loads(body)
        except ValueError as e:
            problems.append(f"line {n}: not JSON ({e}): {line[:200]!r}")
            continue
        if not isinstance(msg, list):
            problems.append(f"line {n}: not a JSON array: {line[:200]!r}")
            continue
        messages.append(msg)
        keys.append(key)
    return messages, (keys if keyed else None), problems


def _msg_time(msg):
    if msg and isinstance(msg[0], dict):
        return msg[0].get("time")
    return None


def split_polls(messages, keys=None):
    polls = []
    for i, msg in enumerate(messages):
        t = _msg_time(msg)
        if not polls or polls[-1][2] != t:
            polls.append(([], [] if keys is not None else None, t))
        polls[-1][0].append(msg)
        if keys is not None:
            polls[-1][1].append(keys[i])
    return [(m, k) for m, k, _ in polls]


def _is_host_msg(msg):
    return (len(msg) == 1 and isinstance(msg[0], dict)
            and msg[0].get("measurement") == "nodeInfo")


def message_domains(messages):
    out = []
    for msg in messages:
        if msg and not _is_host_msg(msg) and isinstance(msg[0], dict):
            out.append((msg[0].get("tags") or {}).get("vmId"))
    return out


def _load_lab(lab_json):
    if lab_json is None:
        return {}
    if isinstance(lab_json, (str, bytes)) or hasattr(lab_json, "__fspath__"):
        with open(lab_json) as f:
            lab_json = json.load(f)
    return {d["name"]: d for d in lab_json.get("domains", [])}


# ------------------------------------------------------------------ checks

class _Checker:
    def __init__(self, problems, before, after, max_age):
        self.p = problems
        self.before = before
        self.after = after
        self.max_age = max_age

    def add(self, s):
        self.p.append(s)

    def type_ok(self, where, field, value, typ):
        if typ is int and (not isinstance(value, int) or isinstance(value, bool)):
            self.add(f"{where} {field}: sensor={value!r} has type {type(value).__name__}, expected int")
            return False
        if typ is float and not isinstance(value, float):
            self.add(f"{where} {field}: sensor={value!r} has type {type(value).__name__}, expected float")
            return False
        return True

    def counter(self, where, field, value, lo, hi, source, max_growth, slack=0):
        """lo/hi: virsh before/after (lo None without a before snapshot)."""
        if hi is None:
            self.add(f"{where} {field}: sensor={value!r} virsh=<missing> ({source})")
            return
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return   # type problem reported already
        if value > hi + slack:
            self.add(f"{where} {field}: sensor={value!r} > virsh={hi!r} read after it ({source}); "
                     "a counter cannot shrink")
        if lo is not None:
            if value < lo - slack:
                self.add(f"{where} {field}: sensor={value!r} < virsh={lo!r} read before it ({source})")
        elif hi - value > max_growth + slack:
            self.add(f"{where} {field}: sensor={value!r} virsh={hi!r} ({source}); "
                     f"difference {hi - value!r} is more than {self.max_age:.0f}s of growth can explain")

    def exact(self, where, field, value, expected, source):
        if value != expected:
            self.add(f"{where} {field}: sensor={value!r} virsh={expected!r} ({source})")


def _points_ok(ck, msg, where_prefix):
    ok = True
    if not isinstance(msg, list) or not msg:
        ck.add(f"{where_prefix}: message is not a non-empty JSON array: {msg!r:.200}")
        return False
    for i, pt in enumerate(msg):
        where = f"{where_prefix} point {i}"
        if not isinstance(pt, dict):
            ck.add(f"{where}: not an object: {pt!r:.200}")
            ok = False
            continue
        keys = list(pt.keys())
        if keys not in POINT_KEY_ORDERS:
            ck.add(f"{where}: keys {keys}, expected {POINT_KEYS}")
            ok = ok and set(keys) == set(POINT_KEYS)
        if not isinstance(pt.get("tags"), dict) or not isinstance(pt.get("fields"), dict):
            ck.add(f"{where}: tags/fields are not objects")
            ok = False
    return ok


def _check_fields(ck, where, measurement, fields):
    spec = FIELDS[measurement]
    if set(fields) != set(spec):
        missing = sorted(set(spec) - set(fields))
        extra = sorted(set(fields) - set(spec))
        ck.add(f"{where}: fields differ from the contract: missing {missing}, unexpected {extra}")
    good = {}
    for f, typ in spec.items():
        if f in fields and ck.type_ok(where, f, fields[f], typ):
            good[f] = fields[f]
    return good


def _check_tags(ck, where, tags, expected):
    if tags != expected:
        ck.add(f"{where}: tags sensor={json.dumps(tags, sort_keys=True)} "
               f"expected={json.dumps(expected, sort_keys=True)}")


def _i(s):
    return int(s) if s is not None and str(s).lstrip("-").isdigit() else None


def _check_domain(ck, name, msg, vm_host, lab, elapsed):
    a = ck.after.domains[name]
    b = ck.before.domains.get(name) if ck.before else None
    if b is not None and b["state"] in ("shutoff", "unknown"):
        b = None
    st, bst = a["stats"], (b["stats"] if b else None)
    uuid = a["uuid"]
    base_tags = {"vmHost": vm_host, "vmId": name, "vmUuid": uuid}
    xml = a["xml"] or {"nics": [], "disks": [], "other_drives": []}
    nics, disks = xml["nics"], xml["disks"]

    expected_order = (["cpuTime", "rss"] + ["networkInterface"] * len(nics)
                      + ["disk"] * len(disks))
    got_order = [pt.get("measurement") for pt in msg]
    if got_order != expected_order:
        ck.add(f"{name}: measurements sensor={got_order} expected={expected_order} "
               f"(virsh dumpxml {name}: {len(nics)} NICs, {len(disks)} disks with device='disk')")

    lab_dom = lab.get(name)
    if lab_dom:
        if lab_dom["uuid"] != uuid:
            ck.add(f"{name}: lab: virsh UUID {uuid} != lab.json {lab_dom['uuid']}")
        if [n["mac"] for n in lab_dom["nics"]] != [n["mac"] for n in nics]:
            ck.add(f"{name}: lab: virsh dumpxml MACs {[n['mac'] for n in nics]} != "
                   f"lab.json {[n['mac'] for n in lab_dom['nics']]}")
        if [d["source"] for d in lab_dom["disks"]] != [d["source"] for d in disks]:
            ck.add(f"{name}: lab: virsh dumpxml disks {[d['source'] for d in disks]} != "
                   f"lab.json {[d['source'] for d in lab_dom['disks']]}")

    ncpu = _i(st.get("vcpu.current")) or 1
    nic_i = disk_i = 0
    for pt in msg:
        m = pt.get("measurement")
        tags, fields = pt.get("tags") or {}, pt.get("fields") or {}
        if m not in FIELDS or m == "nodeInfo":
            ck.add(f"{name}: unexpected measurement {m!r} in a domain message")
            continue
        where = f"{name} {m}"
        if m == "cpuTime":
            _check_tags(ck, where, tags, base_tags)
            f = _check_fields(ck, where, m, fields)
            if "cpuTime" in f:
                hi = _i(st.get("cpu.time"))
                lo = _i(bst.get("cpu.time")) if bst else None
                ck.counter(where, "cpuTime", f["cpuTime"],
                           lo / 1e9 if lo is not None else None,
                           hi / 1e9 if hi is not None else None,
                           f"virsh domstats --raw {name}: cpu.time/1e9",
                           RATES["cpu_per_vcpu"] * (ncpu + 1) * elapsed, slack=1e-6)
            if "cpus" in f:
                ck.exact(where, "cpus", f["cpus"], _i(st.get("vcpu.current")),
                         f"virsh domstats --raw {name}: vcpu.current")
                if lab_dom:
                    ck.exact(where, "cpus", f["cpus"], lab_dom["cpus"], "lab.json")
        elif m == "rss":
            _check_tags(ck, where, tags, base_tags)
            f = _check_fields(ck, where, m, fields)
            if "rss" in f:
                vals = [_i(st.get("balloon.rss"))] + ([_i(bst.get("balloon.rss"))] if bst else [])
                vals = [v for v in vals if v is not None]
                if not vals:
                    ck.add(f"{where} rss: sensor={f['rss']} virsh=<missing> (virsh domstats --raw {name}: balloon.rss)")
                elif not (min(vals) - RSS_TOLERANCE_KIB <= f["rss"] <= max(vals) + RSS_TOLERANCE_KIB):
                    ck.add(f"{where} rss: sensor={f['rss']} virsh={vals[0]} (virsh domstats --raw {name}: "
                           f"balloon.rss, KiB; tolerance {RSS_TOLERANCE_KIB})")
            if "mem" in f:
                ck.exact(where, "mem", f["mem"], _i(st.get("balloon.current")),
                         f"virsh domstats --raw {name}: balloon.current")
            if "maxmem" in f:
                ck.exact(where, "maxmem", f["maxmem"], _i(st.get("balloon.maximum")),
                         f"virsh domstats --raw {name}: balloon.maximum")
                if lab_dom:
                    ck.exact(where, "maxmem", f["maxmem"], lab_dom["maxmem"], "lab.json")
        elif m == "networkInterface":
            if nic_i >= len(nics):
                ck.add(f"{where}: more networkInterface points than NICs in virsh dumpxml {name}")
                nic_i += 1
                continue
            nic = nics[nic_i]
            where = f"{name} networkInterface[{nic['mac']}]"
            _check_tags(ck, where, tags, dict(base_tags, mac=nic["mac"]))
            if lab_dom and nic_i < len(lab_dom["nics"]) and tags.get("mac") != lab_dom["nics"][nic_i]["mac"]:
                ck.add(f"{where} mac: sensor={tags.get('mac')!r} lab.json={lab_dom['nics'][nic_i]['mac']!r}")
            idx = _net_index(st, nic["target"], nic_i)
            bidx = _net_index(bst, nic["target"], nic_i) if bst else None
            f = _check_fields(ck, where, m, fields)
            for field, (ds_key, if_key) in NET_MAP.items():
                if field not in f:
                    continue
                his = [_i(st.get(f"net.{idx}.{ds_key}"))] if idx is not None else []
                ifs = a["ifstat"].get(nic["target"] or "", {})
                if if_key in ifs:
                    his.append(ifs[if_key])   # read a moment after domstats
                his = [v for v in his if v is not None]
                hi = max(his) if his else None
                lo = _i(bst.get(f"net.{bidx}.{ds_key}")) if bst and bidx is not None else None
                rate = RATES["net_bytes"] if "Bytes" in field else (
                    RATES["net_pkts"] if "Packets" in field else RATES["net_errs"])
                ck.counter(where, field, f[field], lo, hi,
                           f"virsh domstats --raw {name}: net.{idx}.{ds_key}; "
                           f"virsh domifstat {name} {nic['target']}: {if_key}",
                           rate * elapsed)
            nic_i += 1
        elif m == "disk":
            if disk_i >= len(disks):
                ck.add(f"{where}: more disk points than disks in virsh dumpxml {name}: "
                       f"tags {json.dumps(tags, sort_keys=True)}")
                disk_i += 1
                continue
            disk = disks[disk_i]
            where = f"{name} disk[{disk['target']}]"
            image, pool = names_from_source(disk["source"])
            _check_tags(ck, where, tags, dict(base_tags, image=image, pool=pool))
            if lab_dom and disk_i < len(lab_dom["disks"]):
                ld = lab_dom["disks"][disk_i]
                for t in ("image", "pool"):
                    if tags.get(t) != ld[t]:
                        ck.add(f"{where} {t}: sensor={tags.get(t)!r} lab.json={ld[t]!r}")
            idx = _block_index(st, disk["target"])
            bidx = _block_index(bst, disk["target"]) if bst else None
            f = _check_fields(ck, where, m, fields)
            src = f"virsh domstats --raw {name}: block.{idx}"
            for field, ds_key in DISK_COUNTERS.items():
                if field in f:
                    hi = _i(st.get(f"block.{idx}.{ds_key}")) if idx is not None else None
                    lo = _i(bst.get(f"block.{bidx}.{ds_key}")) if bst and bidx is not None else None
                    rate = RATES["block_bytes"] if "Bytes" in field else RATES["block_reqs"]
                    ck.counter(where, field, f[field], lo, hi, f"{src}.{ds_key}", rate * elapsed)
            if "ioErrors" in f:
                errs = st.get(f"block.{idx}.errors")
                if errs is None:
                    ck.exact(where, "ioErrors", f["ioErrors"], -1,
                             f"{src}.errors absent (QEMU reports none)")
                else:
                    lo = _i(bst.get(f"block.{bidx}.errors")) if bst else None
                    ck.counter(where, "ioErrors", f["ioErrors"], lo, _i(errs), f"{src}.errors",
                               RATES["block_reqs"] * elapsed)
            bi = a["blkinfo"].get(disk["target"], {})
            for field, key in DISK_SIZES.items():
                if field not in f:
                    continue
                cands = {}
                v = _i(st.get(f"block.{idx}.{key}")) if idx is not None else None
                if v is not None and field in DOMSTATS_SIZES:
                    cands[f"{src}.{key}"] = v // GIB
                if bi.get(key) is not None:
                    cands[f"virsh domblkinfo {name} --all: {disk['target']} {key}"] = bi[key] // GIB
                if not cands:
                    ck.add(f"{where} {field}: sensor={f[field]!r} virsh=<missing>")
                elif f[field] not in cands.values():
                    desc = "; ".join(f"{s} // 2^30 = {v}" for s, v in cands.items())
                    ck.add(f"{where} {field}: sensor={f[field]!r} virsh={list(cands.values())[0]!r} ({desc})")
            if lab_dom and disk_i < len(lab_dom["disks"]) and "totalSpace" in f:
                ck.exact(where, "totalSpace", f["totalSpace"], lab_dom["disks"][disk_i]["totalSpace"],
                         "lab.json")
            disk_i += 1

    # CD-ROMs and empty drives must not show up under any name
    reported = {(pt.get("tags") or {}).get("image") for pt in msg if pt.get("measurement") == "disk"}
    for other in xml["other_drives"]:
        if other["source"] and names_from_source(other["source"])[0] in reported:
            ck.add(f"{name} disk: {other['device']} {other['target']} ({other['source']}) "
                   "is reported; only device='disk' drives may be")


def _net_index(st, target, fallback):
    if st is None:
        return None
    for i in range(_i(st.get("net.count")) or 0):
        if target and st.get(f"net.{i}.name") == target:
            return i
    return fallback if fallback < (_i(st.get("net.count")) or 0) else None


def _block_index(st, target):
    if st is None:
        return None
    for i in range(_i(st.get("block.count")) or 0):
        if st.get(f"block.{i}.name") == target:
            return i
    return None


def _check_host(ck, msg, vm_host, elapsed):
    pt = msg[0]
    where = "host nodeInfo"
    _check_tags(ck, where, pt.get("tags") or {}, {"vmHost": vm_host})
    f = _check_fields(ck, where, "nodeInfo", pt.get("fields") or {})
    a, b = ck.after.node, (ck.before.node if ck.before else None)
    ncpu = _i(a["info"].get("CPU(s)")) or 1
    for field, key in HOST_CPU.items():
        if field not in f:
            continue
        hi = a["cpu"].get(key)
        lo = b["cpu"].get(key) if b else None
        # whole seconds: accept truncation or rounding of the nanoseconds
        ck.counter(where, field, f[field],
                   lo // 10**9 if lo is not None else None,
                   -(-hi // 10**9) if hi is not None else None,
                   f"virsh nodecpustats: {key} (ns) / 1e9",
                   RATES["host_cpu_per_cpu"] * ncpu * elapsed)
    # Two consistent sources: nodeinfo "Memory size" + freecell --all
    # (virNodeGetInfo / virNodeGetFreeMemory), or nodememstats total/free
    # (virNodeGetMemoryStats).  Host memory may drift between reads.
    families = {
        "virsh nodeinfo: Memory size / virsh freecell --all: Total": (
            [_num(s["info"].get("Memory size")) for s in (a, b) if s],
            [s["freecell"] for s in (a, b) if s]),
        "virsh nodememstats: total / free": (
            [s["mem"].get("total") for s in (a, b) if s],
            [s["mem"].get("free") for s in (a, b) if s]),
    }
    tol = HOST_MEM_TOLERANCE_MIB

    def within(v, kib_vals):
        kib_vals = [x for x in kib_vals if x is not None]
        return bool(kib_vals) and min(kib_vals) // 1024 - tol <= v <= max(kib_vals) // 1024 + tol

    if "totalMem" in f and "freeMem" in f:
        fits = [n for n, (tot, free) in families.items()
                if within(f["totalMem"], tot) and within(f["freeMem"], free)]
        if not fits:
            desc = "; ".join(
                f"{n} = {tot[0] // 1024 if tot and tot[0] else None} / "
                f"{free[0] // 1024 if free and free[0] else None} MiB"
                for n, (tot, free) in families.items())
            ck.add(f"{where} totalMem/freeMem: sensor={f['totalMem']}/{f['freeMem']} MiB match no "
                   f"consistent virsh pair within {tol} MiB ({desc})")
        if f["freeMem"] > f["totalMem"]:
            ck.add(f"{where} freeMem: sensor={f['freeMem']} > totalMem={f['totalMem']} (MiB)")


def _parse_time(s):
    return timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def check_poll(messages, uri, vm_host, lab_json=None, keys=None, before=None,
               after=None, host_stats=None, max_age=120.0):
    problems = []
    if after is None:
        after = snapshot(uri)
    problems += [f"virsh: {e}" for e in after.errors]
    ck = _Checker(problems, before, after, max_age)
    lab = _load_lab(lab_json)
    if keys is not None and len(keys) != len(messages):
        ck.add(f"{len(keys)} keys for {len(messages)} messages")
        keys = None

    # time: identical, well-formed, plausible
    times = set()
    for mi, msg in enumerate(messages):
        if not _points_ok(ck, msg, f"message {mi}"):
            continue
        for pt in msg:
            t = pt.get("time")
            if not isinstance(t, str) or not TIME_RE.match(t):
                ck.add(f"message {mi} {pt.get('measurement')}: time={t!r} is not YYYY-MM-DDTHH:MM:SSZ")
            else:
                times.add(t)
    elapsed = max_age
    if len(times) > 1:
        ck.add(f"points of one poll carry different times: {sorted(times)}")
    if len(times) == 1:
        t = _parse_time(next(iter(times)))
        if t > after.t1 + 1:
            ck.add(f"time {next(iter(times))} is after virsh's read at {after.t1:.0f} (future)")
        if before and t < int(before.t0) - 1:
            ck.add(f"time {next(iter(times))} is before the poll could have started ({before.t0:.0f})")
        if t < after.t0 - max_age:
            ck.add(f"time {next(iter(times))} is older than {max_age}s")
        elapsed = max(after.t1 - t + 2.0, 2.0)

    active = after.active()
    maybe = set()
    if before:
        # a domain that changed state between the two reads may or may not be there
        maybe = active ^ before.active()
    seen = {}
    host_msgs = 0
    for mi, msg in enumerate(messages):
        if not isinstance(msg, list) or not msg or not all(isinstance(p, dict) for p in msg):
            continue
        key = keys[mi] if keys is not None else None
        if _is_host_msg(msg):
            host_msgs += 1
            if key is not None and key != vm_host:
                ck.add(f"host message key: sensor={key!r} expected vmHost={vm_host!r}")
            _check_host(ck, msg, vm_host, elapsed)
            continue
        name = (msg[0].get("tags") or {}).get("vmId")
        if name in seen:
            ck.add(f"{name}: more than one message in one poll (messages {seen[name]} and {mi})")
            continue
        seen[name] = mi
        if name not in after.domains or name not in active:
            if name not in maybe:
                ck.add(f"{name}: message for a domain that virsh does not list as active "
                       f"(virsh domstats --list-active)")
            continue
        if key is not None and key != after.domains[name]["uuid"]:
            ck.add(f"{name}: message key sensor={key!r} expected domain UUID "
                   f"{after.domains[name]['uuid']!r} (virsh dominfo {name})")
        _check_domain(ck, name, msg, vm_host, lab, elapsed)
    for name in sorted(active - set(seen) - maybe):
        ck.add(f"{name}: no message, but virsh lists it as {after.domains[name]['state']} "
               f"(virsh domstats --list-active)")
    if host_stats is True and host_msgs != 1:
        ck.add(f"host: {host_msgs} nodeInfo messages, expected exactly 1 (GATHER_HOST_STATS=true)")
    if host_stats is False and host_msgs:
        ck.add(f"host: {host_msgs} nodeInfo messages, expected none (GATHER_HOST_STATS=false)")
    return problems


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Check one pulse-sensor poll against virsh.")
    ap.add_argument("--uri", required=True, help="libvirt URI for virsh")
    ap.add_argument("--vm-host", help="expected vmHost tag (default: --uri)")
    ap.add_argument("--lab-json")
    ap.add_argument("--host-stats", choices=["yes", "no"])
    ap.add_argument("--max-age", type=float, default=120.0)
    args = ap.parse_args(argv)
    messages, keys, problems = parse_lines(sys.stdin.read())
    polls = split_polls(messages, keys)
    if not polls:
        problems.append("no messages")
    else:
        msgs, ks = polls[-1]
        hs = None if args.host_stats is None else args.host_stats == "yes"
        problems += check_poll(msgs, args.uri, args.vm_host or args.uri, args.lab_json, ks,
                               host_stats=hs, max_age=args.max_age)
    for p in problems:
        print(p)
    print(f"pulse_check: {len(polls)} polls read, last one checked: "
          f"{'OK' if not problems else f'{len(problems)} problems'}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
