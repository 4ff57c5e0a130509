// The seam between the sensor and its outputs: a poller hands each message's points to a
// PointSink under the message's key, and knows nothing of encodings, stdout or Kafka. Outputs
// is the one that ships; tests record the points instead, as Telegraf's test accumulator does.
#pragma once

#include <span>
#include <string_view>

#include "pulse/points/point.hpp"

namespace pulse {

class PointSink {
  public:
    virtual ~PointSink() = default;
    // One message: `points` under `key`. May be called from any thread.
    virtual void deliver(std::string_view key, std::span<const Point> points) = 0;
};

}  // namespace pulse
