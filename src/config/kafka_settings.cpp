// The Kafka settings of the sensor and the importer; see kafka_settings.hpp.
#include "pulse/config/kafka_settings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string_view>

#include "pulse/config/error.hpp"
#include "pulse/config/properties.hpp"
#include "pulse/config/setting_file.hpp"
#include "pulse/config/settings.hpp"
#include "pulse/config/values.hpp"

namespace pulse {
namespace {

constexpr const Setting& kBootstrap = sensor_setting("KAFKA_BOOTSTRAP");
constexpr const Setting& kTopic = sensor_setting("KAFKA_TOPIC");
constexpr const Setting& kPropertiesFile = sensor_setting("KAFKA_PROPERTIES_FILE");

// host:port, [v6addr]:port; librdkafka also takes a protocol prefix (SSL://host:port).
bool valid_broker(std::string_view broker) {
    if (auto scheme = broker.find("://"); scheme != std::string_view::npos) {
        broker.remove_prefix(scheme + 3);
    }
    auto colon = broker.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return false;
    }
    std::string_view host = broker.substr(0, colon);
    if (host.front() == '[' ? host.back() != ']' : host.find(':') != std::string_view::npos) {
        return false;
    }
    bool clean = std::none_of(host.begin(), host.end(), [](unsigned char c) {
        return std::isspace(c) || c == ',' || c == '/';
    });
    return clean && parse_whole(broker.substr(colon + 1), 1, 65535).has_value();
}

}  // namespace

std::vector<std::string> kafka_bootstrap_setting(const std::optional<std::string>& value) {
    std::vector<std::string> brokers;
    if (!value || trim(*value).empty()) {
        return brokers;  // unset or empty: stdout mode
    }
    for (std::string_view item : split_list(*value)) {
        std::string broker = trim(item);
        if (!valid_broker(broker)) {
            invalid_setting(
                kBootstrap, *value,
                "a comma-separated list of host:port (port 1-65535), e.g. kafka1:9092,kafka2:9092");
        }
        brokers.push_back(std::move(broker));
    }
    return brokers;
}

std::string kafka_topic_setting(const std::optional<std::string>& value) {
    if (!value) {
        return std::string(kTopic.default_value);
    }
    return topic_name(kTopic, *value);
}

std::string topic_name(const Setting& row, const std::string& topic) {
    // Kafka's own rule for topic names.
    bool legal = !topic.empty() && topic.size() <= 249 && topic != "." && topic != ".." &&
                 std::all_of(topic.begin(), topic.end(), [](unsigned char c) {
                     return std::isalnum(c) || c == '.' || c == '_' || c == '-';
                 });
    if (!legal) {
        invalid_setting(row, topic, "1 to 249 characters from a-z A-Z 0-9 . _ - (not '.' or '..')");
    }
    return topic;
}

void kafka_properties_setting(const std::optional<std::string>& file,
                              const std::vector<std::string>& properties,
                              std::map<std::string, std::string>& out) {
    if (file && !trim(*file).empty()) {
        const std::string path = trim(*file);
        const std::string source =
            fmt::format("{} ({})", kPropertiesFile.env, kPropertiesFile.flag);
        parse_properties(read_setting_file(path, source), fmt::format("{} '{}'", source, path),
                         out);
    }
    for (const std::string& property : properties) {
        add_property(property, "--kafka-property", out);
    }
}

}  // namespace pulse
