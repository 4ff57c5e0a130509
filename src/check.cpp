// --check, see check.hpp: one connection per target, one line per target, hints from the
// libraries' messages.
//
// librdkafka reports connection and authentication failures as events, served only by
// poll(), while metadata() itself just times out; so the Kafka check asks for metadata in
// short slices, polls events between them, and stops early once every broker is down or
// authentication failed: nothing will change before the deadline then.
#include "pulse/check.hpp"

#include <fmt/format.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "pulse/kafka_sink.hpp"
#include "pulse/libvirt.hpp"

namespace pulse {
namespace {

using Clock = std::chrono::steady_clock;

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// The last error librdkafka reported through an event; logs go to the debug log.
class ErrorRecorder : public RdKafka::EventCb {
  public:
    void event_cb(RdKafka::Event& event) override {
        if (event.type() == RdKafka::Event::EVENT_ERROR) {
            // "All broker connections are down" follows the error that says why: keep that.
            if (event.err() == RdKafka::ERR__ALL_BROKERS_DOWN) {
                all_brokers_down = true;
            }
            if (event.err() != RdKafka::ERR__ALL_BROKERS_DOWN || code == RdKafka::ERR_NO_ERROR) {
                code = event.err();
                message = event.str();
            }
            spdlog::debug("kafka: {}: {}", RdKafka::err2str(event.err()), event.str());
        } else if (event.type() == RdKafka::Event::EVENT_LOG) {
            spdlog::debug("librdkafka {}: {}", event.fac(), event.str());
        }
    }
    // Nothing will get better by waiting.
    bool hopeless() const {
        return all_brokers_down || code == RdKafka::ERR__AUTHENTICATION ||
               code == RdKafka::ERR__SSL || code == RdKafka::ERR__RESOLVE;
    }

