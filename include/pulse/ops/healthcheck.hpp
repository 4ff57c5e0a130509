// pulse-sensor --healthcheck: the client side of /healthz, for a container's HEALTHCHECK.
// Not to be confused with --check (connection_check.hpp), which tests the hypervisor and Kafka
// connections, nor with Metrics::health (self_metrics.hpp), the decision /healthz serves.
#pragma once

#include <cstdio>

#include "pulse/config/config.hpp"

namespace pulse {

// pulse-sensor --healthcheck: GET /healthz from the listener METRICS_ADDR names (a wildcard
// address is asked on loopback), print the answer on `out`, return 0 for 200 and 1 otherwise.
// Without METRICS_ADDR there is nothing to ask and the answer is 0, so a container
// HEALTHCHECK can always run it.
int run_healthcheck(const Config& config, std::FILE* out);

}  // namespace pulse
