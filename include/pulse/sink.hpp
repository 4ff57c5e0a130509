// Where serialized messages go. A sink knows bytes, keys and delivery, nothing of libvirt.
//
// Fanout sends one poll's messages to every configured output, serializing each message once
// per format: compact JSON (or line protocol with FORMAT=influx) for Kafka and plain stdout,
// indented JSON for DEBUG.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/point.hpp"

namespace pulse {

struct SinkCounters {
    std::uint64_t produced = 0;   // handed to the sink
    std::uint64_t delivered = 0;  // confirmed written or acknowledged
    std::uint64_t failed = 0;     // refused for good (e.g. by the broker)
    std::uint64_t dropped = 0;    // discarded unsent because the spool was full
    std::uint64_t pending = 0;    // kept for later delivery (spool), this run's and earlier ones
};

class Sink {
  public:
    virtual ~Sink() = default;
    // Takes a copy of the bytes; never blocks for long.
    virtual void publish(std::string_view key, std::string_view payload) = 0;
    // Serves delivery callbacks; called between polls.
    virtual void poll() {}
    // Waits up to `timeout` for everything published to be delivered. True when nothing is
    // left outstanding.
    virtual bool flush(std::chrono::milliseconds timeout) = 0;
    virtual SinkCounters counters() const = 0;
    virtual std::string name() const = 0;
};

// One message per line on a stdio stream (stdout in practice).
class StreamSink : public Sink {
  public:
    explicit StreamSink(std::FILE* stream) : stream_(stream) {}
    void publish(std::string_view key, std::string_view payload) override;
    bool flush(std::chrono::milliseconds timeout) override;
    SinkCounters counters() const override { return counters_; }
    std::string name() const override { return "stdout"; }

  private:
    std::FILE* stream_;
    SinkCounters counters_;
};

enum class Format { json, json_pretty, line_protocol };

class Fanout {
  public:
    void add(Format format, std::unique_ptr<Sink> sink);
    // Serializes `points` as one message and publishes it under `key` to every sink.
    void deliver(std::string_view key, std::span<const Point> points);
    void poll();
    bool flush(std::chrono::milliseconds timeout);
    const std::vector<std::unique_ptr<Sink>>& sinks() const { return sinks_; }

  private:
    std::vector<Format> formats_;
    std::vector<std::unique_ptr<Sink>> sinks_;
    std::string compact_buffer_;  // reused between messages
    std::string lines_buffer_;
    std::uint64_t skipped_fields_ = 0;  // NaN or infinite: no line protocol for them
};

}  // namespace pulse
