// The poll cycle against the test driver: messages and keys as the contract says, and an
// unreachable hypervisor that costs neither a crash nor a log line per poll.
#include "pulse/sensor/poller.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "fixtures.hpp"
#include "point_recorder.hpp"

namespace pulse {
namespace {

using namespace std::chrono;
using pulse::testing::test_uri;
using ::testing::HasSubstr;
using ::testing::Not;

using Recorder = pulse::testing::PointRecorder;

struct Capture {
    Capture() {
        auto logger = std::make_shared<spdlog::logger>(
            "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(text));
        previous = spdlog::default_logger();
        spdlog::set_default_logger(logger);
    }
    ~Capture() { spdlog::set_default_logger(previous); }
    int count(const std::string& needle) const {
        std::string s = text.str();
        int n = 0;
        for (auto at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) {
            ++n;
        }
        return n;
    }
    std::ostringstream text;
    std::shared_ptr<spdlog::logger> previous;
};

const Timestamp kTime = sys_days{year{2026} / 11 / 25} + hours{12};

TEST(Poller, OnePollGivesTheHostMessageThenOneMessagePerDomainKeyedByUuid) {
    libvirt::silence_default_error_handler();
    Recorder r;
    const std::string uri = test_uri("cloudstack-node.xml");
    Poller poller({{uri, seconds(10), true}}, r);
    PollReport report = poller.poll(kTime);

    EXPECT_TRUE(report.connected);
    EXPECT_EQ(report.domains, 2u);
    ASSERT_EQ(r.messages.size(), 3u);
    EXPECT_EQ(r.messages[0].key, uri) << "the host message is keyed by vmHost";
    EXPECT_EQ(r.messages[0].points[0].measurement, "nodeInfo");
    std::set<std::string> keys;
    for (std::size_t i = 1; i < r.messages.size(); ++i) {
        const auto& [key, message] = r.messages[i];
        keys.insert(key);
        for (const auto& point : message) {
            EXPECT_EQ(Recorder::tag(point, "vmUuid"), key);
            EXPECT_EQ(Recorder::tag(point, "vmHost"), uri);
            EXPECT_EQ(point.time, kTime);
        }
    }
    EXPECT_EQ(keys, (std::set<std::string>{"12805898-0fda-4fa6-9f18-fac64f673679",
                                           "3b5e2e5c-7a43-4d43-9a1f-5c8e0d2b6a11"}));
    std::size_t points = 0;
    for (const auto& m : r.messages) {
        points += m.points.size();
    }
    EXPECT_EQ(report.points, points);
    EXPECT_EQ(report.messages, 3u);
}

TEST(Poller, WithoutHostStatsThereIsNoNodeInfo) {
    Recorder r;
    Poller poller({{"test:///default", seconds(10), false}}, r);
    poller.poll(kTime);
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].points[0].measurement, "cpuTime");
}

TEST(Poller, WithRatesTheSecondPollAppendsRatePointsToEachDomainsMessage) {
    Recorder r;
    Poller poller({{test_uri("cloudstack-node.xml"), seconds(1), false, true}}, r);
    poller.poll(kTime);
    std::this_thread::sleep_for(milliseconds(600));  // at least half a PAUSE
    poller.poll(kTime + seconds(1));
    ASSERT_EQ(r.messages.size(), 4u);
    auto is_rate = [](const Point& point) { return point.measurement.ends_with("Rate"); };
    for (std::size_t i = 0; i < 2; ++i) {
        const std::vector<Point>& first = r.messages[i].points;
        EXPECT_TRUE(std::none_of(first.begin(), first.end(), is_rate)) << "a first poll has none";
        // The second poll: the same contract points, then the rates, with the same key.
        const auto& [key, second] = r.messages[i + 2];
        EXPECT_EQ(key, r.messages[i].key);
        ASSERT_GT(second.size(), first.size());
        EXPECT_TRUE(std::none_of(second.begin(), second.begin() + first.size(), is_rate));
        EXPECT_TRUE(std::all_of(second.begin() + first.size(), second.end(), is_rate));
        EXPECT_EQ(second[first.size()].measurement, "cpuRate");
        for (const auto& point : second) {
            EXPECT_EQ(Recorder::tag(point, "vmUuid"), key);
        }
    }
}

TEST(Poller, WithoutRatesThereAreNoRatePoints) {
    Recorder r;
    Poller poller({{test_uri("cloudstack-node.xml"), seconds(1), false, false}}, r);
    poller.poll(kTime);
    std::this_thread::sleep_for(milliseconds(600));
    poller.poll(kTime + seconds(1));
    for (const auto& [key, message] : r.messages) {
        for (const auto& point : message) {
            EXPECT_EQ(point.measurement.find("Rate"), std::string::npos);
        }
    }
}

TEST(Poller, AnUnreachableHypervisorIsLoggedOnceAndRetriedWithBackoff) {
    libvirt::silence_default_error_handler();
    Capture logs;
    Recorder r;
    Poller poller({{"test:///no/such/node.xml", seconds(300), true}}, r);
    for (int i = 0; i < 5; ++i) {
        PollReport report = poller.poll(kTime);
        EXPECT_FALSE(report.connected);
        EXPECT_EQ(report.messages, 0u);
    }
    EXPECT_EQ(logs.count("[error]"), 1) << logs.text.str();
    EXPECT_EQ(logs.count("test:///no/such/node.xml"), 1) << logs.text.str();
}

// KVM_HOST may hold a password; the connect call is the only place that sees it. libvirt itself
// quotes an unknown scheme's URI in its error; a closed port gets "connection refused".
TEST(Poller, APasswordInTheUriIsInNoTagAndNoLogLine) {
    libvirt::silence_default_error_handler();
    for (const char* uri : {"qemu+tcp://admin:Zq9-S3CRET@127.0.0.1:1/system",
                            "nosuch://admin:Zq9-S3CRET@127.0.0.1/system"}) {
        Capture logs;
        Recorder r;
        Poller poller({{uri, seconds(300), true}}, r);
        EXPECT_FALSE(poller.poll(kTime).connected);
        EXPECT_THAT(poller.vm_host(), Not(HasSubstr("Zq9-S3CRET")));
        EXPECT_THAT(poller.vm_host(), HasSubstr("admin@127.0.0.1"));
        EXPECT_EQ(logs.count("[error]"), 1) << logs.text.str();
        EXPECT_EQ(logs.count("Zq9-S3CRET"), 0) << logs.text.str();
        EXPECT_GE(logs.count("admin@127.0.0.1"), 1) << logs.text.str();
    }
}

TEST(Poller, EveryPollAndReconnectIsRecordedInItsHostsMetrics) {
    libvirt::silence_default_error_handler();
    Capture logs;
    Recorder r;
    // The test driver reads its node from a file: absent, the hypervisor is unreachable.
    const std::string node =
        ::testing::TempDir() + "poller-metrics-node-" + std::to_string(::getpid()) + ".xml";
    std::filesystem::remove(node);
    Metrics metrics;
    HostMetrics& host = metrics.add_host("test://" + node);
    Poller poller(
        {.host = {.uri = "test://" + node, .pause = seconds(1), .gather_host_stats = true},
         .metrics = &host},
        r);

    poller.poll(kTime);
    HostMetrics::Snapshot down = host.snapshot();
    EXPECT_EQ(down.polls, 1u);
    EXPECT_EQ(down.missed_libvirt, 1u);
    EXPECT_FALSE(down.up);

    std::filesystem::copy_file(std::string(PULSE_FIXTURES) + "/cloudstack-node.xml", node);
    std::this_thread::sleep_for(milliseconds(1000));  // the first backoff step, under 1 s
    PollReport report = poller.poll(kTime + seconds(10));
    ASSERT_TRUE(report.connected) << logs.text.str();
    HostMetrics::Snapshot up = host.snapshot();
    EXPECT_EQ(up.polls, 2u);
    EXPECT_EQ(up.missed_libvirt, 1u);
    EXPECT_EQ(up.reconnects, 1u);
    EXPECT_TRUE(up.up);
    EXPECT_EQ(up.domains, 2u);
    EXPECT_EQ(up.messages, report.messages);
    EXPECT_EQ(up.points, report.points);
    EXPECT_EQ(up.last_success, kTime + seconds(10));
    EXPECT_EQ(up.duration_count, 2u);
    std::filesystem::remove(node);
}

}  // namespace
}  // namespace pulse
