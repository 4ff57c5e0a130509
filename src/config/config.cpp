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
#include <charconv>
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
#include "pulse/config/values.hpp"

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
            invalid(kKvmHost, shown(), "a comma-separated list of libvirt URIs with no empty item");
        }
        if (std::find(uris.begin(), uris.end(), uri) != uris.end()) {
            invalid(kKvmHost, shown(),
                    fmt::format("each URI once ('{}' is listed twice: one connection each)",
                                uri_without_password(uri)));
        }
        if (!valid_uri(uri)) {
            invalid(kKvmHost, shown(),
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
    c.kafka_bootstrap = layers.setting(bootstrap, kBootstrap, kafka_bootstrap_setting);
    c.kafka_topic = layers.setting(topic, kTopic, kafka_topic_setting);
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
    kafka_properties_setting(layers.get(properties_file, kPropertiesFile), properties,
                             c.kafka_properties);
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

}  // namespace pulse
