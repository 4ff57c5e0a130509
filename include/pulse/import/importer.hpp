// `pulse-sensor import`: the Kafka consumer group around ImportBatch and InfluxClient.
#pragma once

#include <string>
#include <vector>

#include "pulse/base/signals.hpp"
#include "pulse/import/config.hpp"

namespace pulse {

// Consumes until SIGTERM or SIGINT, then writes and commits the batch in hand, leaves the group
// and returns 0; returns 1 when the consumer cannot be created. Throws std::invalid_argument
// for a Kafka property librdkafka refuses.
int run_import(const ImportConfig& config, StopSignals& signals);

}  // namespace pulse
