// How a message's points become its bytes: one enum for the whole program. FORMAT picks json
// (the contract) or line_protocol (FORMAT=influx) for Kafka and plain stdout; DEBUG's stdout is
// json_pretty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "pulse/points/point.hpp"

namespace pulse {

enum class Encoding { json, json_pretty, line_protocol };
inline constexpr std::size_t kEncodings = 3;

// Encodes messages in one encoding, into a buffer reused from one message to the next.
class Encoder {
  public:
    explicit Encoder(Encoding encoding) : encoding_(encoding) {}

    Encoding encoding() const { return encoding_; }

    // The message for `points`, valid until the next call. Line protocol leaves out NaN and
    // infinite fields (InfluxDB refuses them), counted in skipped_fields(); a message with no
    // line left is empty.
    std::string_view encode(std::span<const Point> points);

    // Fields left out by every encode() so far.
    std::uint64_t skipped_fields() const { return skipped_fields_; }

  private:
    Encoding encoding_;
    std::string buffer_;
    std::uint64_t skipped_fields_ = 0;
};

}  // namespace pulse
