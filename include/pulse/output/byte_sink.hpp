// Where a message's bytes go. A byte sink knows bytes, keys and delivery, nothing of points,
// libvirt or encodings: stdout here, Kafka in the kafka box.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace pulse {

struct SinkCounters {
    std::uint64_t produced = 0;   // handed to the sink
    std::uint64_t delivered = 0;  // confirmed written or acknowledged
    std::uint64_t failed = 0;     // refused for good (e.g. by the broker)
    std::uint64_t refused = 0;    // refused for a fixable reason and kept to be sent again
    // Discarded unsent: the spool was full, or a message the spool could not take was still
    // in memory at exit.
    std::uint64_t dropped = 0;
    // Not yet delivered: in the spool (this run's and earlier ones) or only in memory.
    std::uint64_t pending = 0;
    // Gauges for the sensor's own metrics.
    std::uint64_t queued = 0;  // in the sink's memory awaiting delivery (librdkafka's out queue)
    // Only a sink that keeps its messages in an on-disk spool (Kafka's) has these.
    struct Spool {
        std::uint64_t records = 0;       // in the spool, not yet acknowledged
        std::uint64_t bytes = 0;         // the spool's size on disk
        std::uint64_t failed_rolls = 0;  // new segments the spool could not start
    };
    std::optional<Spool> spool;
    std::string last_error;   // the last refusal's reason, for /healthz
    std::string fatal_error;  // set once the sink can deliver nothing more in this process
};

class ByteSink {
  public:
    virtual ~ByteSink() = default;
    // Takes a copy of the bytes; never blocks for long.
    virtual void publish(std::string_view key, std::string_view payload) = 0;
    // Serves delivery callbacks; called between polls.
    virtual void poll() {}
    // Waits up to `timeout` for everything published to be delivered. True when nothing is
    // left outstanding.
    virtual bool flush(std::chrono::milliseconds timeout) = 0;
    // At exit, after the last flush: gives up what is still undelivered, counting and logging
    // what that loses. Publishing afterwards is allowed but may not be delivered.
    virtual void close() {}
    virtual SinkCounters counters() const = 0;
    virtual std::string name() const = 0;
};

// One message per line on a stdio stream (stdout in practice).
class StreamSink : public ByteSink {
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

}  // namespace pulse
