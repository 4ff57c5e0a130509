"""pulse-sensor under faults: a full spool, and a stop while the broker is away.

    tests/integration/run faults
    # or by hand, with the lab up (libvirt-lab.sh up) and the Kafka jars installed:
    /usr/bin/python3 -m pytest -v -s tests/integration/test_faults_spool.py

The lab, the fault modules' own broker, the sensors and the checks they share: lib/faults.py.

  5  no broker and SPOOL_MAX_BYTES=64K: "spool full" logged once with a count, dropped > 0 in
     the exit line, the spool directory stays within the bound
  6  SIGTERM with no broker and SHUTDOWN_TIMEOUT=3: exit 0 within 4 s with messages left in the
     spool, which a `--once` run on the same SPOOL_DIR delivers
"""

import re
import subprocess
import time
import unittest
from collections import Counter

from lib import faults
from lib.common import free_port, wait_until
from lib.faults import (EXIT_RE, SpoolWatch, bad_lines, create_topics, exit_counters, live_uuids,
                        name_of, poll_lines, poll_problems, produced_pairs, shape_problems,
                        stable_lab_uuids, start_sensor, summary, tail, topic_messages,
                        topic_pairs)

POLL_MS_RE = re.compile(r"\[debug\] poll .* libvirt calls, ([\d.]+) ms")
# The brief's wording is "a warning line containing `spool full`"; this finds lines that are
# about a full spool in other words, to say so when the exact wording is missing.
FULL_LOOSE_RE = re.compile(r"spool\b.*\bfull\b")


def setUpModule():
    faults.set_up()


def tearDownModule():
    faults.tear_down()


# ------------------------------------------------------------------ 5: spool full
class Test5SpoolFull(faults.FaultTest):
    MAX = 64 * 1024

    def test_5_spool_full_drops_oldest_and_stays_bounded(self):
        spool = faults.TMP / "spool-5"
        bootstrap = f"127.0.0.1:{free_port()}"
        # DEBUG off: stdout stays quiet. Host stats make the polls a little bigger.
        s = start_sensor("spool full", spool, "pulse-faults-nobroker", bootstrap, DEBUG="false",
                   GATHER_HOST_STATS="true", SPOOL_MAX_BYTES="64K", SHUTDOWN_TIMEOUT=1)
        watch = SpoolWatch(spool)
        try:
            t0 = time.time()
            full = wait_until(lambda: any(FULL_LOOSE_RE.search(x) for x in s.err_lines()), 60)
            t_full = time.time() - t0
            time.sleep(4)     # keep dropping for a while: the warning must not repeat
            alive = s.alive()
            t_run = time.time() - t0
            rc, stop_s = s.stop(timeout=30)
        finally:
            s.close()
            watch.stop()
        lines = s.err_lines()
        full_lines = [x for x in lines if "spool full" in x and not EXIT_RE.search(x)]
        look_alike = [x for x in lines if FULL_LOOSE_RE.search(x) and x not in full_lines
                      and not EXIT_RE.search(x)]
        c = exit_counters(s.err_lines())
        problems = []
        if not alive:
            problems.append(f"the sensor exited: {s.proc.returncode}")
        if rc != 0:
            problems.append(f"exit status after SIGTERM: {rc}, expected 0")
        problems += [f"stderr: {x}" for x in bad_lines(s)]
        if not full:
            problems.append(f"no 'spool full' warning in 60 s with SPOOL_MAX_BYTES=64K and no broker "
                            f"(spool peak {watch.max_total} bytes)")
        if len(full_lines) != 1:
            problems.append(f"{len(full_lines)} lines containing 'spool full' in {t_run:.0f} s, "
                            f"expected 1 (at most once a minute): {full_lines[:4]}"
                            + (f"; lines that look like it but do not say 'spool full': "
                               f"{look_alike[:3]}" if look_alike else ""))
        counted = [int(n) for x in full_lines[:1] for n in re.findall(r"\b(\d+)\b", x.split("]", 1)[-1])]
        if full_lines and "[warning]" not in full_lines[0]:
            problems.append(f"'spool full' is not a warning: {full_lines[0]}")
        if full_lines and not any(n > 0 for n in counted):
            problems.append(f"'spool full' line has no count of dropped messages: {full_lines[0]}")
        if c is None:
            problems.append("no exit line")
        else:
            if c["dropped"] <= 0:
                problems.append(f"exit line: {c['dropped']} dropped (spool full), expected > 0")
            if c["delivered"] != 0:
                problems.append(f"exit line: {c['delivered']} delivered with no broker")
            if c["produced"] != c["dropped"] + c["left"] + c["failed"]:
                problems.append(f"exit line: produced {c['produced']} != dropped {c['dropped']} + "
                                f"left {c['left']} + failed {c['failed']} (nothing was delivered)")
        # spool.hpp: "the segments' total size stays within max_bytes"; the lock and ack files
        # (a few bytes) come on top.
        if watch.max_segments > self.MAX:
            problems.append(f"spool segments reached {watch.max_segments} bytes, bound {self.MAX}")
        if watch.max_total > self.MAX + 4096:
            problems.append(f"spool directory reached {watch.max_total} bytes, bound {self.MAX} "
                            f"+ 4096 for the lock and ack files")
        summary("5 (spool full)", c["produced"] if c else "?", 0,
                f"{c['left'] if c else '?'} left at exit",
                c["dropped"] if c else "?",
                f"first drop logged after {t_full:.1f} s: "
                f"{(full_lines or look_alike or ['-'])[0].split('] ', 1)[-1]}; spool peak "
                f"{watch.max_segments} bytes in segments, {watch.max_total} in all files "
                f"(bound {self.MAX}), SIGTERM->exit {stop_s:.1f} s")
        self.assertNoProblems(problems, "test 5 (spool full)", [s])


