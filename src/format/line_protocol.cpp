// Line protocol, written and read with InfluxDB 1.x's escaping rules; see line_protocol.hpp.
//
// Line protocol follows InfluxDB 1.x's parser: a backslash escapes the next character only
// before ',', ' ' or '=' (measurements: ',' and ' '), and nothing can carry a newline. Names are
// written so that this parser gives back exactly what line_protocol_name() promises. It stays
// UTF-8, which InfluxDB requires.
#include "pulse/format/line_protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <variant>
#include <vector>

#include "pulse/format/utf8.hpp"

namespace pulse {
namespace {

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

class Reader {
  public:
    explicit Reader(std::string_view line) : line_(line) {}

    bool done() const { return at_ == line_.size(); }
    char peek() const { return line_[at_]; }
    std::size_t at() const { return at_; }
    void skip() { ++at_; }

    // Reads up to the first unescaped character of `stops` (or the end) and unescapes the
    // characters of `escapable`.
    std::string token(std::string_view stops, std::string_view escapable) {
        std::size_t start = at_;
        while (at_ < line_.size() && stops.find(line_[at_]) == std::string_view::npos) {
            at_ += line_[at_] == '\\' ? 2 : 1;
        }
        at_ = std::min(at_, line_.size());
        std::string_view raw = line_.substr(start, at_ - start);
        std::string out;
        out.reserve(raw.size());
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '\\' && i + 1 < raw.size() &&
                escapable.find(raw[i + 1]) != std::string_view::npos) {
                ++i;
            }
            out.push_back(raw[i]);
        }
        return out;
    }

    std::string quoted() {
        skip();  // the opening quote
        std::string out;
        while (at_ < line_.size() && line_[at_] != '"') {
            if (line_[at_] == '\\' && at_ + 1 < line_.size() &&
                (line_[at_ + 1] == '"' || line_[at_ + 1] == '\\')) {
                ++at_;
            }
            out.push_back(line_[at_++]);
        }
        if (done()) {
            fail("unterminated string field value");
        }
        skip();  // the closing quote
        return out;
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw LineProtocolError(fmt::format("{} at column {}", what, at_ + 1));
    }

  private:
    std::string_view line_;
    std::size_t at_ = 0;
};

template <typename T>
std::optional<T> whole_number(std::string_view text) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

LineFieldValue field_value(const std::string& text, const Reader& reader) {
    for (const char* t : {"t", "T", "true", "True", "TRUE"}) {
        if (text == t) {
            return true;
        }
    }
    for (const char* f : {"f", "F", "false", "False", "FALSE"}) {
        if (text == f) {
            return false;
        }
    }
    if (!text.empty() && text.back() == 'i') {
        if (auto i =
                whole_number<std::int64_t>(std::string_view(text).substr(0, text.size() - 1))) {
            return *i;
        }
        reader.fail(fmt::format("invalid integer '{}'", text));
    }
    auto d = whole_number<double>(text);
    if (!d || !std::isfinite(*d)) {
        reader.fail(fmt::format("invalid field value '{}'", text));
    }
    return *d;
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

bool is_blank_line(std::string_view line) {
    auto first = line.find_first_not_of(" \t");
    return first == std::string_view::npos || line[first] == '#';
}

ParsedLine parse_line(std::string_view line) {
    Reader r(line);
    ParsedLine parsed;
    parsed.measurement = r.token(", ", ", ");
    if (parsed.measurement.empty()) {
        r.fail("missing measurement");
    }
    while (!r.done() && r.peek() == ',') {
        r.skip();
        std::string key = r.token(",= ", ",= ");
        if (key.empty() || r.done() || r.peek() != '=') {
            r.fail("tag without key=value");
        }
        r.skip();
        std::string value = r.token(",= ", ",= ");
        if (value.empty() || (!r.done() && r.peek() == '=')) {
            r.fail(fmt::format("tag '{}' without a value", key));
        }
        parsed.tags.emplace_back(std::move(key), std::move(value));
    }
    if (r.done() || r.peek() != ' ') {
        r.fail("missing fields");
    }
    r.skip();
    while (true) {
        std::string key = r.token(",= ", ",= ");
        if (key.empty() || r.done() || r.peek() != '=') {
            r.fail("field without key=value");
        }
        r.skip();
        if (!r.done() && r.peek() == '"') {
            parsed.fields.emplace_back(std::move(key), r.quoted());
        } else {
            std::string text = r.token(", ", "");
            parsed.fields.emplace_back(std::move(key), field_value(text, r));
        }
        if (r.done() || r.peek() != ',') {
            break;
        }
        r.skip();
    }
    if (r.done()) {
        return parsed;
    }
    if (r.peek() != ' ') {
        r.fail("unexpected character after the fields");
    }
    r.skip();
    std::string text = r.token(" ", "");
    auto timestamp = whole_number<std::int64_t>(text);
    if (!timestamp || !r.done()) {
        r.fail(fmt::format("invalid timestamp '{}'", text));
    }
    parsed.timestamp = *timestamp;
    return parsed;
}

}  // namespace pulse
