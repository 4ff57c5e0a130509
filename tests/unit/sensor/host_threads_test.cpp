// One thread per hypervisor against the test driver: each host's points carry its own vmHost, a
// host stuck in its poll delays no other, and a stop wakes sleeping threads at once.
#include "pulse/sensor/host_threads.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "fixtures.hpp"
#include "point_recorder.hpp"

namespace pulse {
namespace {

using namespace std::chrono;
using pulse::testing::test_uri;

using Recorder = pulse::testing::PointRecorder;

// Counts polls per host and can hold one host's thread inside its poll hook, as a hypervisor
// that does not answer holds it inside libvirt.
struct PollGate {
    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, int> polls;
    std::string held_uri;
    bool released = false;

    bool wait_for_polls(const std::string& uri, int count) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, seconds(30), [&] { return polls[uri] >= count; });
    }
    void release() {
        std::lock_guard lock(mutex);
        released = true;
        changed.notify_all();
    }
};

// The hooks hold the gate: a thread left stuck by stop() may outlive the test's scope.
HostHooks hooks_of(const std::shared_ptr<PollGate>& gate) {
    return {.polled =
                [gate](const Poller& poller, const PollReport&) {
                    std::unique_lock lock(gate->mutex);
                    ++gate->polls[poller.vm_host()];
                    gate->changed.notify_all();
                    if (poller.vm_host() == gate->held_uri) {
                        gate->changed.wait(lock, [&] { return gate->released; });
                    }
                },
            .overrun = {}};
}

// poll_once's wait without a signal to watch: sleeps until the time asked, never told to stop.
bool just_sleep(steady_clock::time_point until) {
    std::this_thread::sleep_until(until);
    return false;
}

TEST(HostThreads, PollOnceGivesEveryHostsPointsTaggedWithItsOwnUri) {
    libvirt::silence_default_error_handler();
    Recorder out;
    const std::string a = test_uri("cloudstack-node.xml");
    const std::string b = "test:///default";
    HostThreads hosts({{a, seconds(10), true}, {b, seconds(10), false}}, out, {});

    OnceOutcome once = hosts.poll_once(seconds(5), just_sleep);
    const std::vector<PollReport>& reports = once.reports;

    EXPECT_TRUE(once.unfinished.empty());
    EXPECT_FALSE(once.interrupted);
    ASSERT_EQ(reports.size(), 2U);
    EXPECT_TRUE(reports[0].connected);
    EXPECT_TRUE(reports[1].connected);
    std::map<std::string, int> by_host = out.messages_by_host();
    EXPECT_EQ(by_host[a], 3) << "nodeInfo and two domains";
    EXPECT_EQ(by_host[b], static_cast<int>(reports[1].domains)) << "no nodeInfo";
    EXPECT_GE(reports[1].domains, 1U);
    EXPECT_EQ(by_host.size(), 2U);
}

TEST(HostThreads, EachHostRecordsItsPollsInItsOwnMetrics) {
    libvirt::silence_default_error_handler();
    Recorder out;
    const std::string live = test_uri("cloudstack-node.xml");
    const std::string dead = "qemu+unix:///system?socket=/nonexistent/pulse-test.sock";
    Metrics metrics;
    HostThreads hosts({{live, seconds(10), false}, {dead, seconds(10), false}}, out, {}, &metrics);

    hosts.poll_once(seconds(5), just_sleep);
    hosts.poll_once(seconds(5), just_sleep);

    const std::string text = metrics.render();
    EXPECT_THAT(text, ::testing::HasSubstr("pulse_polls_total{host=\"" + live + "\"} 2"));
    EXPECT_THAT(text, ::testing::HasSubstr("pulse_host_up{host=\"" + live + "\"} 1"));
    EXPECT_THAT(text, ::testing::HasSubstr("pulse_host_up{host=\"" + dead + "\"} 0"));
}