# ------------------------------------------------------------------ 6: SIGTERM, broker down
class Test6StopWithBrokerDown(faults.FaultTest):
    SHUTDOWN = 3

    def test_6_sigterm_with_broker_down_keeps_the_spool_for_the_next_run(self):
        topic, = create_topics(1)
        spool = faults.TMP / "spool-6"
        live_before = live_uuids()
        bootstrap = f"127.0.0.1:{free_port()}"
        s = start_sensor("stop with the broker down", spool, topic, bootstrap,
                   SHUTDOWN_TIMEOUT=self.SHUTDOWN)
        try:
            self.assertTrue(wait_until(lambda: len(poll_lines(s)) >= 4, 30),
                            f"no 4 polls in 30 s:\n{tail(s)}")
            alive = s.alive()
            rc, stop_s = s.stop(timeout=30)
        finally:
            s.close()
        first = Counter(produced_pairs(s))
        c1 = exit_counters(s.err_lines())
        t0 = time.monotonic()
        env = {**s.env, "KAFKA_BOOTSTRAP": faults.BOOTSTRAP, "DEBUG": "false", "SHUTDOWN_TIMEOUT": "30"}
        once = subprocess.run([str(faults.SENSOR_BIN), "--once"], env=env, capture_output=True,
                              text=True, timeout=90)
        once_s = time.monotonic() - t0
        c2 = exit_counters(once.stderr.splitlines())
        msgs = topic_messages(topic)
        pairs = topic_pairs(msgs)
        stable = stable_lab_uuids(live_before, live_uuids())
        problems = []
        if not alive:
            problems.append(f"the sensor exited before SIGTERM: {s.proc.returncode}")
        if rc != 0:
            problems.append(f"exit status after SIGTERM: {rc}, expected 0")
        if stop_s is not None and stop_s > self.SHUTDOWN + 1:
            took = [m.group(1) for x in s.err_lines() if (m := POLL_MS_RE.search(x))]
            problems.append(f"SIGTERM->exit took {stop_s:.2f} s, expected <= SHUTDOWN_TIMEOUT + 1 "
                            f"= {self.SHUTDOWN + 1} s (the last polls took {took[-3:]} ms)")
        problems += [f"stderr: {x}" for x in bad_lines(s)]
        if c1 is None:
            problems.append("first run: no exit line")
        else:
            if c1["left"] <= 0:
                problems.append(f"first run exit line: {c1['left']} left in the spool, expected > 0")
            if c1["left"] != c1["produced"] or c1["delivered"] != 0:
                problems.append(f"first run exit line: produced {c1['produced']}, delivered "
                                f"{c1['delivered']}, left {c1['left']}; expected all left, none "
                                f"delivered (no broker)")
            if c1["produced"] != sum(first.values()):
                problems.append(f"first run: exit line says {c1['produced']} produced, "
                                f"{sum(first.values())} printed")
        if once.returncode != 0:
            problems.append(f"--once exit status {once.returncode}, expected 0:\n{once.stderr[-2000:]}")
        if "from an earlier run" not in once.stderr:
            problems.append("--once did not log '... from an earlier run'")
        if c2 is None:
            problems.append(f"--once: no exit line:\n{once.stderr[-1500:]}")
        elif c1 is not None:
            own = c2["produced"]
            if c2["delivered"] != c1["left"] + own or c2["left"] != 0:
                problems.append(f"--once exit line: delivered {c2['delivered']}, left {c2['left']}; "
                                f"expected {c1['left']} from the first run + {own} of its own, 0 left")
        lost = sorted(first - pairs)
        if lost:
            problems.append(f"{len(lost)} messages of the first run are not on the topic, e.g. "
                            f"{[(name_of(k), t) for k, t in lost[:5]]}")
        twice = [(name_of(k), t, n) for (k, t), n in pairs.items() if n > 1]
        if twice:
            problems.append(f"{len(twice)} messages on the topic more than once: {twice[:5]}")
        first_times = {t for _, t in first}
        once_times = {t for _, t in pairs} - first_times
        problems += poll_problems(pairs.elements(), stable, times=first_times | once_times)
        if len(once_times) != 1:
            problems.append(f"expected one poll of --once besides the first run's "
                            f"{sorted(first_times)}, found {sorted(once_times)}")
        problems += shape_problems(msgs)
        summary("6 (SIGTERM with the broker down)", c1["produced"] if c1 else "?", len(msgs),
                f"{c1['left'] if c1 else '?'} left at exit", c1["dropped"] if c1 else "?",
                f"SIGTERM->exit {stop_s:.2f} s (SHUTDOWN_TIMEOUT={self.SHUTDOWN}); first run's poll "
                f"times {sorted(first_times)}; --once delivered {c2['delivered'] if c2 else '?'} in "
                f"{once_s:.1f} s")
        self.assertNoProblems(problems, "test 6 (SIGTERM with the broker down)", [s])


if __name__ == "__main__":
    unittest.main(verbosity=2)
