// Configuration from flags, environment and the configuration file; see config.hpp for the
// precedence and settings.hpp for the table of settings.
//
// The table's rows give CLI11 its options; every setting, whether it came from a flag, the
// environment, the file or the row's default, then goes through the same validator, so an
// error names both spellings (and, for a value from the file, the file, line and key).
#include "pulse/config/config.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "pulse/base/listen_address.hpp"
#include "pulse/base/uri.hpp"
#include "pulse/cloudstack/api.hpp"
#include "pulse/config/command_line.hpp"
#include "pulse/config/config_file.hpp"
#include "pulse/config/kafka_settings.hpp"
#include "pulse/config/properties.hpp"
#include "pulse/config/setting_file.hpp"
#include "pulse/config/settings.hpp"
#include "pulse/config/values.hpp"

namespace pulse {
namespace {

constexpr const Setting& kKvmHost = sensor_setting("KVM_HOST");
constexpr const Setting& kPause = sensor_setting("PAUSE");
constexpr const Setting& kBootstrap = sensor_setting("KAFKA_BOOTSTRAP");
constexpr const Setting& kTopic = sensor_setting("KAFKA_TOPIC");
constexpr const Setting& kHostStats = sensor_setting("GATHER_HOST_STATS");
constexpr const Setting& kRates = sensor_setting("RATES");
constexpr const Setting& kDebug = sensor_setting("DEBUG");
constexpr const Setting& kSpoolDir = sensor_setting("SPOOL_DIR");
constexpr const Setting& kSpoolMax = sensor_setting("SPOOL_MAX_BYTES");
constexpr const Setting& kShutdown = sensor_setting("SHUTDOWN_TIMEOUT");
constexpr const Setting& kMetricsAddr = sensor_setting("METRICS_ADDR");
constexpr const Setting& kHealthTimeout = sensor_setting("HEALTH_DELIVERY_TIMEOUT");
constexpr const Setting& kFormat = sensor_setting("FORMAT");
constexpr const Setting& kPropertiesFile = sensor_setting("KAFKA_PROPERTIES_FILE");
constexpr const Setting& kProperty = sensor_setting("--kafka-property");
constexpr const Setting& kCsEndpoint = sensor_setting("CS_ENDPOINT");
constexpr const Setting& kCsApiKey = sensor_setting("CS_API_KEY");
constexpr const Setting& kCsSecretKey = sensor_setting("CS_SECRET_KEY");
constexpr const Setting& kCsApiKeyFile = sensor_setting("CS_API_KEY_FILE");
constexpr const Setting& kCsSecretKeyFile = sensor_setting("CS_SECRET_KEY_FILE");
constexpr const Setting& kVolumesInterval = sensor_setting("VOLUMES_UPDATE_INTERVAL");
constexpr const Setting& kFleetGroup = sensor_setting("FLEET_GROUP");
constexpr const Setting& kFleetTopic = sensor_setting("FLEET_TOPIC");
constexpr const Setting& kFleetPartitions = sensor_setting("FLEET_PARTITIONS");
constexpr const Setting& kFleetSession = sensor_setting("FLEET_SESSION_TIMEOUT");
constexpr const Setting& kConfigFile = sensor_setting("CONFIG_FILE");
constexpr const Setting& kOnce = sensor_setting("--once");
constexpr const Setting& kCheck = sensor_setting("--check");
constexpr const Setting& kHealthcheck = sensor_setting("--healthcheck");

constexpr long kMaxPauseSeconds = 86400;

std::optional<std::string> env_of(const EnvLookup& env, const Setting& s) {
    return s.env.empty() ? std::nullopt : env(std::string(s.env));
}

// The value of a setting from the highest layer that has one: flag, environment, file.
class Layers {
  public:
    Layers(const Flags& flags, const EnvLookup& env, const ConfigFile* file)
        : flags_(flags), env_(env), file_(file) {}

    std::optional<std::string> get(const Setting& s) const {
        if (auto flag = flags_.value(s)) {
            return flag;
        }
        if (auto value = env_of(env_, s)) {
            return value;
        }
        if (const FileValue* value = in_file(s)) {
            return value->text;
        }
        return std::nullopt;
    }

    // `check(value)` with the setting's value, or its row's default when no layer has one
    // (std::nullopt when the row has none); an error about a value that came from the file is
    // prefixed with the file, line and key, where the operator has to look.
    template <class Check>
    auto setting(const Setting& s, Check check) const {
        return given(s, [&](std::optional<std::string> value) {
            if (!value && !s.default_value.empty()) {
                value = std::string(s.default_value);
            }
            return check(value);
        });
    }