    RdKafka::ErrorCode code = RdKafka::ERR_NO_ERROR;
    std::string message;
    bool all_brokers_down = false;
};

CheckResult kafka_failure(const Config& config, int code, std::string message) {
    std::string hint = kafka_hint(code, message);
    return {false, "kafka", config.bootstrap_servers(),
            mask_values(std::move(message), config.kafka_properties), std::move(hint)};
}

}  // namespace

std::string format_check(const CheckResult& r) {
    std::string line =
        fmt::format("{} {} {}: {}", r.ok ? "ok  " : "FAIL", r.target, r.where, r.detail);
    if (!r.hint.empty()) {
        line += fmt::format(" (hint: {})", r.hint);
    }
    return line;
}

std::string libvirt_hint(std::string_view uri, std::string_view error) {
    const bool ssh = contains(uri, "+ssh") || contains(uri, "+libssh");
    if (contains(error, "Host key verification failed") || contains(error, "host key")) {
        return "the hypervisor's host key is not in known_hosts of the user running the sensor: "
               "ssh to it once as that user, or add it with ssh-keyscan";
    }
    if (ssh && (contains(error, "Permission denied") || contains(error, "publickey") ||
                contains(error, "authentication"))) {
        return "ssh key: is the sensor user's key (~/.ssh/id_*) in the hypervisor's "
               "authorized_keys, and readable by that user?";
    }
    if (contains(error, "Could not resolve hostname") || contains(error, "Name or service")) {
        return "check the host name in KVM_HOST";
    }
    if (ssh && contains(error, "ssh: connect to host")) {
        return "is sshd running on the hypervisor, and its port reachable from here?";
    }
    if (contains(error, "Connection refused") || (contains(error, "Failed to connect socket") &&
                                                  contains(error, "No such file or directory"))) {
        return "is libvirtd running? (or virtqemud, with modular daemons)";
    }
    if (contains(error, "Failed to connect socket") && contains(error, "Permission denied")) {
        return "may this user open libvirt's read-only socket? (unix_sock_ro_perms, polkit)";
    }
    if (ssh) {
        return "run ssh by hand as the sensor's user to the same host to see what fails";
    }
    return {};
}

std::string kafka_hint(int code, std::string_view error) {
    switch (code) {
        case RdKafka::ERR__AUTHENTICATION:
        case RdKafka::ERR_SASL_AUTHENTICATION_FAILED:
            return "auth? check sasl.mechanism, sasl.username and sasl.password";
        case RdKafka::ERR__SSL:
            return "TLS: check security.protocol, ssl.ca.location and the broker's certificate";
        case RdKafka::ERR__RESOLVE:
            return "check the broker host names in KAFKA_BOOTSTRAP";
        case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
        case RdKafka::ERR__UNKNOWN_TOPIC:
            return "topic missing and auto-creation off? create it, or check KAFKA_TOPIC";
        case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
            return "ACLs: may this principal describe and write to the topic?";
        case RdKafka::ERR__TRANSPORT:
        case RdKafka::ERR__ALL_BROKERS_DOWN:
        case RdKafka::ERR__TIMED_OUT:
            if (contains(error, "ApiVersion") || contains(error, "SSL handshake")) {
                return "does security.protocol match the broker's listener?";
            }
            return "is the broker up and reachable from here? check KAFKA_BOOTSTRAP and "
                   "firewalls";
        default:
            return {};
    }
}

CheckResult check_libvirt(const std::string& uri) {
    try {
        libvirt::Connection connection(uri);
        auto domains = libvirt::list_active_domains(connection.get());
        return {true, "libvirt", uri, fmt::format("{} domains", domains.size()), {}};
    } catch (const libvirt::LibvirtError& e) {
        std::string message = e.what();
        // "connecting to <uri>: …": the line names the URI already.
        if (const std::string prefix = fmt::format("connecting to {}: ", uri);
            message.starts_with(prefix)) {
            message.erase(0, prefix.size());
        }
        std::string hint = libvirt_hint(uri, message);
        return {false, "libvirt", uri, std::move(message), std::move(hint)};
    }
}

CheckResult check_kafka(const Config& config, std::chrono::milliseconds timeout) {
    std::unique_ptr<RdKafka::Conf> conf = make_kafka_conf(
        {config.bootstrap_servers(), config.kafka_topic, config.kafka_properties}, false);
    ErrorRecorder recorder;
    std::string error;
    if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&recorder), error) !=
        RdKafka::Conf::CONF_OK) {
        throw std::invalid_argument("Kafka callbacks: " + error);
    }
    std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
    if (!producer) {
        return kafka_failure(config, RdKafka::ERR__INVALID_ARG,
                             "creating the Kafka producer: " + error);
    }
    std::unique_ptr<RdKafka::Topic> topic(
        RdKafka::Topic::create(producer.get(), config.kafka_topic, nullptr, error));
    if (!topic) {
        return kafka_failure(config, RdKafka::ERR__INVALID_ARG, "topic: " + error);
    }
    const auto deadline = Clock::now() + timeout;
    RdKafka::ErrorCode last = RdKafka::ERR__TIMED_OUT;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left <= std::chrono::milliseconds::zero()) {
            break;
        }
        RdKafka::Metadata* raw = nullptr;
        last = producer->metadata(false, topic.get(), &raw,
                                  static_cast<int>(std::min<std::int64_t>(left.count(), 500)));
        std::unique_ptr<RdKafka::Metadata> metadata(raw);
        producer->poll(0);
        if (last == RdKafka::ERR_NO_ERROR) {
            for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
                if (t->topic() != config.kafka_topic) {
                    continue;
                }
                if (t->err() == RdKafka::ERR_LEADER_NOT_AVAILABLE) {
                    break;  // just created: ask again
                }
                if (t->err() != RdKafka::ERR_NO_ERROR) {
                    return kafka_failure(config, t->err(),
                                         fmt::format("topic {}: {}", config.kafka_topic,
                                                     RdKafka::err2str(t->err())));
                }
                return {true,
                        "kafka",
                        config.bootstrap_servers(),
                        fmt::format("topic {}: {} partitions, {} brokers", config.kafka_topic,
                                    t->partitions()->size(), metadata->brokers()->size()),
                        {}};
            }
        }
        if (recorder.hopeless()) {
            break;
        }
    }
    if (recorder.code != RdKafka::ERR_NO_ERROR) {
        return kafka_failure(
            config, recorder.code,
            fmt::format("{}: {}", RdKafka::err2str(recorder.code), recorder.message));
    }
    return kafka_failure(config, last,
                         fmt::format("no metadata for topic {} within {} ms: {}",
                                     config.kafka_topic, timeout.count(), RdKafka::err2str(last)));
}

int run_checks(const Config& config, std::FILE* out) {
    // Kafka's configuration first: an invalid property is a setting error (exit 2), found
    // before anything connects.
    if (config.use_kafka()) {
        make_kafka_conf({config.bootstrap_servers(), config.kafka_topic, config.kafka_properties},
                        false);
    }
    bool all_ok = true;
    auto report = [&](const CheckResult& result) {
        std::fprintf(out, "%s\n", format_check(result).c_str());
        std::fflush(out);
        all_ok = all_ok && result.ok;
    };
    for (const HostConfig& host : config.hosts) {
        report(check_libvirt(host.uri));
    }
    if (config.use_kafka()) {
        report(check_kafka(config, std::chrono::seconds(10)));
    }
    return all_ok ? 0 : 1;
}

}  // namespace pulse
