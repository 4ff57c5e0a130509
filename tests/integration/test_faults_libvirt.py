"""pulse-sensor under faults: a libvirtd restart, and domain churn.

    tests/integration/run faults
    # or by hand, with the lab up (libvirt-lab.sh up) and the Kafka jars installed:
    /usr/bin/python3 -m pytest -v -s tests/integration/test_faults_libvirt.py

The lab, the fault modules' own broker, the sensors and the checks they share: lib/faults.py.

  3  libvirtd stopped for about 5 s (libvirt-lab.sh stop-daemon / start-daemon): the sensor
     keeps running, logs the loss once (at most 3 warning/error lines, overruns aside), and
     has a complete poll within PAUSE + 3 s after libvirtd answers again; SIGTERM exits 0
  4  the lab's spare domain started and destroyed over and over (at least 3 cycles, about
     15 s: `libvirt-lab.sh start-domain`, which waits for the guest's disk IO, alternating with
     a bare `virsh start` for shorter cycles; `libvirt-lab.sh destroy-domain`) while the sensor
     polls: no crash, exit 0, at most 2 warning/error lines per cycle + 2 (overruns, from polls
     that wait for a destroy, counted apart), every message contract-shaped; the spare's
     messages may lack NIC/disk points only in polls that overlapped a destroy
"""

import time
import unittest
from collections import Counter, defaultdict

from lib import faults
from lib.common import wait_until
from lib.faults import (LEVEL_RE, OVERRUN_RE, PAUSE, bad_lines, create_topics, domain_names,
                        epoch, exit_counters, lab_uuid, live_uuids, missing_from_topic, msg_pair,
                        poll_lines, poll_problems, produced_pairs, shape_problems,
                        short_messages, sleep_until, stable_lab_uuids, start_sensor, summary,
                        tail, topic_messages, topic_pairs)
from lib.lab import lab

RECOVERY_MARGIN_S = 3.0      # test 3: a complete poll within PAUSE + this after libvirtd is back


def setUpModule():
    faults.set_up()


def tearDownModule():
    faults.tear_down()


