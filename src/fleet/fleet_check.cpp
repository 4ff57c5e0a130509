// --check in fleet mode; see fleet_check.hpp.
#include "pulse/fleet/fleet_check.hpp"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <memory>
#include <set>
#include <string>

#include "pulse/base/c_handle.hpp"
#include "pulse/base/secrets.hpp"
#include "pulse/base/uri.hpp"
#include "pulse/fleet/fleet.hpp"
#include "pulse/kafka/sink.hpp"

namespace pulse {
namespace {

using QueuePtr = CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using EventPtr = CHandle<rd_kafka_event_t, rd_kafka_event_destroy>;
using OptionsPtr = CHandle<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;

// The topic's partition count from the cluster's metadata (all topics: asking for one through
// a producer's topic handle could create it); 0 when it does not exist, -1 on failure.
int topic_partitions(RdKafka::Producer& producer, const std::string& topic,
                     std::chrono::milliseconds timeout, std::string& error) {
    RdKafka::Metadata* raw = nullptr;
    const RdKafka::ErrorCode err =
        producer.metadata(true, nullptr, &raw, static_cast<int>(timeout.count()));
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    if (err != RdKafka::ERR_NO_ERROR) {
        error = RdKafka::err2str(err);
        return -1;
    }
    for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
        if (t->topic() == topic && t->err() == RdKafka::ERR_NO_ERROR) {
            return static_cast<int>(t->partitions()->size());
        }
    }
    return 0;
}

}  // namespace

std::vector<CheckResult> check_fleet(const Config& config, std::chrono::milliseconds timeout) {
    const FleetConfig& fleet = config.fleet;
    CheckResult group{false, "fleet", fmt::format("{} on {}", fleet.group, fleet.topic), {}, {}};
    std::unique_ptr<RdKafka::Conf> conf =
        make_kafka_conf({config.bootstrap_servers(), fleet.topic, config.kafka_properties}, false);
    std::string error;
    std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
    if (!producer) {
        group.detail = "creating a Kafka client: " + mask_secrets(error, config.kafka_properties);
        return {group};
    }
    const int count = topic_partitions(*producer, fleet.topic, timeout, error);
    if (count < 0) {
        group.detail = fmt::format("no metadata from {}: {}", config.bootstrap_servers(), error);
        group.hint = "see the kafka line above";
        return {group};
    }
    const int partitions = count > 0 ? count : fleet.partitions;

    rd_kafka_t* rk = producer->c_ptr();
    char errstr[512] = "";
    OptionsPtr options(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS));
    rd_kafka_AdminOptions_set_request_timeout(options.get(), static_cast<int>(timeout.count()),
                                              errstr, sizeof errstr);
    QueuePtr queue(rd_kafka_queue_new(rk));
    const char* groups[] = {fleet.group.c_str()};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, options.get(), queue.get());
    EventPtr event(rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 1000));
    const rd_kafka_DescribeConsumerGroups_result_t* result =
        event ? rd_kafka_event_DescribeConsumerGroups_result(event.get()) : nullptr;
    if (!event || rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR || !result) {
        group.detail = fmt::format("describing the group: {}",
                                   event ? rd_kafka_event_error_string(event.get()) : "no answer");
        group.hint = "the principal needs Describe on the group";
        return {group};
    }
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t** descriptions =
        rd_kafka_DescribeConsumerGroups_result_groups(result, &n);
    if (n != 1) {
        group.detail = "describing the group: no description in the answer";
        return {group};
    }
    const rd_kafka_ConsumerGroupDescription_t* description = descriptions[0];
    if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(description)) {
        group.detail = fmt::format("describing the group: {}", rd_kafka_error_string(e));
        group.hint = "the principal needs Describe on the group";
        return {group};
    }
    const rd_kafka_consumer_group_state_t state =
        rd_kafka_ConsumerGroupDescription_state(description);
    std::vector<CheckResult> lines(1);
    std::set<std::string> polled;
    const size_t members = rd_kafka_ConsumerGroupDescription_member_count(description);
    for (size_t i = 0; i < members; ++i) {
        const rd_kafka_MemberDescription_t* member =
            rd_kafka_ConsumerGroupDescription_member(description, i);
        std::set<int> held;
        if (const rd_kafka_MemberAssignment_t* assignment =
                rd_kafka_MemberDescription_assignment(member)) {
            const rd_kafka_topic_partition_list_t* list =
                rd_kafka_MemberAssignment_partitions(assignment);
            for (int j = 0; list && j < list->cnt; ++j) {
                if (fleet.topic == list->elems[j].topic) {
                    held.insert(list->elems[j].partition);
                }
            }
        }
        const std::set<std::string> hosts = fleet_hosts_of(config.hosts, held, partitions);
        polled.insert(hosts.begin(), hosts.end());
        lines.push_back(
            {true,
             "fleet member",
             fmt::format("{} ({})", rd_kafka_MemberDescription_client_id(member),
                         rd_kafka_MemberDescription_host(member)),
             fmt::format("partitions {}: {} of {} hypervisors: {}", spell_partitions(held),
                         hosts.size(), config.hosts.size(), spell_hosts(hosts)),
             {}});
    }
    std::set<std::string> orphans;
    for (const HostConfig& host : config.hosts) {
        if (!polled.contains(host.uri)) {
            orphans.insert(host.uri);
        }
    }
    const bool stable = state == RD_KAFKA_CONSUMER_GROUP_STATE_STABLE;
    group.ok = members == 0 || !stable || orphans.empty();
    group.detail =
        fmt::format("{} {} partitions, group {} with {} member(s){}",
                    count > 0 ? "topic of" : "no topic yet, the first sensor creates it with",
                    partitions, rd_kafka_consumer_group_state_name(state), members,
                    members == 0      ? ": no sensor has joined"
                    : orphans.empty() ? ", every hypervisor polled"
                                      : fmt::format(", polled by none: {}", spell_hosts(orphans)));
    if (!group.ok) {
        group.hint = "do all sensors of the group have the same KVM_HOST list?";
    }
    lines[0] = group;
    return lines;
}

}  // namespace pulse
