// The table of settings: one row per setting with everything said about it anywhere, its
// variable, flag and configuration-file key, its type, default and help.
//
// The parser registers the flags and reads the variables and keys from the rows (config.cpp),
// the configuration file takes its keys and their TOML types from them (config_file.cpp),
// --help lists them (command_line.hpp), and pulse_gen_docs (tools/gen_docs.cpp) writes the
// settings table of docs/configuration.md, the manual page and the example environment file
// from them; a unit test fails when those files are stale. The importer's table
// (import/config.cpp) reuses the rows it shares with the sensor.
//
// Adding a setting: a row here, a field in Config and the line of parse_config that fills it,
// then `build/tests/pulse_gen_docs .` to regenerate the documents.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace pulse {

// What a setting's value is: how its flag takes it and which TOML type its key has.
enum class Kind {
    text,      // a string
    integer,   // a whole number
    boolean,   // the spellings of parse_bool; a bare flag means true
    list,      // comma-separated; in the file a string or an array of strings
    size,      // bytes, or a number with K, M or G; in the file an integer or a string
    repeated,  // a flag given any number of times, without variable or key
    toggle,    // a flag without a value, without variable or key
};

struct Setting {
    std::string_view env{};   // the environment variable; empty: none
    std::string_view flag{};  // "--name"; empty: none (a secret, which `ps` would show)
    std::string_view key{};   // the configuration file's key; empty: none
    Kind kind = Kind::text;
    std::string_view arg{};            // what the value is called in --help and the manual
    std::string_view default_value{};  // as the variable would spell it; empty: unset
    bool required = false;             // no default: the program cannot run without it
    std::string_view example{};        // a value worth showing besides the default
    std::string_view help{};           // plain text, one line (--help wraps it)
    std::string_view doc{};            // Markdown, for the documentation and the manual
};

