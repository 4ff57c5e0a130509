// Fuzz target for parse_config: flags and environment from untrusted bytes.
//
// Input: one token per line. A line NAME=value whose NAME is upper case, digits and '_' (and not
// a flag) is an environment variable, the last one of a name winning; every other line is an
// argument, in order. parse_config must return a valid Config or throw ConfigError (and after
// `import`, parse_import_config likewise); any other exception, a crash or a sanitizer report is
// a finding.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "pulse/config/config.hpp"
#include "pulse/import/config.hpp"

namespace {

bool is_env_name(std::string_view name) {
    if (name.empty()) {
        return false;
    }
    for (char c : name) {
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}

// What parse_config promises about a Config it returns.
void check_config(const pulse::Config& c) {
    using pulse::fuzz::check;
    check(c.pause.count() >= 1 && c.pause.count() <= 86400, "pause out of range");
    check(!c.hosts.empty(), "no hypervisor");
    for (const pulse::HostConfig& host : c.hosts) {
        check(!host.uri.empty() && host.uri.find(':') != std::string::npos, "kvm_host invalid",
              host.uri);
        check(host.pause.count() >= 1 && host.pause.count() <= 86400, "host pause out of range");
    }
    check(!c.kafka_topic.empty() && c.kafka_topic.size() <= 249, "topic invalid", c.kafka_topic);
    for (const std::string& broker : c.kafka_bootstrap) {
        check(!broker.empty() && broker.find(',') == std::string::npos, "broker invalid", broker);
    }
}

// What parse_import_config promises about an ImportConfig it returns.
void check_import_config(const pulse::ImportConfig& c) {
    using pulse::fuzz::check;
    check(!c.kafka_bootstrap.empty(), "importer without a broker");
    check(!c.influxdb_db.empty(), "importer without a database");
    check(!c.kafka_topic.empty(), "importer topic empty");
    check(c.batch_lines > 0, "importer batch of no lines");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> args;
    std::map<std::string, std::string, std::less<>> env;
    while (!input.empty()) {
        auto newline = input.find('\n');
        std::string_view token = input.substr(0, newline);
        auto eq = token.find('=');
        if (eq != std::string_view::npos && is_env_name(token.substr(0, eq))) {
            env[std::string(token.substr(0, eq))] = std::string(token.substr(eq + 1));
        } else {
            args.emplace_back(token);
        }
        if (newline == std::string_view::npos) {
            break;
        }
        input.remove_prefix(newline + 1);
    }
    auto lookup = [&env](const std::string& name) -> std::optional<std::string> {
        if (auto it = env.find(name); it != env.end()) {
            return it->second;
        }
        return std::nullopt;
    };
    try {
        pulse::ParseResult result = pulse::parse_config(args, lookup);
        if (result.outcome == pulse::ParseOutcome::run) {
            check_config(result.config);
        } else if (result.outcome == pulse::ParseOutcome::import) {
            // `import` hands the rest to the importer's parser, which has the same contract.
            pulse::ImportParseResult imported = pulse::parse_import_config(result.rest, lookup);
            if (imported.outcome == pulse::ParseOutcome::run) {
                check_import_config(imported.config);
            } else {
                pulse::fuzz::check(!imported.message.empty(), "import exit_ok without a message");
            }
        } else {
            pulse::fuzz::check(!result.message.empty(), "exit_ok without a message");
        }
    } catch (const pulse::ConfigError&) {
        // The documented way to reject a setting.
    }
    return 0;
}