TEST(HostThreads, PollOnceGivesUpOnAHostStuckPastItsPausePlusTheGrace) {
    libvirt::silence_default_error_handler();
    Recorder out;
    const std::string stuck = test_uri("cloudstack-node.xml");
    const std::string live = "test:///default";
    auto gate = std::make_shared<PollGate>();
    gate->held_uri = stuck;
    HostThreads hosts({{stuck, seconds(1), false}, {live, seconds(30), false}}, out,
                      hooks_of(gate));

    const auto started = steady_clock::now();
    OnceOutcome once = hosts.poll_once(milliseconds(300), just_sleep);
    const auto took = steady_clock::now() - started;

    EXPECT_GE(took, milliseconds(1300));
    EXPECT_LT(took, seconds(5)) << "the stuck host's PAUSE (1 s) plus the grace bounds the wait";
    ASSERT_EQ(once.unfinished.size(), 1U);
    EXPECT_EQ(once.unfinished[0].host, stuck);
    EXPECT_EQ(once.unfinished[0].limit, seconds(1));
    EXPECT_FALSE(once.interrupted);
    ASSERT_EQ(once.reports.size(), 2U);
    EXPECT_TRUE(once.reports[1].connected) << "the live host's poll is kept";
    gate->release();  // the detached thread owns its host and the gate
}

TEST(HostThreads, PollOnceStopsWaitingAsSoonAsAStopIsRequested) {
    libvirt::silence_default_error_handler();
    Recorder out;
    const std::string stuck = "test:///default";
    auto gate = std::make_shared<PollGate>();
    gate->held_uri = stuck;
    HostThreads hosts({{stuck, seconds(3600), false}}, out, hooks_of(gate));
    int waits = 0;

    const auto started = steady_clock::now();
    OnceOutcome once = hosts.poll_once(seconds(3600), [&](steady_clock::time_point until) {
        std::this_thread::sleep_until(until);
        return ++waits == 3;  // a SIGTERM while the poll hangs
    });

    EXPECT_LT(steady_clock::now() - started, seconds(2));
    EXPECT_TRUE(once.interrupted);
    ASSERT_EQ(once.unfinished.size(), 1U);
    EXPECT_EQ(once.unfinished[0].host, stuck);
    gate->release();
}

TEST(HostThreads, AHostStuckInItsPollDoesNotDelayTheOthers) {
    libvirt::silence_default_error_handler();
    Recorder out;
    const std::string stuck = test_uri("cloudstack-node.xml");
    const std::string live = "test:///default";
    auto gate = std::make_shared<PollGate>();
    gate->held_uri = stuck;
    HostThreads hosts({{stuck, seconds(1), false}, {live, seconds(1), false}}, out, hooks_of(gate));
    hosts.start();

    EXPECT_TRUE(gate->wait_for_polls(live, 3)) << "the live host kept its ticks";
    {
        std::lock_guard lock(gate->mutex);
        EXPECT_EQ(gate->polls[stuck], 1) << "the stuck host is still in its first poll";
    }
    std::vector<std::string> left = hosts.stop(milliseconds(200));
    EXPECT_EQ(left, std::vector<std::string>{stuck}) << "stop gives up on the stuck thread only";
    // The detached thread owns its host and the gate; released, it finishes on its own.
    gate->release();
}

TEST(HostThreads, StopWakesThreadsSleepingUntilTheirNextTick) {
    libvirt::silence_default_error_handler();
    Recorder out;
    auto gate = std::make_shared<PollGate>();
    const std::string uri = "test:///default";
    HostThreads hosts(
        {{uri, seconds(3600), false}, {test_uri("cloudstack-node.xml"), seconds(3600), false}}, out,
        hooks_of(gate));
    hosts.start();
    ASSERT_TRUE(gate->wait_for_polls(uri, 1));
    // An hour to the next tick; a stop that waited for it would give up on both threads.
    EXPECT_TRUE(hosts.stop(seconds(20)).empty());
    std::lock_guard lock(gate->mutex);
    EXPECT_EQ(gate->polls[uri], 1);
}

// The hosts that polled so far, and how often; safe while host threads poll.
std::map<std::string, int> polls_of(const std::shared_ptr<PollGate>& gate) {
    std::lock_guard lock(gate->mutex);
    return gate->polls;
}

int count_of(const std::map<std::string, int>& counts, const std::string& uri) {
    auto found = counts.find(uri);
    return found == counts.end() ? 0 : found->second;
}

