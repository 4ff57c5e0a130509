// librdkafka properties as the operator writes them: `key=value`, one at a time or a file of
// them. Some values are passwords, so no error quotes a value.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace pulse {

// One "key=value" into `properties` (a later key wins); `source` names it in errors
// ("--kafka-property"). Throws ConfigError.
void add_property(std::string_view text, const std::string& source,
                  std::map<std::string, std::string>& properties);

// Reads `key=value` lines into `properties` (a later key wins); blank lines and lines starting
// with '#' are skipped, spaces around key and value trimmed. `source` names the text in
// errors ("KAFKA_PROPERTIES_FILE (--kafka-properties-file) '/etc/…' line 3"), which never
// repeat a value. Throws ConfigError.
void parse_properties(std::string_view text, const std::string& source,
                      std::map<std::string, std::string>& properties);

}  // namespace pulse
