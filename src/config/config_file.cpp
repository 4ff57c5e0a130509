// The TOML configuration file, read with toml++; see config_file.hpp.
//
// Each key of the table of settings has one TOML type by its row's kind (or two, where a list
// reads as naturally as a string); a key of the right type becomes the text its environment
// variable would hold.
#include "pulse/config/config_file.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>

#include <optional>

#include "pulse/config/error.hpp"
#include "pulse/config/setting_file.hpp"
#include "pulse/config/settings.hpp"

namespace pulse {
namespace {

struct Key {
    std::string_view name;
    Kind kind;
};

// The top-level keys are the table's (settings.hpp); a [[host]] table takes these, the same
// types as the settings they override.
constexpr Key kHostKeys[] = {
    {"uri", Kind::text},
    {"pause", sensor_setting("PAUSE").kind},
    {"gather_host_stats", sensor_setting("GATHER_HOST_STATS").kind},
};

const char* expected(Kind kind) {
    switch (kind) {
        case Kind::integer:
            return "an integer";
        case Kind::boolean:
            return "true or false";
        case Kind::list:
            return "a string or an array of strings";
        case Kind::size:
            return "an integer (bytes) or a string such as \"256M\"";
        default:
            return "a string";
    }
}

std::uint32_t line_of(const toml::node& node) {
    return node.source().begin.line;
}

class Reader {
  public:
    explicit Reader(const std::string& path) : path_(path) {}

    [[noreturn]] void fail(std::uint32_t line, std::string_view key, std::string_view why) const {
        throw ConfigError(fmt::format("invalid '{}' line {}, key {}: {}", path_, line, key, why));
    }

    // The value as text, or a ConfigError naming the key when it has the wrong type.
    FileValue text_of(std::string_view key, const toml::node& node, Kind kind) const {
        const std::uint32_t line = line_of(node);
        if (kind == Kind::text || kind == Kind::list || kind == Kind::size) {
            if (const auto* s = node.as_string()) {
                return {s->get(), line};
            }
        }
        if (kind == Kind::integer || kind == Kind::size) {
            if (const auto* i = node.as_integer()) {
                return {std::to_string(i->get()), line};
            }
        }
        if (kind == Kind::boolean) {
            if (const auto* b = node.as_boolean()) {
                return {b->get() ? "true" : "false", line};
            }
        }
        if (kind == Kind::list) {
            if (const auto* array = node.as_array()) {
                std::string joined;
                for (const toml::node& item : *array) {
                    const auto* s = item.as_string();
                    if (!s) {
                        fail(line_of(item), key, fmt::format("expected {}", expected(kind)));
                    }
                    joined += (joined.empty() ? "" : ",") + s->get();
                }
                if (joined.empty()) {
                    fail(line, key, "expected at least one item");
                }
                return {joined, line};
            }
        }
        fail(line, key, fmt::format("expected {}", expected(kind)));
    }

    static std::optional<Kind> host_key(std::string_view name) {
        for (const Key& key : kHostKeys) {
            if (key.name == name) {
                return key.kind;
            }
        }
        return std::nullopt;
    }

    // A top-level key: a row of the table with this key.
    static std::optional<Kind> top_level_key(std::string_view name) {
        for (const Setting& row : kSensorSettings) {
            if (!row.key.empty() && row.key == name) {
                return row.kind;
            }
        }
        return std::nullopt;
    }

    // A scalar property value as librdkafka wants it: its text.
    FileValue property(std::string_view key, const toml::node& node) const {
        if (node.is_string()) {
            return text_of(key, node, Kind::text);
        }
        if (node.is_integer()) {
            return text_of(key, node, Kind::integer);
        }
        if (node.is_boolean()) {
            return text_of(key, node, Kind::boolean);
        }
        fail(line_of(node), key, "expected a string, an integer or true/false");
    }

    FileHost host(const toml::node& node) const {
        const auto* table = node.as_table();
        if (!table) {
            fail(line_of(node), "host", "expected [[host]] tables");
        }
        FileHost host;
        bool has_uri = false;
        for (const auto& [name, value] : *table) {
            const std::string qualified = fmt::format("host.{}", name.str());
            const std::optional<Kind> kind = host_key(name.str());
            if (!kind) {
                fail(line_of(value), qualified,
                     "unknown key (a [[host]] table takes uri, pause, gather_host_stats)");
            }
            FileValue text = text_of(qualified, value, *kind);
            if (name.str() == "uri") {
                host.uri = std::move(text);
                has_uri = true;
            } else if (name.str() == "pause") {
                host.pause = std::move(text);
            } else {
                host.gather_host_stats = std::move(text);
            }
        }
        if (!has_uri) {
            fail(line_of(node), "host.uri", "missing: every [[host]] table needs a uri");
        }
        return host;
    }

    ConfigFile read(const toml::table& root) const {
        ConfigFile file;
        file.path = path_;
        for (const auto& [name, value] : root) {
            const std::string_view key = name.str();
            if (key == "host") {
                const auto* hosts = value.as_array();
                if (!hosts) {
                    fail(line_of(value), key, "expected [[host]] tables");
                }
                for (const toml::node& host_node : *hosts) {
                    file.hosts.push_back(host(host_node));
                }
            } else if (key == "kafka_properties") {
                const auto* table = value.as_table();
                if (!table) {
                    fail(line_of(value), key, "expected a [kafka_properties] table");
                }
                for (const auto& [property, property_value] : *table) {
                    file.kafka_properties.emplace_back(
                        std::string(property.str()),
                        this->property(fmt::format("kafka_properties.{}", property.str()),
                                       property_value));
                }
            } else if (const std::optional<Kind> kind = top_level_key(key)) {
                file.settings.emplace_back(std::string(key), text_of(key, value, *kind));
            } else {
                fail(line_of(value), key, "unknown key (see the example pulse-sensor.toml)");
            }
        }
        if (!file.hosts.empty() && file.find("kvm_host")) {
            fail(file.find("kvm_host")->line, "kvm_host",
                 "give the hypervisors either as kvm_host or as [[host]] tables, not both");
        }
        return file;
    }

  private:
    const std::string& path_;
};

}  // namespace

const FileValue* ConfigFile::find(std::string_view key) const {
    for (const auto& [name, value] : settings) {
        if (name == key) {
            return &value;
        }
    }
    return nullptr;
}

std::string ConfigFile::where(std::string_view key, const FileValue& value) const {
    return fmt::format("'{}' line {}, key {}", path, value.line, key);
}

ConfigFile parse_config_file(std::string_view text, const std::string& path) {
    toml::table root;
    try {
        root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        throw ConfigError(
            fmt::format("invalid '{}' line {}: {}", path, e.source().begin.line, e.description()));
    }
    return Reader(path).read(root);
}

ConfigFile read_config_file(const std::string& path) {
    return parse_config_file(read_setting_file(path, "CONFIG_FILE (--config)"), path);
}

}  // namespace pulse
