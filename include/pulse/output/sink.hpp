// Where serialized messages go. A sink knows bytes, keys and delivery, nothing of libvirt.
//
// Fanout sends one poll's messages to every configured output, serializing each message once
// per format: compact JSON (or line protocol with FORMAT=influx) for Kafka and plain stdout,
// indented JSON for DEBUG.
//
// One Fanout serves every hypervisor's thread. A single mutex around deliver, poll and flush
// makes it safe to share: the sinks behind it (librdkafka's queue, the spool's segment files
// and acknowledgement mark, stdio) are written in sequence anyway, a message is serialized in
// microseconds while a poll waits milliseconds on libvirt, so threads seldom meet on the lock;
// and a lock held for a whole message keeps each message's bytes together on stdout. A lock per
// sink or a queue to one writer thread would add moving parts without adding throughput.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/format/encoding.hpp"
#include "pulse/points/point.hpp"

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
    bool spooled = false;      // the spool_ fields below are meaningful
    std::uint64_t spool_records = 0;       // in the spool, not yet acknowledged
    std::uint64_t spool_bytes = 0;         // the spool's size on disk
    std::uint64_t spool_failed_rolls = 0;  // new segments the spool could not start
    std::string last_error;                // the last refusal's reason, for /healthz
    std::string fatal_error;  // set once the sink can deliver nothing more in this process
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
    // At exit, after the last flush: gives up what is still undelivered, counting and logging
    // what that loses. Publishing afterwards is allowed but may not be delivered.
    virtual void close() {}
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

class Fanout {
  public:
    Fanout() = default;
    // Moves the outputs only; for building a Fanout before any thread shares it.
    Fanout(Fanout&& other) noexcept;
    Fanout& operator=(Fanout&& other) noexcept;

    void add(Encoding encoding, std::unique_ptr<Sink> sink);
    // Serializes `points` as one message and publishes it under `key` to every sink.
    // deliver, poll and flush may be called from any thread.
    void deliver(std::string_view key, std::span<const Point> points);
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
    std::vector<std::unique_ptr<Sink>> sinks_;
};

}  // namespace pulse
