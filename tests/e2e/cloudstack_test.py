"""End-to-end tests of CS_ENDPOINT: the built sensor, libvirt's test:/// driver with the
CloudStack-like fixture, and the listVolumes stand-in of cloudstack_api.py on loopback.

Proves: the disk points' image becomes the volume id (over several pages and a project); a wrong
secret keeps the file names and logs one line without the secret; a slow API never delays a
poll; an API that is down at start is used once it answers; a disk path the listing lacks asks
for an early refresh; --check says whether CloudStack accepted the signature.
Usage: cloudstack_test.py PATH/TO/pulse-sensor PATH/TO/fixtures   (every wait is bounded)
"""
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cloudstack_api import CloudStackStandIn, signature_of  # noqa: E402

SENSOR = FIXTURES = None
API_KEY = "pulse-api-KEY-0123456789"
SECRET = "Zq9-distinctive-CS-s3cret-value"

# The fixture's disks (tests/fixtures/cloudstack-node.xml), by the file name that is `image`
# without CloudStack.
VDA_17 = "cc8121ef-2029-4f4f-826e-7c4f2c8a5563"  # migrated: its volume id is another one
VDB_17 = "0d8a2c1e-7b3f-4f5e-9a6d-2e1f0c9b8a7d"
ROOT_18 = "vm-18-root"  # an LVM volume in a project
RBD_18 = "9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
IDS = {VDA_17: "7a4e3f1c-1111-4a5b-8c6d-000000000017", VDB_17: "7a4e3f1c-2222-4a5b-8c6d-000000000017",
       ROOT_18: "7a4e3f1c-3333-4a5b-8c6d-000000000018", RBD_18: RBD_18}
PROJECT = "c0ffee00-0000-4000-8000-000000000001"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def standin(with_vdb=True, **kwargs):
    cs = CloudStackStandIn(API_KEY, SECRET, **kwargs)
    # 1200 other volumes: three pages of 500 before the fixture's.
    cs.volumes = [{"id": f"00000000-0000-4000-8000-{n:012d}", "path": f"other-{n}"}
                  for n in range(1200)]
    cs.volumes += [{"id": IDS[VDA_17], "path": VDA_17}, {"id": IDS[RBD_18], "path": RBD_18},
                   {"id": IDS[ROOT_18], "path": ROOT_18, "projectid": PROJECT}]
    if with_vdb:
        cs.volumes.append({"id": IDS[VDB_17], "path": VDB_17})
    cs.projects = [PROJECT]
    return cs


