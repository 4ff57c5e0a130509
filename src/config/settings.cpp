// How errors name the settings of the table; see settings.hpp.
#include "pulse/config/settings.hpp"

#include <fmt/format.h>

#include "pulse/config/error.hpp"

namespace pulse {

std::string setting_name(const Setting& row) {
    if (row.env.empty() || row.flag.empty()) {
        return std::string(row.env.empty() ? row.flag : row.env);
    }
    return fmt::format("{} ({})", row.env, row.flag);
}

void invalid_setting(const Setting& row, const std::string& value, const std::string& accepted) {
    throw ConfigError(
        fmt::format("invalid {} '{}': expected {}", setting_name(row), value, accepted));
}

}  // namespace pulse
