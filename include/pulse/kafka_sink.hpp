// Delivers messages to a Kafka topic through librdkafka's producer.
//
// The producer is idempotent with acks=all, so a retried send is never written twice within one
// producer session and a message is acknowledged only once every in-sync replica has it.
// publish() never waits on the network: librdkafka queues and retries in the background, and
// delivery reports (served by poll()) count what was delivered or lost.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <map>
#include <memory>
#include <string>

#include "pulse/condition_log.hpp"
#include "pulse/sink.hpp"

namespace pulse {

struct KafkaSettings {
    std::string bootstrap_servers;
    std::string topic;
    // Extra librdkafka properties, applied after the defaults so they can override them.
    std::map<std::string, std::string> properties;
};

class KafkaSink : public Sink {
  public:
    // Throws std::invalid_argument naming the property librdkafka rejected.
    explicit KafkaSink(const KafkaSettings& settings);
    ~KafkaSink() override;

    void publish(std::string_view key, std::string_view payload) override;
    void poll() override;
    bool flush(std::chrono::milliseconds timeout) override;
    SinkCounters counters() const override;
    std::string name() const override { return "kafka"; }

  private:
    class Callbacks;
    std::string topic_;
    std::unique_ptr<Callbacks> callbacks_;  // must outlive the producer, hence declared first
    std::unique_ptr<RdKafka::Producer> producer_;
};

}  // namespace pulse
