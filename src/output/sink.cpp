// The stdout sink and the fan-out to several sinks; see sink.hpp.
#include "pulse/output/sink.hpp"

#include <spdlog/spdlog.h>

#include "pulse/format/serializer.hpp"

namespace pulse {

void StreamSink::publish(std::string_view, std::string_view payload) {
    ++counters_.produced;
    // One message per line: a reader can split the stream without parsing JSON.
    if (std::fwrite(payload.data(), 1, payload.size(), stream_) != payload.size() ||
        std::fputc('\n', stream_) == EOF) {
        ++counters_.failed;
        return;
    }
    ++counters_.delivered;
}

bool StreamSink::flush(std::chrono::milliseconds) {
    return std::fflush(stream_) == 0;
}

Fanout::Fanout(Fanout&& other) noexcept
    : formats_(std::move(other.formats_)), sinks_(std::move(other.sinks_)) {}

Fanout& Fanout::operator=(Fanout&& other) noexcept {
    formats_ = std::move(other.formats_);
    sinks_ = std::move(other.sinks_);
    return *this;
}

void Fanout::add(Format format, std::unique_ptr<Sink> sink) {
    formats_.push_back(format);
    sinks_.push_back(std::move(sink));
}

void Fanout::deliver(std::string_view key, std::span<const Point> points) {
    std::lock_guard lock(mutex_);
    bool compact_ready = false;
    bool lines_ready = false;
    std::string pretty;
    for (std::size_t i = 0; i < sinks_.size(); ++i) {
        if (formats_[i] == Format::line_protocol) {
            if (!lines_ready) {
                lines_buffer_.clear();
                LineProtocolSkips skips = serialize_line_protocol(points, lines_buffer_);
                lines_ready = true;
                // The sensor's own fields are always finite; say so once should one not be.
                if (skips.fields > 0 && skipped_fields_ == 0) {
                    spdlog::warn(
                        "message {}: a NaN or infinite field was left out of its line protocol "
                        "(InfluxDB refuses them); logged once",
                        key);
                }
                skipped_fields_ += skips.fields;
            }
            if (!lines_buffer_.empty()) {
                sinks_[i]->publish(key, lines_buffer_);
            }
        } else if (formats_[i] == Format::json) {
            if (!compact_ready) {
                compact_buffer_.clear();
                serialize_json(points, compact_buffer_);
                compact_ready = true;
            }
            sinks_[i]->publish(key, compact_buffer_);
        } else {
            if (pretty.empty()) {
                pretty = serialize_json_pretty(points);
            }
            sinks_[i]->publish(key, pretty);
        }
    }
}

void Fanout::poll() {
    std::lock_guard lock(mutex_);
    for (auto& sink : sinks_) {
        sink->poll();
    }
}

std::vector<std::pair<std::string, SinkCounters>> Fanout::counters() {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, SinkCounters>> all;
    all.reserve(sinks_.size());
    for (const auto& sink : sinks_) {
        all.emplace_back(sink->name(), sink->counters());
    }
    return all;
}

bool Fanout::flush(std::chrono::milliseconds timeout) {
    std::lock_guard lock(mutex_);
    bool all = true;
    for (auto& sink : sinks_) {
        all = sink->flush(timeout) && all;
    }
    return all;
}

void Fanout::close() {
    std::lock_guard lock(mutex_);
    for (auto& sink : sinks_) {
        sink->close();
    }
}

}  // namespace pulse
