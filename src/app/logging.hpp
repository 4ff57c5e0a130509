// Logs go to stderr, one line each, stamped in UTC: the same for the sensor and the importer.
#pragma once

#include <string>

namespace pulse {

// Makes a stderr logger called `name` the default one; debug logs at debug level, else info.
void setup_logging(const std::string& name, bool debug);

}  // namespace pulse
