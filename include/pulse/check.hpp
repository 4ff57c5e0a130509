// --check: can this sensor reach its hypervisor and its Kafka cluster, right now?
//
// One libvirt connection (opened and used the way the poller does, then one domain listing)
// and, when Kafka is configured, one metadata request for the topic with a bounded wait.
// Each target gives one line, "ok   <target> <where>: <what>" or
// "FAIL <target> <where>: <the library's error> (hint: …)"; the hints turn the usual operator
// mistakes (ssh keys, known_hosts, a stopped libvirtd, a missing topic, SASL credentials) into
// the next thing to look at.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "pulse/config.hpp"

namespace pulse {

struct CheckResult {
    bool ok = false;
    std::string target;  // "libvirt", "kafka"
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

CheckResult check_libvirt(const std::string& uri);

// A metadata request for `config.kafka_topic`, waiting at most `timeout`.
CheckResult check_kafka(const Config& config, std::chrono::milliseconds timeout);

// Every check the configuration calls for, one line each on `out`. Returns the exit status:
// 0 when all are ok, 1 otherwise. Throws std::invalid_argument for a property librdkafka
// rejects (an invalid setting, exit status 2).
int run_checks(const Config& config, std::FILE* out);

}  // namespace pulse
