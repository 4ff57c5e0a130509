"""The contract's checks of what the sensor sends (shared/CONTRACT.md), for messages read back
from a topic or stdout: one message per active domain (any state) per poll, keyed by the domain
UUID, plus one host message keyed by the vmHost string when GATHER_HOST_STATS is on; each a
JSON array of {measurement, tags, fields, time} points in the order cpuTime, rss,
networkInterface..., disk..., with the contract's tags and field types, and one time per poll.
The values themselves are pulse_check's (against virsh)."""

import json
import re
from collections import defaultdict

from lib import pulse_check

TIME_RE = pulse_check.TIME_RE
# Message layout: cpuTime, rss, then NICs, then disks.
ORDER_RE = re.compile(r"^CRN*D*$")
ORDER_LETTER = {"cpuTime": "C", "rss": "R", "networkInterface": "N", "disk": "D"}
FIELDS = {m: set(fields) for m, fields in pulse_check.FIELDS.items()}
EXTRA_TAGS = {"cpuTime": set(), "rss": set(), "networkInterface": {"mac"}, "disk": {"image", "pool"}}


class ContractChecks:
    """Mixed into the test cases: checks of single messages and of whole polls."""

    def check_point(self, point, measurement_tags):
        self.assertEqual(set(point), {"measurement", "tags", "fields", "time"}, point)
        self.assertRegex(point["time"], TIME_RE)
        m = point["measurement"]
        self.assertIn(m, FIELDS, point)
        self.assertEqual(set(point["tags"]), set(measurement_tags) | EXTRA_TAGS.get(m, set()),
                         f"tags of {m}")
        for k, v in measurement_tags.items():
            self.assertEqual(point["tags"][k], v, f"tag {k} of {m}")
        for k in EXTRA_TAGS.get(m, ()):
            self.assertIsInstance(point["tags"][k], str)
            self.assertNotEqual(point["tags"][k], "", f"tag {k} of {m} is empty")
        self.assertEqual(set(point["fields"]), FIELDS[m], f"fields of {m}")
        for k, v in point["fields"].items():
            if (m, k) == ("cpuTime", "cpuTime"):
                self.assertIsInstance(v, float, f"{m}.{k} must be a float, got {v!r}")
            else:
                self.assertTrue(isinstance(v, int) and not isinstance(v, bool),
                                f"{m}.{k} must be an int, got {v!r}")

    def check_message(self, key, value, vm_host, domains):
        """One Kafka message; returns its poll time."""
        points = json.loads(value)
        self.assertIsInstance(points, list, value)
        self.assertTrue(points, f"empty message for key {key}")
        times = {p.get("time") for p in points}
        self.assertEqual(len(times), 1, f"points of one message carry different times: {times}")
        if key == vm_host:
            self.assertEqual(len(points), 1, value)
            self.assertEqual(points[0]["measurement"], "nodeInfo")
            self.check_point(points[0], {"vmHost": vm_host})
        else:
            self.assertIn(key, domains, f"key {key!r} is neither a live domain's UUID nor vmHost")
            dom = domains[key]
            order = "".join(ORDER_LETTER.get(p["measurement"], "?") for p in points)
            self.assertRegex(order, ORDER_RE, f"measurement order of {dom['name']}")
            self.assertEqual(order.count("N"), dom["nics"], f"networkInterface points of {dom['name']}")
            self.assertEqual(order.count("D"), dom["disks"], f"disk points of {dom['name']}")
            tags = {"vmHost": vm_host, "vmId": dom["name"], "vmUuid": key}
            for p in points:
                self.check_point(p, tags)
        return points[0]["time"]

    def check_polls(self, messages, vm_host, domains, host_stats=True):
        """All messages of a run; returns the sorted list of poll times."""
        expected_keys = set(domains) | ({vm_host} if host_stats else set())
        by_time = defaultdict(list)
        for key, _, _, value in messages:
            by_time[self.check_message(key, value, vm_host, domains)].append(key)
        for t, keys in sorted(by_time.items()):
            self.assertEqual(sorted(keys), sorted(expected_keys),
                             f"poll at {t}: keys received vs. one per domain (+ host)")
        return sorted(by_time)
