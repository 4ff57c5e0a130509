// The fan-out to every output, each message encoded once per encoding; see outputs.hpp.
#include "pulse/output/outputs.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <optional>

namespace pulse {

Outputs::Outputs(Outputs&& other) noexcept
    : encoders_(std::move(other.encoders_)),
      encoder_of_(std::move(other.encoder_of_)),
      sinks_(std::move(other.sinks_)) {}

Outputs& Outputs::operator=(Outputs&& other) noexcept {
    encoders_ = std::move(other.encoders_);
    encoder_of_ = std::move(other.encoder_of_);
    sinks_ = std::move(other.sinks_);
    return *this;
}

void Outputs::add(Encoding encoding, std::unique_ptr<ByteSink> sink) {
    auto same = std::find_if(encoders_.begin(), encoders_.end(),
                             [&](const Encoder& e) { return e.encoding() == encoding; });
    if (same == encoders_.end()) {
        same = encoders_.insert(encoders_.end(), Encoder(encoding));
    }
    encoder_of_.push_back(static_cast<std::size_t>(same - encoders_.begin()));
    sinks_.push_back(std::move(sink));
}

void Outputs::deliver(std::string_view key, std::span<const Point> points) {
    std::lock_guard lock(mutex_);
    // Each encoding once per message, whatever the number of sinks that take it. There is one
    // encoder per encoding, so a fixed array holds them all without an allocation per message.
    std::array<std::optional<std::string_view>, kEncodings> encoded;
    for (std::size_t i = 0; i < sinks_.size(); ++i) {
        Encoder& encoder = encoders_[encoder_of_[i]];
        auto& message = encoded[encoder_of_[i]];
        if (!message) {
            const std::uint64_t skipped_before = encoder.skipped_fields();
            message = encoder.encode(points);
            // The sensor's own fields are always finite; say so once should one not be.
            if (encoder.skipped_fields() > skipped_before &&
                skipped_fields_log_.due("non-finite field")) {
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

void Outputs::poll() {
    std::lock_guard lock(mutex_);
    for (auto& sink : sinks_) {
        sink->poll();
    }
}

std::vector<std::pair<std::string, SinkCounters>> Outputs::counters() {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, SinkCounters>> all;
    all.reserve(sinks_.size());
    for (const auto& sink : sinks_) {
        all.emplace_back(sink->name(), sink->counters());
    }
    return all;
}

bool Outputs::flush(std::chrono::milliseconds timeout) {
    std::lock_guard lock(mutex_);
    bool all = true;
    for (auto& sink : sinks_) {
        all = sink->flush(timeout) && all;
    }
    return all;
}

void Outputs::close() {
    std::lock_guard lock(mutex_);
    for (auto& sink : sinks_) {
        sink->close();
    }
}

}  // namespace pulse
