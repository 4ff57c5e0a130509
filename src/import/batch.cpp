// Batching and commit decisions of the importer; see batch.hpp.
#include "pulse/import/batch.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "pulse/format/json.hpp"
#include "pulse/format/line_protocol.hpp"

namespace pulse {

std::string describe_message(const ConsumedMessage& message) {
    return fmt::format("{}/{}/{}", message.topic, message.partition, message.offset);
}

std::string message_to_lines(std::string_view payload) {
    auto first = payload.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        throw MessageError("empty message");
    }
    std::string lines;
    if (payload[first] == '[') {
        std::vector<Point> points = parse_json_message(payload);
        serialize_line_protocol(points, lines);
        return lines;
    }
    std::size_t number = 0;
    for_each_line(payload, [&](std::string_view line) {
        ++number;
        try {
            parse_line(line);
        } catch (const LineProtocolError& e) {
            throw MessageError(fmt::format("line protocol line {}: {}", number, e.what()));
        }
        if (!lines.empty()) {
            lines.push_back('\n');
        }
        lines.append(line);
    });
    return lines;
}

std::optional<std::string> ImportBatch::add(const ConsumedMessage& message) {
    auto& next = next_offsets_[{message.topic, message.partition}];
    next = std::max(next, message.offset + 1);
    std::string lines;
    try {
        lines = message_to_lines(message.payload);
    } catch (const MessageError& e) {
        return e.what();
    }
    if (lines.empty()) {
        return std::nullopt;  // nothing a point could be written from, e.g. only NaN fields
    }
    if (!body_.empty()) {
        body_.push_back('\n');
    }
    Entry entry{describe_message(message), body_.size(), 0};
    body_ += lines;
    entry.end = body_.size();
    entries_.push_back(std::move(entry));
    lines_ += static_cast<std::size_t>(std::count(lines.begin(), lines.end(), '\n')) + 1;
    return std::nullopt;
}

FlushResult ImportBatch::flush(LineWriter& writer) const {
    FlushResult result;
    if (!body_.empty()) {
        WriteResult whole = writer.write(body_);
        if (whole.status == WriteStatus::unavailable) {
            result.error = whole.error;
            return result;
        }
        if (whole.status == WriteStatus::refused && entries_.size() == 1) {
            result.refused.push_back({entries_.front().message, whole.error});
        } else if (whole.status == WriteStatus::refused) {
            // InfluxDB 1.x stores the valid points of a refused batch anyway; writing them again
            // costs little, and only this way does the log name the offending message.
            for (const Entry& entry : entries_) {
                WriteResult one = writer.write(
                    std::string_view(body_).substr(entry.begin, entry.end - entry.begin));
                if (one.status == WriteStatus::unavailable) {
                    result.error = one.error;
                    result.refused.clear();
                    return result;
                }
                if (one.status == WriteStatus::refused) {
                    result.refused.push_back({entry.message, one.error});
                }
            }
        }
    }
    result.done = true;
    result.commit = next_offsets_;
    return result;
}

void ImportBatch::clear() {
    body_.clear();
    entries_.clear();
    lines_ = 0;
    next_offsets_.clear();
}

}  // namespace pulse
