// JSON for points. The compact writer is hand-rolled because it runs for every point of every
// poll; it emits the same document nlohmann::json::dump() would for the same point (a unit
// test holds the two together), so the pretty and compact forms never drift apart. Floats are
// printed shortest-exact by fmt. Both forms are ASCII only: everything past U+007E is a \uXXXX
// escape, byte for byte as Python's json.dumps writes it, because the old importer decodes each
// message as ASCII and one VM name in Cyrillic would otherwise stop its whole import.
//
// Line protocol follows InfluxDB 1.x's parser: a backslash escapes the next character only
// before ',', ' ' or '=' (measurements: ',' and ' '), and nothing can carry a newline. Names are
// written so that this parser gives back exactly what line_protocol_name() promises. It stays
// UTF-8, which InfluxDB requires.
#include "pulse/format/serializer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>
#include <variant>

namespace pulse {
namespace {

// True for the characters written as an escape: those JSON does not allow unescaped, and, since
// the old importer decodes every message as ASCII, DEL and every non-ASCII byte, as Python's
// json.dumps (ensure_ascii=True) writes them.
bool needs_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\' || c >= 0x7F;
}

// The UTF-8 sequence at the start of a text: its length and code point when it is well formed
// (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). When it is not, `length`
// is its maximal well-formed prefix (at least 1 byte), which becomes one U+FFFD: Unicode's
// recommended practice, and what Python's bytes.decode('utf-8', 'replace') does.
struct Utf8Sequence {
    std::size_t length = 1;
    bool valid = false;
    char32_t code_point = 0xFFFD;
};

Utf8Sequence utf8_sequence(std::string_view text) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    char32_t code_point = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        code_point = lead & 0x1Fu;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        code_point = lead & 0x0Fu;
        low = lead == 0xE0 ? 0xA0 : 0x80;
        high = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        code_point = lead & 0x07u;
        low = lead == 0xF0 ? 0x90 : 0x80;
        high = lead == 0xF4 ? 0x8F : 0xBF;
    } else {
        return {};
    }
    for (std::size_t i = 1; i < length; ++i) {
        if (i >= text.size() || byte(i) < low || byte(i) > high) {
            return {i, false, 0xFFFD};
        }
        code_point = (code_point << 6) | (byte(i) & 0x3Fu);
        low = 0x80;
        high = 0xBF;
    }
    return {length, true, code_point};
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

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The characters a backslash must escape in this part of a line.
bool separates(char c, bool measurement) {
    return c == ',' || c == ' ' || (!measurement && c == '=');
}

// Appends `name` escaped for line protocol (escape = true) or as it reads back (false).
void append_line_protocol_name(std::string& out, std::string_view name, bool measurement,
                               bool escape) {
    std::size_t backslashes = 0;  // the run of backslashes just written
    // An odd run would swallow the separator after it: its last backslash cannot be carried.
    auto end_run = [&] {
        if (backslashes % 2 == 1) {
            out.pop_back();
            out += kReplacement;
        }
        backslashes = 0;
    };
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char ch = name[i];
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '\\') {
            ++backslashes;
            out.push_back(ch);
            continue;
        }
        if (separates(ch, measurement)) {
            end_run();
            if (escape) {
                out.push_back('\\');
            }
            out.push_back(ch);
            continue;
        }
        backslashes = 0;
        if (c >= 0x80) {
            const Utf8Sequence sequence = utf8_sequence(name.substr(i));
            if (sequence.valid) {
                out.append(name.data() + i, sequence.length);
            } else {
                out += kReplacement;
            }
            i += sequence.length - 1;
        } else if (c < 0x20 || c == 0x7F || (measurement && i == 0 && ch == '#')) {
            out += kReplacement;
        } else {
            out.push_back(ch);
        }
    }
    end_run();
}

bool is_finite(const FieldValue& value) {
    const auto* d = std::get_if<double>(&value);
    return d == nullptr || std::isfinite(*d);
}

void append_line(std::string& out, const Point& p,
                 std::vector<const std::pair<std::string, std::string>*>& tags) {
    append_line_protocol_name(out, p.measurement, true, true);
    tags.clear();
    for (const auto& tag : p.tags) {
        if (!tag.first.empty() && !tag.second.empty()) {
            tags.push_back(&tag);
        }
    }
    // InfluxDB sorts tags by key before it stores a point; sorted input spares it the work.
    std::sort(tags.begin(), tags.end(), [](auto* a, auto* b) { return a->first < b->first; });
    for (const auto* tag : tags) {
        out.push_back(',');
        append_line_protocol_name(out, tag->first, false, true);
        out.push_back('=');
        append_line_protocol_name(out, tag->second, false, true);
    }
    char separator = ' ';
    for (const auto& [key, value] : p.fields) {
        if (key.empty() || !is_finite(value)) {
            continue;
        }
        out.push_back(separator);
        separator = ',';
        append_line_protocol_name(out, key, false, true);
        out.push_back('=');
        if (const auto* i = std::get_if<std::int64_t>(&value)) {
            const fmt::format_int digits(*i);
            out.append(digits.data(), digits.size());
            out.push_back('i');
        } else {
            // Without the `i` any number is a float to InfluxDB, "4" included.
            fmt::format_to(std::back_inserter(out), "{}", std::get<double>(value));
        }
    }
    out.push_back(' ');
    const fmt::format_int seconds(p.time.time_since_epoch().count());
    out.append(seconds.data(), seconds.size());
}

}  // namespace

std::string line_protocol_name(std::string_view name, bool measurement) {
    std::string out;
    append_line_protocol_name(out, name, measurement, false);
    return out;
}

LineProtocolSkips serialize_line_protocol(std::span<const Point> points, std::string& out) {
    LineProtocolSkips skips;
    std::vector<const std::pair<std::string, std::string>*> tags;
    bool first = true;
    for (const Point& p : points) {
        auto written = std::count_if(p.fields.begin(), p.fields.end(), [](const auto& f) {
            return !f.first.empty() && is_finite(f.second);
        });
        skips.fields += p.fields.size() - static_cast<std::size_t>(written);
        if (written == 0 || p.measurement.empty()) {
            ++skips.points;
            continue;
        }
        if (!first) {
            out.push_back('\n');
        }
        first = false;
        append_line(out, p, tags);
    }
    return skips;
}

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

}  // namespace pulse

namespace pulse {
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
