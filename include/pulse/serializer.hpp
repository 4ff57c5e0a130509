// Points to bytes. One message is a JSON array of points, as the contract requires.
//
// serialize_json is the hot path: a direct writer that appends to a caller-owned buffer (reused
// between polls) and prints tags and fields in the order the point holds them. The indented
// form for DEBUG goes through nlohmann::json, whose sorted objects give the old sensor's layout.
#pragma once

#include <nlohmann/json.hpp>

#include <span>
#include <string>

#include "pulse/point.hpp"

namespace pulse {

// Appends `[point,point,…]` (compact, no newline) to `out`.
void serialize_json(std::span<const Point> points, std::string& out);

// The same message as an indented document (two spaces), for DEBUG output.
std::string serialize_json_pretty(std::span<const Point> points);

// The point as a JSON value, for the pretty form and for tests.
nlohmann::json to_json(const Point& point);

}  // namespace pulse
