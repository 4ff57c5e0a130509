// The command line; see command_line.hpp.
#include "pulse/config/command_line.hpp"

#include <fmt/format.h>

#include "pulse/base/secrets.hpp"

namespace pulse {

std::string describe_parse_error(const std::string& message, const std::vector<std::string>& args) {
    return fmt::format("{} (see --help)", mask_secret_arguments(message, args));
}

}  // namespace pulse
