// The point model: one InfluxDB-style measurement sample, independent of libvirt and Kafka.
//
// Field values keep their type (integer or float) because InfluxDB fixes a field's type at
// its first write: a float written as "4" would become an integer field and later writes of
// "4.5" would be rejected. Tags and fields are kept in insertion order; serializers decide the
// order they print in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace pulse {

using FieldValue = std::variant<std::int64_t, double>;
using Timestamp = std::chrono::sys_seconds;

struct Point {
    std::string measurement;
    std::vector<std::pair<std::string, std::string>> tags;
    std::vector<std::pair<std::string, FieldValue>> fields;
    Timestamp time{};

    Point& tag(std::string key, std::string value) {
        tags.emplace_back(std::move(key), std::move(value));
        return *this;
    }
    Point& field(std::string key, std::int64_t value) {
        fields.emplace_back(std::move(key), value);
        return *this;
    }
    Point& field(std::string key, double value) {
        fields.emplace_back(std::move(key), value);
        return *this;
    }
};

// The contract's time format: UTC, whole seconds, "YYYY-MM-DDTHH:MM:SSZ".
std::string format_time(Timestamp time);
// The same, appended to `out`.
void append_time(std::string& out, Timestamp time);
// The same into `out[0..kTimeLength)`, no allocation (the serializer's hot path).
constexpr std::size_t kTimeLength = 20;
void write_time(char* out, Timestamp time);
// The contract's time format read back; std::nullopt unless `text` is exactly one.
std::optional<Timestamp> parse_time(std::string_view text);

}  // namespace pulse
