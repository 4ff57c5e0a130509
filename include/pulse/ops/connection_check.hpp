// --check: can this sensor reach its hypervisor and its Kafka cluster, right now?
//
// One libvirt connection (opened and used the way the poller does, then one domain listing)
// and, when Kafka is configured, one metadata request for the topic with a bounded wait.
// Each target gives one line, "ok   <target> <where>: <what>" or
// "FAIL <target> <where>: <the library's error> (hint: …)"; the hints turn the usual operator
// mistakes (ssh keys, known_hosts, a stopped libvirtd, a missing topic, SASL credentials, an
// untrusted broker certificate) into the next thing to look at. A topic that does not exist yet
// is ok when the broker says it creates topics on the first write (auto.create.topics.enable).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "pulse/config/config.hpp"

namespace pulse {

struct CheckResult {
    bool ok = false;
    std::string target;  // "libvirt", "kafka", "cloudstack"
    std::string where;   // the URI, the bootstrap servers
    std::string detail;  // what was found, or the library's error
    std::string hint;    // empty when there is nothing to suggest
};

// "ok   libvirt test:///default: 1 domains" / "FAIL … (hint: …)"
std::string format_check(const CheckResult& result);

// The next thing to look at for a failed libvirt connection, from libvirt's error message.
std::string libvirt_hint(std::string_view uri, std::string_view error);

// The next thing to look at for a failed Kafka check, from librdkafka's error code name
// (RdKafka::err2str is not stable; the code is) and message.
std::string kafka_hint(int error_code, std::string_view error);

// What the check found out about a topic that does not exist.
struct MissingTopic {
    // librdkafka's allow.auto.create.topics: a producer asks for the topic on its first write
    // unless it is false.
    bool producer_asks = true;
    // The broker's auto.create.topics.enable; nullopt when it did not say (why_unknown).
    std::optional<bool> broker_creates;
    std::string why_unknown;
    std::int32_t broker_id = -1;  // the broker asked
    std::size_t brokers = 0;      // in the cluster's metadata
};

// ok only when the first write creates the topic: a FAIL when either side refuses and when the
// broker does not say (exit status 0 promises that the sensor can deliver).
CheckResult missing_topic_verdict(const Config& config, const MissingTopic& topic);

CheckResult check_libvirt(const std::string& uri);

// A metadata request for `config.kafka_topic`, waiting at most `timeout`.
CheckResult check_kafka(const Config& config, std::chrono::milliseconds timeout);

// One signed listVolumes request to CS_ENDPOINT: ok when CloudStack answers and accepts the
// signature. The line names the endpoint, never a key or the signed URL.
CheckResult check_cloudstack(const Config& config);

// Every check the configuration calls for, one line each on `out`. Returns the exit status:
// 0 when all are ok, 1 otherwise. Throws std::invalid_argument for a property librdkafka
// rejects (an invalid setting, exit status 2).
int run_checks(const Config& config, std::FILE* out);

}  // namespace pulse