    // For a setting whose row has a default: `check(s, value)` with the value as text.
    template <class Check>
    auto value(const Setting& s, Check check) const {
        return setting(s, [&](const std::optional<std::string>& v) { return check(s, v.value()); });
    }

    // The same without the default: `check(std::nullopt)` when no layer has a value.
    template <class Check>
    auto given(const Setting& s, Check check) const {
        auto value = get(s);
        if (flags_.value(s) || env_of(env_, s) || !in_file(s)) {
            return check(value);
        }
        return from_file(s.key, *in_file(s), [&] { return check(value); });
    }

    template <class Check>
    auto from_file(std::string_view key, const FileValue& value, Check check) const {
        try {
            return check();
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("{}: {}", file_->where(key, value), e.what()));
        }
    }

    const ConfigFile* file() const { return file_; }

  private:
    const FileValue* in_file(const Setting& s) const {
        return file_ && !s.key.empty() ? file_->find(s.key) : nullptr;
    }

    const Flags& flags_;
    const EnvLookup& env_;
    const ConfigFile* file_;
};

bool boolean(const Setting& s, const std::string& value) {
    auto parsed = parse_bool(trim(value));
    if (!parsed) {
        invalid_setting(s, value, "one of true/false, 1/0, yes/no, on/off (any case)");
    }
    return *parsed;
}

// A whole number from `min` to `max`, or the error that says so in `what` ("whole seconds").
long whole_number(const Setting& s, const std::string& value, long min, long max,
                  std::string_view what) {
    const std::optional<long> n = parse_whole(trim(value), min, max);
    if (!n) {
        invalid_setting(s, value, fmt::format("{} from {} to {}", what, min, max));
    }
    return *n;
}

// Whole seconds from `min` to `max`.
auto seconds_from(long min, long max) {
    return [=](const Setting& s, const std::string& value) {
        return std::chrono::seconds{whole_number(s, value, min, max, "whole seconds")};
    };
}

std::uint64_t spool_max_setting(const Setting& s, const std::string& value) {
    constexpr std::uint64_t kMin = 64ULL << 10;
    auto bytes = parse_size(trim(value));
    if (!bytes || *bytes < kMin) {
        invalid_setting(s, value, "a size of at least 64K: bytes, or a number with K, M or G");
    }
    return *bytes;
}

// Empty is not a directory; "off": no spool.
std::string spool_dir_setting(const Setting& s, const std::string& value) {
    std::string text = trim(value);
    if (text.empty()) {
        invalid_setting(s, value, "a directory path, or off");
    }
    return text == "off" ? std::string() : text;
}

Encoding format_setting(const Setting& s, const std::string& value) {
    if (trim(value) == "json") {
        return Encoding::json;
    }
    if (trim(value) == "influx") {
        return Encoding::line_protocol;
    }
    invalid_setting(s, value, "json (the default) or influx (InfluxDB line protocol)");
}

std::string cs_endpoint_setting(const std::optional<std::string>& value) {
    if (!value || trim(*value).empty()) {
        return {};
    }
    const std::string text = trim(*value);
    // A URL with userinfo may hold a password: say what is wrong without repeating it.
    const std::string shown = text.find('@') == std::string::npos ? text : "(not shown)";
    auto endpoint = parse_cloudstack_endpoint(text);
    if (!endpoint) {
        invalid_setting(
            kCsEndpoint, shown,
            "http://host[:port][/path] or https://…, e.g. http://cloudstack:8080/client/api");
    }
    if (endpoint->https && !cloudstack_https_supported()) {
        invalid_setting(
            kCsEndpoint, shown,
            "an http:// URL: this build's HTTP client (cpp-httplib) has no TLS support");
    }
    return text;
}

// CS_API_KEY or CS_SECRET_KEY: from the variable (or the file's key), or from the file that
// its *_FILE variant names, not both. Errors never show the value.
std::string cs_key_setting(const Layers& layers, const Setting& key, const Setting& file) {
    std::optional<std::string> value = layers.get(key);
    std::string source(key.env);
    if (auto path = layers.get(file); path && !trim(*path).empty()) {
        if (value) {
            throw ConfigError(fmt::format("{} and {} are both set: give the key one way", key.env,
                                          setting_name(file)));
        }
        source = fmt::format("{} '{}'", setting_name(file), trim(*path));
        value = read_setting_file(trim(*path), setting_name(file));
    }
    if (!value) {
        return {};
    }
    std::string text = trim(*value);
    if (text.empty() || std::any_of(text.begin(), text.end(), [](unsigned char c) {
            return std::iscntrl(c) || std::isspace(c) || c >= 0x80;
        })) {
        throw ConfigError(fmt::format(
            "invalid {}: expected one CloudStack key, printable ASCII without spaces (the value "
            "is not shown)",
            source));
    }
    return text;
}

bool valid_uri(const std::string& uri) {
    bool has_space = std::any_of(uri.begin(), uri.end(),
                                 [](unsigned char c) { return std::isspace(c) || c < 0x20; });
    return !uri.empty() && !has_space && uri.find(':') != std::string::npos;
}

constexpr const char* kUriAccepted =
    "a libvirt URI such as qemu:///system or qemu+ssh://root@host/system, or a "
    "comma-separated list of them";

std::string kvm_host_setting(const std::string& uri) {
    if (!valid_uri(uri)) {
        invalid_setting(kKvmHost, uri_without_password(uri), kUriAccepted);
    }
    return uri;
}

// One URI or a comma-separated list: spaces around items trimmed, no empty item, none twice.
// Errors quote the whole value, each URI without its password, and name the bad item.
std::vector<std::string> kvm_hosts_setting(const std::string& value) {
    const std::vector<std::string_view> items = split_list(value);
    auto shown = [&] {
        std::vector<std::string> uris;
        for (std::string_view item : items) {
            uris.push_back(uri_without_password(item));
        }
        return fmt::format("{}", fmt::join(uris, ","));
    };
    std::vector<std::string> uris;
    for (std::string_view item : items) {
        std::string uri = trim(item);
        if (uri.empty()) {
            invalid_setting(kKvmHost, shown(),
                            "a comma-separated list of libvirt URIs with no empty item");
        }
        if (std::find(uris.begin(), uris.end(), uri) != uris.end()) {
            invalid_setting(kKvmHost, shown(),
                            fmt::format("each URI once ('{}' is listed twice: one connection each)",
                                        uri_without_password(uri)));
        }
        if (!valid_uri(uri)) {
            invalid_setting(kKvmHost, shown(),
                            items.size() == 1 ? std::string(kUriAccepted)
                                              : fmt::format("{} ('{}' is not one)", kUriAccepted,
                                                            uri_without_password(uri)));
        }
        uris.push_back(std::move(uri));
    }
    return uris;
}

// KVM_HOST (flag, environment or the file's kvm_host) with the global PAUSE and
// GATHER_HOST_STATS, else the file's [[host]] tables, else the default URI.
std::vector<HostConfig> hosts_setting(const Layers& layers, const Config& c) {
    std::vector<HostConfig> hosts;
    auto list = layers.given(kKvmHost, [](const std::optional<std::string>& value) {
        return value ? kvm_hosts_setting(*value) : std::vector<std::string>{};
    });
    for (std::string& uri : list) {
        hosts.push_back({std::move(uri), c.pause, c.gather_host_stats});
    }
    if (hosts.empty() && layers.file()) {
        std::set<std::string> seen;
        for (const FileHost& table : layers.file()->hosts) {
            HostConfig host{{}, c.pause, c.gather_host_stats};
            host.uri = layers.from_file("host.uri", table.uri, [&] {
                if (!seen.insert(trim(table.uri.text)).second) {
                    invalid_setting(kKvmHost, uri_without_password(table.uri.text),
                                    "each URI once (one connection each)");
                }
                return kvm_host_setting(trim(table.uri.text));
            });
            if (table.pause) {
                host.pause = layers.from_file("host.pause", *table.pause, [&] {
                    return seconds_from(1, kMaxPauseSeconds)(kPause, table.pause->text);
                });
            }
            if (table.gather_host_stats) {
                host.gather_host_stats = layers.from_file(
                    "host.gather_host_stats", *table.gather_host_stats,
                    [&] { return boolean(kHostStats, table.gather_host_stats->text); });
            }
            hosts.push_back(std::move(host));
        }
    }
    if (hosts.empty()) {
        hosts.push_back({std::string(kKvmHost.default_value), c.pause, c.gather_host_stats});
    }
    return hosts;
}

// FLEET_*: only with Kafka, whose group it joins, and not for --once, which polls everything.
FleetConfig fleet_setting(const Layers& layers, const Config& c) {
    FleetConfig fleet;
    fleet.group = layers.setting(kFleetGroup, [](const std::optional<std::string>& value) {
        const std::string group = value ? trim(*value) : std::string();
        // A group id is any string to Kafka; one a log line or a label can show plainly.
        if (group.size() > 249 || std::any_of(group.begin(), group.end(), [](unsigned char ch) {
                return ch <= ' ' || ch >= 0x7f;
            })) {
            invalid_setting(kFleetGroup, *value,
                            "up to 249 printable ASCII characters without spaces, or empty");
        }
        return group;
    });
    fleet.partitions =
        static_cast<int>(layers.value(kFleetPartitions, [](const Setting& s, const std::string& v) {
            return whole_number(s, v, 1, 10000, "a whole number");
        }));
    fleet.session_timeout = layers.value(kFleetSession, seconds_from(1, 3600));
    fleet.topic = layers.setting(kFleetTopic, [&](const std::optional<std::string>& value) {
        return value ? topic_name(kFleetTopic, trim(*value)) : c.kafka_topic + ".fleet";
    });
    if (fleet.enabled() && !c.use_kafka()) {
        throw ConfigError(fmt::format("{} needs {}: the fleet is a Kafka consumer group",
                                      setting_name(kFleetGroup), setting_name(kBootstrap)));
    }
    if (fleet.enabled() && c.once) {
        throw ConfigError(fmt::format("--once polls every hypervisor: unset {} to use it",
                                      setting_name(kFleetGroup)));
    }
    // A FLEET_TOPIC given was checked above; the default may outgrow Kafka's 249 characters,
    // and a broker would refuse it only when the sensor runs, polling nothing meanwhile.
    if (fleet.enabled() && fleet.topic.size() > 249) {
        throw ConfigError(fmt::format(
            "{} is unset and its default, {} followed by .fleet, is {} characters, longer than "
            "Kafka's 249: set it",
            setting_name(kFleetTopic), setting_name(kTopic), fleet.topic.size()));
    }
    return fleet;
}

// Empty or "off": no listener.
std::string metrics_addr_setting(const std::optional<std::string>& value) {
    const std::string text = value ? trim(*value) : std::string();
    if (text.empty() || text == "off") {
        return {};
    }
    if (!parse_listen_address(text)) {
        invalid_setting(kMetricsAddr, *value,
                        "host:port, :port or [ipv6]:port with a port from 1 to 65535, e.g. "
                        "127.0.0.1:9464, or off");
    }
    return text;
}

// What --help says after the options.
std::string help_footer() {
    return fmt::format(
        "\n{}\n{}\n\n`pulse-sensor import --help` describes the importer from Kafka into "
        "InfluxDB.\n\n{}\n",
        environment_help(kSensorSettings, fmt::format("Environment ({}):", kPrecedence)), kBooleans,
        wrap(fmt::format("Exit status: {}", kExitStatus), 94));
}

// The keys have no flag, so that they never show in `ps`: a flag spelled after a variable
// without one is refused with that reason, before CLI11 could quote the key back in its "not
// expected" message.
void refuse_secret_flags(const std::vector<std::string>& args) {
    for (const Setting& key : kSensorSettings) {
        if (key.env.empty() || !key.flag.empty()) {
            continue;
        }
        std::string flag = "--" + std::string(key.env);
        std::transform(flag.begin(), flag.end(), flag.begin(), [](unsigned char c) {
            return c == '_' ? '-' : static_cast<char>(std::tolower(c));
        });
        const Setting* file = find_setting(kSensorSettings, std::string(key.env) + "_FILE");
        for (const std::string& arg : args) {
            if (arg == flag || arg.starts_with(flag + "=")) {
                throw ConfigError(fmt::format(
                    "{} is not a flag, to keep the key out of the process list: set {}{}", flag,
                    key.env, file ? " or " + setting_name(*file) : ""));
            }
        }
    }
}

}  // namespace

