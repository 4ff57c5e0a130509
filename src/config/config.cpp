// Configuration from flags, environment and the configuration file; see config.hpp for the
// precedence.
//
// CLI11 parses the flags into optional strings; every setting, whether it came from a flag, the
// environment or the file, then goes through the same validator, so an error names both
// spellings (and, for a value from the file, the file, line and key).
#include "pulse/config/config.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "pulse/base/listen_address.hpp"
#include "pulse/base/secrets.hpp"
#include "pulse/base/uri.hpp"
#include "pulse/cloudstack/api.hpp"
#include "pulse/config/config_file.hpp"

namespace pulse {
namespace {

struct Setting {
    const char* env;
    const char* flag;
    const char* key;  // in the configuration file
};

constexpr Setting kKvmHost{"KVM_HOST", "--kvm-host", "kvm_host"};
constexpr Setting kPause{"PAUSE", "--pause", "pause"};
constexpr Setting kBootstrap{"KAFKA_BOOTSTRAP", "--kafka-bootstrap", "kafka_bootstrap"};
constexpr Setting kTopic{"KAFKA_TOPIC", "--kafka-topic", "kafka_topic"};
constexpr Setting kHostStats{"GATHER_HOST_STATS", "--gather-host-stats", "gather_host_stats"};
constexpr Setting kDebug{"DEBUG", "--debug", "debug"};
constexpr Setting kRates{"RATES", "--rates", "rates"};
constexpr Setting kSpoolDir{"SPOOL_DIR", "--spool-dir", "spool_dir"};
constexpr Setting kSpoolMax{"SPOOL_MAX_BYTES", "--spool-max-bytes", "spool_max_bytes"};
constexpr Setting kShutdown{"SHUTDOWN_TIMEOUT", "--shutdown-timeout", "shutdown_timeout"};
constexpr Setting kPropertiesFile{"KAFKA_PROPERTIES_FILE", "--kafka-properties-file",
                                  "kafka_properties_file"};
constexpr Setting kConfigFile{"CONFIG_FILE", "--config", ""};
constexpr Setting kMetricsAddr{"METRICS_ADDR", "--metrics-addr", "metrics_addr"};
constexpr Setting kHealthTimeout{"HEALTH_DELIVERY_TIMEOUT", "--health-delivery-timeout",
                                 "health_delivery_timeout"};
constexpr Setting kFormat{"FORMAT", "--format", "format"};
constexpr Setting kCsEndpoint{"CS_ENDPOINT", "--cs-endpoint", "cs_endpoint"};
// The keys themselves have no flag: only their *_FILE variants do (see Config).
constexpr Setting kCsApiKey{"CS_API_KEY", "", "cs_api_key"};
constexpr Setting kCsSecretKey{"CS_SECRET_KEY", "", "cs_secret_key"};
constexpr Setting kCsApiKeyFile{"CS_API_KEY_FILE", "--cs-api-key-file", "cs_api_key_file"};
constexpr Setting kCsSecretKeyFile{"CS_SECRET_KEY_FILE", "--cs-secret-key-file",
                                   "cs_secret_key_file"};
constexpr Setting kVolumesInterval{"VOLUMES_UPDATE_INTERVAL", "--volumes-update-interval",
                                   "volumes_update_interval"};

// A properties or configuration file is a handful of lines; anything larger is not one (or is
// /dev/zero).
constexpr std::uintmax_t kMaxSettingFileBytes = 1U << 20;

constexpr long kMaxPauseSeconds = 86400;

[[noreturn]] void invalid(const Setting& s, const std::string& value, const std::string& accepted) {
    throw ConfigError(
        fmt::format("invalid {} ({}) '{}': expected {}", s.env, s.flag, value, accepted));
}

// The value of a setting from the highest layer that has one: flag, environment, file.
class Layers {
  public:
    Layers(const EnvLookup& env, const ConfigFile* file) : env_(env), file_(file) {}

    std::optional<std::string> get(const std::optional<std::string>& flag, const Setting& s) {
        if (flag) {
            return flag;
        }
        if (auto value = env_(s.env)) {
            return value;
        }
        if (const FileValue* value = in_file(s)) {
            return value->text;
        }
        return std::nullopt;
    }

