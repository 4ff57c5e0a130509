// Test helper: an environment of the test's own for parse_config and parse_import_config.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "pulse/config/config.hpp"

namespace pulse::testing {

inline EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) {
            return std::nullopt;
        }
        return it->second;
    };
}

}  // namespace pulse::testing
