// Points to JSON, and back. One message is a JSON array of points, as the contract requires.
//
// serialize_json is the hot path: a direct writer that appends to a caller-owned buffer (reused
// between polls) and prints tags and fields in the order the point holds them. The indented
// form for DEBUG goes through nlohmann::json, whose sorted objects give the old sensor's layout.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/points/point.hpp"

namespace pulse {

// Appends `[point,point,…]` (compact, no newline) to `out`. ASCII only: strings are escaped as
// Python's json.dumps (ensure_ascii=True) escapes them, non-BMP characters as surrogate pairs;
// ill-formed UTF-8 becomes \ufffd, one per maximal ill-formed subsequence.
void serialize_json(std::span<const Point> points, std::string& out);

// The same message as an indented document (two spaces), for DEBUG output.
std::string serialize_json_pretty(std::span<const Point> points);

// The point as a JSON value, for the pretty form and for tests.
nlohmann::json to_json(const Point& point);

class MessageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Reads a JSON message (the contract's array of points) back. Null fields (NaN or infinity
// on the way in) are left out. Throws MessageError naming what is wrong.
std::vector<Point> parse_json_message(std::string_view text);

}  // namespace pulse
