// The sensor's run: from a parsed Config to the exit status.
#pragma once

#include "pulse/config/config.hpp"

namespace pulse {

// --healthcheck, --check, --once or the poll loop until SIGTERM/SIGINT, as `config` says.
// Returns the exit status.
int sensor_main(const Config& config);

}  // namespace pulse
