// Outputs: one line per message on stdout, and one serialization per format.
#include "pulse/output/outputs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include "pulse/format/line_protocol.hpp"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct TempFile {
    std::FILE* file = std::tmpfile();
    ~TempFile() { std::fclose(file); }
    std::string contents() const {
        std::fflush(file);
        std::rewind(file);
        std::string out;
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) {
            out.append(buf, n);
        }
        return out;
    }
};

Point sample_point() {
    Point p;
    p.measurement = "cpuTime";
    p.tag("vmId", "i-2-17-VM").field("cpuTime", 1.5).field("cpus", std::int64_t{2});
    return p;
}

TEST(StreamSink, WritesOneMessagePerLine) {
    TempFile tmp;
    StreamSink sink(tmp.file);
    sink.publish("k1", "[1]");
    sink.publish("k2", "[2]");
    EXPECT_TRUE(sink.flush(std::chrono::milliseconds(0)));
    EXPECT_EQ(tmp.contents(), "[1]\n[2]\n");
    EXPECT_EQ(sink.counters().produced, 2u);
    EXPECT_EQ(sink.counters().delivered, 2u);
}

class Recorder : public ByteSink {
  public:
    explicit Recorder(std::vector<std::pair<std::string, std::string>>& log) : log_(log) {}
    void publish(std::string_view key, std::string_view payload) override {
        log_.emplace_back(key, payload);
    }
    bool flush(std::chrono::milliseconds) override { return true; }
    SinkCounters counters() const override { return {}; }
    std::string name() const override { return "recorder"; }

  private:
    std::vector<std::pair<std::string, std::string>>& log_;
};

TEST(Outputs, EachSinkGetsTheMessageInItsFormatUnderTheSameKey) {
    std::vector<std::pair<std::string, std::string>> compact, pretty;
    Outputs out;
    out.add(Encoding::json, std::make_unique<Recorder>(compact));
    out.add(Encoding::json_pretty, std::make_unique<Recorder>(pretty));
    Point p = sample_point();
    out.deliver("uuid-1", {&p, 1});
    ASSERT_EQ(compact.size(), 1u);
    ASSERT_EQ(pretty.size(), 1u);
    EXPECT_EQ(compact[0].first, "uuid-1");
    EXPECT_EQ(pretty[0].first, "uuid-1");
    EXPECT_EQ(compact[0].second.find('\n'), std::string::npos);
    EXPECT_THAT(pretty[0].second, HasSubstr("\n  {"));
    EXPECT_EQ(nlohmann::json::parse(compact[0].second), nlohmann::json::parse(pretty[0].second));
}

TEST(Outputs, ThreadsDeliveringAtOnceGetEveryMessageWholeOnStdout) {
    // The sinks themselves are not thread-safe (a vector here, a FILE's line there): only
    // Outputs's lock keeps four threads from tearing messages or losing them.
    std::vector<std::pair<std::string, std::string>> recorded;
    TempFile file;
    Outputs out;
    out.add(Encoding::json, std::make_unique<Recorder>(recorded));
    out.add(Encoding::json, std::make_unique<StreamSink>(file.file));
    constexpr int kThreads = 4, kMessages = 5000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&out, t] {
            Point p = sample_point();
            p.tag("vmHost", "hv" + std::to_string(t));
            for (int i = 0; i < kMessages; ++i) {
                out.deliver("key", {&p, 1});
                out.poll();
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(recorded.size(), static_cast<std::size_t>(kThreads * kMessages));
    std::map<std::string, int> per_host;
    std::istringstream lines(file.contents());
    for (std::string line; std::getline(lines, line);) {
        ++per_host[nlohmann::json::parse(line)[0]["tags"]["vmHost"].get<std::string>()];
    }
    ASSERT_EQ(per_host.size(), static_cast<std::size_t>(kThreads));
    for (const auto& [host, count] : per_host) {
        EXPECT_EQ(count, kMessages) << host;
    }
}

// A sink that takes its time in publish and notes whether its counters were read meanwhile.
class SlowSink : public ByteSink {
  public:
    void publish(std::string_view, std::string_view) override {
        publishing = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ++counters_.produced;
        publishing = false;
    }
    bool flush(std::chrono::milliseconds) override { return true; }
    SinkCounters counters() const override {
        if (publishing) {
            read_during_publish = true;
        }
        return counters_;
    }
    std::string name() const override { return "slow"; }

    std::atomic<bool> publishing{false};
    mutable std::atomic<bool> read_during_publish{false};

  private:
    SinkCounters counters_;
};

TEST(Outputs, CountersAreNeverReadWhileAThreadIsInsideAPublish) {
    // At a stop, a host thread stuck in libvirt may still deliver while main reports totals.
    Outputs out;
    auto owned = std::make_unique<SlowSink>();
    SlowSink& sink = *owned;
    out.add(Encoding::json, std::move(owned));
    std::thread late([&out] {
        Point p = sample_point();
        for (int i = 0; i < 3; ++i) {
            out.deliver("key", {&p, 1});
        }
    });
    while (!sink.publishing) {
        std::this_thread::yield();
    }
    const auto totals = out.counters();  // asked while the other thread is inside publish()
    late.join();
    EXPECT_FALSE(sink.read_during_publish);
    ASSERT_EQ(totals.size(), 1u);
    EXPECT_EQ(totals[0].first, "slow");
    EXPECT_GE(totals[0].second.produced, 1u) << "read only after the publish under way";
    EXPECT_EQ(out.counters()[0].second.produced, 3u);
}

TEST(Outputs, ALineProtocolSinkGetsOneLinePerPointAndJsonSinksStillGetJson) {
    std::vector<std::pair<std::string, std::string>> lines, compact;
    Outputs out;
    out.add(Encoding::line_protocol, std::make_unique<Recorder>(lines));
    out.add(Encoding::json, std::make_unique<Recorder>(compact));
    std::vector<Point> points{sample_point(), sample_point()};
    out.deliver("uuid-1", points);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].first, "uuid-1");
    std::string expected;
    serialize_line_protocol(points, expected);
    EXPECT_EQ(lines[0].second, expected);
    EXPECT_EQ(std::count(expected.begin(), expected.end(), '\n'), 1);
    ASSERT_EQ(compact.size(), 1u);
    EXPECT_TRUE(nlohmann::json::parse(compact[0].second).is_array());
}

TEST(Outputs, AMessageWhosePointsHaveNoFiniteFieldIsNotPublishedAsLineProtocol) {
    std::vector<std::pair<std::string, std::string>> lines;
    Outputs out;
    out.add(Encoding::line_protocol, std::make_unique<Recorder>(lines));
    Point p;
    p.measurement = "cpuTime";
    p.field("cpuTime", std::numeric_limits<double>::quiet_NaN());
    out.deliver("uuid-1", {&p, 1});
    EXPECT_TRUE(lines.empty());
}

}  // namespace
}  // namespace pulse
