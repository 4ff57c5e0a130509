// The Kafka producer's defaults, what it does with each kind of refusal, and a fatal producer
// error, which must stop the sink without costing a spooled message. No broker is needed: the
// fatal error comes from librdkafka's rd_kafka_test_fatal_error(), raised by a test plugin.
// Also: a producer that cannot start, or cannot reach its broker, neither blocks nor leaks a
// secret.
#include "pulse/kafka/sink.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace pulse {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string property(const RdKafka::Conf& conf, const std::string& key) {
    std::string value;
    EXPECT_EQ(conf.get(key, value), RdKafka::Conf::CONF_OK) << key;
    return value;
}

TEST(KafkaConf, TheDefaultProducerCompressesNothingForConsumersWithoutCodecPackages) {
    auto conf = make_kafka_conf({"127.0.0.1:9", "t", {}}, true);
    EXPECT_EQ(property(*conf, "compression.type"), "none");
}

TEST(KafkaConf, ACompressionTheOperatorSetsWins) {
    auto conf = make_kafka_conf({"127.0.0.1:9", "t", {{"compression.type", "gzip"}}}, true);
    EXPECT_EQ(property(*conf, "compression.type"), "gzip");
}

TEST(KafkaRefusals, ThoseAnOperatorCanFixAreKeptToRetry) {
    for (auto err : {RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED,
                     RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED, RdKafka::ERR__UNKNOWN_TOPIC,
                     RdKafka::ERR_UNKNOWN_TOPIC_OR_PART, RdKafka::ERR__UNKNOWN_PARTITION,
                     RdKafka::ERR__AUTHENTICATION, RdKafka::ERR_SASL_AUTHENTICATION_FAILED,
                     RdKafka::ERR__TIMED_OUT, RdKafka::ERR_NOT_ENOUGH_REPLICAS}) {
        EXPECT_EQ(classify_refusal(err), RefusalAction::retry) << RdKafka::err2str(err);
    }
}

TEST(KafkaRefusals, OnlyARecordThatCanNeverSucceedIsDropped) {
    for (auto err : {RdKafka::ERR_MSG_SIZE_TOO_LARGE, RdKafka::ERR_INVALID_MSG,
                     RdKafka::ERR_INVALID_MSG_SIZE, RdKafka::ERR_INVALID_RECORD}) {
        EXPECT_EQ(classify_refusal(err), RefusalAction::drop) << RdKafka::err2str(err);
    }
}

struct TempDir {
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "pulse-kafka-XXXXXX").string();
        path = mkdtemp(tmpl.data());
    }
    ~TempDir() { fs::remove_all(path); }
    fs::path path;
};

TEST(KafkaSinkWithSpool, AFatalProducerErrorStopsTheSinkAndTheSpoolKeepsEveryMessage) {
    TempDir dir;
    ::setenv("PULSE_TEST_FATAL_AFTER", "3", 1);
    {
        KafkaSink sink(
            {"127.0.0.1:9", "kvm-metrics", {{"plugin.library.paths", PULSE_TEST_FATAL_PLUGIN}}},
            std::make_unique<Spool>(SpoolOptions{dir.path}));
        for (int i = 0; i < 5; ++i) {
            sink.publish("uuid", "[" + std::to_string(i) + "]");
            sink.poll();
        }
        // The fatal error arrives as an event, served by poll().
        for (int i = 0; i < 50 && sink.counters().fatal_error.empty(); ++i) {
            sink.flush(std::chrono::milliseconds(20));
        }
        EXPECT_THAT(sink.counters().fatal_error, HasSubstr("raised by the test plugin"));
        EXPECT_EQ(sink.counters().failed, 0u);
        EXPECT_FALSE(sink.flush(std::chrono::milliseconds(100)));
    }
    ::unsetenv("PULSE_TEST_FATAL_AFTER");
    Spool again({dir.path});
    EXPECT_EQ(again.pending(), 5u);
}

TEST(KafkaSink, ARejectedPropertyIsNamedButItsValueIsNotRepeated) {
    try {
        KafkaSink sink({"127.0.0.1:9", "t", {{"compression.type", "hunter2-secret"}}}, nullptr);
        FAIL() << "accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("compression.type"));
        EXPECT_THAT(e.what(), Not(HasSubstr("hunter2-secret")));
    }
}

TEST(KafkaSink, AProducerThatCannotStartNeverQuotesASecret) {
    // TLS with a key file that is not there: librdkafka refuses to create the producer.
    const std::string secret = "Zq9-distinctive-S3CRET-value";
    try {
        KafkaSink sink({"127.0.0.1:9",
                        "t",
                        {{"security.protocol", "SASL_SSL"},
                         {"sasl.mechanism", "PLAIN"},
                         {"sasl.username", "pulse"},
                         {"sasl.password", secret},
                         {"ssl.key.location", "/nonexistent/" + secret + ".key"},
                         {"ssl.key.password", secret}}},
                       nullptr);
        FAIL() << "accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), Not(HasSubstr(secret)));
    }
}

TEST(KafkaSink, AnUnknownPropertyIsRejected) {
    EXPECT_THROW(KafkaSink({"127.0.0.1:9", "t", {{"no.such.property", "1"}}}, nullptr),
                 std::invalid_argument);
}

TEST(KafkaSink, PublishingToAnUnreachableBrokerNeitherBlocksNorThrows) {
    // Port 9 on loopback: nothing listens there, so every connection attempt is refused.
    KafkaSink sink({"127.0.0.1:9", "kvm-metrics", {{"message.timeout.ms", "300"}}}, nullptr);
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) {
        sink.publish("uuid", "[]");
    }
    sink.poll();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    EXPECT_EQ(sink.counters().produced, 100u);
    // Undeliverable messages are reported as failed once their timeout runs out, not lost silently.
    EXPECT_FALSE(sink.flush(std::chrono::milliseconds(100)) && sink.counters().delivered == 100);
    sink.flush(std::chrono::milliseconds(5000));
    EXPECT_EQ(sink.counters().failed, 100u);
    EXPECT_EQ(sink.counters().delivered, 0u);
}

TEST(KafkaSink, WithoutASpoolWhatIsStillQueuedAtCloseIsCountedDropped) {
    KafkaSink sink({"127.0.0.1:9", "kvm-metrics", {}}, nullptr);
    for (int i = 0; i < 4; ++i) {
        sink.publish("uuid", "[]");
    }
    EXPECT_FALSE(sink.flush(std::chrono::milliseconds(100)));
    EXPECT_EQ(sink.counters().pending, 4u);
    sink.close();
    EXPECT_EQ(sink.counters().dropped, 4u);
    EXPECT_EQ(sink.counters().failed, 0u);
    sink.close();  // once only: nothing counted twice
    EXPECT_EQ(sink.counters().dropped, 4u);
}

}  // namespace
}  // namespace pulse
