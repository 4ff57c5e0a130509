// A line protocol reader with InfluxDB 1.x's escaping rules; see line_protocol.hpp.
#include "pulse/format/line_protocol.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace pulse {
namespace {

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