    // `check(value)` with the setting's value; an error about a value that came from the file
    // is prefixed with the file, line and key, where the operator has to look.
    template <class Check>
    auto setting(const std::optional<std::string>& flag, const Setting& s, Check check) {
        auto value = get(flag, s);
        if (flag || env_(s.env) || !in_file(s)) {
            return check(value);
        }
        return from_file(s.key, *in_file(s), [&] { return check(value); });
    }

    template <class Check>
    auto from_file(std::string_view key, const FileValue& value, Check check) {
        try {
            return check();
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("{}: {}", file_->where(key, value), e.what()));
        }
    }

    const ConfigFile* file() const { return file_; }

  private:
    const FileValue* in_file(const Setting& s) const {
        return file_ && *s.key ? file_->find(s.key) : nullptr;
    }

    const EnvLookup& env_;
    const ConfigFile* file_;
};

std::string trim(std::string_view text) {
    auto begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos) {
        return {};
    }
    auto end = text.find_last_not_of(" \t\r\n");
    return std::string(text.substr(begin, end - begin + 1));
}

bool bool_setting(const std::optional<std::string>& value, const Setting& s, bool fallback) {
    if (!value) {
        return fallback;
    }
    auto parsed = parse_bool(trim(*value));
    if (!parsed) {
        invalid(s, *value, "one of true/false, 1/0, yes/no, on/off (any case)");
    }
    return *parsed;
}

std::chrono::seconds seconds_setting(const std::optional<std::string>& value, const Setting& s,
                                     long fallback, long min, long max) {
    if (!value) {
        return std::chrono::seconds{fallback};
    }
    const std::string text = trim(*value);
    long seconds = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || seconds < min ||
        seconds > max) {
        invalid(s, *value, fmt::format("whole seconds from {} to {}", min, max));
    }
    return std::chrono::seconds{seconds};
}

std::uint64_t spool_max_setting(const std::optional<std::string>& value) {
    constexpr std::uint64_t kMin = 64ULL << 10;
    if (!value) {
        return 256ULL << 20;
    }
    auto bytes = parse_size(trim(*value));
    if (!bytes || *bytes < kMin) {
        invalid(kSpoolMax, *value, "a size of at least 64K: bytes, or a number with K, M or G");
    }
    return *bytes;
}

bool valid_port(std::string_view text) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    return !text.empty() && ec == std::errc{} && end == text.data() + text.size() && port >= 1 &&
           port <= 65535;
}

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
    return clean && valid_port(broker.substr(colon + 1));
}

std::vector<std::string> bootstrap_setting(const std::optional<std::string>& value) {
    std::vector<std::string> brokers;
    if (!value || trim(*value).empty()) {
        return brokers;  // unset or empty: stdout mode
    }
    std::string_view rest = *value;
    while (true) {
        auto comma = rest.find(',');
        std::string broker = trim(rest.substr(0, comma));
        if (!valid_broker(broker)) {
            invalid(
                kBootstrap, *value,
                "a comma-separated list of host:port (port 1-65535), e.g. kafka1:9092,kafka2:9092");
        }
        brokers.push_back(std::move(broker));
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    return brokers;
}

std::string topic_setting(const std::optional<std::string>& value) {
    if (!value) {
        return "kvm-metrics";
    }
    // Kafka's own rule for topic names.
    const std::string& topic = *value;
    bool legal = !topic.empty() && topic.size() <= 249 && topic != "." && topic != ".." &&
                 std::all_of(topic.begin(), topic.end(), [](unsigned char c) {
                     return std::isalnum(c) || c == '.' || c == '_' || c == '-';
                 });
    if (!legal) {
        invalid(kTopic, topic, "1 to 249 characters from a-z A-Z 0-9 . _ - (not '.' or '..')");
    }
    return topic;
}

Encoding format_setting(const std::optional<std::string>& value) {
    if (!value || trim(*value) == "json") {
        return Encoding::json;
    }
    if (trim(*value) == "influx") {
        return Encoding::line_protocol;
    }
    invalid(kFormat, *value, "json (the default) or influx (InfluxDB line protocol)");
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
        invalid(kCsEndpoint, shown,
                "http://host[:port][/path] or https://…, e.g. http://cloudstack:8080/client/api");
    }
    if (endpoint->https && !cloudstack_https_supported()) {
        invalid(kCsEndpoint, shown,
                "an http:// URL: this build's HTTP client (cpp-httplib) has no TLS support");
    }
    return text;
}

