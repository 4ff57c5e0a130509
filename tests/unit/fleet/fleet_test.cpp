// Fleet mode without a broker: which partition a hypervisor belongs to, which hypervisors the
// partitions a sensor holds give it, the group member's settings, and what a fleet not yet in
// its group publishes.
#include "pulse/fleet/fleet.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "env_lookup.hpp"
#include "pulse/config/config.hpp"
#include "pulse/kafka/group_member.hpp"
#include "pulse/ops/self_metrics.hpp"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using testing::env_of;

Config parse(std::map<std::string, std::string> env) {
    ParseResult r = parse_config({}, env_of(std::move(env)));
    EXPECT_EQ(r.outcome, ParseOutcome::run);
    return r.config;
}

std::vector<HostConfig> hosts_of(const std::vector<std::string>& uris) {
    std::vector<HostConfig> hosts;
    for (const std::string& uri : uris) {
        hosts.push_back({uri, std::chrono::seconds(10), false});
    }
    return hosts;
}

TEST(FleetPartitionOf, IgnoresAPasswordInTheUri) {
    const std::string with = "qemu+tcp://admin:Zq9-S3CRET@hv9/system";
    const std::string without = "qemu+tcp://admin@hv9/system";
    bool password_changes_the_hash = false;
    for (int n : {4, 7, 64, 100, 10000}) {
        EXPECT_EQ(fleet_partition_of(with, n), fleet_partition_of(without, n)) << n;
        EXPECT_EQ(fleet_partition_of(without, n), kafka_partition_of(without, n)) << n;
        password_changes_the_hash |= kafka_partition_of(with, n) != kafka_partition_of(without, n);
    }
    // Otherwise the test above could not tell a URI hashed with its password.
    EXPECT_TRUE(password_changes_the_hash);
}

TEST(FleetHostsOf, GivesExactlyTheHostsOfThePartitionsHeld) {
    // Their partitions among 4, by murmur2 of the URI without a password, computed outside this
    // code base: hv1 0, hv2 2, hv3 1, hv4 3, hv5 1, hv6 3, hv7 0, hv8 2, hv9 1 (2 with its
    // password).
    const std::string hv9 = "qemu+tcp://admin:Zq9-S3CRET@hv9/system";
    std::vector<std::string> uris;
    for (int i = 1; i <= 8; ++i) {
        uris.push_back("qemu+ssh://root@hv" + std::to_string(i) + "/system");
    }
    uris.push_back(hv9);
    const std::vector<HostConfig> hosts = hosts_of(uris);

    // The URIs come back as configured, password and all: they are what the host threads match.
    EXPECT_EQ(
        fleet_hosts_of(hosts, {1, 3}, 4),
        (std::set<std::string>{"qemu+ssh://root@hv3/system", "qemu+ssh://root@hv4/system",
                               "qemu+ssh://root@hv5/system", "qemu+ssh://root@hv6/system", hv9}));
    EXPECT_EQ(fleet_hosts_of(hosts, {0}, 4),
              (std::set<std::string>{"qemu+ssh://root@hv1/system", "qemu+ssh://root@hv7/system"}));
    EXPECT_EQ(fleet_hosts_of(hosts, {2}, 4),
              (std::set<std::string>{"qemu+ssh://root@hv2/system", "qemu+ssh://root@hv8/system"}));
    EXPECT_EQ(fleet_hosts_of(hosts, {0, 1, 2, 3}, 4),
              std::set<std::string>(uris.begin(), uris.end()));
    // Partitions are counted in a topic of 64 now: hv3 is in partition 1 still, hv5 is not.
    EXPECT_EQ(fleet_hosts_of(hosts, {1}, 64),
              (std::set<std::string>{"qemu+ssh://root@hv3/system"}));
}