// The sensor's settings, in the order --help and the documentation list them.
inline constexpr Setting kSensorSettings[] = {
    {.env = "KVM_HOST",
     .flag = "--kvm-host",
     .key = "kvm_host",
     .kind = Kind::list,
     .arg = "URI[,URI...]",
     .default_value = "qemu:///system",
     .example = "qemu+ssh://root@10.252.1.11/system,qemu+ssh://root@10.252.1.12/system",
     .help = "libvirt URI to watch, or a comma-separated list of them, each polled by a thread "
             "of its own",
     .doc = "libvirt URI: `qemu+ssh://root@10.252.1.11/system`, `qemu+tcp://host:16509/system`, "
            "`test:///default`, …, or a comma-separated list of them, each polled by a thread of "
            "its own (see [Several hypervisors](#several-hypervisors))"},
    {.env = "PAUSE",
     .flag = "--pause",
     .key = "pause",
     .kind = Kind::integer,
     .arg = "SECONDS",
     .default_value = "10",
     .help = "seconds between poll starts, 1 to 86400",
     .doc = "seconds between poll **starts** (fixed rate, 1–86400); a poll that overruns skips "
            "the ticks it missed"},
    {.env = "KAFKA_BOOTSTRAP",
     .flag = "--kafka-bootstrap",
     .key = "kafka_bootstrap",
     .kind = Kind::list,
     .arg = "HOST:PORT[,...]",
     .example = "kafka1:9092,kafka2:9092",
     .help = "Kafka brokers; unset or empty: print the messages to stdout",
     .doc = "`host:port[,host:port…]`; unset or empty: messages go to stdout, one per line"},
    {.env = "KAFKA_TOPIC",
     .flag = "--kafka-topic",
     .key = "kafka_topic",
     .arg = "TOPIC",
     .default_value = "kvm-metrics",
     .help = "topic to produce to",
     .doc = "topic to produce to"},
    {.env = "GATHER_HOST_STATS",
     .flag = "--gather-host-stats",
     .key = "gather_host_stats",
     .kind = Kind::boolean,
     .arg = "BOOL",
     .default_value = "false",
     .help = "also emit the host's nodeInfo point",
     .doc = "also emit the host's `nodeInfo` point"},
    {.env = "RATES",
     .flag = "--rates",
     .key = "rates",
     .kind = Kind::boolean,
     .arg = "BOOL",
     .default_value = "false",
     .help = "also emit per-second cpuRate, diskRate and networkInterfaceRate points from "
             "consecutive polls",
     .doc = "also emit per-second `cpuRate`, `networkInterfaceRate` and `diskRate` points "
            "computed from consecutive polls (see [Rates](messages.md#rates))"},
    {.env = "DEBUG",
     .flag = "--debug",
     .key = "debug",
     .kind = Kind::boolean,
     .arg = "BOOL",
     .default_value = "false",
     .help = "print every message indented, log one line per poll",
     .doc = "print every message as indented JSON on stdout (also when producing to Kafka) and "
            "log one line per poll"},
    {.env = "SPOOL_DIR",
     .flag = "--spool-dir",
     .key = "spool_dir",
     .arg = "DIR|off",
     .default_value = "/var/lib/pulse-sensor/spool",
     .help = "on-disk buffer in front of Kafka, or off",
     .doc = "on-disk buffer in front of Kafka (see [Delivery "
            "guarantees](operations.md#delivery-guarantees)); `off` disables it"},
    {.env = "SPOOL_MAX_BYTES",
     .flag = "--spool-max-bytes",
     .key = "spool_max_bytes",
     .kind = Kind::size,
     .arg = "SIZE",
     .default_value = "256M",
     .help = "bound on the spool: bytes, or a number with K, M or G; at least 64K",
     .doc = "bound on the spool; bytes or `K`/`M`/`G` (binary), at least `64K`"},
    {.env = "SHUTDOWN_TIMEOUT",
     .flag = "--shutdown-timeout",
     .key = "shutdown_timeout",
     .kind = Kind::integer,
     .arg = "SECONDS",
     .default_value = "5",
     .help = "seconds a stop waits for Kafka's acknowledgements",
     .doc = "seconds a stop waits for Kafka to acknowledge before leaving the rest in the spool"},
    {.env = "METRICS_ADDR",
     .flag = "--metrics-addr",
     .key = "metrics_addr",
     .arg = "HOST:PORT|off",
     .default_value = "off",
     .example = "127.0.0.1:9464",
     .help = "serve /metrics and /healthz on host:port, :port or [ipv6]:port, or off",
     .doc = "serve the sensor's own metrics and health over HTTP on `host:port`, `:port` (every "
            "interface) or `[ipv6]:port` (see [Metrics and "
            "health](operations.md#metrics-and-health)); `off` or empty: no listener"},
    {.env = "HEALTH_DELIVERY_TIMEOUT",
     .flag = "--health-delivery-timeout",
     .key = "health_delivery_timeout",
     .kind = Kind::integer,
     .arg = "SECONDS",
     .default_value = "300",
     .help = "seconds messages may wait for Kafka, none acknowledged, before /healthz fails",
     .doc = "seconds (1–86400) that messages may wait for Kafka with none acknowledged before "
            "`/healthz` fails"},
    {.env = "FORMAT",
     .flag = "--format",
     .key = "format",
     .arg = "json|influx",
     .default_value = "json",
     .help = "message format: json (the contract) or influx (InfluxDB line protocol, times in "
             "seconds)",
     .doc = "`json`: the contract's messages; `influx`: the same points as InfluxDB line "
            "protocol, times in seconds (see [Into InfluxDB](influxdb.md#into-influxdb)); "
            "`DEBUG` still prints indented JSON"},
    {.env = "KAFKA_PROPERTIES_FILE",
     .flag = "--kafka-properties-file",
     .key = "kafka_properties_file",
     .arg = "FILE",
     .example = "/etc/pulse-sensor/kafka.properties",
     .help = "librdkafka properties, key=value lines, # comments, applied after the sensor's "
             "defaults; values of secret properties (passwords, keys) are never printed",
     .doc = "file of librdkafka properties, `key=value` lines, `#` comments, applied after the "
            "sensor's defaults; values of secret properties (passwords, keys) are never printed "
            "(see [Kafka properties](#kafka-properties))"},
    {.flag = "--kafka-property",
     .kind = Kind::repeated,
     .arg = "KEY=VALUE",
     .help = "one librdkafka property, after the file; repeatable",
     .doc = "one librdkafka property `key=value`, repeatable; applied after the file"},
    {.env = "CS_ENDPOINT",
     .flag = "--cs-endpoint",
     .key = "cs_endpoint",
     .arg = "URL",
     .example = "http://cloudstack:8080/client/api",
     .help = "CloudStack API, e.g. http://cs:8080/client/api: disk points get their volume id "
             "as image, from listVolumes",
     .doc = "CloudStack API, `http://host:8080/client/api` (or `https://`): disk points get "
            "their volume id as `image` (see [CloudStack volume "
            "ids](messages.md#cloudstack-volume-ids))"},
    {.env = "CS_API_KEY",
     .key = "cs_api_key",
     .arg = "KEY",
     .help = "the API key of a CloudStack user that may call listVolumes; required with "
             "CS_ENDPOINT, never shown",
     .doc = "the API key of a CloudStack user that may call `listVolumes`; required with "
            "`CS_ENDPOINT`, never printed; no flag, since `ps` would show it"},
    {.env = "CS_SECRET_KEY",
     .key = "cs_secret_key",
     .arg = "KEY",
     .help = "that user's secret key; required with CS_ENDPOINT, never shown",
     .doc = "that user's secret key; required with `CS_ENDPOINT`, never printed; no flag, since "
            "`ps` would show it"},
    {.env = "CS_API_KEY_FILE",
     .flag = "--cs-api-key-file",
     .key = "cs_api_key_file",
     .arg = "FILE",
     .help = "file holding the CloudStack API key, instead of CS_API_KEY",
     .doc = "a file holding the API key instead (one line); not together with `CS_API_KEY`"},
    {.env = "CS_SECRET_KEY_FILE",
     .flag = "--cs-secret-key-file",
     .key = "cs_secret_key_file",
     .arg = "FILE",
     .example = "/etc/pulse-sensor/cs-secret-key",
     .help = "file holding the CloudStack secret key, instead of CS_SECRET_KEY",
     .doc = "a file holding the secret key instead (one line); not together with "
            "`CS_SECRET_KEY`"},
    {.env = "VOLUMES_UPDATE_INTERVAL",
     .flag = "--volumes-update-interval",
     .key = "volumes_update_interval",
     .kind = Kind::integer,
     .arg = "SECONDS",
     .default_value = "600",
     .help = "seconds between listVolumes refreshes",
     .doc = "seconds (1–86400) between `listVolumes` refreshes"},
    {.env = "FLEET_GROUP",
     .flag = "--fleet-group",
     .key = "fleet_group",
     .arg = "GROUP",
     .example = "pulse-rack-a",
     .help = "fleet mode: share the hypervisor list with every sensor of this Kafka consumer "
             "group, each polling those of the partitions it holds; unset: poll them all",
     .doc = "fleet mode: every sensor started with the same group and the same hypervisor list "
            "joins this Kafka consumer group, and polls only the hypervisors of the coordination "
            "topic's partitions it holds; a dead sensor's hypervisors move to the others (see "
            "[Fleet mode](operations.md#fleet-mode)); unset or empty: poll every hypervisor"},
    {.env = "FLEET_TOPIC",
     .flag = "--fleet-topic",
     .key = "fleet_topic",
     .arg = "TOPIC",
     .help = "fleet mode's coordination topic (default: KAFKA_TOPIC with .fleet appended), "
             "created when missing",
     .doc = "fleet mode's coordination topic, created when missing and the broker allows it; "
            "unset: `KAFKA_TOPIC` followed by `.fleet`. No message is ever written to it: its "
            "partitions are what the group shares out"},
    {.env = "FLEET_PARTITIONS",
     .flag = "--fleet-partitions",
     .key = "fleet_partitions",
     .kind = Kind::integer,
     .arg = "N",
     .default_value = "64",
     .help = "partitions of a coordination topic the sensor creates, 1 to 10000; an existing "
             "topic's own count is used",
     .doc = "partitions of the coordination topic when the sensor creates it (1–10000); a "
            "hypervisor belongs to partition `murmur2(URI) % N`, the hash of Kafka's own "
            "partitioner, with `N` the existing topic's partition count. Keep it well above the "
            "number of sensors"},
    {.env = "FLEET_SESSION_TIMEOUT",
     .flag = "--fleet-session-timeout",
     .key = "fleet_session_timeout",
     .kind = Kind::integer,
     .arg = "SECONDS",
     .default_value = "10",
     .help = "seconds after which the group gives a silent sensor's hypervisors to the others, "
             "1 to 3600 (within the broker's group.min/max.session.timeout.ms)",
     .doc = "seconds without a heartbeat after which the group gives a dead sensor's "
            "hypervisors to the others: their points resume within this plus `2×PAUSE`. "
            "1–3600, and within the broker's `group.min.session.timeout.ms` (6 s by default) "
            "and `group.max.session.timeout.ms`"},
    {.env = "CONFIG_FILE",
     .flag = "--config",
     .arg = "FILE",
     .example = "/etc/pulse-sensor/pulse-sensor.toml",
     .help = "TOML file with any of these settings in lower case (pause = 30, kvm_host = [...]), "
             "[[host]] tables with uri, pause and gather_host_stats each, and a "
             "[kafka_properties] table",
     .doc = "TOML file with any of the settings above in lower case, per-hypervisor `[[host]]` "
            "tables and a `[kafka_properties]` table (see [The configuration "
            "file](#the-configuration-file))"},
    {.flag = "--once",
     .kind = Kind::toggle,
     .help = "poll once, deliver, and exit",
     .doc = "poll once, deliver, exit: for troubleshooting and scripts; a hypervisor that has "
            "not answered within its `PAUSE` plus `SHUTDOWN_TIMEOUT`, or SIGINT/SIGTERM, ends it "
            "with a line naming the hypervisor and status 1"},
    {.flag = "--check",
     .kind = Kind::toggle,
     .help = "connect to libvirt (and Kafka when KAFKA_BOOTSTRAP is set), print one ok/FAIL line "
             "each, exit 0 only if all are ok",
     .doc = "connect to libvirt and Kafka, print one `ok`/`FAIL` line each, exit (see [Checking "
            "a setup](operations.md#checking-a-setup))"},
    {.flag = "--healthcheck",
     .kind = Kind::toggle,
     .help = "ask the METRICS_ADDR listener's /healthz, print the answer, exit 0 if healthy (or "
             "when METRICS_ADDR is off): a container HEALTHCHECK",
     .doc = "ask the `METRICS_ADDR` listener's `/healthz`, print the answer, exit 0 if healthy "
            "or when `METRICS_ADDR` is off (the container's `HEALTHCHECK`)"},
};