// CS_API_KEY or CS_SECRET_KEY: from the variable (or the file's key), or from the file that
// its *_FILE variant names, not both. Errors never show the value.
std::string cs_key_setting(Layers& layers, const Setting& key, const Setting& file,
                           const std::optional<std::string>& file_flag) {
    std::optional<std::string> value = layers.get(std::nullopt, key);
    std::string source = key.env;
    if (auto path = layers.get(file_flag, file); path && !trim(*path).empty()) {
        if (value) {
            throw ConfigError(fmt::format("{} and {} ({}) are both set: give the key one way",
                                          key.env, file.env, file.flag));
        }
        source = fmt::format("{} ({}) '{}'", file.env, file.flag, trim(*path));
        value = read_setting_file(trim(*path), fmt::format("{} ({})", file.env, file.flag));
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
        invalid(kKvmHost, uri_without_password(uri), kUriAccepted);
    }
    return uri;
}

// A KVM_HOST list as an error message may quote it: each URI without its password.
std::string shown_hosts(std::string_view value) {
    std::vector<std::string> shown;
    while (true) {
        const auto comma = value.find(',');
        shown.push_back(uri_without_password(value.substr(0, comma)));
        if (comma == std::string_view::npos) {
            return fmt::format("{}", fmt::join(shown, ","));
        }
        value.remove_prefix(comma + 1);
    }
}

// One URI or a comma-separated list: spaces around items trimmed, no empty item, none twice.
// Errors quote the whole value and name the bad item.
std::vector<std::string> kvm_hosts_setting(const std::string& value) {
    std::vector<std::string> uris;
    std::string_view rest = value;
    while (true) {
        auto comma = rest.find(',');
        std::string uri = trim(rest.substr(0, comma));
        if (uri.empty()) {
            invalid(kKvmHost, shown_hosts(value),
                    "a comma-separated list of libvirt URIs with no empty item");
        }
        if (std::find(uris.begin(), uris.end(), uri) != uris.end()) {
            invalid(kKvmHost, shown_hosts(value),
                    fmt::format("each URI once ('{}' is listed twice: one connection each)",
                                uri_without_password(uri)));
        }
        if (!valid_uri(uri)) {
            invalid(
                kKvmHost, shown_hosts(value),
                comma == std::string_view::npos && uris.empty()
                    ? std::string(kUriAccepted)
                    : fmt::format("{} ('{}' is not one)", kUriAccepted, uri_without_password(uri)));
        }
        uris.push_back(std::move(uri));
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    return uris;
}

// KVM_HOST (flag, environment or the file's kvm_host) with the global PAUSE and
// GATHER_HOST_STATS, else the file's [[host]] tables, else the default URI.
std::vector<HostConfig> hosts_setting(Layers& layers, const std::optional<std::string>& flag,
                                      const Config& c) {
    std::vector<HostConfig> hosts;
    auto list = layers.setting(flag, kKvmHost, [](const std::optional<std::string>& value) {
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
                    invalid(kKvmHost, uri_without_password(table.uri.text),
                            "each URI once (one connection each)");
                }
                return kvm_host_setting(trim(table.uri.text));
            });
            if (table.pause) {
                host.pause = layers.from_file("host.pause", *table.pause, [&] {
                    return seconds_setting(table.pause->text, kPause, 10, 1, kMaxPauseSeconds);
                });
            }
            if (table.gather_host_stats) {
                host.gather_host_stats = layers.from_file(
                    "host.gather_host_stats", *table.gather_host_stats,
                    [&] { return bool_setting(table.gather_host_stats->text, kHostStats, false); });
            }
            hosts.push_back(std::move(host));
        }
    }
    if (hosts.empty()) {
        hosts.push_back({"qemu:///system", c.pause, c.gather_host_stats});
    }
    return hosts;
}

