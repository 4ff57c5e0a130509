// The one way a setting is rejected. The message is one line naming the setting (its variable
// and flag, or the file, line and key) and the accepted values, never a secret; main() prints it
// and exits with status 2.
#pragma once

#include <stdexcept>

namespace pulse {

class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace pulse
