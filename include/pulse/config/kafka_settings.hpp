// The Kafka settings the importer (pulse-sensor import) shares with the sensor, validated the
// same way for both. Each takes the setting's value, std::nullopt when it is not set.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pulse/config/settings.hpp"

namespace pulse {

// KAFKA_BOOTSTRAP: the brokers, each host:port; none when unset or empty.
std::vector<std::string> kafka_bootstrap_setting(const std::optional<std::string>& value);

// KAFKA_TOPIC, by Kafka's rule for topic names.
std::string kafka_topic_setting(const std::optional<std::string>& value);

// A topic name by Kafka's rule, or the ConfigError naming `row`.
std::string topic_name(const Setting& row, const std::string& topic);

// KAFKA_PROPERTIES_FILE's lines (when `file` names one), then each --kafka-property, into `out`.
void kafka_properties_setting(const std::optional<std::string>& file,
                              const std::vector<std::string>& properties,
                              std::map<std::string, std::string>& out);

}  // namespace pulse
