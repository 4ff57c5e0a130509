// The metrics registry without HTTP: what render() writes, read back by a strict parser of the
// text format, and what health() decides at times the test chooses.
#include "pulse/ops/self_metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "pulse/ops/poll_report.hpp"

namespace pulse {
namespace {

using namespace std::chrono;
using ::testing::HasSubstr;
using ::testing::Not;

const Timestamp kTime = sys_days{year{2026} / 11 / 25} + hours{12};
const SteadyClock::time_point kStart{};

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    std::string value;
};

// Reads the text format strictly: every sample belongs to the family whose HELP and TYPE came
// just before it (histogram samples by their suffixes), no family appears twice, label values
// are unescaped. Any deviation fails the test.
std::vector<Sample> parse_exposition(const std::string& text,
                                     std::map<std::string, std::string>* types = nullptr) {
    static const std::regex help_re(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$)");
    static const std::regex type_re(
        R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    static const std::regex sample_re(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+]?([0-9.eE+-]+|Inf|NaN))$)");
    std::vector<Sample> samples;
    std::set<std::string> families;
    std::string family;
    std::string family_type;
    std::string help_for;
    std::istringstream in(text);
    std::string line;
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n') << "the last line must end with a newline";
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_match(line, m, help_re)) {
            help_for = m[1];
            EXPECT_TRUE(families.insert(help_for).second) << "family twice: " << help_for;
            continue;
        }
        if (std::regex_match(line, m, type_re)) {
            EXPECT_EQ(m[1], help_for) << "TYPE without its HELP: " << line;
            family = m[1];
            family_type = m[2];
            if (types != nullptr) {
                (*types)[family] = family_type;
            }
            continue;
        }
        if (!std::regex_match(line, m, sample_re)) {
            ADD_FAILURE() << "not a sample line: " << line;
            continue;
        }
        Sample s{m[1], {}, m[4]};
        bool belongs = s.name == family;
        if (family_type == "histogram") {
            belongs = s.name == family + "_bucket" || s.name == family + "_sum" ||
                      s.name == family + "_count";
        }
        EXPECT_TRUE(belongs) << s.name << " outside its family (current: " << family << ")";
        std::string labels = m[3];
        std::size_t i = 0;
        while (i < labels.size()) {
            auto eq = labels.find("=\"", i);
            EXPECT_NE(eq, std::string::npos) << line;
            if (eq == std::string::npos) {
                break;
            }
            std::string name = labels.substr(i, eq - i);
            std::string value;
            std::size_t j = eq + 2;
            for (; j < labels.size() && labels[j] != '"'; ++j) {
                if (labels[j] == '\\') {
                    ++j;
                    EXPECT_LT(j, labels.size()) << line;
                    char c = labels[j];
                    EXPECT_TRUE(c == '\\' || c == '"' || c == 'n') << "bad escape in " << line;
                    value += c == 'n' ? '\n' : c;
                } else {
                    EXPECT_NE(labels[j], '\n');
                    value += labels[j];
                }
            }
            EXPECT_LT(j, labels.size()) << "unterminated label value: " << line;
            EXPECT_TRUE(s.labels.emplace(name, value).second) << "label twice: " << line;
            i = j + 1;
            if (i < labels.size()) {
                EXPECT_EQ(labels[i], ',') << line;
                ++i;
            }
        }
        samples.push_back(std::move(s));
    }
    return samples;
}

// The value of the one sample with this name and these labels (among others).
std::string value_of(const std::vector<Sample>& samples, const std::string& name,
                     const std::map<std::string, std::string>& labels) {
    std::vector<std::string> found;
    for (const Sample& s : samples) {
        bool match = s.name == name;
        for (const auto& [k, v] : labels) {
            match = match && s.labels.count(k) && s.labels.at(k) == v;
        }
        if (match) {
            found.push_back(s.value);
        }
    }
    EXPECT_EQ(found.size(), 1U) << name;
    return found.empty() ? std::string("<none>") : found.front();
}

PollReport good_poll(std::size_t domains, microseconds took = milliseconds(30)) {
    PollReport r;
    r.connected = true;
    r.domains = domains;
    r.messages = domains + 1;
    r.points = domains * 4 + 1;
    r.duration = took;
    return r;
}

PollReport failed_poll() {
    PollReport r;
    r.duration = milliseconds(2);
    return r;
}

