"""Integration test: fleet mode, sensors sharing hypervisors through a Kafka consumer group.

Needs root, the lab from libvirt-lab.sh, the sshd from sshd.sh and the suite's broker.

Twelve hypervisors: ten copies of a test-driver node file, the lab over qemu:///system and
the lab over qemu+ssh. The coordination topic has 12 partitions, and the node files are named
so that their URIs hash (murmur2, computed here by a port of Kafka's own) to the partitions the
lab's two URIs leave free: every partition has a hypervisor (one may have two when the lab's
URIs share one), so every member of the group holds some.

Three sensors (PAUSE=3, FLEET_SESSION_TIMEOUT=6, GATHER_HOST_STATS so that every poll has one
nodeInfo point) start together; then one is killed with SIGKILL; then a fourth joins; then all
are stopped. Checked on the data topic and on each sensor's /metrics:
  * steady state: the sensors' /metrics agree that each hypervisor is polled by exactly one of
    them, at the partition murmur2 gives, the one that says so is the one whose poll counter
    moves, and on the topic every hypervisor has one poll per PAUSE, no second one;
  * after the SIGKILL: every hypervisor of the dead sensor has a point stamped within
    FLEET_SESSION_TIMEOUT + 2 x PAUSE of the kill, and the others keep every tick;
  * after the join: the fourth holds some hypervisors; the moved ones have no duplicated poll
    and at most one PAUSE of gap (consecutive points at most 2 x PAUSE apart), and the ones
    that did not move keep every tick (cooperative rebalancing moves only what must move);
  * after partitions are added to the live coordination topic (12 -> 16): every sensor reads
    the new count, each hypervisor is again polled by exactly one of them, at the partition
    murmur2 gives for 16, and on the topic every hypervisor has a poll after that and no two
    in one second (while the sensors remap, one may briefly be polled twice or not at all).
Stamps are whole wall-clock seconds, so every bound allows the one second of rounding.
A FLEET_SESSION_TIMEOUT the broker refuses exits 2 naming the setting.
"""

import re
import shutil
import tempfile
import time
import unittest
import uuid
from collections import defaultdict
from pathlib import Path

from lib.common import HERE, STATE, free_port, read_env_file
from lib.influx import topic_points
from lib.kafka import PLAIN, new_topic, plain_broker_down, plain_broker_up, read_topic
from lib.lab import release, require_lab
from lib.sensor import SENSOR, Sensor, bad_stderr_lines, run_sensor, sensor_env

PAUSE = 3
SESSION = 6                    # the broker's group.min.session.timeout.ms
PARTITIONS = 12
GROWN = 16                     # the partition count an operator grows the topic to
NODE = HERE.parent / "fixtures" / "cloudstack-node.xml"
STEADY_S = 4 * PAUSE           # the window in which nothing may move
SETTLE_TIMEOUT_S = 60          # for a rebalance to show in every sensor's /metrics

_started = []
_started_broker = False
BOOTSTRAP = ""


def setUpModule():
    global _started_broker, BOOTSTRAP
    if not SENSOR.exists():
        raise unittest.SkipTest(f"no sensor binary at {SENSOR}")
    _started.extend(require_lab(ssh=True))
    BOOTSTRAP, _started_broker = plain_broker_up()


def tearDownModule():
    plain_broker_down(_started_broker)
    release(_started)


