// The importer's configuration (`pulse-sensor import`): one struct, built and validated in one
// place, with the sensor's precedence (flag, then environment variable, then default) and the
// sensor's validation for the settings both share (KAFKA_BOOTSTRAP, KAFKA_TOPIC, properties).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/config/config.hpp"
#include "pulse/config/settings.hpp"

namespace pulse {

struct ImportConfig {
    std::vector<std::string> kafka_bootstrap;  // required
    std::string kafka_topic = "kvm-metrics";
    std::string kafka_group = "pulse-importer";
    std::string influxdb_url = "http://localhost:8086";
    std::string influxdb_db;  // required
    std::string influxdb_user;
    std::string influxdb_password;  // a secret: never logged
    std::size_t batch_lines = 5000;
    std::chrono::milliseconds batch_wait{1000};
    std::map<std::string, std::string> kafka_properties;
    bool debug = false;
};

struct ImportParseResult {
    ParseOutcome outcome = ParseOutcome::run;  // run or exit_ok (--help)
    ImportConfig config;
    std::string message;
};

// The importer's table of settings (config/settings.hpp), for --help and the manual.
std::span<const Setting> import_settings();

// What --help and the manual say besides the rows.
inline constexpr std::string_view kImportSummary =
    "reads the sensor's topic as a consumer group and writes the points into InfluxDB 1.x";
inline constexpr std::string_view kImportFormats =
    "Messages may be JSON (FORMAT=json) or line protocol (FORMAT=influx), mixed in one topic.";
inline constexpr std::string_view kImportExitStatus =
    "0 after SIGTERM or SIGINT, 1 when the consumer could not start, 2 for an invalid setting.";

// Parses the arguments after `import`. Throws ConfigError naming the variable and its flag.
ImportParseResult parse_import_config(const std::vector<std::string>& args, const EnvLookup& env);

}  // namespace pulse
