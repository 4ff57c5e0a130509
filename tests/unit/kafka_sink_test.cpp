// The Kafka producer's defaults.
#include "pulse/kafka_sink.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pulse {
namespace {

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

}  // namespace
}  // namespace pulse
