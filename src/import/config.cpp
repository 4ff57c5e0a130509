// The importer's settings from flags and environment; see config.hpp.
#include "pulse/import/config.hpp"

#include "pulse/base/secrets.hpp"
#include "pulse/config/command_line.hpp"
#include "pulse/config/kafka_settings.hpp"
#include "pulse/config/settings.hpp"
#include "pulse/config/values.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <optional>

namespace pulse {
namespace {

// The importer's table of settings (see config/settings.hpp): the sensor's rows for what both
// read, in the importer's words, and its own.
constexpr Setting kImportSettings[] = {
    reuse(sensor_setting("KAFKA_BOOTSTRAP"), {.required = true,
                                              .help = "Kafka brokers host:port[,host:port]",
                                              .doc = "brokers, `host:port[,host:port…]`"}),
    reuse(sensor_setting("KAFKA_TOPIC"), {.help = "topic to read", .doc = "topic to read"}),
    {.env = "KAFKA_GROUP",
     .flag = "--kafka-group",
     .arg = "GROUP",
     .default_value = "pulse-importer",
     .help = "consumer group; offsets are committed only after InfluxDB stored the batch",
     .doc = "consumer group; a new group starts at the oldest message"},
    {.env = "INFLUXDB_URL",
     .flag = "--influxdb-url",
     .arg = "URL",
     .default_value = "http://localhost:8086",
     .help = "InfluxDB 1.x HTTP API, http://host:port",
     .doc = "InfluxDB 1.x, `http://host:port` (no TLS in this client)"},
    {.env = "INFLUXDB_DB",
     .flag = "--influxdb-db",
     .arg = "NAME",
     .required = true,
     .help = "database to write to",
     .doc = "database (create it first)"},
    {.env = "INFLUXDB_USER",
     .flag = "--influxdb-user",
     .arg = "USER",
     .help = "user for InfluxDB's basic auth",
     .doc = "user for basic auth"},
    {.env = "INFLUXDB_PASSWORD",
     .flag = "--influxdb-password",
     .arg = "PASSWORD",
     .help = "its password, never printed; prefer the variable, flags show in ps",
     .doc = "its password, never logged (prefer the variable: flags show in `ps`)"},
    {.env = "IMPORT_BATCH_LINES",
     .flag = "--batch-lines",
     .kind = Kind::integer,
     .arg = "LINES",
     .default_value = "5000",
     .help = "lines per write at most",
     .doc = "a batch is written when it holds this many lines, or `IMPORT_BATCH_WAIT_MS` after "
            "its first message"},
    {.env = "IMPORT_BATCH_WAIT_MS",
     .flag = "--batch-wait-ms",
     .kind = Kind::integer,
     .arg = "MS",
     .default_value = "1000",
     .help = "a batch is written this long after its first message at the latest",
     .doc = "a batch is written this long after its first message at the latest"},
    reuse(sensor_setting("KAFKA_PROPERTIES_FILE"),
          {.help = "librdkafka consumer properties, key=value lines; --kafka-property after the "
                   "file",
           .doc = "librdkafka consumer properties (SASL, TLS…), as for the sensor; "
                  "`--kafka-property key=value` after it"}),
    reuse(sensor_setting("--kafka-property")),
    reuse(sensor_setting("DEBUG"), {.help = "log more", .doc = "log more"}),
};

consteval const Setting& import_setting(std::string_view name) {
    return setting_in(kImportSettings, name);
}

constexpr const Setting& kBootstrap = import_setting("KAFKA_BOOTSTRAP");
constexpr const Setting& kTopic = import_setting("KAFKA_TOPIC");
constexpr const Setting& kGroup = import_setting("KAFKA_GROUP");
constexpr const Setting& kUrl = import_setting("INFLUXDB_URL");
constexpr const Setting& kDb = import_setting("INFLUXDB_DB");
constexpr const Setting& kUser = import_setting("INFLUXDB_USER");
constexpr const Setting& kPassword = import_setting("INFLUXDB_PASSWORD");
constexpr const Setting& kBatchLines = import_setting("IMPORT_BATCH_LINES");
constexpr const Setting& kBatchWait = import_setting("IMPORT_BATCH_WAIT_MS");
constexpr const Setting& kPropertiesFile = import_setting("KAFKA_PROPERTIES_FILE");
constexpr const Setting& kProperty = import_setting("--kafka-property");
constexpr const Setting& kDebug = import_setting("DEBUG");

// The flag's value, else the variable's, else the row's default (std::nullopt without one).
std::optional<std::string> resolve(const Flags& flags, const Setting& s, const EnvLookup& env) {
    std::optional<std::string> value = flags.value(s);
    if (!value) {
        value = env(std::string(s.env));
    }
    if (!value && !s.default_value.empty()) {
        value = std::string(s.default_value);
    }
    return value;
}

long number_setting(const std::string& value, const Setting& s, long min, long max) {
    const std::optional<long> number = parse_whole(value, min, max);
    if (!number) {
        invalid_setting(s, value, fmt::format("a whole number from {} to {}", min, max));
    }
    return *number;
}

// http://host:port with an optional path is all the client speaks (no TLS in this build).
std::string url_setting(const std::string& value) {
    std::string url = value;
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    constexpr std::string_view kScheme = "http://";
    bool ok = url.starts_with(kScheme) && url.size() > kScheme.size() &&
              url.find_first_of(" \t\r\n?#", kScheme.size()) == std::string::npos &&
              url.find('/', kScheme.size()) == std::string::npos;
    if (!ok) {
        invalid_setting(kUrl, value, "http://host:port, e.g. http://influxdb:8086");
    }
    return url;
}

std::string name_setting(const std::string& value, const Setting& s) {
    if (value.empty() || value.find_first_of(" \t\r\n") != std::string::npos) {
        invalid_setting(s, value, "a name without spaces");
    }
    return value;
}

std::string help_footer() {
    return fmt::format(
        "\n{}{}\n{}\n",
        environment_help(kImportSettings, "Environment (a flag wins over its variable):"),
        wrap(kImportFormats, 94), wrap(fmt::format("Exit status: {}", kImportExitStatus), 94));
}

}  // namespace

std::span<const Setting> import_settings() {
    return kImportSettings;
}

ImportParseResult parse_import_config(const std::vector<std::string>& args, const EnvLookup& env) {
    CLI::App app{fmt::format("pulse-sensor import: {}.", kImportSummary), "pulse-sensor import"};
    app.footer(help_footer());
    const Flags flags(app, kImportSettings);

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

    ImportParseResult result;
    ImportConfig& c = result.config;
    auto brokers = resolve(flags, kBootstrap, env);
    c.kafka_bootstrap = kafka_bootstrap_setting(brokers);
    if (c.kafka_bootstrap.empty()) {
        invalid_setting(kBootstrap, brokers.value_or(""),
                        "host:port[,host:port] (required for import)");
    }
    c.kafka_topic = kafka_topic_setting(resolve(flags, kTopic, env));
    c.kafka_group = name_setting(resolve(flags, kGroup, env).value(), kGroup);
    c.influxdb_url = url_setting(resolve(flags, kUrl, env).value());
    auto database = resolve(flags, kDb, env);
    if (!database) {
        invalid_setting(kDb, "", "the name of an InfluxDB database (required)");
    }
    c.influxdb_db = name_setting(*database, kDb);
    c.influxdb_user = resolve(flags, kUser, env).value_or("");
    c.influxdb_password = resolve(flags, kPassword, env).value_or("");
    if (!c.influxdb_password.empty() && c.influxdb_user.empty()) {
        invalid_setting(kUser, "", "a user name when INFLUXDB_PASSWORD is set");
    }
    c.batch_lines = static_cast<std::size_t>(
        number_setting(resolve(flags, kBatchLines, env).value(), kBatchLines, 1, 1000000));
    c.batch_wait = std::chrono::milliseconds(
        number_setting(resolve(flags, kBatchWait, env).value(), kBatchWait, 0, 600000));
    kafka_properties_setting(resolve(flags, kPropertiesFile, env), flags.values(kProperty),
                             c.kafka_properties);
    const std::string debug = resolve(flags, kDebug, env).value();
    auto parsed = parse_bool(debug);
    if (!parsed) {
        invalid_setting(kDebug, debug, "one of true/false, 1/0, yes/no, on/off (any case)");
    }
    c.debug = *parsed;
    return result;
}

}  // namespace pulse