SinkCounters kafka(std::uint64_t produced, std::uint64_t delivered, std::uint64_t pending) {
    SinkCounters c;
    c.produced = produced;
    c.delivered = delivered;
    c.pending = pending;
    c.spool = SinkCounters::Spool{pending, pending * 100, 0};
    c.queued = pending;
    return c;
}

TEST(SelfMetrics, PollsAccumulatePerHostWithTheUriAsLabel) {
    Metrics metrics;
    HostMetrics& a = metrics.add_host("qemu+ssh://root@hv1/system");
    HostMetrics& b = metrics.add_host("qemu:///system");
    a.record_poll(good_poll(3), kTime);
    a.record_poll(good_poll(2), kTime + seconds(10));
    b.record_poll(failed_poll(), kTime);
    std::map<std::string, std::string> types;
    auto samples = parse_exposition(metrics.render(), &types);
    const std::map<std::string, std::string> hv1{{"host", "qemu+ssh://root@hv1/system"}};
    const std::map<std::string, std::string> local{{"host", "qemu:///system"}};
    EXPECT_EQ(value_of(samples, "pulse_polls_total", hv1), "2");
    EXPECT_EQ(value_of(samples, "pulse_polls_total", local), "1");
    EXPECT_EQ(value_of(samples, "pulse_domains", hv1), "2");
    EXPECT_EQ(value_of(samples, "pulse_messages_total", hv1), "7");
    EXPECT_EQ(value_of(samples, "pulse_points_total", hv1), "22");
    EXPECT_EQ(value_of(samples, "pulse_host_up", hv1), "1");
    EXPECT_EQ(value_of(samples, "pulse_host_up", local), "0");
    EXPECT_EQ(
        value_of(samples, "pulse_last_successful_poll_timestamp_seconds", hv1),
        std::to_string(duration_cast<seconds>((kTime + seconds(10)).time_since_epoch()).count()));
    auto missed = [&](const auto& host, const char* reason) {
        auto labels = host;
        labels["reason"] = reason;
        return value_of(samples, "pulse_missed_polls_total", labels);
    };
    EXPECT_EQ(missed(hv1, "libvirt"), "0");
    EXPECT_EQ(missed(local, "libvirt"), "1");
    EXPECT_EQ(types["pulse_polls_total"], "counter");
    EXPECT_EQ(types["pulse_host_up"], "gauge");
    EXPECT_EQ(types["pulse_poll_duration_seconds"], "histogram");
}

TEST(SelfMetrics, NoLastSuccessTimestampBeforeAPollSucceeded) {
    Metrics metrics;
    metrics.add_host("qemu:///system").record_poll(failed_poll(), kTime);
    EXPECT_THAT(metrics.render(), Not(HasSubstr("pulse_last_successful_poll_timestamp_seconds{")));
}

TEST(SelfMetrics, OverrunsAndReconnectsAreCounted) {
    Metrics metrics;
    HostMetrics& h = metrics.add_host("test:///default");
    h.record_overrun(2);
    h.record_overrun(1);
    h.record_reconnect();
    auto samples = parse_exposition(metrics.render());
    EXPECT_EQ(value_of(samples, "pulse_missed_polls_total",
                       {{"host", "test:///default"}, {"reason", "overrun"}}),
              "3");
    EXPECT_EQ(value_of(samples, "pulse_libvirt_reconnects_total", {{"host", "test:///default"}}),
              "1");
}

TEST(SelfMetrics, PollDurationHistogramIsCumulativeAndEndsWithTheCount) {
    Metrics metrics;
    HostMetrics& h = metrics.add_host("test:///default");
    h.record_poll(good_poll(1, milliseconds(3)), kTime);   // <= 0.005
    h.record_poll(good_poll(1, milliseconds(40)), kTime);  // <= 0.05
    h.record_poll(good_poll(1, milliseconds(50)), kTime);  // exactly 0.05: le is inclusive
    h.record_poll(good_poll(1, seconds(45)), kTime);       // beyond the last bound
    auto samples = parse_exposition(metrics.render());
    auto bucket = [&](const char* le) {
        return value_of(samples, "pulse_poll_duration_seconds_bucket",
                        {{"host", "test:///default"}, {"le", le}});
    };
    EXPECT_EQ(bucket("0.005"), "1");
    EXPECT_EQ(bucket("0.025"), "1");
    EXPECT_EQ(bucket("0.05"), "3");
    EXPECT_EQ(bucket("30"), "3");
    EXPECT_EQ(bucket("+Inf"), "4");
    EXPECT_EQ(value_of(samples, "pulse_poll_duration_seconds_count", {{"host", "test:///default"}}),
              "4");
    EXPECT_DOUBLE_EQ(std::stod(value_of(samples, "pulse_poll_duration_seconds_sum",
                                        {{"host", "test:///default"}})),
                     45.093);
}

