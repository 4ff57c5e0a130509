// The importer's settings from flags and environment; see config.hpp.
#include "pulse/import/config.hpp"

#include "pulse/base/secrets.hpp"
#include "pulse/config/command_line.hpp"
#include "pulse/config/kafka_settings.hpp"
#include "pulse/config/values.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <charconv>
#include <optional>

namespace pulse {
namespace {

struct Setting {
    const char* env;
    const char* flag;
};

constexpr Setting kBootstrap{"KAFKA_BOOTSTRAP", "--kafka-bootstrap"};
constexpr Setting kTopic{"KAFKA_TOPIC", "--kafka-topic"};
constexpr Setting kGroup{"KAFKA_GROUP", "--kafka-group"};
constexpr Setting kUrl{"INFLUXDB_URL", "--influxdb-url"};
constexpr Setting kDb{"INFLUXDB_DB", "--influxdb-db"};
constexpr Setting kUser{"INFLUXDB_USER", "--influxdb-user"};
constexpr Setting kPassword{"INFLUXDB_PASSWORD", "--influxdb-password"};
constexpr Setting kBatchLines{"IMPORT_BATCH_LINES", "--batch-lines"};
constexpr Setting kBatchWait{"IMPORT_BATCH_WAIT_MS", "--batch-wait-ms"};
constexpr Setting kPropertiesFile{"KAFKA_PROPERTIES_FILE", "--kafka-properties-file"};
constexpr Setting kDebug{"DEBUG", "--debug"};

[[noreturn]] void invalid(const Setting& s, const std::string& value, const std::string& accepted) {
    throw ConfigError(
        fmt::format("invalid {} ({}) '{}': expected {}", s.env, s.flag, value, accepted));
}

std::optional<std::string> resolve(const std::optional<std::string>& flag, const Setting& s,
                                   const EnvLookup& env) {
    return flag ? flag : env(s.env);
}

long number_setting(const std::optional<std::string>& value, const Setting& s, long fallback,
                    long min, long max) {
    if (!value) {
        return fallback;
    }
    long number = 0;
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), number);
    if (value->empty() || ec != std::errc{} || end != value->data() + value->size() ||
        number < min || number > max) {
        invalid(s, *value, fmt::format("a whole number from {} to {}", min, max));
    }
    return number;
}

// http://host:port with an optional path is all the client speaks (no TLS in this build).
std::string url_setting(const std::optional<std::string>& value) {
    if (!value) {
        return "http://localhost:8086";
    }
    std::string url = *value;
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    constexpr std::string_view kScheme = "http://";
    bool ok = url.starts_with(kScheme) && url.size() > kScheme.size() &&
              url.find_first_of(" \t\r\n?#", kScheme.size()) == std::string::npos &&
              url.find('/', kScheme.size()) == std::string::npos;
    if (!ok) {
        invalid(kUrl, *value, "http://host:port, e.g. http://influxdb:8086");
    }
    return url;
}

std::string name_setting(const std::optional<std::string>& value, const Setting& s,
                         const std::string& fallback) {
    if (!value) {
        return fallback;
    }
    if (value->empty() || value->find_first_of(" \t\r\n") != std::string::npos) {
        invalid(s, *value, "a name without spaces");
    }
    return *value;
}

constexpr const char* kHelp = R"(
Environment (a flag wins over its variable):
  KAFKA_BOOTSTRAP       Kafka brokers host:port[,host:port]     (required)
  KAFKA_TOPIC           topic to read                           (default kvm-metrics)
  KAFKA_GROUP           consumer group; offsets are committed   (default pulse-importer)
                        only after InfluxDB stored the batch
  INFLUXDB_URL          InfluxDB 1.x HTTP API                   (default http://localhost:8086)
  INFLUXDB_DB           database to write to                    (required)
  INFLUXDB_USER         user for InfluxDB's basic auth          (default none)
  INFLUXDB_PASSWORD     its password; never printed             (default none)
  IMPORT_BATCH_LINES    lines per write at most                 (default 5000)
  IMPORT_BATCH_WAIT_MS  a batch is written this long after its  (default 1000)
                        first message at the latest
  KAFKA_PROPERTIES_FILE librdkafka consumer properties, key=value lines; --kafka-property after
  DEBUG                 log more                                (default false)
Messages may be JSON (FORMAT=json) or line protocol (FORMAT=influx), mixed in one topic.
Exit status: 0 after SIGTERM or SIGINT, 1 when the consumer could not start, 2 for an invalid
setting.
)";

}  // namespace

