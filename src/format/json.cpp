// JSON for points. The compact writer is hand-rolled because it runs for every point of every
// poll; it emits the same document nlohmann::json::dump() would for the same point (a unit
// test holds the two together), so the pretty and compact forms never drift apart. Floats are
// printed shortest-exact by fmt. Both forms are ASCII only: everything past U+007E is a \uXXXX
// escape, byte for byte as Python's json.dumps writes it, because the old importer decodes each
// message as ASCII and one VM name in Cyrillic would otherwise stop its whole import.
#include "pulse/format/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>
#include <variant>

#include "pulse/format/utf8.hpp"

namespace pulse {
namespace {

// True for the characters written as an escape: those JSON does not allow unescaped, and, since
// the old importer decodes every message as ASCII, DEL and every non-ASCII byte, as Python's
// json.dumps (ensure_ascii=True) writes them.
bool needs_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\' || c >= 0x7F;
}

void append_u_escape(std::string& out, unsigned value) {
    fmt::format_to(std::back_inserter(out), "\\u{:04x}", value);
}

void append_escaped_slow(std::string& out, std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        auto c = static_cast<unsigned char>(ch);
        if (c >= 0x80) {
            // Names come from libvirt and are UTF-8; should a byte ever not be, the message
            // must still be JSON: an ill-formed sequence becomes U+FFFD, as in the DEBUG form.
            const Utf8Sequence sequence = utf8_sequence(text.substr(i));
            const char32_t cp = sequence.code_point;
            if (cp >= 0x10000) {  // a surrogate pair, as JSON spells characters past the BMP
                append_u_escape(out, 0xD800 + ((cp - 0x10000) >> 10));
                append_u_escape(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
            } else {
                append_u_escape(out, cp);
            }
            i += sequence.length - 1;
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    append_u_escape(out, c);
                } else {
                    out.push_back(ch);
                }
        }
    }
}

// Tags, keys and names almost never hold a character to escape: copy the text in one piece
// unless one turns up.
void append_escaped(std::string& out, std::string_view text) {
    out.push_back('"');
    std::size_t clean = 0;
    while (clean < text.size() && !needs_escape(static_cast<unsigned char>(text[clean]))) {
        ++clean;
    }
    out.append(text.data(), clean);
    if (clean < text.size()) {
        append_escaped_slow(out, text.substr(clean));
    }
    out.push_back('"');
}

void append_value(std::string& out, const FieldValue& value) {
    if (const auto* i = std::get_if<std::int64_t>(&value)) {
        const fmt::format_int digits(*i);
        out.append(digits.data(), digits.size());
        return;
    }
    double d = std::get<double>(value);
    if (!std::isfinite(d)) {
        out += "null";  // JSON has no NaN or infinity; nlohmann writes null too
        return;
    }
    // The shortest form that reads back exactly, at most 24 characters
    // ("-1.2345678901234567e-308").
    char buf[32];
    char* end = fmt::format_to(buf, "{}", d);
    out.append(buf, static_cast<std::size_t>(end - buf));
    // A float must stay recognisably a float ("1070.0", not "1070") or InfluxDB would type the
    // field as an integer on first sight.
    if (std::string_view(buf, static_cast<std::size_t>(end - buf)).find_first_of(".eE") ==
        std::string_view::npos) {
        out += ".0";
    }
}

// Writes an object from key/value pairs in the order held.
template <typename Pairs, typename WriteValue>
void append_object(std::string& out, const Pairs& pairs, WriteValue write_value) {
    out.push_back('{');
    bool first = true;
    for (const auto& [key, value] : pairs) {
        if (!first) {
            out.push_back(',');
        }
        first = false;
        append_escaped(out, key);
        out.push_back(':');
        write_value(value);
    }
    out.push_back('}');
}

}  // namespace