// What --help and the manual say besides the rows.
inline constexpr std::string_view kSensorSummary =
    "streams libvirt/KVM host and VM resource usage to Kafka as InfluxDB-style points";
inline constexpr std::string_view kPrecedence =
    "a flag wins over its variable, a variable over the configuration file, the file over the "
    "default";
inline constexpr std::string_view kBooleans =
    "Booleans accept true/false, 1/0, yes/no, on/off in any case.";
inline constexpr std::string_view kExitStatus =
    "0 after a clean stop (SIGTERM, SIGINT, or --once) or when every --check passed, 1 when "
    "--once could not poll or deliver or a --check failed, 2 for an invalid setting.";

// The index in `rows` of the row whose variable is `name`, or whose flag is for a row without
// a variable; rows.size() when there is none. An index, not a pointer: GCC cannot compare a
// pointer into the table with null in a constant expression when UBSan instruments it.
constexpr std::size_t setting_index(std::span<const Setting> rows, std::string_view name) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].env == name || (rows[i].env.empty() && rows[i].flag == name)) {
            return i;
        }
    }
    return rows.size();
}

// The same row, or nullptr when there is none.
constexpr const Setting* find_setting(std::span<const Setting> rows, std::string_view name) {
    const std::size_t i = setting_index(rows, name);
    return i < rows.size() ? &rows[i] : nullptr;
}