TEST(SelfMetrics, LabelValuesEscapeBackslashQuoteAndNewline) {
    EXPECT_EQ(escape_label_value(R"(a\b"c)"
                                 "\nd"),
              R"(a\\b\"c\nd)");
    Metrics metrics;
    metrics.add_host("test:///a\"b\\c\nd").record_poll(good_poll(1), kTime);
    auto samples = parse_exposition(metrics.render());
    EXPECT_EQ(value_of(samples, "pulse_polls_total", {{"host", "test:///a\"b\\c\nd"}}), "1");
}

TEST(SelfMetrics, APasswordInTheUriNeverReachesALabel) {
    Metrics metrics;
    metrics.add_host("qemu+tcp://admin:Zq9-S3CRET@hv2/system").record_poll(failed_poll(), kTime);
    EXPECT_THAT(metrics.render(), Not(HasSubstr("Zq9-S3CRET")));
    EXPECT_THAT(metrics.health(kStart).reason, Not(HasSubstr("Zq9-S3CRET")));
}

TEST(SelfMetrics, SinkCountersAreRenderedPerSinkAndTheSpoolOnlyWhereThereIsOne) {
    Metrics metrics;
    metrics.update_sink("kafka", kafka(10, 7, 3), kStart);
    SinkCounters out;
    out.produced = 4;
    out.delivered = 4;
    metrics.update_sink("stdout", out, kStart);
    auto samples = parse_exposition(metrics.render());
    EXPECT_EQ(value_of(samples, "pulse_sink_messages_produced_total", {{"sink", "kafka"}}), "10");
    EXPECT_EQ(value_of(samples, "pulse_sink_messages_delivered_total", {{"sink", "kafka"}}), "7");
    EXPECT_EQ(value_of(samples, "pulse_sink_messages_pending", {{"sink", "kafka"}}), "3");
    EXPECT_EQ(value_of(samples, "pulse_sink_queue_messages", {{"sink", "kafka"}}), "3");
    EXPECT_EQ(value_of(samples, "pulse_spool_records", {{"sink", "kafka"}}), "3");
    EXPECT_EQ(value_of(samples, "pulse_spool_bytes", {{"sink", "kafka"}}), "300");
    EXPECT_EQ(value_of(samples, "pulse_sink_messages_delivered_total", {{"sink", "stdout"}}), "4");
    for (const Sample& s : samples) {
        if (s.name.starts_with("pulse_spool_")) {
            EXPECT_EQ(s.labels.at("sink"), "kafka");
        }
    }
}

TEST(SelfMetrics, TheSpoolsFailedSegmentRollsAreACounterBesideItsRecordsAndBytes) {
    Metrics metrics;
    SinkCounters c = kafka(10, 7, 3);
    c.spool->failed_rolls = 5;
    metrics.update_sink("kafka", c, kStart);
    SinkCounters out;
    metrics.update_sink("stdout", out, kStart);
    const std::string text = metrics.render();
    auto samples = parse_exposition(text);
    EXPECT_EQ(value_of(samples, "pulse_spool_failed_rolls_total", {{"sink", "kafka"}}), "5");
    EXPECT_THAT(text, HasSubstr("# TYPE pulse_spool_failed_rolls_total counter\n"));
    EXPECT_THAT(text, Not(HasSubstr("pulse_spool_failed_rolls_total{sink=\"stdout\"}")));
}

TEST(SelfMetricsHealth, HealthyWhileStartingAndWhileAHostAnswers) {
    Metrics metrics;
    HostMetrics& a = metrics.add_host("qemu+ssh://hv1/system");
    HostMetrics& b = metrics.add_host("qemu+ssh://hv2/system");
    EXPECT_TRUE(metrics.health(kStart).ok) << "no poll yet is not a failure";
    a.record_poll(failed_poll(), kTime);
    b.record_poll(good_poll(1), kTime);
    EXPECT_TRUE(metrics.health(kStart).ok);
}