// Empty or "off": no listener.
std::string metrics_addr_setting(const std::optional<std::string>& value) {
    const std::string text = value ? trim(*value) : std::string();
    if (text.empty() || text == "off") {
        return {};
    }
    if (!parse_listen_address(text)) {
        invalid(kMetricsAddr, *value,
                "host:port, :port or [ipv6]:port with a port from 1 to 65535, e.g. "
                "127.0.0.1:9464, or off");
    }
    return text;
}

// librdkafka's property names: lower case, digits, dots, underscores and dashes.
bool valid_property_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '-';
    });
}

// One "key=value"; the errors name the key when it is one, never the value.
void add_property(std::string_view text, const std::string& source,
                  std::map<std::string, std::string>& properties) {
    auto eq = text.find('=');
    if (eq == std::string_view::npos) {
        throw ConfigError(fmt::format(
            "invalid {}: expected key=value, e.g. security.protocol=SASL_SSL (the text is not "
            "shown, it may be a secret)",
            source));
    }
    std::string key = trim(text.substr(0, eq));
    if (!valid_property_name(key)) {
        throw ConfigError(fmt::format(
            "invalid {}: expected key=value with a librdkafka property name of a-z 0-9 . _ -",
            source));
    }
    properties[key] = trim(text.substr(eq + 1));
}

std::string read_properties_file(const std::string& path) {
    return read_setting_file(path,
                             fmt::format("{} ({})", kPropertiesFile.env, kPropertiesFile.flag));
}

constexpr const char* kEnvironmentHelp = R"(
Environment (a flag wins over its variable, a variable over the configuration file):
  KVM_HOST           libvirt URI to watch, or a comma-separated list of them, each
                     polled by a thread of its own          (default qemu:///system)
  PAUSE              seconds between poll starts            (default 10)
  KAFKA_BOOTSTRAP    Kafka brokers host:port[,host:port]    (unset: print to stdout)
  KAFKA_TOPIC        topic to produce to                    (default kvm-metrics)
  GATHER_HOST_STATS  also emit the host's nodeInfo point    (default false)
  DEBUG              print messages indented, log more      (default false)
  RATES              also emit cpuRate, diskRate and networkInterfaceRate
                     per-second points from consecutive polls (default false)
  SPOOL_DIR          on-disk buffer for Kafka, or "off"     (default /var/lib/pulse-sensor/spool)
  SPOOL_MAX_BYTES    bound on the spool; K, M, G suffixes   (default 256M)
  SHUTDOWN_TIMEOUT   seconds a stop waits for Kafka         (default 5)
  METRICS_ADDR       host:port for /metrics and /healthz    (default off), e.g. :9464
  HEALTH_DELIVERY_TIMEOUT  seconds messages may wait for Kafka, none
                     acknowledged, before /healthz fails    (default 300)
  FORMAT             json (the contract) or influx (InfluxDB line protocol, times in
                     seconds)                               (default json)
  CS_ENDPOINT        CloudStack API, e.g. http://cs:8080/client/api: disk points get
                     their volume id as image, from listVolumes (default off)
  CS_API_KEY, CS_SECRET_KEY  its keys; or CS_API_KEY_FILE, CS_SECRET_KEY_FILE naming
                     files that hold them (the keys have no flag and are never shown)
  VOLUMES_UPDATE_INTERVAL  seconds between listVolumes refreshes (default 600)
  KAFKA_PROPERTIES_FILE  librdkafka properties, key=value lines, # comments; applied
                     after the sensor's defaults, --kafka-property after the file.
                     Values of secret properties (passwords, keys) are never printed.
  CONFIG_FILE        TOML file with any of these settings in lower case (pause = 30,
                     kvm_host = [...]), [[host]] tables with uri, pause and
                     gather_host_stats each, and a [kafka_properties] table
Booleans accept true/false, 1/0, yes/no, on/off in any case.

`pulse-sensor import --help` describes the importer from Kafka into InfluxDB.

Exit status: 0 after a clean stop (SIGTERM, SIGINT, or --once) or when every --check
passed, 1 when --once could not poll or deliver or a --check failed, 2 for an invalid setting.
)";

}  // namespace

