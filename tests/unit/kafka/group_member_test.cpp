// The fleet's Kafka side without a broker: the partition a key belongs to must be the one every
// Kafka client computes, and a member whose properties librdkafka refuses must say which one
// without repeating its value. Constructing a member does not connect, so neither needs Kafka.
#include "pulse/kafka/group_member.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace pulse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A value no message may contain: if it shows up anywhere, a secret leaked.
constexpr const char* kSecret = "Zq9-distinctive-S3CRET-value";

// Kafka's own murmur2 test vectors: UtilsTest.testMurmur2 of the Java client
// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java). They were checked
// against a port of Utils.murmur2 and against kafka-python's kafka.partitioner.default.murmur2,
// which agree on every one.
struct Murmur2Vector {
    const char* key;
    std::int32_t hash;  // Utils.murmur2(key.getBytes(UTF_8)), signed as Java has it
};
constexpr Murmur2Vector kMurmur2Vectors[] = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107},
};

// The Java client's partition of a key: Utils.toPositive(murmur2) % n, toPositive clearing the
// sign bit (not negating: -1 becomes 0x7fffffff, not 1).
int java_partition(std::int32_t hash, int partitions) {
    return static_cast<int>((static_cast<std::uint32_t>(hash) & 0x7fffffffU) %
                            static_cast<std::uint32_t>(partitions));
}

TEST(KafkaPartitionOf, GivesTheJavaClientsPartitionForKafkasMurmur2TestVectors) {
    for (const Murmur2Vector& v : kMurmur2Vectors) {
        for (int n : {1, 2, 3, 7, 64, 100, 1000, 10000}) {
            EXPECT_EQ(kafka_partition_of(v.key, n), java_partition(v.hash, n))
                << "key " << v.key << ", " << n << " partitions";
        }
    }
}

TEST(KafkaPartitionOf, SpelledOutForSixtyFourPartitions) {
    // The same vectors' partitions among 64, as computed outside this code base.
    EXPECT_EQ(kafka_partition_of("21", 64), 44);
    EXPECT_EQ(kafka_partition_of("foobar", 64), 62);
    EXPECT_EQ(kafka_partition_of("a-little-bit-long-string", 64), 32);
    EXPECT_EQ(kafka_partition_of("a-little-bit-longer-string", 64), 3);
    EXPECT_EQ(kafka_partition_of("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 64), 13);
    EXPECT_EQ(kafka_partition_of("abc", 64), 27);
}

TEST(KafkaPartitionOf, HashesTheKeysBytesNotAnyTerminator) {
    const std::string padded = "abcdef";
    EXPECT_EQ(kafka_partition_of(std::string_view(padded).substr(0, 3), 10000),
              java_partition(479470107, 10000));
}

GroupSettings settings_with(std::map<std::string, std::string> properties) {
    return GroupSettings{.bootstrap_servers = "127.0.0.1:9",
                         .properties = std::move(properties),
                         .group = "pulse-test",
                         .topic = "kvm-metrics.fleet",
                         .create_partitions = 8,
                         .session_timeout = std::chrono::seconds(10),
                         .client_id = "pulse-sensor@test:1"};
}

TEST(GroupMember, ARejectedPropertyIsNamedButItsValueIsNotRepeated) {
    try {
        GroupMember member(settings_with({{"security.protocol", kSecret}}), {});
        FAIL() << "accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("security.protocol"));
        EXPECT_THAT(e.what(), Not(HasSubstr(kSecret)));
    }
}

TEST(GroupMember, AnUnknownPropertyIsRejectedByName) {
    try {
        GroupMember member(settings_with({{"no.such.property", kSecret}}), {});
        FAIL() << "accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_THAT(e.what(), HasSubstr("no.such.property"));
        EXPECT_THAT(e.what(), Not(HasSubstr(kSecret)));
    }
}

TEST(GroupMember, IsCreatedAndClosedWithoutABrokerAndWithoutARebalance) {
    // Port 9 on loopback: nothing listens there. Until subscribe() there is no group to join.
    std::atomic<int> changes{0};
    const auto started = std::chrono::steady_clock::now();
    {
        GroupMember member(settings_with({{"sasl.username", "pulse"}}),
                           [&](const GroupChange&) { ++changes; });
        EXPECT_EQ(member.member_id(), "");
        EXPECT_EQ(member.settings().group, "pulse-test");
        EXPECT_EQ(member.settings().properties.at("sasl.username"), "pulse");
        member.close();
        member.close();  // a second close, and the destructor's, do nothing
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    EXPECT_EQ(changes, 0);
}

// FLEET_SESSION_TIMEOUT takes up to an hour; librdkafka refuses a consumer whose session
// timeout is longer than max.poll.interval.ms (5 minutes by default).
TEST(GroupMember, TakesEverySessionTimeoutTheConfigurationAllows) {
    for (auto timeout : {std::chrono::seconds(1), std::chrono::seconds(300),
                         std::chrono::seconds(301), std::chrono::seconds(3600)}) {
        GroupSettings settings = settings_with({});
        settings.session_timeout = timeout;
        EXPECT_NO_THROW(GroupMember(settings, {})) << timeout.count() << " s";
    }
}

}  // namespace
}  // namespace pulse