TEST(SelfMetricsHealth, UnhealthyWhenEveryPolledHostIsUnreachable) {
    Metrics metrics;
    HostMetrics& a = metrics.add_host("qemu+ssh://root:pw@hv1/system");
    a.record_poll(good_poll(2), kTime);
    EXPECT_TRUE(metrics.health(kStart).ok);
    a.record_poll(failed_poll(), kTime + seconds(10));
    Health h = metrics.health(kStart);
    EXPECT_FALSE(h.ok);
    EXPECT_EQ(h.reason, "hypervisor unreachable: qemu+ssh://root@hv1/system");
    HostMetrics& b = metrics.add_host("qemu+ssh://hv2/system");
    b.record_poll(failed_poll(), kTime);
    EXPECT_EQ(metrics.health(kStart).reason, "all 2 hypervisors unreachable");
    b.record_poll(good_poll(1), kTime + seconds(10));
    EXPECT_TRUE(metrics.health(kStart).ok);
}

TEST(SelfMetricsHealth, DeliveryStalledLongerThanTheTimeoutIsUnhealthy) {
    Metrics metrics(seconds(60));
    metrics.update_sink("kafka", kafka(20, 10, 10), kStart);
    metrics.update_sink("kafka", kafka(20, 10, 10), kStart + seconds(30));
    EXPECT_TRUE(metrics.health(kStart + seconds(60)).ok) << "at the timeout, not beyond";
    Health h = metrics.health(kStart + seconds(61));
    EXPECT_FALSE(h.ok);
    EXPECT_THAT(h.reason, HasSubstr("kafka: nothing delivered for 61 s"));
    EXPECT_THAT(h.reason, HasSubstr("10 message(s) outstanding"));
    EXPECT_EQ(h.reason.find('\n'), std::string::npos);
    // One acknowledgement is progress: the clock starts again.
    metrics.update_sink("kafka", kafka(30, 11, 19), kStart + seconds(90));
    EXPECT_TRUE(metrics.health(kStart + seconds(120)).ok);
    EXPECT_FALSE(metrics.health(kStart + seconds(151)).ok);
}

TEST(SelfMetricsHealth, NothingOutstandingIsHealthyHoweverLongNothingWasDelivered) {
    Metrics metrics(seconds(60));
    metrics.update_sink("kafka", kafka(0, 0, 0), kStart);
    metrics.update_sink("kafka", kafka(0, 0, 0), kStart + hours(2));
    EXPECT_TRUE(metrics.health(kStart + hours(3)).ok);
    // Messages that arrive after a long quiet time get the whole timeout.
    metrics.update_sink("kafka", kafka(5, 0, 5), kStart + hours(3));
    EXPECT_TRUE(metrics.health(kStart + hours(3) + seconds(59)).ok);
}

TEST(SelfMetricsHealth, RefusalsWithNothingDeliveredAreUnhealthyEvenWithNothingOutstanding) {
    // A broker that refuses every message for good leaves nothing pending: only the refusals
    // tell that nothing gets through.
    Metrics metrics(seconds(60));
    auto refused = [](std::uint64_t failed, std::uint64_t delivered) {
        SinkCounters c = kafka(failed + delivered, delivered, 0);
        c.failed = failed;
        c.last_error = "topic kvm-metrics: Broker: Message size too large";
        return c;
    };
    metrics.update_sink("kafka", kafka(0, 0, 0), kStart);
    for (int s = 10; s <= 60; s += 10) {
        metrics.update_sink("kafka", refused(static_cast<std::uint64_t>(s / 10), 0),
                            kStart + seconds(s));
    }
    EXPECT_TRUE(metrics.health(kStart + seconds(60)).ok) << "at the timeout, not beyond";
    Health h = metrics.health(kStart + seconds(61));
    EXPECT_FALSE(h.ok);
    EXPECT_THAT(h.reason, HasSubstr("kafka: nothing delivered for 61 s"));
    EXPECT_THAT(h.reason, HasSubstr("Message size too large"));
    // A delivery is progress again.
    metrics.update_sink("kafka", refused(6, 1), kStart + seconds(65));
    EXPECT_TRUE(metrics.health(kStart + seconds(130)).ok);
    // So is a refusal that stopped a timeout ago: a quiet sensor is healthy.
    metrics.update_sink("kafka", refused(7, 1), kStart + seconds(140));
    EXPECT_FALSE(metrics.health(kStart + seconds(200)).ok);
    EXPECT_TRUE(metrics.health(kStart + seconds(201)).ok);
}

