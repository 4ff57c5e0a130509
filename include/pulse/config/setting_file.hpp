// A file a setting names (a properties file, the configuration file, a CloudStack key).
#pragma once

#include <string>

namespace pulse {

// The text of a small file; `setting` names it in errors ("CONFIG_FILE (--config)"). Throws
// ConfigError.
std::string read_setting_file(const std::string& path, const std::string& setting);

}  // namespace pulse
