// InfluxDB line protocol, written (FORMAT=influx) and read: the importer checks every line it
// passes through, and the tests read the sensor's own lines back.
//
// The rules are InfluxDB 1.x's: a backslash makes the parser skip the next character, and only
// "\," "\ " "\=" (measurements: "\," "\ ") are unescaped; anything else stays as written. String
// field values are quoted with \" and \\ escapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "pulse/points/point.hpp"

namespace pulse {

// What serialize_line_protocol left out of a message: InfluxDB refuses NaN and infinities, and
// a point with no field left (or no measurement) is not a line at all.
struct LineProtocolSkips {
    std::size_t fields = 0;
    std::size_t points = 0;
};

// Appends one line per point, joined with '\n' (none after the last): tags sorted by key,
// empty tag keys or values left out (line protocol cannot carry them), integers with the `i`
// suffix, floats shortest-exact, the time in whole seconds since the epoch (write with
// precision=s).
LineProtocolSkips serialize_line_protocol(std::span<const Point> points, std::string& out);

// A name (measurement, tag key or value, field key) as it reads back from line protocol.
// Usually the name itself; what line protocol cannot carry becomes U+FFFD: control characters,
// invalid UTF-8 (as in JSON), a '#' starting a measurement (a comment line), and a backslash
// that would escape the separator after it.
std::string line_protocol_name(std::string_view name, bool measurement);

// Every type line protocol has; the sensor itself writes only integers and floats.
using LineFieldValue = std::variant<std::int64_t, double, bool, std::string>;

struct ParsedLine {
    std::string measurement;
    std::vector<std::pair<std::string, std::string>> tags;
    std::vector<std::pair<std::string, LineFieldValue>> fields;
    std::optional<std::int64_t> timestamp;  // in whatever precision the writer chose
};

class LineProtocolError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Parses one line (no newline in it). Throws LineProtocolError saying what is wrong and where.
ParsedLine parse_line(std::string_view line);

// True for the lines InfluxDB skips: empty, only spaces, or a comment starting with '#'.
bool is_blank_line(std::string_view line);

// Calls `each(line)` for every line of `text` that is not blank.
template <typename Each>
void for_each_line(std::string_view text, Each each) {
    while (!text.empty()) {
        auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (!is_blank_line(line)) {
            each(line);
        }
        if (newline == std::string_view::npos) {
            break;
        }
        text.remove_prefix(newline + 1);
    }
}

}  // namespace pulse
