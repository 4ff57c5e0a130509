// The stdout sink and the fan-out to several sinks; see sink.hpp.
#include "pulse/output/sink.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

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
    : encoders_(std::move(other.encoders_)),
      encoder_of_(std::move(other.encoder_of_)),
      sinks_(std::move(other.sinks_)) {}

Fanout& Fanout::operator=(Fanout&& other) noexcept {
    encoders_ = std::move(other.encoders_);
    encoder_of_ = std::move(other.encoder_of_);
    sinks_ = std::move(other.sinks_);
    return *this;
}

void Fanout::add(Encoding encoding, std::unique_ptr<Sink> sink) {
    auto same = std::find_if(encoders_.begin(), encoders_.end(),
                             [&](const Encoder& e) { return e.encoding() == encoding; });
    if (same == encoders_.end()) {
        same = encoders_.insert(encoders_.end(), Encoder(encoding));
    }
    encoder_of_.push_back(static_cast<std::size_t>(same - encoders_.begin()));
    sinks_.push_back(std::move(sink));
}

void Fanout::deliver(std::string_view key, std::span<const Point> points) {
    std::lock_guard lock(mutex_);
    // Each encoding once per message, whatever the number of sinks that take it.
    std::vector<std::optional<std::string_view>> encoded(encoders_.size());
    for (std::size_t i = 0; i < sinks_.size(); ++i) {
        Encoder& encoder = encoders_[encoder_of_[i]];
        auto& message = encoded[encoder_of_[i]];
        if (!message) {
            const std::uint64_t skipped_before = encoder.skipped_fields();
            message = encoder.encode(points);
            // The sensor's own fields are always finite; say so once should one not be.
            if (skipped_before == 0 && encoder.skipped_fields() > 0) {
                spdlog::warn(
                    "message {}: a NaN or infinite field was left out of its line protocol "
                    "(InfluxDB refuses them); logged once",
                    key);
            }
        }
        if (!message->empty()) {
            sinks_[i]->publish(key, *message);
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
