// The importer's decisions with a writer the test controls: what is written, what is retried,
// what is skipped, and which offsets may be committed.
#include "pulse/import/batch.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>

#include "pulse/format/json.hpp"
#include "pulse/format/line_protocol.hpp"

namespace pulse {
namespace {

using ::testing::HasSubstr;

const char* kJsonMessage =
    R"([{"fields":{"cpuTime":12.5,"cpus":2},"measurement":"cpuTime","tags":{"vmHost":"h",)"
    R"("vmId":"i-2-17-VM","vmUuid":"u1"},"time":"2018-08-17T09:00:35Z"},)"
    R"({"fields":{"maxmem":4,"mem":4,"rss":3},"measurement":"rss","tags":{"vmHost":"h",)"
    R"("vmId":"i-2-17-VM","vmUuid":"u1"},"time":"2018-08-17T09:00:35Z"}])";

// Answers each write with the next scripted result (written when the script is empty).
class ScriptedWriter : public LineWriter {
  public:
    WriteResult write(std::string_view lines) override {
        writes.emplace_back(lines);
        if (script.empty()) {
            return {WriteStatus::written, {}};
        }
        WriteResult next = script.front();
        script.pop_front();
        return next;
    }
    std::deque<WriteResult> script;
    std::vector<std::string> writes;
};

ConsumedMessage message(std::int32_t partition, std::int64_t offset, std::string payload) {
    return {"kvm-metrics", partition, offset, std::move(payload)};
}

TEST(Importer, AJsonMessageBecomesTheSensorsOwnLineProtocol) {
    std::string expected;
    serialize_line_protocol(parse_json_message(kJsonMessage), expected);
    EXPECT_EQ(message_to_lines(kJsonMessage), expected);
    EXPECT_EQ(message_to_lines(kJsonMessage),
              "cpuTime,vmHost=h,vmId=i-2-17-VM,vmUuid=u1 cpuTime=12.5,cpus=2i 1534496435\n"
              "rss,vmHost=h,vmId=i-2-17-VM,vmUuid=u1 maxmem=4i,mem=4i,rss=3i 1534496435");
}

TEST(Importer, LineProtocolPassesThroughWithoutBlankOrCommentLines) {
    EXPECT_EQ(message_to_lines("# from a test\nm,t=1 f=1i 10\n\nm f=2 11\n"),
              "m,t=1 f=1i 10\nm f=2 11");
}

TEST(Importer, AMalformedMessageIsRefusedNamingTheLine) {
    try {
        message_to_lines("m f=1i 10\nm f= 11");
        FAIL();
    } catch (const MessageError& e) {
        EXPECT_THAT(e.what(), HasSubstr("line 2"));
    }
    EXPECT_THROW(message_to_lines("[{\"measurement\":1}]"), MessageError);
    EXPECT_THROW(message_to_lines("  \n"), MessageError);
}

TEST(Importer, ABatchIsWrittenInOneRequestAndCommitsTheNextOffsetOfEveryPartition) {
    ImportBatch batch(100);
    EXPECT_FALSE(batch.add(message(0, 7, "m f=1i 1")));
    EXPECT_FALSE(batch.add(message(1, 3, kJsonMessage)));
    EXPECT_FALSE(batch.add(message(0, 8, "m f=2i 2")));
    EXPECT_EQ(batch.lines(), 4u);
    ScriptedWriter writer;
    FlushResult r = batch.flush(writer);
    EXPECT_TRUE(r.done);
    ASSERT_EQ(writer.writes.size(), 1u);
    EXPECT_EQ(std::count(writer.writes[0].begin(), writer.writes[0].end(), '\n'), 3);
    EXPECT_TRUE(r.refused.empty());
    EXPECT_EQ(r.commit, (std::map<TopicPartition, std::int64_t>{{{"kvm-metrics", 0}, 9},
                                                                {{"kvm-metrics", 1}, 4}}));
}

TEST(Importer, NothingIsCommittedWhileInfluxDbIsUnavailableAndTheBatchIsKept) {
    ImportBatch batch(100);
    batch.add(message(0, 7, "m f=1i 1"));
    ScriptedWriter writer;
    writer.script = {{WriteStatus::unavailable, "connection refused"}};
    FlushResult r = batch.flush(writer);
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.error, "connection refused");
    EXPECT_TRUE(r.commit.empty());
    EXPECT_FALSE(batch.empty());
    // The retry sends the very same lines.
    FlushResult again = batch.flush(writer);
    EXPECT_TRUE(again.done);
    ASSERT_EQ(writer.writes.size(), 2u);
    EXPECT_EQ(writer.writes[0], writer.writes[1]);
}

TEST(Importer, ARefusedBatchIsRetriedMessageByMessageToNameTheBadOne) {
    ImportBatch batch(100);
    batch.add(message(0, 1, "m f=1i 1"));
    batch.add(message(0, 2, "m f=\"text\" 2"));
    batch.add(message(0, 3, "m f=3i 3"));
    ScriptedWriter writer;
    writer.script = {{WriteStatus::refused, "partial write: field type conflict"},
                     {WriteStatus::written, {}},
                     {WriteStatus::refused, "field type conflict"},
                     {WriteStatus::written, {}}};
    FlushResult r = batch.flush(writer);
    EXPECT_TRUE(r.done);
    ASSERT_EQ(r.refused.size(), 1u);
    EXPECT_EQ(r.refused[0].message, "kvm-metrics/0/2");
    EXPECT_EQ(r.refused[0].error, "field type conflict");
    ASSERT_EQ(writer.writes.size(), 4u);
    EXPECT_EQ(writer.writes[2], "m f=\"text\" 2");
    EXPECT_EQ(r.commit.at({"kvm-metrics", 0}), 4);
}

TEST(Importer, ARefusedBatchOfOneMessageIsNotWrittenTwice) {
    ImportBatch batch(100);
    batch.add(message(0, 5, "m f=\"text\" 2"));
    ScriptedWriter writer;
    writer.script = {{WriteStatus::refused, "field type conflict"}};
    FlushResult r = batch.flush(writer);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(writer.writes.size(), 1u);
    ASSERT_EQ(r.refused.size(), 1u);
    EXPECT_EQ(r.refused[0].message, "kvm-metrics/0/5");
    EXPECT_EQ(r.commit.at({"kvm-metrics", 0}), 6);
}

TEST(Importer, InfluxDbGoingAwayDuringTheMessageByMessageRetryKeepsTheWholeBatch) {
    ImportBatch batch(100);
    batch.add(message(0, 1, "m f=1i 1"));
    batch.add(message(0, 2, "m f=2i 2"));
    ScriptedWriter writer;
    writer.script = {{WriteStatus::refused, "bad"},
                     {WriteStatus::refused, "bad"},
                     {WriteStatus::unavailable, "timeout"}};
    FlushResult r = batch.flush(writer);
    EXPECT_FALSE(r.done);
    EXPECT_TRUE(r.refused.empty());
    EXPECT_TRUE(r.commit.empty());
}

TEST(Importer, AMalformedMessageIsSkippedButItsOffsetIsCommittedWithTheBatch) {
    ImportBatch batch(100);
    auto problem = batch.add(message(2, 41, "{\"not\":\"an array\"}"));
    ASSERT_TRUE(problem.has_value());
    EXPECT_THAT(*problem, HasSubstr("line 1"));
    EXPECT_FALSE(batch.empty());
    ScriptedWriter writer;
    FlushResult r = batch.flush(writer);
    EXPECT_TRUE(r.done);
    EXPECT_TRUE(writer.writes.empty());
    EXPECT_EQ(r.commit.at({"kvm-metrics", 2}), 42);
}

TEST(Importer, ABatchIsFullAtItsLineLimitAndEmptyAfterClear) {
    ImportBatch batch(3);
    batch.add(message(0, 1, "m f=1i 1\nm f=2i 2"));
    EXPECT_FALSE(batch.full());
    batch.add(message(0, 2, "m f=3i 3"));
    EXPECT_TRUE(batch.full());
    batch.clear();
    EXPECT_TRUE(batch.empty());
    EXPECT_EQ(batch.lines(), 0u);
    ScriptedWriter writer;
    EXPECT_TRUE(batch.flush(writer).commit.empty());
}

TEST(Importer, MessagesAreNamedByTopicPartitionAndOffset) {
    EXPECT_EQ(describe_message(message(3, 1234, "")), "kvm-metrics/3/1234");
}

}  // namespace
}  // namespace pulse
