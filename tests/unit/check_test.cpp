// --check: the line format, the hints for the usual failures, and both checks against targets
// that are there (the test driver) and not there (a closed loopback port).
#include "pulse/check.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include "pulse/libvirt.hpp"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(Check, ALineSaysOkOrFailThenTheTargetWhereAndWhat) {
    EXPECT_EQ(format_check({true, "libvirt", "test:///default", "1 domains", {}}),
              "ok   libvirt test:///default: 1 domains");
    EXPECT_EQ(format_check({false, "kafka", "k:9092", "Local: timed out", "broker up?"}),
              "FAIL kafka k:9092: Local: timed out (hint: broker up?)");
}

TEST(Check, LibvirtHintsPointAtTheUsualCulprits) {
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

TEST(Check, KafkaHintsPointAtTheUsualCulprits) {
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

TEST(Check, TheTestDriverIsReachableAndItsDomainsAreCounted) {
    libvirt::silence_default_error_handler();
    CheckResult r = check_libvirt("test://" PULSE_FIXTURES "/cloudstack-node.xml");
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(r.detail, "2 domains");
}

TEST(Check, AnUnreachableHypervisorFailsWithLibvirtsError) {
    libvirt::silence_default_error_handler();
    CheckResult r = check_libvirt("test:///nonexistent/node.xml");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.where, "test:///nonexistent/node.xml");
    EXPECT_THAT(r.detail, HasSubstr("/nonexistent/node.xml"));
}

TEST(Check, AClosedBrokerPortFailsQuicklyAndNeverShowsASecret) {
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
