// Runtime configuration: one struct, built and validated in one place.
//
// Precedence, highest first: command-line flag, environment variable, configuration file
// (--config / CONFIG_FILE, TOML, see config_file.hpp), the default of its row in the table of
// settings (settings.hpp, which also lists every variable, flag and key). The hypervisors are one
// setting: KVM_HOST (a comma-separated list) replaces the file's kvm_host or [[host]] tables as a
// whole. PAUSE and GATHER_HOST_STATS apply to every hypervisor except where a [[host]] table
// sets its own; a [[host]] table's value is the most specific, so it wins over both.
// Kafka properties: the file's [kafka_properties], then KAFKA_PROPERTIES_FILE, then each
// --kafka-property, a later one winning.
// The environment variable names are a public contract (see docs/configuration.md); every one
// of them but the secrets has a flag of the same meaning. An invalid value is a ConfigError
// (error.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pulse/config/error.hpp"
#include "pulse/format/encoding.hpp"

namespace pulse {

// One hypervisor: its URI (also the vmHost tag of its points) and how it is polled.
struct HostConfig {
    std::string uri = "qemu:///system";
    std::chrono::seconds pause{10};
    bool gather_host_stats = false;
    bool rates = false;  // RATES, the same for every host
    // Ticks on the wall clock's multiples of PAUSE rather than from start-up (fleet mode), so
    // that a sensor taking a hypervisor over polls on the grid its previous one used.
    bool wall_clock_ticks = false;
};

// Fleet mode (FLEET_GROUP): sensors with the same group and hypervisor list share the
// hypervisors out through a Kafka consumer group; see docs/operations.md#fleet-mode.
struct FleetConfig {
    std::string group;    // empty: no fleet, every hypervisor is polled
    std::string topic;    // the coordination topic; FLEET_TOPIC or KAFKA_TOPIC + ".fleet"
    int partitions = 64;  // for a topic the sensor creates
    std::chrono::seconds session_timeout{10};

    bool enabled() const { return !group.empty(); }
};

// What a Kafka message holds: the contract's JSON array, or InfluxDB line protocol.
struct Config {
    std::vector<HostConfig> hosts{HostConfig{}};  // never empty, no URI twice
    // PAUSE and GATHER_HOST_STATS: every host's, unless its [[host]] table set its own.
    std::chrono::seconds pause{10};
    std::vector<std::string> kafka_bootstrap;  // empty: write to stdout instead of Kafka
    std::string kafka_topic = "kvm-metrics";
    bool gather_host_stats = false;
    bool debug = false;
    bool rates = false;  // RATES: cpuRate, diskRate, networkInterfaceRate besides the contract's
    bool once = false;
    // Empty: no spool ("off"). spool_dir_explicit tells a default that may not be usable
    // (no write access) from a directory the operator asked for.
    std::string spool_dir = "/var/lib/pulse-sensor/spool";
    bool spool_dir_explicit = false;
    std::uint64_t spool_max_bytes = 256ULL << 20;
    std::chrono::seconds shutdown_timeout{5};
    // librdkafka properties applied after the sensor's defaults: those of
    // KAFKA_PROPERTIES_FILE, then each --kafka-property (a later one wins).
    std::map<std::string, std::string> kafka_properties;
    bool check = false;  // --check: test the connections, print one line per target, exit
    // The /metrics and /healthz listener, "host:port" as validated; empty: none.
    std::string metrics_addr;
    // /healthz fails when messages are outstanding and none was delivered for this long.
    std::chrono::seconds health_delivery_timeout{300};
    bool healthcheck = false;          // --healthcheck: ask METRICS_ADDR's /healthz, exit 0 if ok
    Encoding format = Encoding::json;  // FORMAT: json or line_protocol (influx)
    // CS_ENDPOINT: CloudStack's API, whose listVolumes turns each disk's `image` into its volume
    // id; empty: no CloudStack, `image` is the file name. The keys are secrets: nothing prints
    // them, and they have no flag (a command line is visible in `ps`), only *_FILE variants.
    std::string cs_endpoint;
    std::string cs_api_key;
    std::string cs_secret_key;
    std::chrono::seconds volumes_update_interval{600};
    FleetConfig fleet;

    bool use_cloudstack() const { return !cs_endpoint.empty(); }

    bool use_kafka() const { return !kafka_bootstrap.empty(); }
    std::string bootstrap_servers() const;  // the list joined with commas, as librdkafka wants it
    std::string host_uris() const;          // the URIs joined with ", ", for the log
};

// What parse_config decided beyond the Config itself.
// import: the `import` subcommand, whose own settings parse_import_config reads from `rest`.
enum class ParseOutcome { run, exit_ok, import };

struct ParseResult {
    ParseOutcome outcome = ParseOutcome::run;
    Config config;
    std::string message;            // --help or --version text when outcome == exit_ok
    std::vector<std::string> rest;  // the arguments after `import`
};

// Looks an environment variable up; std::nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment, for main(). Tests pass their own lookup instead.
EnvLookup process_env();

// Builds and validates the configuration. Throws ConfigError on any invalid value.
ParseResult parse_config(const std::vector<std::string>& args, const EnvLookup& env);

}  // namespace pulse