# ------------------------------------------------------------------ 3: libvirtd restart
class Test3LibvirtdRestart(faults.FaultTest):
    def test_3_libvirtd_restart(self):
        topic, = create_topics(1)
        live_before = live_uuids()
        s = start_sensor("libvirtd restart", faults.TMP / "spool-3", topic, faults.BOOTSTRAP)
        daemon_down = False
        try:
            self.assertTrue(wait_until(lambda: len(poll_lines(s)) >= 3, 30),
                            f"no 3 polls in 30 s:\n{tail(s)}")
            t_stop0 = time.time()
            daemon_down = True
            lab("stop-daemon", timeout=60)
            t_down = time.time()
            sleep_until(t_down + 5)
            t_start0 = time.time()
            lab("start-daemon", timeout=120)
            daemon_down = False
            t_up = time.time()
            stable = stable_lab_uuids(live_before)
            complete = None

            def recovered():
                nonlocal complete
                complete = first_complete_poll(s.messages(), stable, after=t_start0)
                return complete is not None
            wait_until(recovered, PAUSE + RECOVERY_MARGIN_S + 10)
            time.sleep(2)
            alive = s.alive()
            rc, stop_s = s.stop(timeout=30)
        finally:
            s.close()
            if daemon_down:
                lab("start-daemon", timeout=120)
        live_after = live_uuids()
        stable = stable_lab_uuids(live_before, live_after)
        msgs = topic_messages(topic)
        lines = s.err_lines()
        lost = [x for x in lines if "lost the connection to" in x]
        back = [x for x in lines if "reconnected to" in x]
        # overruns come from load (others use this machine), not from the outage: counted apart
        overruns = [x for x in lines if OVERRUN_RE.search(x)]
        noisy = [x for x in lines if LEVEL_RE.search(x) and x not in overruns]
        problems = []
        if not alive:
            problems.append(f"the sensor exited: {s.proc.returncode}")
        if rc != 0:
            problems.append(f"exit status after SIGTERM: {rc}, expected 0")
        problems += [f"stderr: {x}" for x in bad_lines(s)]
        if len(lost) != 1 or "[error]" not in (lost[0] if lost else ""):
            problems.append(f"{len(lost)} '[error] lost the connection to {faults.URI}' lines, expected 1: {lost[:5]}")
        if len(back) != 1:
            problems.append(f"{len(back)} 'reconnected to {faults.URI}' lines, expected 1: {back[:5]}")
        if len(noisy) > 3:
            problems.append(f"{len(noisy)} warning/error lines for one 5 s outage at PAUSE={PAUSE} "
                            f"(expected the loss once, not once per poll): {noisy[:8]}")
        latency = None if complete is None else complete[0] - t_up
        if complete is None:
            problems.append(f"no poll with all stable lab domains {sorted(stable.values())} within "
                            f"{PAUSE + RECOVERY_MARGIN_S + 10:.0f} s after libvirtd answered again")
        elif latency > PAUSE + RECOVERY_MARGIN_S:
            problems.append(f"first complete poll ({complete[1]}) {latency:.1f} s after libvirtd "
                            f"answered again, expected within PAUSE + {RECOVERY_MARGIN_S:.0f} s = "
                            f"{PAUSE + RECOVERY_MARGIN_S:.0f} s")
        pairs = topic_pairs(msgs)
        produced = Counter(produced_pairs(s))
        problems += missing_from_topic(produced, pairs)
        problems += poll_problems(pairs.elements(), stable)
        problems += shape_problems(msgs)
        times = sorted({t for _, t in produced})
        before = [t for t in times if epoch(t) + 1 < t_stop0]
        after = [t for t in times if epoch(t) >= t_up]
        if not before or not after:
            problems.append(f"polls before the outage {before[-3:]}, after it {after[:3]}")
        c = exit_counters(s.err_lines())
        summary("3 (libvirtd restart)", sum(produced.values()), len(msgs), c["left"] if c else "?",
                c["dropped"] if c else "?",
                f"libvirtd down {t_up - t_stop0:.1f} s (stop {t_down - t_stop0:.1f} s, start "
                f"{t_up - t_start0:.1f} s), first complete poll "
                f"{'never' if latency is None else f'{latency:+.1f} s'} after it answered "
                f"({complete[1] if complete else '-'}), {len(lost)} loss line(s), "
                f"{len(noisy)} warning/error line(s) (+{len(overruns)} overrun(s)), "
                f"SIGTERM->exit {stop_s:.1f} s; "
                f"{[x.split('] ', 1)[-1][:120] for x in noisy + back]}")
        self.assertNoProblems(problems, "test 3 (libvirtd restart)", [s])


def first_complete_poll(messages, stable, after):
    """(arrival, poll time) of the earliest poll printed after `after` that has every stable
    domain: its arrival is that of its last message."""
    polls = defaultdict(lambda: [0.0, set()])
    for arrival, points in messages:
        key, t = msg_pair(points)
        polls[t][0] = max(polls[t][0], arrival)
        polls[t][1].add(key)
    done = [(arr, t) for t, (arr, keys) in polls.items() if arr > after and set(stable) <= keys]
    return min(done) if done else None