TEST(FleetHostsOf, NothingHeldOrNoPartitionsGiveNoHost) {
    const std::vector<HostConfig> hosts =
        hosts_of({"qemu+ssh://root@hv1/system", "qemu+ssh://root@hv2/system"});
    EXPECT_TRUE(fleet_hosts_of(hosts, {}, 4).empty());
    EXPECT_TRUE(fleet_hosts_of({}, {0, 1, 2, 3}, 4).empty());
    // A topic whose partition count is not known yet (0) maps nothing, held or not.
    EXPECT_TRUE(fleet_hosts_of(hosts, {0}, 0).empty());
    EXPECT_TRUE(fleet_hosts_of(hosts, {0}, -1).empty());
    // Partitions beyond the topic's count hold no host.
    EXPECT_TRUE(fleet_hosts_of(hosts, {4, 5, 64}, 4).empty());
}

TEST(FleetGroupSettings, CarryTheFleetsSettingsAndTheOperatorsProperties) {
    Config config = parse({{"KVM_HOST", "qemu+ssh://root@hv1/system,qemu+ssh://root@hv2/system"},
                           {"KAFKA_BOOTSTRAP", "kafka1:9092, kafka2:9093"},
                           {"FLEET_GROUP", "rack-a"},
                           {"FLEET_TOPIC", "pulse.fleet-a"},
                           {"FLEET_PARTITIONS", "12"},
                           {"FLEET_SESSION_TIMEOUT", "7"}});
    config.kafka_properties = {{"security.protocol", "SASL_SSL"}, {"sasl.username", "pulse"}};

    GroupSettings s = fleet_group_settings(config);

    EXPECT_EQ(s.bootstrap_servers, "kafka1:9092,kafka2:9093");
    EXPECT_EQ(s.group, "rack-a");
    EXPECT_EQ(s.topic, "pulse.fleet-a");
    EXPECT_EQ(s.create_partitions, 12);
    EXPECT_EQ(s.session_timeout, std::chrono::milliseconds(7000));
    EXPECT_EQ(s.properties, config.kafka_properties);
    // How the member shows among the group's: which sensor, on which machine, which process.
    EXPECT_THAT(s.client_id, StartsWith("pulse-sensor@"));
    EXPECT_THAT(s.client_id, HasSubstr(":" + std::to_string(::getpid())));
}

TEST(FleetGroupSettings, DefaultsToTheKafkaTopicWithFleetAppended) {
    GroupSettings s = fleet_group_settings(
        parse({{"KAFKA_BOOTSTRAP", "127.0.0.1:9"}, {"FLEET_GROUP", "rack-a"}}));
    EXPECT_EQ(s.topic, "kvm-metrics.fleet");
    EXPECT_EQ(s.create_partitions, 64);
    EXPECT_EQ(s.session_timeout, std::chrono::milliseconds(10000));
    EXPECT_TRUE(s.properties.empty());
}

TEST(Fleet, BeforeJoiningItPublishesEveryHostUnpolledAndStartsNoPoll) {
    Config config = parse({{"KVM_HOST", "qemu+tcp://admin:Zq9-S3CRET@hv1/system,test:///default"},
                           {"KAFKA_BOOTSTRAP", "127.0.0.1:9"},
                           {"FLEET_GROUP", "rack-a"}});
    Metrics metrics;
    std::atomic<int> run_only_calls{0};
    {
        Fleet fleet(config, metrics, [&](const std::set<std::string>&) { ++run_only_calls; });
        const std::string text = metrics.render();
        EXPECT_THAT(text, HasSubstr("pulse_fleet_member{group=\"rack-a\",topic=\"kvm-metrics."
                                    "fleet\",member_id=\"\"} 0\n"));
        EXPECT_THAT(text, HasSubstr("pulse_fleet_partitions{group=\"rack-a\"} 0\n"));
        EXPECT_THAT(text, HasSubstr("pulse_fleet_partitions_held{group=\"rack-a\"} 0\n"));
        EXPECT_THAT(text, HasSubstr("pulse_fleet_host_polled{host=\"qemu+tcp://admin@hv1/"
                                    "system\",partition=\"-1\"} 0\n"));
        EXPECT_THAT(text, HasSubstr("pulse_fleet_host_polled{host=\"test:///default\","
                                    "partition=\"-1\"} 0\n"));
        EXPECT_THAT(text, Not(HasSubstr("Zq9-S3CRET")));
    }  // never started: destroyed without joining
    EXPECT_EQ(run_only_calls, 0);
}

}  // namespace
}  // namespace pulse