TEST(HostThreadsRunOnly, StartsOnlyTheHostsGiven) {
    libvirt::silence_default_error_handler();
    Recorder out;
    auto gate = std::make_shared<PollGate>();
    const std::string a = test_uri("cloudstack-node.xml");
    const std::string b = "test:///default";
    const std::string c = test_uri("states-node.xml");
    HostThreads hosts({{a, seconds(1), false}, {b, seconds(1), false}, {c, seconds(1), false}}, out,
                      hooks_of(gate));

    HostThreads::Change change = hosts.run_only({a, c}, seconds(5));

    EXPECT_EQ(change.started, (std::vector<std::string>{a, c}));
    EXPECT_TRUE(change.stopped.empty());
    EXPECT_TRUE(change.stuck.empty());
    // Two ticks of the hosts started: b, had it been started, would have polled at once.
    ASSERT_TRUE(gate->wait_for_polls(a, 2));
    ASSERT_TRUE(gate->wait_for_polls(c, 2));
    EXPECT_EQ(count_of(polls_of(gate), b), 0);
    std::map<std::string, int> by_host = out.messages_by_host();
    EXPECT_GE(count_of(by_host, a), 1);
    EXPECT_GE(count_of(by_host, c), 1);
    EXPECT_EQ(count_of(by_host, b), 0);
    EXPECT_TRUE(hosts.stop(seconds(5)).empty());
}

TEST(HostThreadsRunOnly, AnotherSetStopsTheOthersBeforeItReturnsAndStartsTheNewOnes) {
    libvirt::silence_default_error_handler();
    Recorder out;
    auto gate = std::make_shared<PollGate>();
    const std::string a = test_uri("cloudstack-node.xml");
    const std::string b = "test:///default";
    HostThreads hosts({{a, seconds(1), false}, {b, seconds(1), false}}, out, hooks_of(gate));
    hosts.run_only({a}, seconds(5));
    ASSERT_TRUE(gate->wait_for_polls(a, 1));

    HostThreads::Change change = hosts.run_only({b}, seconds(5));
    // What a had done when it was handed over: nothing may follow.
    const int a_polls = count_of(polls_of(gate), a);
    const int a_messages = count_of(out.messages_by_host(), a);

    EXPECT_EQ(change.started, std::vector<std::string>{b});
    EXPECT_EQ(change.stopped, std::vector<std::string>{a});
    EXPECT_TRUE(change.stuck.empty());
    EXPECT_GE(a_messages, 1);
    // Three polls of b take two of its 1 s ticks, two of the ticks a would have had.
    ASSERT_TRUE(gate->wait_for_polls(b, 3));
    EXPECT_EQ(count_of(polls_of(gate), a), a_polls) << "a stopped host polled again";
    EXPECT_EQ(count_of(out.messages_by_host(), a), a_messages) << "a stopped host delivered";

    // The same set again changes nothing.
    change = hosts.run_only({b}, seconds(5));
    EXPECT_TRUE(change.started.empty());
    EXPECT_TRUE(change.stopped.empty());

    // Given back, a starts afresh beside b.
    change = hosts.run_only({a, b}, seconds(5));
    EXPECT_EQ(change.started, std::vector<std::string>{a});
    EXPECT_TRUE(change.stopped.empty());
    EXPECT_TRUE(gate->wait_for_polls(a, a_polls + 1));
    EXPECT_TRUE(hosts.stop(seconds(5)).empty());
}

TEST(HostThreadsRunOnly, AnEmptySetStopsEveryHost) {
    libvirt::silence_default_error_handler();
    Recorder out;
    auto gate = std::make_shared<PollGate>();
    const std::string a = test_uri("cloudstack-node.xml");
    const std::string b = "test:///default";
    HostThreads hosts({{a, seconds(1), false}, {b, seconds(1), false}}, out, hooks_of(gate));
    hosts.run_only({a, b}, seconds(5));
    ASSERT_TRUE(gate->wait_for_polls(a, 1));
    ASSERT_TRUE(gate->wait_for_polls(b, 1));

    HostThreads::Change change = hosts.run_only({}, seconds(5));
    const std::map<std::string, int> polls = polls_of(gate);
    const std::size_t messages = [&] {
        std::map<std::string, int> by_host = out.messages_by_host();
        return static_cast<std::size_t>(count_of(by_host, a) + count_of(by_host, b));
    }();

    EXPECT_EQ(change.stopped, (std::vector<std::string>{a, b}));
    EXPECT_TRUE(change.started.empty());
    std::this_thread::sleep_for(milliseconds(1200));  // a tick of each, at least
    EXPECT_EQ(polls_of(gate), polls);
    std::map<std::string, int> by_host = out.messages_by_host();
    EXPECT_EQ(static_cast<std::size_t>(count_of(by_host, a) + count_of(by_host, b)), messages);
}