std::optional<bool> parse_bool(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
        return true;
    }
    if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
        return false;
    }
    return std::nullopt;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (text.empty() || ec != std::errc{} || end == text.data()) {
        return std::nullopt;
    }
    std::string unit(end, text.data() + text.size());
    std::transform(unit.begin(), unit.end(), unit.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    int shift = 0;
    if (unit.empty() || unit == "B") {
        shift = 0;
    } else if (unit == "K" || unit == "KB" || unit == "KIB") {
        shift = 10;
    } else if (unit == "M" || unit == "MB" || unit == "MIB") {
        shift = 20;
    } else if (unit == "G" || unit == "GB" || unit == "GIB") {
        shift = 30;
    } else {
        return std::nullopt;
    }
    if (shift > 0 && number > (UINT64_MAX >> shift)) {
        return std::nullopt;
    }
    return number << shift;
}

void parse_properties(std::string_view text, const std::string& source,
                      std::map<std::string, std::string>& properties) {
    int line_number = 0;
    while (!text.empty()) {
        ++line_number;
        auto newline = text.find('\n');
        std::string line = trim(text.substr(0, newline));
        if (!line.empty() && line.front() != '#') {
            add_property(line, fmt::format("{} line {}", source, line_number), properties);
        }
        if (newline == std::string_view::npos) {
            break;
        }
        text.remove_prefix(newline + 1);
    }
}

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

std::string read_setting_file(const std::string& path, const std::string& setting) {
    auto bad = [&](const std::string& why) {
        return ConfigError(fmt::format("invalid {} '{}': {}", setting, path, why));
    };
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw bad(ec ? ec.message() : "not a regular file");
    }
    if (std::filesystem::file_size(path, ec) > kMaxSettingFileBytes) {
        throw bad("larger than 1 MiB");
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
        throw bad(std::strerror(errno));
    }
    return text.str();
}