ImportParseResult parse_import_config(const std::vector<std::string>& args, const EnvLookup& env) {
    CLI::App app{
        "pulse-sensor import: reads the sensor's topic as a consumer group and writes "
        "the points into InfluxDB 1.x.",
        "pulse-sensor import"};
    app.footer(kHelp);
    std::optional<std::string> bootstrap, topic, group, url, db, user, password, batch_lines,
        batch_wait, properties_file, debug;
    std::vector<std::string> properties;
    app.add_option("--kafka-bootstrap", bootstrap, "Kafka bootstrap servers (KAFKA_BOOTSTRAP)");
    app.add_option("--kafka-topic", topic, "topic to read (KAFKA_TOPIC)");
    app.add_option("--kafka-group", group, "consumer group id (KAFKA_GROUP)");
    app.add_option("--influxdb-url", url, "InfluxDB URL, http://host:port (INFLUXDB_URL)");
    app.add_option("--influxdb-db", db, "database (INFLUXDB_DB)");
    app.add_option("--influxdb-user", user, "user (INFLUXDB_USER)");
    app.add_option("--influxdb-password", password,
                   "password; prefer the variable, flags show in ps (INFLUXDB_PASSWORD)");
    app.add_option("--batch-lines", batch_lines, "lines per write at most (IMPORT_BATCH_LINES)");
    app.add_option("--batch-wait-ms", batch_wait,
                   "longest wait before a batch is written (IMPORT_BATCH_WAIT_MS)");
    app.add_option("--kafka-properties-file", properties_file,
                   "librdkafka properties, key=value lines (KAFKA_PROPERTIES_FILE)");
    app.add_option("--kafka-property", properties,
                   "librdkafka property key=value, after the file; repeatable")
        ->allow_extra_args(false);
    app.add_option("--debug", debug, "log more: true|false (DEBUG)")
        ->expected(0, 1)
        ->default_str("true");

    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        return {ParseOutcome::exit_ok, {}, app.help()};
    } catch (const CLI::ParseError& e) {
        // The password may be quoted in CLI11's message: mask it wherever it was given.
        std::string message = describe_parse_error(e.what(), args);
        message = mask_flag_value(std::move(message), args, kPassword.flag);
        throw ConfigError(message);
    }
    if (debug && debug->empty()) {
        debug = "true";
    }

    ImportParseResult result;
    ImportConfig& c = result.config;
    auto brokers = resolve(bootstrap, kBootstrap, env);
    c.kafka_bootstrap = kafka_bootstrap_setting(brokers);
    if (c.kafka_bootstrap.empty()) {
        invalid(kBootstrap, brokers.value_or(""), "host:port[,host:port] (required for import)");
    }
    c.kafka_topic = kafka_topic_setting(resolve(topic, kTopic, env));
    c.kafka_group = name_setting(resolve(group, kGroup, env), kGroup, "pulse-importer");
    c.influxdb_url = url_setting(resolve(url, kUrl, env));
    auto database = resolve(db, kDb, env);
    if (!database) {
        invalid(kDb, "", "the name of an InfluxDB database (required)");
    }
    c.influxdb_db = name_setting(database, kDb, "");
    c.influxdb_user = resolve(user, kUser, env).value_or("");
    c.influxdb_password = resolve(password, kPassword, env).value_or("");
    if (!c.influxdb_password.empty() && c.influxdb_user.empty()) {
        invalid(kUser, "", "a user name when INFLUXDB_PASSWORD is set");
    }
    c.batch_lines = static_cast<std::size_t>(
        number_setting(resolve(batch_lines, kBatchLines, env), kBatchLines, 5000, 1, 1000000));
    c.batch_wait = std::chrono::milliseconds(
        number_setting(resolve(batch_wait, kBatchWait, env), kBatchWait, 1000, 0, 600000));
    kafka_properties_setting(resolve(properties_file, kPropertiesFile, env), properties,
                             c.kafka_properties);
    if (auto value = resolve(debug, kDebug, env)) {
        auto parsed = parse_bool(*value);
        if (!parsed) {
            invalid(kDebug, *value, "one of true/false, 1/0, yes/no, on/off (any case)");
        }
        c.debug = *parsed;
    }
    return result;
}

}  // namespace pulse
