// --check, see connection_check.hpp: one connection per target, one line per target, hints from the
// libraries' messages.
//
// librdkafka reports connection and authentication failures as events, served only by
// poll(), while metadata() itself just times out; so the Kafka check asks for metadata in
// short slices, polls events between them, and stops early once every broker is down or
// authentication failed: nothing will change before the deadline then.
//
// A topic that does not exist is not a failure by itself: a producer asks the broker to create
// it on the first write, and brokers do so unless auto.create.topics.enable=false. The metadata
// request of the check does not ask for that (a check should not create topics), so the check
// reads the broker's setting with DescribeConfigs, from the C API: the C++ one has no admin
// calls.
#include "pulse/ops/connection_check.hpp"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

#include "pulse/base/c_handle.hpp"
#include "pulse/base/secrets.hpp"
#include "pulse/base/uri.hpp"
#include "pulse/cloudstack/api.hpp"
#include "pulse/kafka/sink.hpp"
#include "pulse/libvirt/handles.hpp"

namespace pulse {
namespace {

using Clock = std::chrono::steady_clock;

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// The last error librdkafka reported through an event; logs go to the debug log. Secret values
// are masked in both.
class ErrorRecorder : public RdKafka::EventCb {
  public:
    explicit ErrorRecorder(const std::map<std::string, std::string>& properties)
        : properties_(properties) {}