std::string Config::bootstrap_servers() const {
    return fmt::format("{}", fmt::join(kafka_bootstrap, ","));
}

std::string Config::host_uris() const {
    std::vector<std::string> uris;
    for (const HostConfig& host : hosts) {
        uris.push_back(uri_without_password(host.uri));
    }
    return fmt::format("{}", fmt::join(uris, ", "));
}

EnvLookup process_env() {
    return [](const std::string& name) -> std::optional<std::string> {
        if (const char* value = std::getenv(name.c_str())) {
            return std::string(value);
        }
        return std::nullopt;
    };
}

ParseResult parse_config(const std::vector<std::string>& args, const EnvLookup& env) {
    CLI::App app{fmt::format("pulse-sensor: {}.", kSensorSummary), "pulse-sensor"};
    app.footer(help_footer());
    app.set_version_flag("--version", std::string("pulse-sensor ") + PULSE_VERSION);
    const Flags flags(app, kSensorSettings);

    // Everything after `import` is the importer's, parsed by parse_import_config.
    CLI::App* import = app.add_subcommand(
        "import", "consume the topic and write it into InfluxDB (pulse-sensor import --help)");
    import->prefix_command();
    import->set_help_flag();

    refuse_secret_flags(args);
    // CLI11 wants argv order reversed when given a vector.
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        return {ParseOutcome::exit_ok, {}, app.help(), {}};
    } catch (const CLI::CallForVersion&) {
        return {ParseOutcome::exit_ok, {}, std::string("pulse-sensor ") + PULSE_VERSION + "\n", {}};
    } catch (const CLI::ParseError& e) {
        throw ConfigError(describe_parse_error(e.what(), args));
    }
    if (*import) {
        return {ParseOutcome::import, {}, {}, import->remaining()};
    }

    ParseResult result;
    Config& c = result.config;
    if (flags.on(kHealthcheck)) {
        // A container HEALTHCHECK passes the container's environment as it is (an empty
        // KVM_HOST= included, which the entrypoint would have unset): read only what it needs.
        c.healthcheck = true;
        auto addr = flags.value(kMetricsAddr);
        c.metrics_addr = metrics_addr_setting(addr ? addr : env_of(env, kMetricsAddr));
        return result;
    }
    std::optional<ConfigFile> file;
    if (auto path = flags.value(kConfigFile) ? flags.value(kConfigFile) : env_of(env, kConfigFile);
        path && !trim(*path).empty()) {
        file = read_config_file(trim(*path));
    }
    const Layers layers(flags, env, file ? &*file : nullptr);
    c.pause = layers.value(kPause, seconds_from(1, kMaxPauseSeconds));
    c.kafka_bootstrap = layers.setting(kBootstrap, kafka_bootstrap_setting);
    c.kafka_topic = layers.setting(kTopic, kafka_topic_setting);
    c.gather_host_stats = layers.value(kHostStats, boolean);
    c.hosts = hosts_setting(layers, c);
    c.debug = layers.value(kDebug, boolean);
    c.rates = layers.value(kRates, boolean);
    for (HostConfig& host : c.hosts) {
        host.rates = c.rates;
    }
    c.once = flags.on(kOnce);
    c.spool_dir = layers.value(kSpoolDir, spool_dir_setting);
    c.spool_dir_explicit = layers.get(kSpoolDir).has_value();
    c.spool_max_bytes = layers.value(kSpoolMax, spool_max_setting);
    c.shutdown_timeout = layers.value(kShutdown, seconds_from(0, 3600));
    if (file) {
        for (const auto& [key, value] : file->kafka_properties) {
            add_property(fmt::format("{}={}", key, value.text),
                         file->where(fmt::format("kafka_properties.{}", key), value),
                         c.kafka_properties);
        }
    }
    kafka_properties_setting(layers.get(kPropertiesFile), flags.values(kProperty),
                             c.kafka_properties);
    c.check = flags.on(kCheck);
    c.metrics_addr = layers.setting(kMetricsAddr, metrics_addr_setting);
    c.health_delivery_timeout = layers.value(kHealthTimeout, seconds_from(1, kMaxPauseSeconds));
    c.format = layers.value(kFormat, format_setting);
    c.cs_endpoint = layers.setting(kCsEndpoint, cs_endpoint_setting);
    c.volumes_update_interval = layers.value(kVolumesInterval, seconds_from(1, kMaxPauseSeconds));
    c.fleet = fleet_setting(layers, c);
    for (HostConfig& host : c.hosts) {
        host.wall_clock_ticks = c.fleet.enabled();
    }
    if (c.use_cloudstack()) {
        c.cs_api_key = cs_key_setting(layers, kCsApiKey, kCsApiKeyFile);
        c.cs_secret_key = cs_key_setting(layers, kCsSecretKey, kCsSecretKeyFile);
        for (const auto& [key, key_file] :
             {std::pair{&kCsApiKey, &kCsApiKeyFile}, std::pair{&kCsSecretKey, &kCsSecretKeyFile}}) {
            const std::string& value = key == &kCsApiKey ? c.cs_api_key : c.cs_secret_key;
            if (value.empty()) {
                throw ConfigError(fmt::format("{} is set but {} is not (nor {})",
                                              setting_name(kCsEndpoint), key->env, key_file->env));
            }
        }
    }
    return result;
}

}  // namespace pulse
