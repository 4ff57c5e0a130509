// The TOML configuration file (--config, CONFIG_FILE): its keys, their types, and where each
// value stands in the file.
//
// The file only says which value each setting has; it does not validate them. Every value is
// kept as the text an environment variable would hold (pause = 30 becomes "30", a list of
// URIs becomes "a,b") so that config.cpp checks it with the same rule as its variable, and an
// error can still name the file, the line and the key. Unknown keys and values of the wrong
// TOML type are errors here, found before anything else is looked at.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pulse {

struct FileValue {
    std::string text;
    std::uint32_t line = 0;
};

// One [[host]] table.
struct FileHost {
    FileValue uri;
    std::optional<FileValue> pause;
    std::optional<FileValue> gather_host_stats;
};

struct ConfigFile {
    std::string path;
    // Top-level settings by key (kvm_host, pause, kafka_bootstrap, ...), as text.
    std::vector<std::pair<std::string, FileValue>> settings;
    // The [kafka_properties] table, in file order.
    std::vector<std::pair<std::string, FileValue>> kafka_properties;
    std::vector<FileHost> hosts;

    const FileValue* find(std::string_view key) const;
    // "'<path>' line <n>, key <key>", the prefix of every error about one value.
    std::string where(std::string_view key, const FileValue& value) const;
};

// Parses `text`; `path` names the file in errors. Throws ConfigError.
ConfigFile parse_config_file(std::string_view text, const std::string& path);

// Reads and parses the file at `path`. Throws ConfigError.
ConfigFile read_config_file(const std::string& path);

}  // namespace pulse
