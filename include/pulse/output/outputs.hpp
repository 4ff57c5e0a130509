// Outputs sends one poll's messages to every configured output, serializing each message once
// per format: compact JSON (or line protocol with FORMAT=influx) for Kafka and plain stdout,
// indented JSON for DEBUG.
//
// One Outputs serves every hypervisor's thread. A single mutex around deliver, poll and flush
// makes it safe to share: the sinks behind it (librdkafka's queue, the spool's segment files
// and acknowledgement mark, stdio) are written in sequence anyway, a message is serialized in
// microseconds while a poll waits milliseconds on libvirt, so threads seldom meet on the lock;
// and a lock held for a whole message keeps each message's bytes together on stdout. A lock per
// sink or a queue to one writer thread would add moving parts without adding throughput.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pulse/base/log_once.hpp"
#include "pulse/format/encoding.hpp"
#include "pulse/output/byte_sink.hpp"
#include "pulse/output/point_sink.hpp"

namespace pulse {

class Outputs : public PointSink {
  public:
    Outputs() = default;
    // Moves the outputs only; for building a Outputs before any thread shares it.
    Outputs(Outputs&& other) noexcept;
    Outputs& operator=(Outputs&& other) noexcept;

    void add(Encoding encoding, std::unique_ptr<ByteSink> sink);
    // Serializes `points` as one message and publishes it under `key` to every sink.
    // deliver, poll and flush may be called from any thread.
    void deliver(std::string_view key, std::span<const Point> points) override;
    void poll();
    bool flush(std::chrono::milliseconds timeout);
    void close();
    // Every sink's name and counters, taken under the lock: safe while host threads deliver,
    // the only way to them, since a thread a stop gave up on may still deliver at exit.
    std::vector<std::pair<std::string, SinkCounters>> counters();

  private:
    std::mutex mutex_;
    // One encoder per encoding in use, and for each sink the index of its encoder.
    std::vector<Encoder> encoders_;
    std::vector<std::size_t> encoder_of_;
    std::vector<std::unique_ptr<ByteSink>> sinks_;
    LogLimiter skipped_fields_log_{LogLimiter::kOnce};
};

}  // namespace pulse