    void event_cb(RdKafka::Event& event) override {
        if (event.type() == RdKafka::Event::EVENT_ERROR) {
            // "All broker connections are down" follows the error that says why: keep that.
            if (event.err() == RdKafka::ERR__ALL_BROKERS_DOWN) {
                all_brokers_down = true;
            }
            if (event.err() != RdKafka::ERR__ALL_BROKERS_DOWN || code == RdKafka::ERR_NO_ERROR) {
                code = event.err();
                message = mask_secrets(event.str(), properties_);
            }
            spdlog::debug("kafka: {}: {}", RdKafka::err2str(event.err()),
                          mask_secrets(event.str(), properties_));
        } else if (event.type() == RdKafka::Event::EVENT_LOG) {
            spdlog::debug("librdkafka {}: {}", event.fac(), mask_secrets(event.str(), properties_));
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

  private:
    const std::map<std::string, std::string>& properties_;
};

CheckResult kafka_failure(const Config& config, int code, std::string message) {
    std::string hint = kafka_hint(code, message);
    return {false, "kafka", config.bootstrap_servers(),
            mask_secrets(std::move(message), config.kafka_properties), std::move(hint)};
}

using QueuePtr = CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using EventPtr = CHandle<rd_kafka_event_t, rd_kafka_event_destroy>;
using ResourcePtr = CHandle<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy>;
using OptionsPtr = CHandle<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;

// auto.create.topics.enable of broker `broker_id`, or nullopt with the reason in `why` when it
// does not say: DescribeConfigs needs the DESCRIBE_CONFIGS permission on the cluster with ACLs.
std::optional<bool> broker_auto_creates_topics(RdKafka::Handle& handle, std::int32_t broker_id,
                                               std::chrono::milliseconds timeout,
                                               std::string& why) {
    rd_kafka_t* rk = handle.c_ptr();
    QueuePtr queue(rd_kafka_queue_new(rk));
    ResourcePtr resource(
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, std::to_string(broker_id).c_str()));
    OptionsPtr options(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS));
    char error[256];
    rd_kafka_AdminOptions_set_request_timeout(options.get(), static_cast<int>(timeout.count()),
                                              error, sizeof error);
    rd_kafka_ConfigResource_t* resources[] = {resource.get()};
    rd_kafka_DescribeConfigs(rk, resources, 1, options.get(), queue.get());
    // The request timeout bounds the answer; the extra second lets the timeout event arrive.
    EventPtr event(rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 1000));
    if (!event) {
        why = "no answer to DescribeConfigs";
        return std::nullopt;
    }
    if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        why = fmt::format("DescribeConfigs: {}", rd_kafka_event_error_string(event.get()));
        return std::nullopt;
    }
    std::size_t count = 0;
    const rd_kafka_ConfigResource_t** described = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(event.get()), &count);
    for (std::size_t i = 0; i < count; ++i) {
        if (rd_kafka_ConfigResource_error(described[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            why = fmt::format("DescribeConfigs: {}",
                              rd_kafka_ConfigResource_error_string(described[i]));
            return std::nullopt;
        }
        std::size_t entries = 0;
        const rd_kafka_ConfigEntry_t** configs =
            rd_kafka_ConfigResource_configs(described[i], &entries);
        for (std::size_t j = 0; j < entries; ++j) {
            const char* value = rd_kafka_ConfigEntry_value(configs[j]);
            if (std::string_view(rd_kafka_ConfigEntry_name(configs[j])) ==
                    "auto.create.topics.enable" &&
                value != nullptr) {
                return std::string_view(value) == "true";
            }
        }
    }
    why = "DescribeConfigs did not list auto.create.topics.enable";
    return std::nullopt;
}

// librdkafka's allow.auto.create.topics as set by the operator: a producer asks the broker for
// a missing topic unless it is false (its default for a producer is true).
bool producer_asks_for_topics(const Config& config) {
    auto it = config.kafka_properties.find("allow.auto.create.topics");
    if (it == config.kafka_properties.end()) {
        return true;
    }
    std::string value = it->second;
    std::transform(value.begin(), value.end(), value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return value != "false" && value != "f" && value != "0";
}

CheckResult missing_topic(const Config& config, const RdKafka::Metadata& metadata,
                          RdKafka::Handle& handle, Clock::time_point deadline) {
    MissingTopic missing;
    missing.producer_asks = producer_asks_for_topics(config);
    missing.broker_id = metadata.orig_broker_id();
    missing.brokers = metadata.brokers()->size();
    if (missing.producer_asks) {
        auto wait = std::clamp(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
            std::chrono::milliseconds(500), std::chrono::milliseconds(5000));
        missing.broker_creates =
            broker_auto_creates_topics(handle, missing.broker_id, wait, missing.why_unknown);
        missing.why_unknown = mask_secrets(missing.why_unknown, config.kafka_properties);
    }
    return missing_topic_verdict(config, missing);
}

// The verdict on the topic from the cluster's metadata; nullopt: ask again (a topic being
// created has no leader yet).
std::optional<CheckResult> topic_verdict(const Config& config, const RdKafka::Metadata& metadata,
                                         RdKafka::Handle& handle, Clock::time_point deadline) {
    for (const RdKafka::TopicMetadata* t : *metadata.topics()) {
        if (t->topic() != config.kafka_topic) {
            continue;
        }
        if (t->err() == RdKafka::ERR_LEADER_NOT_AVAILABLE) {
            return std::nullopt;
        }
        if (t->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART ||
            t->err() == RdKafka::ERR__UNKNOWN_TOPIC) {
            return missing_topic(config, metadata, handle, deadline);
        }
        if (t->err() != RdKafka::ERR_NO_ERROR) {
            return kafka_failure(
                config, t->err(),
                fmt::format("topic {}: {}", config.kafka_topic, RdKafka::err2str(t->err())));
        }
        return CheckResult{true,
                           "kafka",
                           config.bootstrap_servers(),
                           fmt::format("topic {}: {} partitions, {} brokers", config.kafka_topic,
                                       t->partitions()->size(), metadata.brokers()->size()),
                           {}};
    }
    // Not listed: it does not exist (or, with ACLs, this principal may not describe it).
    return missing_topic(config, metadata, handle, deadline);
}

}  // namespace

std::string format_check(const CheckResult& r) {
    // One line per target: libraries' messages may span several (ssh's warnings do).
    std::string detail = r.detail;
    std::replace(detail.begin(), detail.end(), '\n', ' ');
    std::string line =
        fmt::format("{} {} {}: {}", r.ok ? "ok  " : "FAIL", r.target, r.where, detail);
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
    // librdkafka reports an untrusted certificate as a transport or an SSL error, by version.
    if (contains(error, "certificate verify failed")) {
        return "TLS: the broker's certificate is not trusted: does ssl.ca.location hold the CA "
               "that signed it, and does the certificate name the host in KAFKA_BOOTSTRAP?";
    }
    switch (code) {
        case RdKafka::ERR__AUTHENTICATION:
        case RdKafka::ERR_SASL_AUTHENTICATION_FAILED:
            return "auth? check sasl.mechanism, sasl.username and sasl.password";
        case RdKafka::ERR__SSL:
            if (contains(error, "SSL handshake failed")) {
                return "TLS handshake failed: does security.protocol match the broker's "
                       "listener (SSL/SASL_SSL against a plaintext one)?";
            }
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
            if (contains(error, "ApiVersion") || contains(error, "SSL handshake") ||
                contains(error, "security.protocol")) {
                return "does security.protocol match the broker's listener?";
            }
            return "is the broker up and reachable from here? check KAFKA_BOOTSTRAP and "
                   "firewalls";
        default:
            if (contains(error, "ssl.ca.location")) {
                return "ssl.ca.location: is it a readable PEM file with the CA's certificate?";
            }
            return {};
    }
}

CheckResult missing_topic_verdict(const Config& config, const MissingTopic& topic) {
    const std::string& name = config.kafka_topic;
    const std::string create_hint =
        fmt::format("create it (kafka-topics.sh --create --topic {}), or check KAFKA_TOPIC", name);
    if (!topic.producer_asks) {
        return {false, "kafka", config.bootstrap_servers(),
                fmt::format("topic {} does not exist, and allow.auto.create.topics=false keeps "
                            "the sensor from having it created",
                            name),
                create_hint};
    }
    if (!topic.broker_creates.has_value()) {
        // Exit status 0 promises that the sensor can deliver; here nobody can tell.
        return {false, "kafka", config.bootstrap_servers(),
                fmt::format("topic {} does not exist, and whether broker {} creates it on the "
                            "first write is unknown ({})",
                            name, topic.broker_id, topic.why_unknown),
                create_hint};
    }
    if (!*topic.broker_creates) {
        return {false, "kafka", config.bootstrap_servers(),
                fmt::format("topic {} does not exist, and broker {} does not create topics "
                            "(auto.create.topics.enable=false)",
                            name, topic.broker_id),
                create_hint};
    }
    return {true,
            "kafka",
            config.bootstrap_servers(),
            fmt::format("topic {} does not exist yet; broker {} creates it on the first write "
                        "(auto.create.topics.enable=true), {} brokers",
                        name, topic.broker_id, topic.brokers),
            {}};
}

CheckResult check_libvirt(const std::string& uri) {
    const std::string shown = uri_without_password(uri);
    try {
        libvirt::Connection connection(uri);
        auto domains = libvirt::list_active_domains(connection.get());
        return {true, "libvirt", shown, fmt::format("{} domains", domains.size()), {}};
    } catch (const libvirt::LibvirtError& e) {
        std::string message = hide_uri_password(e.what(), uri);
        // "connecting to <uri>: …": the line names the URI already.
        if (const std::string prefix = fmt::format("connecting to {}: ", shown);
            message.starts_with(prefix)) {
            message.erase(0, prefix.size());
        }
        std::string hint = libvirt_hint(shown, message);
        return {false, "libvirt", shown, std::move(message), std::move(hint)};
    }
}

CheckResult check_kafka(const Config& config, std::chrono::milliseconds timeout) {
    std::unique_ptr<RdKafka::Conf> conf = make_kafka_conf(
        {config.bootstrap_servers(), config.kafka_topic, config.kafka_properties}, false);
    ErrorRecorder recorder(config.kafka_properties);
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
    const auto deadline = Clock::now() + timeout;
    RdKafka::ErrorCode last = RdKafka::ERR__TIMED_OUT;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left <= std::chrono::milliseconds::zero()) {
            break;
        }
        // Every topic, not just ours: asking for one topic means a topic handle, and a
        // producer's topic handle has the broker create the topic, which a check must not do.
        RdKafka::Metadata* raw = nullptr;
        last = producer->metadata(true, nullptr, &raw,
                                  static_cast<int>(std::min<std::int64_t>(left.count(), 500)));
        std::unique_ptr<RdKafka::Metadata> metadata(raw);
        producer->poll(0);
        if (last == RdKafka::ERR_NO_ERROR) {
            if (auto verdict = topic_verdict(config, *metadata, *producer, deadline)) {
                return *verdict;
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

CheckResult check_cloudstack(const Config& config) {
    CloudStackSettings settings{*parse_cloudstack_endpoint(config.cs_endpoint), config.cs_api_key,
                                config.cs_secret_key};
    settings.io_timeout = std::chrono::seconds(10);
    CloudStackClient client(settings);
    CheckResult result{false, "cloudstack", client.where(), {}, {}};
    try {
        const std::uint64_t volumes = client.count_volumes();
        result.ok = true;
        result.detail = fmt::format("signature accepted, listVolumes: {} volumes", volumes);
    } catch (const CloudStackError& e) {
        result.detail = e.what();
        const std::string_view error = e.what();
        if (contains(error, "HTTP 401") || contains(error, "HTTP 432")) {
            result.hint =
                "CloudStack refused the request: are CS_API_KEY and CS_SECRET_KEY the keys of "
                "one enabled user, with listVolumes allowed?";
        } else if (contains(error, "no answer")) {
            result.hint = "is CS_ENDPOINT right (http://host:8080/client/api) and reachable?";
        } else {
            result.hint = "does CS_ENDPOINT point at CloudStack's API (…/client/api)?";
        }
    }
    return result;
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
    if (config.use_cloudstack()) {
        report(check_cloudstack(config));
    }
    return all_ok ? 0 : 1;
}

}  // namespace pulse
