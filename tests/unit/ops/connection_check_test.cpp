// --check: the line format, the hints for the usual failures, and both checks against targets
// that are there (the test driver) and not there (a closed loopback port).
#include "pulse/ops/connection_check.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include "pulse/libvirt/handles.hpp"

namespace pulse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(ConnectionCheck, ALineSaysOkOrFailThenTheTargetWhereAndWhat) {
    EXPECT_EQ(format_check({true, "libvirt", "test:///default", "1 domains", {}}),
              "ok   libvirt test:///default: 1 domains");
    EXPECT_EQ(format_check({false, "kafka", "k:9092", "Local: timed out", "broker up?"}),
              "FAIL kafka k:9092: Local: timed out (hint: broker up?)");
}

TEST(ConnectionCheck, AMessageOfSeveralLinesStaysOnTheTargetsLine) {
    EXPECT_EQ(format_check({false, "libvirt", "qemu+ssh://hv/system",
                            "Warning: Identity file k not accessible.\nroot@hv: Permission denied",
                            "ssh key"}),
              "FAIL libvirt qemu+ssh://hv/system: Warning: Identity file k not accessible. "
              "root@hv: Permission denied (hint: ssh key)");
}

TEST(ConnectionCheck, LibvirtHintsPointAtTheUsualCulprits) {
    const char* ssh = "qemu+ssh://root@hv1/system";
    EXPECT_THAT(libvirt_hint(ssh,
                             "Cannot recv data: Host key verification failed.: Connection reset "
                             "by peer"),
                HasSubstr("known_hosts"));
    EXPECT_THAT(libvirt_hint(ssh,
                             "Cannot recv data: root@hv1: Permission denied (publickey).: "
                             "Connection reset by peer"),
                HasSubstr("ssh key"));
    EXPECT_THAT(libvirt_hint("qemu:///system",
                             "Failed to connect socket to '/var/run/libvirt/libvirt-sock-ro': "
                             "Connection refused"),
                HasSubstr("is libvirtd running?"));
    EXPECT_THAT(libvirt_hint("qemu:///system",
                             "Failed to connect socket to '/var/run/libvirt/libvirt-sock-ro': "
                             "No such file or directory"),
                HasSubstr("is libvirtd running?"));
    EXPECT_THAT(libvirt_hint(ssh,
                             "Cannot recv data: ssh: connect to host hv1 port 22: Connection "
                             "refused: Connection reset by peer"),
                HasSubstr("sshd"));
    EXPECT_EQ(libvirt_hint("test:///x.xml", "XML error: failed to parse xml document"), "");
}

TEST(ConnectionCheck, KafkaHintsPointAtTheUsualCulprits) {
    EXPECT_THAT(kafka_hint(RdKafka::ERR_UNKNOWN_TOPIC_OR_PART, ""),
                HasSubstr("topic missing and auto-creation off?"));
    EXPECT_THAT(kafka_hint(RdKafka::ERR__AUTHENTICATION, "SASL authentication error"),
                HasSubstr("auth?"));
    EXPECT_THAT(kafka_hint(RdKafka::ERR_SASL_AUTHENTICATION_FAILED, ""), HasSubstr("auth?"));
    EXPECT_THAT(kafka_hint(RdKafka::ERR__TRANSPORT, "Connection refused"),
                HasSubstr("KAFKA_BOOTSTRAP"));
    EXPECT_THAT(kafka_hint(RdKafka::ERR__TRANSPORT,
                           "Disconnected while requesting ApiVersion: might be caused by "
                           "incorrect security.protocol configuration"),
                HasSubstr("security.protocol"));
}

TEST(ConnectionCheck, AnUntrustedBrokerCertificatePointsAtTheCaAndTheHostName) {
    for (int code :
         {static_cast<int>(RdKafka::ERR__TRANSPORT), static_cast<int>(RdKafka::ERR__SSL)}) {
        EXPECT_THAT(
            kafka_hint(code,
                       "sasl_ssl://127.0.0.1:9093/bootstrap: error:0A000086:SSL "
                       "routines::certificate verify failed (after 18ms in state "
                       "SSL_HANDSHAKE)"),
            AllOf(HasSubstr("TLS"), HasSubstr("ssl.ca.location"), HasSubstr("KAFKA_BOOTSTRAP")));
    }
    EXPECT_THAT(kafka_hint(RdKafka::ERR__SSL,
                           "SSL handshake failed: error:0A000126:SSL routines::unexpected eof "
                           "while reading"),
                HasSubstr("security.protocol"));
    EXPECT_THAT(kafka_hint(RdKafka::ERR__TRANSPORT,
                           "Disconnected: verify that security.protocol is correctly "
                           "configured, broker might require SASL authentication"),
                HasSubstr("security.protocol"));
    EXPECT_THAT(kafka_hint(RdKafka::ERR__INVALID_ARG,
                           "creating the Kafka producer: ssl.ca.location failed: "
                           "error:05880002:x509 certificate routines::system lib"),
                HasSubstr("readable PEM file"));
}