TEST(SelfMetrics, RefusalsKeptToRetryAreCounted) {
    Metrics metrics;
    SinkCounters c = kafka(5, 0, 5);
    c.refused = 12;
    metrics.update_sink("kafka", c, kStart);
    auto samples = parse_exposition(metrics.render());
    EXPECT_EQ(value_of(samples, "pulse_sink_messages_refused_total", {{"sink", "kafka"}}), "12");
}

TEST(SelfMetrics, ConcurrentPollersAndScrapesLoseNoCount) {
    Metrics metrics;
    std::vector<HostMetrics*> hosts;
    for (int i = 0; i < 4; ++i) {
        hosts.push_back(&metrics.add_host("qemu+tcp://hv" + std::to_string(i) + "/system"));
    }
    constexpr int kPolls = 2000;
    std::vector<std::thread> threads;
    for (HostMetrics* h : hosts) {
        threads.emplace_back([h] {
            for (int i = 0; i < kPolls; ++i) {
                h->record_poll(good_poll(1), kTime);
            }
        });
    }
    std::thread scraper([&] {
        for (int i = 0; i < 50; ++i) {
            parse_exposition(metrics.render());
        }
    });
    for (auto& t : threads) {
        t.join();
    }
    scraper.join();
    auto samples = parse_exposition(metrics.render());
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(value_of(samples, "pulse_polls_total",
                           {{"host", "qemu+tcp://hv" + std::to_string(i) + "/system"}}),
                  std::to_string(kPolls));
    }
}

FleetSnapshot fleet_of(std::vector<FleetSnapshot::Host> hosts) {
    FleetSnapshot f;
    f.enabled = true;
    f.group = "rack-a";
    f.topic = "kvm-metrics.fleet";
    f.member_id = "rdkafka-4a1c";
    f.member = true;
    f.partitions = 8;
    f.held = {1, 5};
    f.changes = 3;
    f.hosts = std::move(hosts);
    return f;
}

TEST(SelfMetricsFleet, NoFleetFamilyUntilFleetModeIsOn) {
    Metrics metrics;
    metrics.add_host("qemu+ssh://root@hv1/system").record_poll(good_poll(1), kTime);
    EXPECT_THAT(metrics.render(), Not(HasSubstr("pulse_fleet_")));
    FleetSnapshot off = fleet_of({{"qemu+ssh://root@hv1/system", 1, true}});
    off.enabled = false;
    metrics.update_fleet(off);
    EXPECT_THAT(metrics.render(), Not(HasSubstr("pulse_fleet_")));
    metrics.update_fleet(fleet_of({{"qemu+ssh://root@hv1/system", 1, true}}));
    EXPECT_THAT(metrics.render(), HasSubstr("pulse_fleet_"));
}

TEST(SelfMetricsFleet, FamiliesShowTheMembershipThePartitionsAndEveryHost) {
    Metrics metrics;
    metrics.update_fleet(fleet_of({{"qemu+ssh://root@hv1/system", 1, true},
                                   {"qemu+ssh://root@hv2/system", 2, false},
                                   {"test:///a\"b\\c\nd", 5, true}}));
    std::map<std::string, std::string> types;
    auto samples = parse_exposition(metrics.render(), &types);
    const std::map<std::string, std::string> group{{"group", "rack-a"}};
    EXPECT_EQ(
        value_of(
            samples, "pulse_fleet_member",
            {{"group", "rack-a"}, {"topic", "kvm-metrics.fleet"}, {"member_id", "rdkafka-4a1c"}}),
        "1");
    EXPECT_EQ(value_of(samples, "pulse_fleet_partitions", group), "8");
    EXPECT_EQ(value_of(samples, "pulse_fleet_partitions_held", group), "2");
    EXPECT_EQ(
        value_of(samples, "pulse_fleet_partition_held", {{"group", "rack-a"}, {"partition", "1"}}),
        "1");
    EXPECT_EQ(
        value_of(samples, "pulse_fleet_partition_held", {{"group", "rack-a"}, {"partition", "5"}}),
        "1");
    EXPECT_EQ(value_of(samples, "pulse_fleet_assignment_changes_total", group), "3");
    EXPECT_EQ(value_of(samples, "pulse_fleet_host_polled",
                       {{"host", "qemu+ssh://root@hv1/system"}, {"partition", "1"}}),
              "1");
    EXPECT_EQ(value_of(samples, "pulse_fleet_host_polled",
                       {{"host", "qemu+ssh://root@hv2/system"}, {"partition", "2"}}),
              "0");
    EXPECT_EQ(value_of(samples, "pulse_fleet_host_polled",
                       {{"host", "test:///a\"b\\c\nd"}, {"partition", "5"}}),
              "1");
    std::map<std::string, int> count;
    for (const Sample& s : samples) {
        ++count[s.name];
    }
    EXPECT_EQ(count["pulse_fleet_partition_held"], 2) << "one sample per partition held";
    EXPECT_EQ(count["pulse_fleet_host_polled"], 3) << "one sample per configured host";
    EXPECT_EQ(types["pulse_fleet_member"], "gauge");
    EXPECT_EQ(types["pulse_fleet_partitions_held"], "gauge");
    EXPECT_EQ(types["pulse_fleet_host_polled"], "gauge");
    EXPECT_EQ(types["pulse_fleet_assignment_changes_total"], "counter");
}