void serialize_json(std::span<const Point> points, std::string& out) {
    out.push_back('[');
    bool first = true;
    // Every point of a poll carries the same time: format it once per message.
    char time_text[kTimeLength];
    std::optional<Timestamp> formatted_time;
    for (const Point& p : points) {
        if (!first) {
            out.push_back(',');
        }
        first = false;
        // Keys in alphabetical order, as nlohmann's sorted objects and the old sensor print them.
        out += "{\"fields\":";
        append_object(out, p.fields, [&](const FieldValue& v) { append_value(out, v); });
        out += ",\"measurement\":";
        append_escaped(out, p.measurement);
        out += ",\"tags\":";
        append_object(out, p.tags, [&](const std::string& v) { append_escaped(out, v); });
        if (formatted_time != p.time) {
            write_time(time_text, p.time);
            formatted_time = p.time;
        }
        out += ",\"time\":\"";
        out.append(time_text, kTimeLength);
        out += "\"}";
    }
    out.push_back(']');
}

nlohmann::json to_json(const Point& point) {
    nlohmann::json fields = nlohmann::json::object();
    for (const auto& [key, value] : point.fields) {
        std::visit([&](auto v) { fields[key] = v; }, value);
    }
    nlohmann::json tags = nlohmann::json::object();
    for (const auto& [key, value] : point.tags) {
        tags[key] = value;
    }
    return {{"measurement", point.measurement},
            {"tags", std::move(tags)},
            {"fields", std::move(fields)},
            {"time", format_time(point.time)}};
}

std::string serialize_json_pretty(std::span<const Point> points) {
    nlohmann::json array = nlohmann::json::array();
    for (const Point& p : points) {
        array.push_back(to_json(p));
    }
    // ASCII only, like the compact form; replace: invalid UTF-8 becomes U+FFFD instead of an
    // exception that would stop the poll.
    return array.dump(2, ' ', true, nlohmann::json::error_handler_t::replace);
}

namespace {

FieldValue field_value(const nlohmann::json& value, const std::string& key) {
    if (value.is_number_unsigned()) {
        auto u = value.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            throw MessageError(fmt::format("field '{}': integer {} is out of range", key, u));
        }
        return static_cast<std::int64_t>(u);
    }
    if (value.is_number_integer()) {
        return value.get<std::int64_t>();
    }
    if (value.is_number_float()) {
        return value.get<double>();
    }
    throw MessageError(fmt::format("field '{}' is not a number", key));
}

Point point_from_json(const nlohmann::json& item) {
    if (!item.is_object()) {
        throw MessageError("a point is not an object");
    }
    auto member = [&](const char* name) -> const nlohmann::json& {
        auto it = item.find(name);
        if (it == item.end()) {
            throw MessageError(fmt::format("a point has no \"{}\"", name));
        }
        return *it;
    };
    Point p;
    const auto& measurement = member("measurement");
    const auto& tags = member("tags");
    const auto& fields = member("fields");
    const auto& time = member("time");
    if (!measurement.is_string() || !tags.is_object() || !fields.is_object() || !time.is_string()) {
        throw MessageError(
            "a point needs a string measurement, objects tags and fields and a string time");
    }
    p.measurement = measurement.get<std::string>();
    auto parsed_time = parse_time(time.get<std::string>());
    if (!parsed_time) {
        throw MessageError(
            fmt::format("time '{}' is not YYYY-MM-DDTHH:MM:SSZ", time.get<std::string>()));
    }
    p.time = *parsed_time;
    for (const auto& [key, value] : tags.items()) {
        if (!value.is_string()) {
            throw MessageError(fmt::format("tag '{}' is not a string", key));
        }
        p.tag(key, value.get<std::string>());
    }
    for (const auto& [key, value] : fields.items()) {
        if (!value.is_null()) {  // NaN or infinity, which JSON cannot carry
            p.fields.emplace_back(key, field_value(value, key));
        }
    }
    return p;
}

}  // namespace

std::vector<Point> parse_json_message(std::string_view text) {
    nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
    if (document.is_discarded()) {
        throw MessageError("not JSON");
    }
    if (!document.is_array()) {
        throw MessageError("not a JSON array of points");
    }
    std::vector<Point> points;
    points.reserve(document.size());
    for (const auto& item : document) {
        points.push_back(point_from_json(item));
    }
    return points;
}

}  // namespace pulse
