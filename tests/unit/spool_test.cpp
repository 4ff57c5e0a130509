// The spool: what is appended survives restarts until acknowledged, in order; a torn write is
// cut off; the bound drops the oldest; one process owns a spool at a time.
#include "pulse/spool.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "pulse/kafka_sink.hpp"

namespace pulse {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct TempDir {
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "pulse-spool-XXXXXX").string();
        path = mkdtemp(tmpl.data());
    }
    ~TempDir() { fs::remove_all(path); }
    fs::path path;
};

std::vector<fs::path> segments(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".seg") {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Takes every record there is, returning their payloads; acks them when `ack` is set.
std::vector<std::string> drain(Spool& spool, bool ack) {
    std::vector<std::string> payloads;
    while (const auto& r = spool.peek()) {
        payloads.push_back(r->payload);
        std::uint64_t seq = r->seq;
        spool.take();
        if (ack) {
            spool.ack(seq);
        }
    }
    return payloads;
}

TEST(Spool, RecordsComeBackInOrderWithTopicAndKey) {
    TempDir dir;
    Spool spool({dir.path});
    spool.append("kvm-metrics", "uuid-1", "[1]");
    spool.append("kvm-metrics", "uuid-2", "[2]");
    const auto& first = spool.peek();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->topic, "kvm-metrics");
    EXPECT_EQ(first->key, "uuid-1");
    EXPECT_EQ(first->payload, "[1]");
    EXPECT_EQ(drain(spool, true), (std::vector<std::string>{"[1]", "[2]"}));
    EXPECT_EQ(spool.pending(), 0u);
}

TEST(Spool, UnacknowledgedRecordsSurviveARestart) {
    TempDir dir;
    {
        Spool spool({dir.path});
        for (int i = 0; i < 5; ++i) {
            spool.append("t", "k", "[" + std::to_string(i) + "]");
        }
        // 0 and 1 acknowledged, 2 in flight, 3 and 4 never handed out.
        drain(spool, false);
        spool.ack(0);
        spool.ack(1);
        spool.sync();
    }
    Spool again({dir.path});
    EXPECT_EQ(again.counters().recovered, 3u);
    EXPECT_EQ(again.pending(), 3u);
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"[2]", "[3]", "[4]"}));
}

TEST(Spool, OutOfOrderAcksOnlyAdvanceOverAContiguousPrefix) {
    TempDir dir;
    {
        Spool spool({dir.path});
        for (int i = 0; i < 3; ++i) {
            spool.append("t", "k", std::to_string(i));
        }
        drain(spool, false);
        spool.ack(2);  // another partition answered first
        spool.ack(0);
        spool.sync();
        EXPECT_EQ(spool.pending(), 1u);
    }
    Spool again({dir.path});
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"1", "2"}))
        << "1 was never acknowledged, so it and everything after it is replayed";
}

TEST(Spool, ATornLastRecordIsCutOffAndTheRestKept) {
    TempDir dir;
    {
        Spool spool({dir.path});
        spool.append("t", "k", "kept-1");
        spool.append("t", "k", "kept-2");
        spool.sync();
    }
    auto files = segments(dir.path);
    ASSERT_EQ(files.size(), 1u);
    auto size_before = fs::file_size(files[0]);
    {
        std::ofstream torn(files[0], std::ios::app | std::ios::binary);
        torn.write("\x40\x00\x00\x00\x12\x34", 6);  // a header cut short by a crash
    }
    Spool again({dir.path});
    EXPECT_EQ(fs::file_size(files[0]), size_before);
    again.append("t", "k", "after");
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"kept-1", "kept-2", "after"}));
}

TEST(Spool, ALastRecordWithABadChecksumIsCutOff) {
    TempDir dir;
    {
        Spool spool({dir.path});
        spool.append("t", "k", "good");
        spool.append("t", "k", "damaged");
        spool.sync();
    }
    auto file = segments(dir.path).at(0);
    {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-1, std::ios::end);
        f.put('X');
    }
    Spool again({dir.path});
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"good"}));
}

TEST(Spool, WhenFullTheOldestAreDroppedAndCounted) {
    TempDir dir;
    const std::uint64_t max = 64 * 1024;
    Spool spool({dir.path, max});
    const std::string payload(1000, 'x');
    for (int i = 0; i < 300; ++i) {
        spool.append("t", "k", payload + std::to_string(i));
        ASSERT_LE(spool.disk_bytes(), max);
    }
    EXPECT_GT(spool.counters().dropped, 0u);
    EXPECT_EQ(spool.pending() + spool.counters().dropped, 300u);
    auto kept = drain(spool, true);
    ASSERT_FALSE(kept.empty());
    EXPECT_EQ(kept.back(), payload + "299") << "the newest are kept";
    for (std::size_t i = 1; i < kept.size(); ++i) {
        EXPECT_LT(std::stoi(kept[i - 1].substr(1000)), std::stoi(kept[i].substr(1000)));
    }
    std::uint64_t on_disk = 0;
    for (const auto& f : segments(dir.path)) {
        on_disk += fs::file_size(f);
    }
    EXPECT_LE(on_disk, max);
}

TEST(Spool, AcknowledgedSegmentsAreDeleted) {
    TempDir dir;
    Spool spool({dir.path, 64 * 1024});
    const std::string payload(1000, 'y');
    for (int i = 0; i < 40; ++i) {
        spool.append("t", "k", payload);
    }
    EXPECT_GT(segments(dir.path).size(), 1u);
    drain(spool, true);
    spool.sync();
    EXPECT_EQ(segments(dir.path).size(), 1u) << "only the segment being written stays";
}

TEST(Spool, OneProcessOwnsASpool) {
    TempDir dir;
    Spool first({dir.path});
    try {
        Spool second({dir.path});
        FAIL() << "two owners";
    } catch (const SpoolError& e) {
        EXPECT_THAT(e.what(), HasSubstr("in use"));
    }
}

TEST(Spool, AnUnusableDirectoryIsAnErrorNamingIt) {
    TempDir dir;
    std::ofstream(dir.path / "file") << "x";
    try {
        Spool spool({dir.path / "file" / "spool"});
        FAIL() << "opened";
    } catch (const SpoolError& e) {
        EXPECT_THAT(e.what(), HasSubstr((dir.path / "file").string()));
    }
}

TEST(KafkaSinkWithSpool, MessagesTheBrokerNeverAcknowledgedStayForTheNextStart) {
    TempDir dir;
    {
        // Port 9 on loopback: nothing listens, so nothing can be acknowledged.
        KafkaSink sink({"127.0.0.1:9", "kvm-metrics", {}},
                       std::make_unique<Spool>(SpoolOptions{dir.path}));
        for (int i = 0; i < 10; ++i) {
            sink.publish("uuid", "[" + std::to_string(i) + "]");
        }
        EXPECT_FALSE(sink.flush(std::chrono::milliseconds(300)));
        EXPECT_EQ(sink.counters().produced, 10u);
        EXPECT_EQ(sink.counters().pending, 10u);
        EXPECT_EQ(sink.counters().failed, 0u);
    }
    Spool again({dir.path});
    EXPECT_EQ(again.pending(), 10u);
    EXPECT_EQ(drain(again, true).front(), "[0]");
}

}  // namespace
}  // namespace pulse