# ------------------------------------------------------------------ 4: domain churn
class Test4DomainChurn(faults.FaultTest):
    def test_4_domains_destroyed_and_created_during_polls(self):
        spare = faults.LAB.get("LAB_SPARE", "i-4-20-VM")
        topic, = create_topics(1)
        live_before = live_uuids()
        spare_was_running = lab_uuid(spare) in live_before
        names_before = domain_names()
        if spare_was_running:
            lab("destroy-domain", spare, timeout=60)
        s = start_sensor("domain churn", faults.TMP / "spool-4", topic, faults.BOOTSTRAP)
        cycles, log, destroys = 0, [], []
        try:
            self.assertTrue(wait_until(lambda: len(poll_lines(s)) >= 2, 30),
                            f"no 2 polls in 30 s:\n{tail(s)}")
            t0 = time.time()
            # lab-script starts (they wait for the guest's disk IO and push frames) alternate
            # with bare `virsh start`s, which make the cycles short; every destroy is the lab's
            while cycles < 8 and (time.time() < t0 + 15 or cycles < 3):
                c0 = time.time()
                if cycles % 2 == 0:
                    lab("start-domain", spare, timeout=120)
                else:
                    p = faults.run(["virsh", "-q", "-c", faults.URI, "start", spare], 60)
                    if p.returncode != 0:
                        raise RuntimeError(f"virsh start {spare}: {p.stderr}")
                time.sleep(0.3)
                d0 = time.time()
                lab("destroy-domain", spare, timeout=60)
                destroys.append((d0, time.time()))
                cycles += 1
                log.append(f"{time.time() - c0:.1f}")
            t_churn = time.time() - t0
            time.sleep(2)
            alive = s.alive()
            rc, stop_s = s.stop(timeout=30)
        finally:
            s.close()
            if spare_was_running:
                lab("start-domain", spare, timeout=120)
            else:
                lab("destroy-domain", spare, timeout=60)
        live_after = live_uuids()
        stable = stable_lab_uuids(live_before, live_after)
        msgs = topic_messages(topic)
        lines = s.err_lines()
        others = (names_before | domain_names()) - set(faults.LAB_DOMS)
        # a poll that waits for `virsh destroy` may overrun PAUSE=1: those (and overruns from
        # load) are counted apart from the warnings the churn itself causes
        overruns = [x for x in lines if OVERRUN_RE.search(x)]
        noisy = [x for x in lines if LEVEL_RE.search(x) and x not in overruns]
        about_others = [x for x in noisy if any(o in x for o in others)]
        ours = [x for x in noisy if x not in about_others]
        problems = []
        if not alive:
            problems.append(f"the sensor exited: {s.proc.returncode}")
        if rc != 0:
            problems.append(f"exit status after SIGTERM: {rc}, expected 0")
        problems += [f"stderr: {x}" for x in bad_lines(s)]
        limit = 2 * cycles + 2
        if len(ours) > limit:
            problems.append(f"{len(ours)} warning/error lines for {cycles} start/destroy cycles "
                            f"(at most {limit}: a start and an end per cycle, plus 2): {ours[:10]}")
        problems += shape_problems(msgs, dying={lab_uuid(spare)}, limit=10)
        short = short_messages(msgs, spare)
        # a poll stamped T started within [T, T+1) and may have waited for a destroy
        unexplained = [x for x in short if not any(
            int(d0) - 1 <= epoch(x.split()[0]) <= d1 for d0, d1 in destroys)]
        if unexplained:
            problems.append(f"{spare} messages without all of its NIC/disk points in polls that "
                            f"overlapped no destroy: {unexplained[:6]} (destroys at "
                            f"{[(time.strftime('%H:%M:%S', time.gmtime(d0)), round(d1 - d0, 1)) for d0, d1 in destroys]})")
        pairs = topic_pairs(msgs)
        produced = Counter(produced_pairs(s))
        problems += missing_from_topic(produced, pairs)
        problems += poll_problems(pairs.elements(), stable)
        spare_polls = sorted({t for k, t in pairs if k == lab_uuid(spare)})
        if not spare_polls:
            problems.append(f"{spare} appears in no poll: the churn did not overlap any poll")
        c = exit_counters(s.err_lines())
        summary("4 (domain churn)", sum(produced.values()), len(msgs), c["left"] if c else "?",
                c["dropped"] if c else "?",
                f"{cycles} start/destroy cycles of {spare} in {t_churn:.1f} s (each {', '.join(log)} s), "
                f"{spare} in {len(spare_polls)} of {len({t for _, t in pairs})} polls, "
                f"{len(short)} of its messages short of NIC/disk points (polls that overlapped "
                f"a destroy): {short[:6]}, "
                f"{len(ours)} warning/error line(s) (+{len(about_others)} about other domains, "
                f"+{len(overruns)} overrun(s)), "
                f"SIGTERM->exit {stop_s:.1f} s; warnings: "
                f"{[x.split('] ', 1)[-1][:120] for x in ours + overruns]}")
        self.assertNoProblems(problems, "test 4 (domain churn)", [s])


if __name__ == "__main__":
    unittest.main(verbosity=2)
