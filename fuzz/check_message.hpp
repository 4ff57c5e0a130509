// Shared by the fuzz targets that end in points: the message they make must be JSON.
//
// serialize_json is the hand-written hot path; serialize_json_pretty goes through nlohmann::json
// (the DEBUG output). The compact form must parse, must be one object per point, and must hold
// the same document as the pretty form: they are two spellings of one message.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "pulse/format/json.hpp"
#include "pulse/points/point.hpp"

namespace pulse::fuzz {

inline void check_message(const std::vector<Point>& points) {
    std::string compact;
    serialize_json(points, compact);
    check(nlohmann::json::accept(compact), "serialize_json wrote invalid JSON", compact);
    nlohmann::json parsed = nlohmann::json::parse(compact);
    check(parsed.is_array() && parsed.size() == points.size(), "wrong number of points", compact);

    std::string pretty;
    try {
        pretty = serialize_json_pretty(points);
    } catch (const nlohmann::json::exception& e) {
        finding("serialize_json_pretty threw", e.what());
    }
    check(nlohmann::json::parse(pretty) == parsed, "compact and pretty forms differ", compact);
}

}  // namespace pulse::fuzz
