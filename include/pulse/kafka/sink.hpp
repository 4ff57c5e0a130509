// Delivers messages to a Kafka topic through librdkafka's producer.
//
// The producer is idempotent with acks=all, so a retried send is never written twice within one
// producer session and a message is acknowledged only once every in-sync replica has it.
// publish() never waits on the network.
//
// With a spool (the default), publish() appends to the spool and poll() feeds librdkafka from
// it, in order, keeping at most a bounded window in librdkafka's memory; librdkafka retries
// without a time limit, and a record leaves the spool when the broker acknowledged it. A broker
// outage therefore fills the spool instead of losing messages, and a restart replays it.
// A refusal an operator can fix (ACLs, credentials, a missing topic) keeps the record in the
// spool and sends it again with backoff; only a record that can never succeed (too large,
// invalid) leaves it unsent. A fatal producer error stops the sink: fatal_error() says so and
// the sensor exits for its supervisor to restart it, and the restart replays the spool.
// Without a spool, messages live only in librdkafka's queue until its message timeout.
// A message the spool cannot take (a full disk, no descriptor, the spool at its bound) goes
// to librdkafka alone: it is counted outstanding until its delivery report, flush() waits for
// it too, and one still undelivered at close() is counted dropped and logged.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "pulse/kafka/spool.hpp"

#include "pulse/base/log_once.hpp"
#include "pulse/output/byte_sink.hpp"

namespace pulse {

struct KafkaSettings {
    std::string bootstrap_servers;
    std::string topic;
    // Extra librdkafka properties, applied after the defaults so they can override them.
    std::map<std::string, std::string> properties;
    // Most bytes handed to librdkafka and not yet acknowledged (spooled mode); the rest waits
    // on disk, so an outage costs memory only up to this bound.
    std::size_t window_bytes = 16U << 20;
};

// librdkafka's global configuration for the sensor: bootstrap servers, the defaults (and an
// unlimited message timeout when `spooled`), then settings.properties. Throws
// std::invalid_argument naming a property librdkafka rejected, never its value.
std::unique_ptr<RdKafka::Conf> make_kafka_conf(const KafkaSettings& settings, bool spooled);

// Sets one librdkafka property; a rejected one throws std::invalid_argument naming the key,
// with the value masked (librdkafka quotes it, and it may be a password).
void set_kafka_property(RdKafka::Conf& conf, const std::string& key, const std::string& value);

enum class RefusalAction {
    retry,  // the cause can be fixed (authorization, authentication, unknown topic): keep it
    drop,   // it can never succeed (too large, invalid record): count it failed, let it go
};
RefusalAction classify_refusal(RdKafka::ErrorCode err);

class KafkaSink : public ByteSink {
  public:
    // Throws std::invalid_argument naming the property librdkafka rejected. `spool` may be
    // null: then messages are kept in memory only.
    KafkaSink(const KafkaSettings& settings, std::unique_ptr<Spool> spool);
    ~KafkaSink() override;

    void publish(std::string_view key, std::string_view payload) override;
    void poll() override;
    bool flush(std::chrono::milliseconds timeout) override;
    void close() override;
    SinkCounters counters() const override;
    std::string name() const override { return "kafka"; }

    // First and longest wait before refused messages are sent again.
    static constexpr std::chrono::milliseconds kFirstRetry{1000};
    static constexpr std::chrono::milliseconds kMaxRetry{30000};

  private:
    class Callbacks;
    RdKafka::ErrorCode produce(const std::string& topic, std::string_view key,
                               std::string_view payload, void* opaque);
    // A spooled record, as kept in memory between a refusal and its next attempt.
    struct Record {
        std::uint64_t seq;
        std::string topic;
        std::string key;
        std::string payload;
    };
    // produce() errors after which the record is not librdkafka's: it waits for a later try.
    static bool is_taken_back(RdKafka::ErrorCode err);
    // A handed-out record produce() refused on the spot: kept to retry, or dropped.
    void settle_unqueued(Record record, RdKafka::ErrorCode err);
    void feed_from_spool();
    // Sends the refused records again once their backoff is over.
    void resend_refused();
    // Logs what a full spool dropped: at the first drop, then at most once a minute.
    void report_drops();
    // Nothing left in the spool or in librdkafka's queue.
    bool drained();

    std::string topic_;
    std::size_t window_bytes_;
    std::unique_ptr<Spool> spool_;
    std::chrono::milliseconds retry_backoff_ = kFirstRetry;
    std::chrono::steady_clock::time_point retry_at_{};  // zero: no refused record waits
    std::uint64_t dropped_reported_ = 0;
    LogLimiter drops_log_{std::chrono::minutes(1)};
    bool closed_ = false;
    std::unique_ptr<Callbacks> callbacks_;  // must outlive the producer, hence declared first
    std::unique_ptr<RdKafka::Producer> producer_;
};

}  // namespace pulse
