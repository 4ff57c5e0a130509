"""pulse-sensor under faults: a broker outage, a SIGKILL during one, and a fleet sensor through one.

    tests/integration/run faults
    # or by hand, with the lab up (libvirt-lab.sh up) and the Kafka jars installed:
    /usr/bin/python3 -m pytest -v -s tests/integration/test_faults_broker.py

The lab, the fault modules' own broker, the sensors and the checks they share: lib/faults.py.

  1  broker stopped for >= 120 s (kafka.sh stop / start) under a running sensor: after the
     broker is back and delivery caught up, every produced message is on the topic exactly once,
     every poll has one message per stable domain, no poll time is missing unless the sensor
     logged an overrun, and each key's messages are in time order on the topic
  2  the same outage (run side by side with 1, own topic and spool): the sensor is SIGKILLed
     about half-way into it and started again on the same SPOOL_DIR; everything produced before
     the kill (but the last poll) arrives; duplicates are allowed across the restart only
  7  the same outage under a sensor in fleet mode (FLEET_GROUP, alone in its group): it says it
     lost its partitions, polls on through the outage as if it held them (no poll time missing),
     is given them again once the broker is back, and every message arrives exactly once

The module takes about 2.5 minutes (2 of them the outage; PULSE_IT_OUTAGE_S shortens it, only
to try the test logic out).
"""

import time
import unittest
import types
import uuid
from collections import Counter

from lib import faults
from lib.common import wait_until
from lib.faults import (OUTAGE_S, PAUSE, SpoolWatch, bad_lines, create_topics, epoch, epoch_str,
                        exit_counters, fmt_gaps, live_uuids, missing_seconds, name_of,
                        order_problems, poll_lines, poll_problems, produced_pairs, shape_problems,
                        skipped_ticks, sleep_until, stable_lab_uuids, start_sensor, summary, tail,
                        topic_messages, topic_pairs)

CATCH_UP_BOUND_S = 120.0     # delivery must catch up within this after the broker is back
FLEET_SESSION_S = 6          # the broker's smallest group.min.session.timeout.ms allows
GIVEN = "fleet: given partitions"
LOST = "fleet: lost partitions"


def given_lines(sensor):
    return [line for line in sensor.err_lines() if GIVEN in line]


def setUpModule():
    faults.set_up()


def tearDownModule():
    faults.tear_down()


