// `pulse-sensor import`: from its arguments to the exit status.
#pragma once

#include <string>
#include <vector>

namespace pulse {

// The whole subcommand: parses `args` (those after `import`), sets up logging and the stop
// signals, runs. Returns the exit status (2 for an invalid setting).
int import_main(const std::vector<std::string>& args);

}  // namespace pulse