TEST(HostThreadsRunOnly, WaitsForAPollInProgressOfAHostItStops) {
    libvirt::silence_default_error_handler();
    Recorder out;
    auto gate = std::make_shared<PollGate>();
    const std::string a = test_uri("cloudstack-node.xml");
    gate->held_uri = a;
    HostThreads hosts({{a, seconds(1), false}}, out, hooks_of(gate));
    hosts.run_only({a}, seconds(5));
    ASSERT_TRUE(gate->wait_for_polls(a, 1));  // and held inside its poll

    std::atomic<bool> returned{false};
    std::thread releaser([&] {
        std::this_thread::sleep_for(milliseconds(300));
        EXPECT_FALSE(returned) << "run_only returned while the host's poll was in progress";
        gate->release();
    });
    HostThreads::Change change = hosts.run_only({}, seconds(20));
    returned = true;
    releaser.join();

    EXPECT_EQ(change.stopped, std::vector<std::string>{a});
    EXPECT_TRUE(change.stuck.empty()) << "the poll finished within the grace";
}

TEST(HostThreadsRunOnly, AHostStillInItsPollAtTheDeadlineIsReportedStuck) {
    libvirt::silence_default_error_handler();
    Recorder out;
    auto gate = std::make_shared<PollGate>();
    const std::string a = test_uri("cloudstack-node.xml");
    const std::string b = "test:///default";
    gate->held_uri = a;
    HostThreads hosts({{a, seconds(1), false}, {b, seconds(1), false}}, out, hooks_of(gate));
    hosts.run_only({a, b}, seconds(5));
    ASSERT_TRUE(gate->wait_for_polls(a, 1));

    const auto started = steady_clock::now();
    HostThreads::Change change = hosts.run_only({b}, milliseconds(200));

    EXPECT_LT(steady_clock::now() - started, seconds(3)) << "the grace bounds the wait";
    EXPECT_EQ(change.stopped, std::vector<std::string>{a});
    EXPECT_EQ(change.stuck, std::vector<std::string>{a});
    EXPECT_TRUE(change.started.empty());
    EXPECT_TRUE(gate->wait_for_polls(b, 2)) << "the others go on";
    // The detached thread owns its host and the gate; released, it finishes on its own.
    gate->release();
    EXPECT_TRUE(hosts.stop(seconds(5)).empty());
}

TEST(HostThreadsRunOnly, TheChangeNamesHostsWithoutTheirPasswords) {
    libvirt::silence_default_error_handler();
    Recorder out;
    // Port 1 on loopback: refused at once, polled (and failing) without a network.
    const std::string secret = "qemu+tcp://admin:Zq9-S3CRET@127.0.0.1:1/system";
    HostThreads hosts({{secret, seconds(1), false}, {"test:///default", seconds(1), false}}, out,
                      {});

    HostThreads::Change started = hosts.run_only({secret}, seconds(5));
    HostThreads::Change stopped = hosts.run_only({"test:///default"}, seconds(5));

    EXPECT_EQ(started.started, std::vector<std::string>{"qemu+tcp://admin@127.0.0.1:1/system"});
    EXPECT_EQ(stopped.stopped, std::vector<std::string>{"qemu+tcp://admin@127.0.0.1:1/system"});
    EXPECT_EQ(stopped.started, std::vector<std::string>{"test:///default"});
}

TEST(HostThreadsRunOnly, DoesNothingAfterStop) {
    libvirt::silence_default_error_handler();
    Recorder out;
    auto gate = std::make_shared<PollGate>();
    const std::string a = test_uri("cloudstack-node.xml");
    const std::string b = "test:///default";
    HostThreads hosts({{a, seconds(1), false}, {b, seconds(1), false}}, out, hooks_of(gate));
    hosts.run_only({a}, seconds(5));
    ASSERT_TRUE(gate->wait_for_polls(a, 1));
    EXPECT_TRUE(hosts.stop(seconds(5)).empty());
    const std::map<std::string, int> polls = polls_of(gate);

    HostThreads::Change change = hosts.run_only({a, b}, seconds(5));

    EXPECT_TRUE(change.started.empty());
    EXPECT_TRUE(change.stopped.empty());
    EXPECT_TRUE(change.stuck.empty());
    // A host started now would poll at once.
    std::this_thread::sleep_for(milliseconds(500));
    EXPECT_EQ(polls_of(gate), polls);
}

}  // namespace
}  // namespace pulse
