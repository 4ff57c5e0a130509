// The command line as CLI11 parses it, for the sensor and the importer alike.
#pragma once

#include <string>
#include <vector>

namespace pulse {

// CLI11's message for a bad command line, with any secret value masked.
std::string describe_parse_error(const std::string& message, const std::vector<std::string>& args);

}  // namespace pulse