Config config_with_topic(const std::string& topic) {
    Config config;
    config.kafka_bootstrap = {"k1:9093"};
    config.kafka_topic = topic;
    return config;
}

TEST(ConnectionCheck, AMissingTopicIsOkWhenTheBrokerCreatesItOnTheFirstWrite) {
    CheckResult r = missing_topic_verdict(config_with_topic("kvm-metrics"), {.producer_asks = true,
                                                                             .broker_creates = true,
                                                                             .why_unknown = {},
                                                                             .broker_id = 1,
                                                                             .brokers = 3});
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(format_check(r),
              "ok   kafka k1:9093: topic kvm-metrics does not exist yet; broker 1 creates it on "
              "the first write (auto.create.topics.enable=true), 3 brokers");
}

TEST(ConnectionCheck, AMissingTopicFailsWhenTheBrokerDoesNotCreateTopics) {
    CheckResult r =
        missing_topic_verdict(config_with_topic("kvm-metrics"), {.producer_asks = true,
                                                                 .broker_creates = false,
                                                                 .why_unknown = {},
                                                                 .broker_id = 2,
                                                                 .brokers = 3});
    EXPECT_FALSE(r.ok);
    EXPECT_THAT(r.detail, HasSubstr("auto.create.topics.enable=false"));
    EXPECT_THAT(r.hint, HasSubstr("kafka-topics.sh --create --topic kvm-metrics"));
}

TEST(ConnectionCheck, AMissingTopicFailsWhenTheProducerMayNotAskForIt) {
    CheckResult r = missing_topic_verdict(
        config_with_topic("t"),
        {.producer_asks = false, .broker_creates = std::nullopt, .why_unknown = {}});
    EXPECT_FALSE(r.ok);
    EXPECT_THAT(r.detail, HasSubstr("allow.auto.create.topics=false"));
}

TEST(ConnectionCheck, AMissingTopicFailsWhenTheBrokerDoesNotSayWhetherItCreatesIt) {
    CheckResult r = missing_topic_verdict(
        config_with_topic("t"),
        {.producer_asks = true,
         .broker_creates = std::nullopt,
         .why_unknown = "DescribeConfigs: Broker: Cluster authorization failed",
         .broker_id = 1});
    EXPECT_FALSE(r.ok);
    EXPECT_THAT(r.detail, AllOf(HasSubstr("unknown"), HasSubstr("Cluster authorization")));
    EXPECT_THAT(r.hint, HasSubstr("create it"));
}

TEST(ConnectionCheck, TheTestDriverIsReachableAndItsDomainsAreCounted) {
    libvirt::silence_default_error_handler();
    CheckResult r = check_libvirt("test://" PULSE_FIXTURES "/cloudstack-node.xml");
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(r.detail, "2 domains");
}

TEST(ConnectionCheck, AnUnreachableHypervisorFailsWithLibvirtsError) {
    libvirt::silence_default_error_handler();
    CheckResult r = check_libvirt("test:///nonexistent/node.xml");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.where, "test:///nonexistent/node.xml");
    EXPECT_THAT(r.detail, HasSubstr("/nonexistent/node.xml"));
}

TEST(ConnectionCheck, AHypervisorUriNeverShowsItsPassword) {
    libvirt::silence_default_error_handler();
    for (const char* uri : {"qemu+tcp://admin:Zq9-S3CRET@127.0.0.1:1/system",
                            "nosuch://admin:Zq9-S3CRET@127.0.0.1/system"}) {
        CheckResult r = check_libvirt(uri);
        EXPECT_FALSE(r.ok);
        const std::string line = format_check(r);
        EXPECT_THAT(line, HasSubstr("admin@127.0.0.1")) << line;
        EXPECT_THAT(line, Not(HasSubstr("Zq9-S3CRET"))) << line;
    }
}

TEST(ConnectionCheck, AClosedBrokerPortFailsQuicklyAndNeverShowsASecret) {
    Config config;
    config.kafka_bootstrap = {"127.0.0.1:9"};
    config.kafka_properties = {{"security.protocol", "SASL_PLAINTEXT"},
                               {"sasl.mechanism", "PLAIN"},
                               {"sasl.username", "pulse"},
                               {"sasl.password", "Zq9-distinctive-S3CRET-value"}};
    auto start = std::chrono::steady_clock::now();
    CheckResult r = check_kafka(config, std::chrono::seconds(10));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.where, "127.0.0.1:9");
    EXPECT_THAT(format_check(r), StartsWith("FAIL kafka 127.0.0.1:9: "));
    EXPECT_THAT(format_check(r), Not(HasSubstr("S3CRET")));
}

}  // namespace
}  // namespace pulse
