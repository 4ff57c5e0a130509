// librdkafka properties from key=value text; see properties.hpp.
#include "pulse/config/properties.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "pulse/config/error.hpp"
#include "pulse/config/values.hpp"

namespace pulse {
namespace {

// librdkafka's property names: lower case, digits, dots, underscores and dashes.
bool valid_property_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '-';
    });
}

}  // namespace

// The errors name the key when it is one, never the value.
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

}  // namespace pulse