// The row of `rows` named by its variable (or its flag, for a row without one). A name no row
// has is a compile error.
consteval const Setting& setting_in(std::span<const Setting> rows, std::string_view name) {
    const std::size_t i = setting_index(rows, name);
    if (i == rows.size()) {
        throw "no row of the table has this name";
    }
    return rows[i];
}

consteval const Setting& sensor_setting(std::string_view name) {
    return setting_in(kSensorSettings, name);
}

// What another program (the importer) says of a setting it reads as the sensor does.
struct Rewording {
    bool required = false;
    std::string_view help{};  // empty: the sensor's
    std::string_view doc{};   // empty: the sensor's
};

// `shared` for another program without a configuration file: the same variable, flag, kind
// and validation, in that program's words.
constexpr Setting reuse(const Setting& shared, const Rewording& words = {}) {
    Setting row = shared;
    row.key = {};
    if (words.required) {
        row.required = true;
        row.default_value = {};
    }
    row.help = words.help.empty() ? shared.help : words.help;
    row.doc = words.doc.empty() ? shared.doc : words.doc;
    return row;
}

// How errors name a setting: "PAUSE (--pause)", or whichever of the two it has.
std::string setting_name(const Setting& row);

// Throws the ConfigError every bad value gets: "invalid PAUSE (--pause) '0': expected …".
[[noreturn]] void invalid_setting(const Setting& row, const std::string& value,
                                  const std::string& accepted);

}  // namespace pulse