class Sensor:
    """The sensor on the fixture, PAUSE=1, messages on stdout read by a thread."""

    def __init__(self, endpoint, secret=SECRET, extra=None, args=()):
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "KVM_HOST": f"test://{FIXTURES}/cloudstack-node.xml", "PAUSE": "1",
                    "CS_ENDPOINT": endpoint, "CS_API_KEY": API_KEY, "CS_SECRET_KEY": secret}
        if "ASAN_OPTIONS" in os.environ:
            self.env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"]
        self.env.update(extra or {})
        self.args = list(args)
        self.stderr = None
        self.lines = queue.Queue()
        self.proc = None

    def run_once(self, timeout_s=60):
        return subprocess.run([SENSOR, "--once", *self.args], env=self.env, capture_output=True,
                              text=True, timeout=timeout_s)

    def start(self):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([SENSOR, *self.args], env=self.env, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.lines.put((time.monotonic(), json.loads(line)))

    def messages(self, count, timeout_s=20):
        """The next `count` messages with their arrival times."""
        out = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count:
            out.append(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
        return out

    def polls_until(self, predicate, timeout_s=20):
        """Reads domain messages until `predicate(images)` holds for one poll's disks."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            polls = {}
            for _, message in self.messages(2, timeout_s=deadline - time.monotonic()):
                polls.update(images_of([message]))
            if predicate(polls):
                return polls
        raise AssertionError("condition not met in time")

    def stop(self, timeout_s=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the sensor did not stop within {timeout_s} s")
        return self.log()

    def log(self):
        self.stderr.seek(0)
        text = self.stderr.read()
        self.stderr.close()
        return text


def images_of(messages):
    """{(vmId, pool): image} over the disk points of `messages`."""
    return {(p["tags"]["vmId"], p["tags"]["pool"]): p["tags"]["image"]
            for m in messages for p in m if p["measurement"] == "disk"}


MAPPED = {("i-2-17-VM", "b13cb3c0-c84d-334c-9fc3-4826ae58d984"): IDS[VDA_17],
          ("i-2-17-VM", "5a2c4e0b-0f6e-3c43-9f7e-1a2b3c4d5e6f"): IDS[VDB_17],
          ("i-2-18-VM", "cloudvg"): IDS[ROOT_18],
          ("i-2-18-VM", "cloudstack"): IDS[RBD_18]}
FILE_NAMES = {("i-2-17-VM", "b13cb3c0-c84d-334c-9fc3-4826ae58d984"): VDA_17,
              ("i-2-17-VM", "5a2c4e0b-0f6e-3c43-9f7e-1a2b3c4d5e6f"): VDB_17,
              ("i-2-18-VM", "cloudvg"): ROOT_18,
              ("i-2-18-VM", "cloudstack"): RBD_18}


class CloudStackVolumeIds(unittest.TestCase):
    def setUp(self):
        self.cleanups = []

    def tearDown(self):
        for cleanup in reversed(self.cleanups):
            cleanup()

    def started(self, cs):
        cs.start()
        self.cleanups.append(cs.stop)
        return cs

    def running(self, sensor):
        sensor.start()
        self.cleanups.append(lambda: sensor.proc.poll() is None and sensor.stop())
        return sensor

    def assertNoKeys(self, text):
        self.assertNotIn(SECRET, text)
        self.assertNotIn(API_KEY, text)
        self.assertNotIn("signature=", text)

    def test_the_stand_in_signs_the_documented_example_as_cloudstack_does(self):
        # apache/cloudstack-documentation, source/developersguide/dev.rst
        api_key = ("plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bew"
                   "zGUdP66mg")
        secret = ("VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7"
                  "FF3akA3KBQ")
        self.assertEqual(signature_of({"command": "listUsers", "response": "json",
                                       "apikey": api_key}, secret),
                         "TTpdDq/7j/J58XCRHomKoQXEQds=")

    def test_disk_images_become_volume_ids_over_every_page_and_project(self):
        cs = self.started(standin())
        done = Sensor(cs.endpoint).run_once()
        self.assertEqual(done.returncode, 0, done.stderr)
        messages = [json.loads(line) for line in done.stdout.splitlines()]
        self.assertEqual(images_of(messages), MAPPED)
        pages = sorted(int(r[1]["page"]) for r in cs.served("listVolumes", 200)
                       if "projectid" not in r[1])
        self.assertEqual(pages, [1, 2, 3])
        self.assertTrue(any(r[1].get("projectid") == PROJECT for r in cs.served("listVolumes")))
        self.assertEqual(cs.served(status=401), [], "every request was signed right")
        self.assertIn("CloudStack volume ids: 1204 volumes from", done.stderr)
        self.assertNoKeys(done.stdout + done.stderr)

    def test_a_wrong_secret_keeps_file_names_and_logs_one_line_without_the_secret(self):
        cs = self.started(standin())
        wrong = SECRET[::-1]
        sensor = self.running(Sensor(cs.endpoint, secret=wrong,
                                     extra={"VOLUMES_UPDATE_INTERVAL": "1"}))
        self.assertTrue(cs.wait_for(lambda: len(cs.served(status=401)) >= 3))
        self.assertEqual(sensor.polls_until(lambda images: len(images) == 4), FILE_NAMES)
        log = sensor.stop()
        refused = [line for line in log.splitlines() if "HTTP 401" in line]
        self.assertEqual(len(refused), 1, log)
        self.assertIn("listVolumes at " + cs.endpoint + ": HTTP 401: unable to verify user "
                      "credentials and/or request signature", refused[0])
        self.assertNotIn(wrong, log)
        self.assertNoKeys(log)

    def test_a_slow_api_never_delays_a_poll_and_a_stop_does_not_wait_for_it(self):
        cs = standin()
        cs.delay_s = 4  # each page: a whole listing takes over 16 s
        self.started(cs)
        sensor = self.running(Sensor(cs.endpoint))
        received = sensor.messages(12, timeout_s=15)  # 6 polls of 2 domains
        times = sorted({m[0]["time"] for _, m in received})
        self.assertEqual(len(times), 6, times)
        stamps = [time.mktime(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ")) for t in times]
        self.assertEqual([b - a for a, b in zip(stamps, stamps[1:])], [1] * 5, times)
        # Six polls one PAUSE apart arrive in about five PAUSEs, while the first page is still
        # being answered.
        self.assertLess(received[-1][0] - received[0][0], 6.5)
        self.assertEqual(images_of([m for _, m in received]), FILE_NAMES)
        stopping = time.monotonic()
        log = sensor.stop(timeout_s=10)
        self.assertLess(time.monotonic() - stopping, 5, log)
        self.assertNoKeys(log)

    def test_an_api_that_is_down_at_start_is_used_after_the_next_refresh(self):
        port = free_port()
        cs = CloudStackStandIn(API_KEY, SECRET, port=port)
        sensor = self.running(Sensor(cs.endpoint, extra={"VOLUMES_UPDATE_INTERVAL": "2"}))
        self.assertEqual(sensor.polls_until(lambda images: len(images) == 4), FILE_NAMES)
        time.sleep(2.5)  # past a failed retry too: still one line about it
        cs = standin(port=port)
        self.started(cs)
        self.assertEqual(sensor.polls_until(lambda images: images == MAPPED, timeout_s=15),
                         MAPPED)
        log = sensor.stop()
        self.assertEqual(log.count("no answer"), 1, log)
        self.assertRegex(log, r"CloudStack volume ids: 1204 volumes from .* \(after \d+ failed")
        self.assertNoKeys(log)

    def test_a_disk_path_the_listing_lacks_asks_for_an_early_refresh(self):
        cs = self.started(standin(with_vdb=False))
        sensor = self.running(Sensor(cs.endpoint, extra={"VOLUMES_UPDATE_INTERVAL": "600"}))
        # The first refresh: three pages, the projects, the project's volumes.
        self.assertTrue(cs.wait_for(lambda: len(cs.served("listVolumes")) >= 4))
        first = cs.served()[-1][0]
        with cs.lock:
            cs.volumes.append({"id": IDS[VDB_17], "path": VDB_17})
        self.assertEqual(sensor.polls_until(lambda images: images == MAPPED, timeout_s=20),
                         MAPPED)
        later = [r for r in cs.served("listVolumes") if r[0] > first]
        self.assertTrue(later, "a second listing long before VOLUMES_UPDATE_INTERVAL")
        self.assertGreaterEqual(later[0][0] - first, 5, "early refreshes are rate-limited")
        log = sensor.stop()
        # Met only after the first refresh began, so that listing did not count as missing it.
        self.assertNotIn(f"has the path {VDB_17}", log)
        self.assertNoKeys(log)

    def test_https_works_with_a_trusted_certificate_and_fails_with_an_untrusted_one(self):
        tmp = tempfile.TemporaryDirectory()
        self.cleanups.append(tmp.cleanup)
        cert, key = os.path.join(tmp.name, "cert.pem"), os.path.join(tmp.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True,
                       timeout=60)
        cs = standin(tls=(cert, key))
        self.started(cs)
        self.assertTrue(cs.endpoint.startswith("https://"))
        done = Sensor(cs.endpoint, extra={"SSL_CERT_FILE": cert}).run_once()
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(images_of([json.loads(l) for l in done.stdout.splitlines()]), MAPPED)
        done = Sensor(cs.endpoint).run_once()
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(images_of([json.loads(l) for l in done.stdout.splitlines()]),
                         FILE_NAMES)
        self.assertIn("no answer (SSLServerVerification: the server's certificate is not "
                      "trusted", done.stderr)
        self.assertNoKeys(done.stdout + done.stderr)

    def test_check_says_whether_cloudstack_accepted_the_signature(self):
        cs = self.started(standin())
        done = subprocess.run([SENSOR, "--check"], env=Sensor(cs.endpoint).env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn(f"ok   cloudstack {cs.endpoint}: signature accepted, listVolumes: 1203 "
                      "volumes", done.stdout)
        done = subprocess.run([SENSOR, "--check"], env=Sensor(cs.endpoint, secret="wrong").env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        line = [l for l in done.stdout.splitlines() if l[5:].startswith("cloudstack ")]
        self.assertEqual(len(line), 1, done.stdout)
        self.assertTrue(line[0].startswith(f"FAIL cloudstack {cs.endpoint}: listVolumes at "),
                        line[0])
        self.assertIn("HTTP 401", line[0])
        self.assertNoKeys(done.stdout + done.stderr)


if __name__ == "__main__":
    SENSOR, FIXTURES = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[3:]])