# ------------------------------------------------------------------ 1 and 2: broker outage
class Test12BrokerOutage(faults.FaultTest):
    """One outage of >= 120 s for three sensors side by side: A runs throughout (test 1), B is
    SIGKILLed half-way into the outage and started again on its spool (test 2), C is A in fleet
    mode (test 7)."""

    @classmethod
    def setUpClass(cls):
        r = cls.r = types.SimpleNamespace(catch_up={})
        r.topic_a, r.topic_b, r.topic_c = create_topics(3)
        r.spool_a, r.spool_b = faults.TMP / "spool-1", faults.TMP / "spool-2"
        r.spool_c = faults.TMP / "spool-3"
        r.live_before = live_uuids()
        r.a = start_sensor("A (test 1)", r.spool_a, r.topic_a, faults.BOOTSTRAP,
                           SHUTDOWN_TIMEOUT=20)
        r.b1 = start_sensor("B1 (test 2, killed)", r.spool_b, r.topic_b, faults.BOOTSTRAP,
                            SHUTDOWN_TIMEOUT=20)
        # Its coordination topic (<topic>.fleet) is created by the sensor itself.
        r.c = start_sensor("C (test 7, fleet)", r.spool_c, r.topic_c, faults.BOOTSTRAP,
                           SHUTDOWN_TIMEOUT=20, FLEET_GROUP=f"pulse-faults-{uuid.uuid4().hex[:10]}",
                           FLEET_PARTITIONS="4", FLEET_SESSION_TIMEOUT=str(FLEET_SESSION_S))
        r.b2 = None
        r.watch_a, r.watch_b = SpoolWatch(r.spool_a), SpoolWatch(r.spool_b)
        broker_down = False
        try:
            if not wait_until(lambda: len(poll_lines(r.a)) >= 3 and len(poll_lines(r.b1)) >= 3
                              and len(poll_lines(r.c)) >= 3, 60):
                raise AssertionError(f"the sensors did not poll 3 times in 60 s:\n{tail(r.a)}\n"
                                     f"{tail(r.b1)}\n{tail(r.c)}")
            r.c_given_before = len(given_lines(r.c))
            r.t_stop0 = time.time()
            broker_down = True
            faults.BROKER.sh("stop")
            r.t_down = time.time()
            sleep_until(r.t_down + OUTAGE_S / 2)
            r.b1_alive = r.b1.alive()
            r.b1.kill()
            r.t_kill = time.time()
            r.b2 = start_sensor("B2 (test 2, restarted)", r.spool_b, r.topic_b, faults.BOOTSTRAP,
                          SHUTDOWN_TIMEOUT=20)
            sleep_until(r.t_down + OUTAGE_S)
            r.a_alive, r.b2_alive, r.c_alive = r.a.alive(), r.b2.alive(), r.c.alive()
            r.c_lost = [line for line in r.c.err_lines() if LOST in line]
            r.c_given_during = len(given_lines(r.c)) - r.c_given_before
            r.spool_at_start = (r.watch_a.sample(), r.watch_b.sample())
            r.t_start0 = time.time()
            faults.BROKER.sh("start")
            broker_down = False
            r.t_up = time.time()
            up = epoch_str(r.t_up)
            # caught up: everything required from before the broker came back is on the topic,
            # and so is a poll stamped after it
            need_a = [p for p in produced_pairs(r.a) if p[1] <= up]
            need_c = [p for p in produced_pairs(r.c) if p[1] <= up]
            c_given_up = len(given_lines(r.c))
            b1_produced = produced_pairs(r.b1)
            r.b1_last = max((t for _, t in b1_produced), default=None)
            need_b = [p for p in b1_produced if p[1] != r.b1_last] + \
                     [p for p in produced_pairs(r.b2) if p[1] <= up]
            pending = {"A": (r.topic_a, need_a), "B": (r.topic_b, need_b),
                       "C": (r.topic_c, need_c)}
            deadline = r.t_up + CATCH_UP_BOUND_S
            while (pending or len(given_lines(r.c)) == c_given_up) and time.time() < deadline:
                for name, (topic, need) in list(pending.items()):
                    have = topic_pairs(topic_messages(topic))
                    if all(have[p] for p in need) and any(t and t > up for _, t in have):
                        r.catch_up[name] = time.time() - r.t_up
                        del pending[name]
                time.sleep(2)
            r.c_given_after = given_lines(r.c)[c_given_up:]
            time.sleep(2)   # a poll or two after catching up
            r.rc_a, r.stop_a = r.a.stop(timeout=40)
            r.rc_b2, r.stop_b2 = r.b2.stop(timeout=40)
            r.rc_c, r.stop_c = r.c.stop(timeout=40)
            r.t_end = time.time()
        finally:
            for s in (r.a, r.b1, r.b2, r.c):
                if s is not None:
                    s.close()
            r.watch_a.stop()
            r.watch_b.stop()
            if broker_down:
                faults.BROKER.sh("start")
        r.msgs_a = topic_messages(r.topic_a)
        r.msgs_b = topic_messages(r.topic_b)
        r.msgs_c = topic_messages(r.topic_c)
        r.live_after = live_uuids()
        r.stable = stable_lab_uuids(r.live_before, r.live_after)

    def once_through_the_outage(self, sensor, msgs, name, alive, rc):
        """What tests 1 and 7 ask of a sensor that ran through the whole outage (`alive` at its
        end, exit status `rc` after SIGTERM): problems, and the figures for the summary line."""
        r = self.r
        problems = []
        if not alive:
            problems.append(f"the sensor exited during the outage: {sensor.proc.returncode}")
        if rc != 0:
            problems.append(f"exit status after SIGTERM: {rc}, expected 0")
        problems += [f"stderr: {line}" for line in bad_lines(sensor)]
        problems += [f"stdout not JSON: {b}" for b in sensor.bad_stdout[:3]]
        if not r.stable:
            problems.append("no lab domain ran for the whole test")
        produced = Counter(produced_pairs(sensor))
        on_topic = topic_pairs(msgs)
        lost = sorted(produced - on_topic)
        twice = sorted((p, n) for p, n in on_topic.items() if n > 1)
        extra = sorted(on_topic - produced)
        if lost:
            problems.append(f"{sum((produced - on_topic).values())} produced messages are not on "
                            f"the topic, e.g. {[(name_of(k), t) for k, t in lost[:5]]}")
        if twice:
            problems.append(f"{len(twice)} (key, time) pairs on the topic more than once, e.g. "
                            f"{[(name_of(k), t, n) for (k, t), n in twice[:5]]}")
        if extra:
            problems.append(f"{len(extra)} messages on the topic the sensor did not print, e.g. "
                            f"{extra[:3]}")
        problems += poll_problems(on_topic.elements(), r.stable)
        times = {t for _, t in produced}
        gaps = missing_seconds(times)
        skipped = skipped_ticks(sensor)
        if sum(n for _, _, n in gaps) > skipped:
            problems.append(f"poll times missing: {fmt_gaps(gaps)}; the sensor logged "
                            f"{skipped} skipped tick(s) (overruns); {len(poll_lines(sensor))} poll "
                            f"lines, {len(times)} distinct poll times")
        outage_polls = {t for t in times if r.t_down <= epoch(t) < r.t_start0}
        if len(outage_polls) < (r.t_start0 - r.t_down - skipped) * 0.9 - 1:
            problems.append(f"only {len(outage_polls)} polls during the {r.t_start0 - r.t_down:.0f} s "
                            f"outage at PAUSE={PAUSE}")
        problems += order_problems(msgs)
        problems += shape_problems(msgs)
        c = exit_counters(sensor.err_lines())
        if c is None:
            problems.append("no exit line 'kafka: P messages produced, D delivered, ...'")
        else:
            if c["produced"] != sum(produced.values()):
                problems.append(f"exit line: {c['produced']} produced, but {sum(produced.values())} "
                                f"messages were printed (DEBUG)")
            if c["delivered"] != len(msgs):
                problems.append(f"exit line: {c['delivered']} delivered, but {len(msgs)} on the topic")
            if c["failed"] or c["dropped"] or c["left"]:
                problems.append(f"exit line: {c['failed']} failed, {c['dropped']} dropped, "
                                f"{c['left']} left in the spool; expected 0 each")
        if name not in r.catch_up:
            problems.append(f"delivery did not catch up within {CATCH_UP_BOUND_S:.0f} s of the broker's return")
        spooled = sum(n for (k, t), n in produced.items() if r.t_down <= epoch(t) < r.t_up)
        return problems, types.SimpleNamespace(produced=sum(produced.values()), spooled=spooled,
                                               outage_polls=len(outage_polls), skipped=skipped,
                                               dropped=c["dropped"] if c else "?")

    def test_1_outage_every_poll_arrives_once_and_in_order(self):
        r = self.r
        a = r.a
        problems, f = self.once_through_the_outage(a, r.msgs_a, "A", r.a_alive, r.rc_a)
        if r.spool_at_start[0][0] == 0:
            problems.append("the spool directory had no segment bytes at the end of the outage")
        summary("1 (broker outage)", f.produced, len(r.msgs_a), f.spooled, f.dropped,
                f"outage {r.t_up - r.t_stop0:.0f} s (broker stop {r.t_down - r.t_stop0:.1f} s, "
                f"start {r.t_up - r.t_start0:.1f} s), {f.outage_polls} polls during it, "
                f"spool peak {r.watch_a.max_total // 1024} KiB, caught up "
                f"{r.catch_up.get('A', float('nan')):.1f} s after the broker answered, "
                f"SIGTERM->exit {r.stop_a or 0:.1f} s, {f.skipped} skipped ticks, "
                f"{len(r.stable)} stable lab domains")
        self.assertNoProblems(problems, "test 1 (broker outage)", [a])

    def test_7_a_fleet_sensor_polls_on_through_a_lost_group(self):
        r = self.r
        c = r.c
        problems, f = self.once_through_the_outage(c, r.msgs_c, "C", r.c_alive, r.rc_c)
        if r.c_given_before < 1:
            problems.append(f"no '{GIVEN}' line before the outage")
        if not r.c_lost:
            problems.append(f"no '{LOST}' warning during the {OUTAGE_S:.0f} s outage "
                            f"(FLEET_SESSION_TIMEOUT={FLEET_SESSION_S})")
        if r.c_given_during:
            problems.append(f"{r.c_given_during} '{GIVEN}' line(s) while the broker was down")
        if not r.c_given_after:
            problems.append(f"no '{GIVEN}' line within {CATCH_UP_BOUND_S:.0f} s of the broker's return")
        rejoined = r.c_given_after[0].split("] ", 1)[-1] if r.c_given_after else "never"
        summary("7 (fleet sensor, broker outage)", f.produced, len(r.msgs_c), f.spooled, f.dropped,
                f"{f.outage_polls} polls during the outage, {f.skipped} skipped ticks, caught up "
                f"{r.catch_up.get('C', float('nan')):.1f} s after the broker answered; "
                f"lost: {len(r.c_lost)} line(s); after: {rejoined}")
        self.assertNoProblems(problems, "test 7 (fleet sensor, broker outage)", [c])

    def test_2_sigkill_during_outage_loses_nothing(self):
        r = self.r
        b1, b2 = r.b1, r.b2
        problems = []
        if not r.b1_alive:
            problems.append(f"B1 exited before the SIGKILL: {b1.proc.returncode}")
        if b2 is None:
            self.fail("B2 was never started")
        if not r.b2_alive:
            problems.append(f"B2 exited during the outage: {b2.proc.returncode}")
        if r.rc_b2 != 0:
            problems.append(f"B2 exit status after SIGTERM: {r.rc_b2}, expected 0")
        problems += [f"B1 stderr: {line}" for line in bad_lines(b1)]
        problems += [f"B2 stderr: {line}" for line in bad_lines(b2)]
        if not any("from an earlier run" in line for line in b2.err_lines()):
            problems.append("B2 did not log '... from an earlier run' although the spool held B1's messages")
        b1_pairs = Counter(produced_pairs(b1))
        b2_pairs = Counter(produced_pairs(b2))
        on_topic = topic_pairs(r.msgs_b)
        required_b1 = Counter({p: n for p, n in b1_pairs.items() if p[1] != r.b1_last})
        lost_b1 = sorted(required_b1 - on_topic)
        if lost_b1:
            problems.append(f"{len(lost_b1)} messages B1 produced before the SIGKILL (not counting "
                            f"its last poll {r.b1_last}) are not on the topic, e.g. "
                            f"{[(name_of(k), t) for k, t in lost_b1[:6]]}")
        # B1's messages from after the broker went away never reached it: B2 sends them once.
        # B2's first poll may fall in the second of B1's last one: two polls, one time stamp, so
        # the counts below add up what each process printed for a (key, time).
        down = epoch_str(r.t_down + 1)
        both = b1_pairs + b2_pairs
        once = {p for p in required_b1 if p[1] >= down} | set(b2_pairs)
        twice = sorted((name_of(k), t, on_topic[(k, t)], both[(k, t)]) for k, t in once
                       if on_topic[(k, t)] > both[(k, t)])
        if twice:
            problems.append(f"{len(twice)} messages produced after the broker went away are on the "
                            f"topic more often than produced (within one process lifetime): "
                            f"(domain, time, on the topic, produced) {twice[:5]}")
        lost_b2 = sorted(p for p, n in b2_pairs.items() if on_topic[p] < n + required_b1[p])
        if lost_b2:
            problems.append(f"{len(lost_b2)} messages B2 produced are not on the topic, e.g. "
                            f"{[(name_of(k), t) for k, t in lost_b2[:5]]}")
        b1_times = {t for _, t in required_b1}
        b2_times = {t for _, t in b2_pairs}
        incomplete = []
        for t in sorted(b1_times | b2_times):
            for u, name in r.stable.items():
                if both[(u, t)] == 0:
                    incomplete.append(f"poll {t}: no message printed for {name}")
                elif on_topic[(u, t)] == 0:
                    incomplete.append(f"poll {t}: no message on the topic for {name}")
        problems += incomplete[:15]
        b1_polls = len(poll_lines(b1))
        if b1_polls > len(b1_times) + 1:
            problems.append(f"B1 logged {b1_polls} polls but printed only {len(b1_times)} poll times")
        gaps = missing_seconds(set(b1_times) | b2_times)
        # the restart itself leaves a gap of a second or two
        restart_gap = [g for g in gaps if g[0] <= r.t_kill <= g[1] + 1]
        other = [g for g in gaps if g not in restart_gap]
        skipped = skipped_ticks(b1) + skipped_ticks(b2)
        if sum(n for _, _, n in other) > skipped:
            problems.append(f"poll times missing outside the restart: {fmt_gaps(other)}; "
                            f"{skipped} skipped tick(s) logged")
        if restart_gap and restart_gap[0][2] > 5:
            problems.append(f"the restart lost {restart_gap[0][2]} s of polls: {fmt_gaps(restart_gap)}")
        b2_keys_msgs = [m for m in r.msgs_b
                        if (m["key"], m["time"]) in b2_pairs and (m["key"], m["time"]) not in b1_pairs]
        problems += order_problems(b2_keys_msgs)
        problems += shape_problems(r.msgs_b)
        c = exit_counters(b2.err_lines())
        if c is None:
            problems.append("B2 has no exit line")
        elif c["left"] or c["dropped"] or c["failed"]:
            problems.append(f"B2 exit line: {c['failed']} failed, {c['dropped']} dropped, "
                            f"{c['left']} left in the spool; expected 0 each")
        if "B" not in r.catch_up:
            problems.append(f"delivery did not catch up within {CATCH_UP_BOUND_S:.0f} s of the broker's return")
        dup_total = sum(max(0, n - both[p]) for p, n in on_topic.items())
        shared = sorted({t for _, t in b1_pairs} & b2_times)
        recovered = [line for line in b2.err_lines() if "from an earlier run" in line]
        summary("2 (SIGKILL during the outage)",
                f"{sum(b1_pairs.values())} (B1) + {sum(b2_pairs.values())} (B2)", len(r.msgs_b),
                f"{r.spool_at_start[1][1] // 1024} KiB at the end of the outage",
                c["dropped"] if c else "?",
                f"killed {r.t_kill - r.t_down:.0f} s into the outage, B1 last poll {r.b1_last} "
                f"(not required), poll times printed by both B1 and B2: {shared or 'none'}, "
                f"{dup_total} duplicate(s) across the restart, caught up "
                f"{r.catch_up.get('B', float('nan')):.1f} s after the broker answered; "
                f"B2: {recovered[0].split('] ', 1)[-1] if recovered else 'no recovery line'}")
        self.assertNoProblems(problems, "test 2 (SIGKILL during the outage)", [b1, b2])


if __name__ == "__main__":
    unittest.main(verbosity=2)