TEST(SelfMetricsFleet, NotAMemberHoldsNothingAndLabelValuesAreEscaped) {
    Metrics metrics;
    FleetSnapshot f = fleet_of({{"qemu+ssh://root@hv1/system", -1, false}});
    f.group = "rack \"a\"\\1";
    f.member = false;
    f.member_id = "";
    f.partitions = 0;
    f.held.clear();
    metrics.update_fleet(f);
    const std::string text = metrics.render();
    EXPECT_THAT(text, HasSubstr("group=\"rack \\\"a\\\"\\\\1\""));
    auto samples = parse_exposition(text);
    EXPECT_EQ(value_of(samples, "pulse_fleet_member", {{"group", f.group}, {"member_id", ""}}),
              "0");
    EXPECT_EQ(value_of(samples, "pulse_fleet_partitions_held", {{"group", f.group}}), "0");
    EXPECT_EQ(value_of(samples, "pulse_fleet_host_polled",
                       {{"host", "qemu+ssh://root@hv1/system"}, {"partition", "-1"}}),
              "0");
    for (const Sample& s : samples) {
        EXPECT_NE(s.name, "pulse_fleet_partition_held") << "no partition held, no sample";
    }
}

TEST(SelfMetricsFleetHealth, AHostAnotherSensorPollsDoesNotMakeThisOneUnhealthy) {
    Metrics metrics;
    // hv1 went down while this sensor polled it, then was handed over; hv2 is this sensor's
    // now and not yet polled.
    HostMetrics& hv1 = metrics.add_host("qemu+ssh://root:pw@hv1/system");
    HostMetrics& hv2 = metrics.add_host("qemu+ssh://root@hv2/system");
    hv1.record_poll(failed_poll(), kTime);
    EXPECT_FALSE(metrics.health(kStart).ok) << "without a fleet, every host counts";

    metrics.update_fleet(fleet_of(
        {{"qemu+ssh://root@hv1/system", 1, false}, {"qemu+ssh://root@hv2/system", 5, true}}));
    EXPECT_TRUE(metrics.health(kStart).ok) << metrics.health(kStart).reason;

    // The only host this sensor polls is down: that is unhealthy, and only it counts.
    hv2.record_poll(failed_poll(), kTime);
    Health h = metrics.health(kStart);
    EXPECT_FALSE(h.ok);
    EXPECT_EQ(h.reason, "hypervisor unreachable: qemu+ssh://root@hv2/system");
    hv2.record_poll(good_poll(1), kTime + seconds(10));
    EXPECT_TRUE(metrics.health(kStart).ok);
}

TEST(SelfMetricsFleetHealth, AHostThisSensorPollsIsMatchedWithoutItsPassword) {
    Metrics metrics;
    HostMetrics& hv1 = metrics.add_host("qemu+ssh://root:pw@hv1/system");
    hv1.record_poll(failed_poll(), kTime);
    // The fleet labels its hosts as the metrics do: without the password.
    metrics.update_fleet(fleet_of({{"qemu+ssh://root@hv1/system", 1, true}}));
    Health h = metrics.health(kStart);
    EXPECT_FALSE(h.ok);
    EXPECT_EQ(h.reason, "hypervisor unreachable: qemu+ssh://root@hv1/system");
    // Handed over: no longer this sensor's to answer for.
    metrics.update_fleet(fleet_of({{"qemu+ssh://root@hv1/system", 1, false}}));
    EXPECT_TRUE(metrics.health(kStart).ok);
}

}  // namespace
}  // namespace pulse
