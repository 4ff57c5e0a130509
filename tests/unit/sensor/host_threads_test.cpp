// One thread per hypervisor against the test driver: each host's points carry its own vmHost, a
// host stuck in its poll delays no other, and a stop wakes sleeping threads at once.
#include "pulse/sensor/host_threads.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace pulse