def murmur2(data):
    """Kafka's Utils.murmur2, as an unsigned 32-bit number."""
    m = 0x5BD1E995
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    for i in range(len(data) // 4):
        k = (int.from_bytes(data[4 * i:4 * i + 4], "little") * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail, rest = len(data) & ~3, len(data) % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h = ((h ^ data[tail]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def partition_of(uri, partitions=PARTITIONS):
    """Kafka's default partitioner for the key `uri`."""
    return (murmur2(uri.encode()) & 0x7FFFFFFF) % partitions


def node_uris(directory, taken, count):
    """`count` test-driver URIs of copies of NODE, each in a partition of its own that is not
    in `taken`, as long as free ones remain."""
    uris, used = [], set(taken)
    for i in range(10000):
        if len(uris) == count:
            break
        path = directory / f"node-{i}.xml"
        uri = f"test://{path}"
        if partition_of(uri) in used and len(used) < PARTITIONS:
            continue
        shutil.copyfile(NODE, path)
        used.add(partition_of(uri))
        uris.append(uri)
    assert len(uris) == count, f"only {len(uris)} node files found free partitions"
    return uris


SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(text, name):
    """[(labels, value)] of the metric `name` in a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        found = SAMPLE.match(line)
        if found and found.group(1) == name:
            out.append((dict(LABEL.findall(found.group(2) or "")), float(found.group(3))))
    return out


class Fleet(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="pulse-it-fleet-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        lab = read_env_file(STATE / "lab.env")
        ssh = read_env_file(STATE / "ssh.env")
        lab_uris = [lab["LAB_URI"], ssh["SSH_URI"]]
        self.uris = lab_uris + node_uris(self.dir, {partition_of(u) for u in lab_uris}, 10)
        self.topic = new_topic()
        self.group = f"pulse-it-fleet-{uuid.uuid4().hex[:8]}"
        self.sensors = {}

    def start(self, name):
        sensor = Sensor(sensor_env(
            own_spool=True, KVM_HOST=",".join(self.uris), PAUSE=PAUSE, GATHER_HOST_STATS="true",
            KAFKA_BOOTSTRAP=BOOTSTRAP, KAFKA_TOPIC=self.topic, FLEET_GROUP=self.group,
            FLEET_PARTITIONS=PARTITIONS, FLEET_SESSION_TIMEOUT=SESSION,
            METRICS_ADDR=f"127.0.0.1:{free_port()}"), label=name)
        self.addCleanup(sensor.close)
        self.sensors[name] = sensor
        return sensor

    def metrics(self, names):
        """{sensor: its /metrics text}; a sensor that does not answer has ''."""
        out = {}
        for name in names:
            try:
                status, body = self.sensors[name].get("/metrics")
                out[name] = body if status == 200 else ""
            except OSError:
                out[name] = ""
        return out

    def owners(self, names):
        """{uri: [sensors whose /metrics say they poll it]} and {uri: partition label}, or None
        while a sensor is not a member or has not answered."""
        owners, partitions = defaultdict(list), {}
        for name, text in self.metrics(names).items():
            member = samples(text, "pulse_fleet_member")
            if not member or member[0][1] != 1:
                return None
            for labels, value in samples(text, "pulse_fleet_host_polled"):
                partitions[labels["host"]] = int(labels["partition"])
                if value == 1:
                    owners[labels["host"]].append(name)
        return owners, partitions

    def settled(self, names, partitions=None):
        """The owners once every hypervisor has exactly one (at its partition of `partitions`,
        when given) and the assignment changes of every sensor stayed put for a PAUSE."""
        def one_each():
            got = self.owners(names)
            if got is None or any(len(got[0].get(u, [])) != 1 for u in self.uris):
                return None
            if partitions and any(got[1].get(u) != partition_of(u, partitions)
                                  for u in self.uris):
                return None
            return got
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            first = one_each()
            changes = self.changes(names)
            time.sleep(PAUSE)
            if first and first == one_each() and changes == self.changes(names):
                return first
        self.fail(f"no settled assignment within {SETTLE_TIMEOUT_S} s: {self.owners(names)}\n"
                  + "\n".join(f"--- {n}\n{self.sensors[n].err_tail(15)}" for n in names))

    def changes(self, names):
        return {name: samples(text, "pulse_fleet_assignment_changes_total")
                for name, text in self.metrics(names).items()}

    def polls(self, names):
        """{(sensor, uri): pulse_polls_total}."""
        return {(name, labels["host"]): value for name, text in self.metrics(names).items()
                for labels, value in samples(text, "pulse_polls_total")}

    def check_agrees(self, names, owners):
        """--check describes the group without joining it: one member line per sensor (its
        client id ends with its pid), naming the hypervisors its /metrics say it polls."""
        env = sensor_env(KVM_HOST=",".join(self.uris), KAFKA_BOOTSTRAP=BOOTSTRAP,
                         KAFKA_TOPIC=self.topic, FLEET_GROUP=self.group)
        p = run_sensor(["--check"], env, timeout=120)
        problems = [] if p.returncode == 0 else [f"--check exit status {p.returncode}:\n"
                                                 f"{p.stdout}{p.stderr}"]
        members = {}
        for line in p.stdout.splitlines():
            found = re.match(r"ok   fleet member pulse-sensor@\S+:(\d+) \(.*?\): partitions "
                             r"\S+: \d+ of 12 hypervisors: (.*)$", line)
            if found:
                members[int(found.group(1))] = set(found.group(2).split(", "))
        for name in names:
            said = members.get(self.sensors[name].proc.pid)
            polled = {u for u in self.uris if owners[u] == [name]}
            if said != polled:
                problems.append(f"--check says {name} polls {sorted(said or [])}, its /metrics "
                                f"{sorted(polled)}:\n{p.stdout}")
        if not re.search(r"^ok   fleet .*group Stable with 3 member\(s\), every hypervisor "
                         r"polled$", p.stdout, re.M):
            problems.append(f"--check's group line:\n{p.stdout}")
        return problems

    def test_a_session_timeout_the_broker_refuses_exits_2_naming_the_setting(self):
        # 3 s is below the broker's group.min.session.timeout.ms (6 s).
        p = run_sensor([], sensor_env(
            own_spool=True, KVM_HOST=self.uris[2], KAFKA_BOOTSTRAP=BOOTSTRAP,
            KAFKA_TOPIC=self.topic, FLEET_GROUP=self.group, FLEET_SESSION_TIMEOUT=3), timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("invalid FLEET_SESSION_TIMEOUT (--fleet-session-timeout) '3'", p.stderr)
        self.assertEqual(len([l for l in p.stderr.splitlines() if "[critical]" in l]), 1,
                         p.stderr)

    def test_three_sensors_share_twelve_hypervisors_through_a_kill_and_a_join(self):
        problems = []
        three = ["a", "b", "c"]
        for name in three:
            self.start(name)

        # ---- steady state
        owners, partitions = self.settled(three)
        polls_before = self.polls(three)
        t_steady = time.time()
        time.sleep(STEADY_S)
        t_steady_end = time.time()
        polls_after = self.polls(three)
        if self.owners(three) != (owners, partitions):
            problems.append(f"steady state: the assignment moved: {owners} -> "
                            f"{self.owners(three)}")
        for uri in self.uris:
            if partitions.get(uri) != partition_of(uri):
                problems.append(f"{uri}: /metrics says partition {partitions.get(uri)}, murmur2 "
                                f"gives {partition_of(uri)}")
            for name in three:
                moved = polls_after.get((name, uri), 0) - polls_before.get((name, uri), 0)
                if (name in owners[uri]) != (moved > 0):
                    problems.append(f"steady state: {uri}: {name} polled it {moved} times, its "
                                    f"/metrics say it {'does' if name in owners[uri] else 'does not'}")
        if any(not [u for u in self.uris if owners[u] == [n]] for n in three):
            problems.append(f"a sensor holds no hypervisor: {owners}")
        problems += self.check_agrees(three, owners)

        # ---- SIGKILL of one
        victim = "c"
        victims = [u for u in self.uris if owners[u] == [victim]]
        self.sensors[victim].kill()
        t_kill = time.time()
        after_kill, _ = self.settled(["a", "b"])
        t_join = time.time()

        # ---- a fourth joins
        self.start("d")
        four = ["a", "b", "d"]
        final, _ = self.settled(four)
        time.sleep(2 * PAUSE)
        t_end = time.time()
        joined = [u for u in self.uris if final[u] == ["d"]]
        stayed = [u for u in self.uris if final[u] == after_kill[u]]
        if not joined:
            problems.append(f"the fourth sensor holds no hypervisor: {final}")

        # ---- partitions added to the live topic
        PLAIN.add_partitions(f"{self.topic}.fleet", GROWN)
        t_grow = time.time()
        self.settled(four, GROWN)
        t_remapped = time.time()
        time.sleep(2 * PAUSE)
        t_after = time.time()
        for name, text in self.metrics(four).items():
            if samples(text, "pulse_fleet_partitions") != [({"group": self.group}, GROWN)]:
                problems.append(f"{name}: pulse_fleet_partitions "
                                f"{samples(text, 'pulse_fleet_partitions')}, expected {GROWN}")

        for name in four:
            rc, _ = self.sensors[name].stop(timeout=30)
            if rc != 0:
                problems.append(f"{name}: exit status {rc} after SIGTERM")
            problems += [f"{name} stderr: {line}"
                         for line in bad_stderr_lines(self.sensors[name].err_text())]

        # ---- the topic
        stamps = defaultdict(lambda: defaultdict(int))   # uri -> stamp -> nodeInfo points
        for measurement, tags, _, t in topic_points(
                [m["payload"] for m in read_topic(self.topic, BOOTSTRAP)]):
            if measurement == "nodeInfo":
                stamps[tags["vmHost"]][t] += 1

        def between(uri, start, end):
            return sorted(t for t in stamps[uri] if start <= t <= end)

        for uri in self.uris:
            doubled = [t for t, n in stamps[uri].items()
                       if n > 1 and not t_grow <= t <= t_remapped]
            if doubled:
                problems.append(f"{uri}: two polls stamped the same second: {doubled}")
            # One sensor polls it: stamps PAUSE apart, give or take the rounding; a second
            # sensor interleaves stamps at most PAUSE/2 apart.
            steady = between(uri, t_steady, t_steady_end)
            gaps = [b - a for a, b in zip(steady, steady[1:])]
            # A window of STEADY_S seconds holds STEADY_S / PAUSE ticks, one of which may be
            # stamped the second before it starts.
            if len(steady) < STEADY_S // PAUSE - 1 or any(g < PAUSE - 1 or g > PAUSE + 1
                                                      for g in gaps):
                problems.append(f"{uri}: steady state stamps {steady}, expected one every "
                                f"{PAUSE} s")

        bound = SESSION + 2 * PAUSE
        for uri in victims:
            resumed = [t for t in stamps[uri] if t > t_kill]
            if not resumed or min(resumed) - t_kill > bound + 1:
                problems.append(f"{uri} (on the killed sensor): resumed "
                                f"{min(resumed) - t_kill if resumed else 'never'} s after the "
                                f"kill, bound {bound} s")
        for uri in self.uris:
            if uri in victims:
                continue
            seen = between(uri, t_steady, t_join)
            gaps = [b - a for a, b in zip(seen, seen[1:])]
            if any(g > PAUSE + 1 for g in gaps):
                problems.append(f"{uri} (not on the killed sensor): a gap around the kill: "
                                f"{seen}")

        for uri in self.uris:
            seen = between(uri, t_join - PAUSE, t_end)
            gaps = [b - a for a, b in zip(seen, seen[1:])]
            limit = 2 * PAUSE + 1 if uri in joined or uri not in stayed else PAUSE + 1
            if not seen or any(g > limit for g in gaps):
                problems.append(f"{uri} ({'moved' if limit > PAUSE + 1 else 'stayed'}): gaps "
                                f"{gaps} around the join, limit {limit} s: {seen}")
            if uri in stayed and uri not in joined and any(g < PAUSE - 1 for g in gaps):
                problems.append(f"{uri} (stayed): polled twice around the join: {seen}")

        for uri in self.uris:
            if not between(uri, t_remapped, t_after):
                problems.append(f"{uri}: no poll after the sensors remapped it to "
                                f"{GROWN} partitions")

        # What the bounds were measured against, for the log (pytest -s shows it).
        resumed = [min(t for t in stamps[u] if t > t_kill) - t_kill for u in victims
                   if any(t > t_kill for t in stamps[u])]
        moved_gaps = [b - a for u in self.uris if u not in stayed
                      for a, b in zip(between(u, t_join - PAUSE, t_end),
                                      between(u, t_join - PAUSE, t_end)[1:])]
        print(f"fleet: {len(victims)} hypervisors resumed {min(resumed, default=0):.1f}-"
              f"{max(resumed, default=0):.1f} s after the kill (bound {bound} s); "
              f"{len(joined)} moved to the fourth sensor, largest gap {max(moved_gaps, default=0)}"
              f" s (bound {2 * PAUSE} s); settled on {GROWN} partitions (and stayed put for a "
              f"PAUSE) {t_remapped - t_grow:.1f} s after they were added")
        if problems:
            self.fail(f"{len(problems)} problems:\n  " + "\n  ".join(problems)
                      + "".join(f"\n--- {n}\n{s.err_tail(20)}" for n, s in self.sensors.items()))


if __name__ == "__main__":
    unittest.main()