ParseResult parse_config(const std::vector<std::string>& args, const EnvLookup& env) {
    CLI::App app{
        "pulse-sensor: streams libvirt/KVM host and VM resource usage to Kafka as "
        "InfluxDB-style points.",
        "pulse-sensor"};
    app.footer(kEnvironmentHelp);
    app.set_version_flag("--version", std::string("pulse-sensor ") + PULSE_VERSION);

    std::optional<std::string> kvm_host, pause, bootstrap, topic, host_stats, debug, rates;
    bool once = false;
    std::optional<std::string> spool_dir, spool_max, shutdown, properties_file, config_file, format;
    std::vector<std::string> properties;
    bool check = false;
    std::optional<std::string> metrics_addr, health_timeout;
    bool healthcheck = false;
    std::optional<std::string> cs_endpoint, cs_api_key_file, cs_secret_key_file, volumes_interval;
    app.add_option("--kvm-host", kvm_host, "libvirt URI, or a comma-separated list (KVM_HOST)");
    app.add_option("--config", config_file, "TOML configuration file (CONFIG_FILE)");
    app.add_option("--pause", pause, "seconds between poll starts (PAUSE)");
    app.add_option("--kafka-bootstrap", bootstrap, "Kafka bootstrap servers (KAFKA_BOOTSTRAP)");
    app.add_option("--kafka-topic", topic, "Kafka topic (KAFKA_TOPIC)");
    app.add_option("--gather-host-stats", host_stats,
                   "emit nodeInfo: true|false (GATHER_HOST_STATS)")
        ->expected(0, 1)
        ->default_str("true");
    app.add_option("--debug", debug, "indented output and debug logs: true|false (DEBUG)")
        ->expected(0, 1)
        ->default_str("true");
    app.add_option("--rates", rates, "per-second rate points: true|false (RATES)")
        ->expected(0, 1)
        ->default_str("true");
    app.add_option("--spool-dir", spool_dir, "on-disk buffer for Kafka, or off (SPOOL_DIR)");
    app.add_option("--spool-max-bytes", spool_max, "bound on the spool (SPOOL_MAX_BYTES)");
    app.add_option("--shutdown-timeout", shutdown,
                   "seconds a stop waits for Kafka (SHUTDOWN_TIMEOUT)");
    app.add_option("--kafka-properties-file", properties_file,
                   "librdkafka properties, key=value lines (KAFKA_PROPERTIES_FILE)");
    // No default_str or check that could echo a value: some properties are passwords.
    app.add_option("--kafka-property", properties,
                   "librdkafka property key=value, after the file; repeatable")
        ->allow_extra_args(false);
    app.add_option("--format", format, "message format: json or influx (FORMAT)");
    app.add_flag("--once", once, "poll once, deliver, and exit");
    app.add_flag("--check", check,
                 "connect to libvirt (and Kafka when KAFKA_BOOTSTRAP is set), print one "
                 "ok/FAIL line each, exit 0 only if all are ok");
    app.add_option("--metrics-addr", metrics_addr,
                   "serve /metrics and /healthz on host:port, or off (METRICS_ADDR)");
    app.add_option("--health-delivery-timeout", health_timeout,
                   "seconds without a delivery before /healthz fails (HEALTH_DELIVERY_TIMEOUT)");
    app.add_option("--cs-endpoint", cs_endpoint,
                   "CloudStack API URL: disks get their volume id (CS_ENDPOINT)");
    app.add_option("--cs-api-key-file", cs_api_key_file,
                   "file holding the CloudStack API key (CS_API_KEY_FILE)");
    app.add_option("--cs-secret-key-file", cs_secret_key_file,
                   "file holding the CloudStack secret key (CS_SECRET_KEY_FILE)");
    app.add_option("--volumes-update-interval", volumes_interval,
                   "seconds between listVolumes refreshes (VOLUMES_UPDATE_INTERVAL)");
    app.add_flag("--healthcheck", healthcheck,
                 "ask the METRICS_ADDR listener's /healthz, print the answer, exit 0 if healthy "
                 "(or when METRICS_ADDR is off): a container HEALTHCHECK");

    // Everything after `import` is the importer's, parsed by parse_import_config.
    CLI::App* import = app.add_subcommand(
        "import", "consume the topic and write it into InfluxDB (pulse-sensor import --help)");
    import->prefix_command();
    import->set_help_flag();

    // The keys have no flag, so that they never show in `ps`; say so instead of letting CLI11
    // quote the key back in its "not expected" message.
    for (const std::string& arg : args) {
        for (const Setting* key : {&kCsApiKey, &kCsSecretKey}) {
            const std::string flag = key == &kCsApiKey ? "--cs-api-key" : "--cs-secret-key";
            if (arg == flag || arg.starts_with(flag + "=")) {
                const Setting& file = key == &kCsApiKey ? kCsApiKeyFile : kCsSecretKeyFile;
                throw ConfigError(fmt::format(
                    "{} is not a flag, to keep the key out of the process list: set {} or {} "
                    "({})",
                    flag, key->env, file.env, file.flag));
            }
        }
    }
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

    // A bare boolean flag ("--debug") means true.
    auto flag_bool = [](std::optional<std::string>& v) {
        if (v && v->empty()) {
            v = "true";
        }
    };
    flag_bool(host_stats);
    flag_bool(debug);
    flag_bool(rates);

    ParseResult result;
    Config& c = result.config;
    if (healthcheck) {
        // A container HEALTHCHECK passes the container's environment as it is (an empty
        // KVM_HOST= included, which the entrypoint would have unset): read only what it needs.
        c.healthcheck = true;
        c.metrics_addr = metrics_addr_setting(metrics_addr ? metrics_addr : env(kMetricsAddr.env));
        return result;
    }
    std::optional<ConfigFile> file;
    if (auto path = config_file ? config_file : env(kConfigFile.env);
        path && !trim(*path).empty()) {
        file = read_config_file(trim(*path));
    }
    Layers layers(env, file ? &*file : nullptr);
    c.pause = layers.setting(pause, kPause, [](const auto& v) {
        return seconds_setting(v, kPause, 10, 1, kMaxPauseSeconds);
    });
    c.kafka_bootstrap = layers.setting(bootstrap, kBootstrap, bootstrap_setting);
    c.kafka_topic = layers.setting(topic, kTopic, topic_setting);
    c.gather_host_stats = layers.setting(
        host_stats, kHostStats, [](const auto& v) { return bool_setting(v, kHostStats, false); });
    c.hosts = hosts_setting(layers, kvm_host, c);
    c.debug =
        layers.setting(debug, kDebug, [](const auto& v) { return bool_setting(v, kDebug, false); });
    c.rates =
        layers.setting(rates, kRates, [](const auto& v) { return bool_setting(v, kRates, false); });
    for (HostConfig& host : c.hosts) {
        host.rates = c.rates;
    }
    c.once = once;
    layers.setting(spool_dir, kSpoolDir, [&](const std::optional<std::string>& dir) {
        if (!dir) {
            return;
        }
        std::string text = trim(*dir);
        if (text.empty()) {
            invalid(kSpoolDir, *dir, "a directory path, or off");
        }
        c.spool_dir = text == "off" ? std::string() : text;
        c.spool_dir_explicit = true;
    });
    c.spool_max_bytes = layers.setting(spool_max, kSpoolMax, spool_max_setting);
    c.shutdown_timeout = layers.setting(shutdown, kShutdown, [](const auto& v) {
        return seconds_setting(v, kShutdown, 5, 0, 3600);
    });
    if (file) {
        for (const auto& [key, value] : file->kafka_properties) {
            add_property(fmt::format("{}={}", key, value.text),
                         file->where(fmt::format("kafka_properties.{}", key), value),
                         c.kafka_properties);
        }
    }
    if (auto path = layers.get(properties_file, kPropertiesFile); path && !trim(*path).empty()) {
        std::string trimmed = trim(*path);
        parse_properties(
            read_properties_file(trimmed),
            fmt::format("{} ({}) '{}'", kPropertiesFile.env, kPropertiesFile.flag, trimmed),
            c.kafka_properties);
    }
    for (const std::string& property : properties) {
        add_property(property, "--kafka-property", c.kafka_properties);
    }
    c.check = check;
    c.metrics_addr = layers.setting(metrics_addr, kMetricsAddr, metrics_addr_setting);
    c.health_delivery_timeout = layers.setting(health_timeout, kHealthTimeout, [](const auto& v) {
        return seconds_setting(v, kHealthTimeout, 300, 1, kMaxPauseSeconds);
    });
    c.format = layers.setting(format, kFormat, format_setting);
    c.cs_endpoint = layers.setting(cs_endpoint, kCsEndpoint, cs_endpoint_setting);
    c.volumes_update_interval =
        layers.setting(volumes_interval, kVolumesInterval, [](const auto& v) {
            return seconds_setting(v, kVolumesInterval, 600, 1, kMaxPauseSeconds);
        });
    if (c.use_cloudstack()) {
        c.cs_api_key = cs_key_setting(layers, kCsApiKey, kCsApiKeyFile, cs_api_key_file);
        c.cs_secret_key =
            cs_key_setting(layers, kCsSecretKey, kCsSecretKeyFile, cs_secret_key_file);
        for (const auto& [key, key_file] :
             {std::pair{&kCsApiKey, &kCsApiKeyFile}, std::pair{&kCsSecretKey, &kCsSecretKeyFile}}) {
            const std::string& value = key == &kCsApiKey ? c.cs_api_key : c.cs_secret_key;
            if (value.empty()) {
                throw ConfigError(fmt::format("CS_ENDPOINT ({}) is set but {} is not (nor {})",
                                              kCsEndpoint.flag, key->env, key_file->env));
            }
        }
    }
    return result;
}

std::vector<std::string> kafka_bootstrap_setting(const std::optional<std::string>& value) {
    return bootstrap_setting(value);
}

std::string kafka_topic_setting(const std::optional<std::string>& value) {
    return topic_setting(value);
}

void kafka_properties_setting(const std::optional<std::string>& file,
                              const std::vector<std::string>& properties,
                              std::map<std::string, std::string>& out) {
    if (file && !trim(*file).empty()) {
        std::string path = trim(*file);
        parse_properties(
            read_properties_file(path),
            fmt::format("{} ({}) '{}'", kPropertiesFile.env, kPropertiesFile.flag, path), out);
    }
    for (const std::string& property : properties) {
        add_property(property, "--kafka-property", out);
    }
}

std::string describe_parse_error(const std::string& message, const std::vector<std::string>& args) {
    return fmt::format("{} (see --help)", mask_secret_arguments(message, args));
}

}  // namespace pulse
