// Kafka delivery through librdkafka's C++ producer; see kafka_sink.hpp.
//
// Problems are logged at most once a minute per error code with a count, because a broker
// outage produces the same error for every message and every reconnect attempt.
#include "pulse/kafka_sink.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace pulse {
namespace {

// Defaults chosen for a metrics stream: no loss and no duplicates within a producer session
// (idempotence, which implies acks=all), LZ4 because JSON points compress about 10:1 at very
// little CPU, and a short linger so one poll's messages leave in a few batches.
const std::map<std::string, std::string> kDefaults = {
    {"enable.idempotence", "true"}, {"acks", "all"},
    {"compression.type", "lz4"},    {"linger.ms", "100"},
    {"client.id", "pulse-sensor"},
};

class RateLimitedLog {
  public:
    void log(spdlog::level::level_enum level, int code, const std::string& message) {
        std::lock_guard lock(mutex_);
        auto now = std::chrono::steady_clock::now();
        auto& entry = entries_[code];
        ++entry.count;
        if (entry.count == 1 || now - entry.last >= std::chrono::minutes(1)) {
            spdlog::log(level, "kafka: {} ({} time(s) so far)", message, entry.count);
            entry.last = now;
        }
    }

  private:
    struct Entry {
        std::uint64_t count = 0;
        std::chrono::steady_clock::time_point last{};
    };
    std::mutex mutex_;
    std::unordered_map<int, Entry> entries_;
};

}  // namespace

class KafkaSink::Callbacks : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
  public:
    void dr_cb(RdKafka::Message& message) override {
        if (message.err() == RdKafka::ERR_NO_ERROR) {
            delivered.fetch_add(1);
            return;
        }
        failed.fetch_add(1);
        log.log(spdlog::level::err, message.err(),
                fmt::format("message for key {} not delivered: {}",
                            message.key() != nullptr ? *message.key() : std::string("-"),
                            message.errstr()));
    }

    void event_cb(RdKafka::Event& event) override {
        switch (event.type()) {
            case RdKafka::Event::EVENT_ERROR:
                log.log(event.fatal() ? spdlog::level::critical : spdlog::level::warn, event.err(),
                        fmt::format("{}: {}", RdKafka::err2str(event.err()), event.str()));
                break;
            case RdKafka::Event::EVENT_LOG:
                spdlog::debug("librdkafka {}: {}", event.fac(), event.str());
                break;
            default:
                break;
        }
    }

    std::atomic<std::uint64_t> produced{0};
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> failed{0};
    RateLimitedLog log;
};

KafkaSink::KafkaSink(const KafkaSettings& settings)
    : topic_(settings.topic), callbacks_(std::make_unique<Callbacks>()) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string error;
    auto set = [&](const std::string& key, const std::string& value) {
        if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
            // librdkafka quotes the rejected value, which may be a password: mask it.
            for (auto at = error.find(value); !value.empty() && at != std::string::npos;
                 at = error.find(value, at)) {
                error.replace(at, value.size(), "***");
            }
            throw std::invalid_argument(fmt::format("Kafka property '{}': {}", key, error));
        }
    };
    set("bootstrap.servers", settings.bootstrap_servers);
    for (const auto& [key, value] : kDefaults) {
        set(key, value);
    }
    for (const auto& [key, value] : settings.properties) {
        set(key, value);
    }
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(callbacks_.get()), error) !=
            RdKafka::Conf::CONF_OK ||
        conf->set("event_cb", static_cast<RdKafka::EventCb*>(callbacks_.get()), error) !=
            RdKafka::Conf::CONF_OK) {
        throw std::invalid_argument("Kafka callbacks: " + error);
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), error));
    if (!producer_) {
        throw std::invalid_argument("creating the Kafka producer: " + error);
    }
}

KafkaSink::~KafkaSink() = default;

void KafkaSink::publish(std::string_view key, std::string_view payload) {
    auto produce = [&] {
        return producer_->produce(topic_, RdKafka::Topic::PARTITION_UA,
                                  RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(payload.data()),
                                  payload.size(), key.data(), key.size(), 0, nullptr);
    };
    RdKafka::ErrorCode err = produce();
    if (err == RdKafka::ERR__QUEUE_FULL) {
        // Serve delivery reports to make room, briefly; the poll loop must not stall on Kafka.
        producer_->poll(100);
        err = produce();
    }
    if (err != RdKafka::ERR_NO_ERROR) {
        callbacks_->failed.fetch_add(1);
        callbacks_->log.log(
            spdlog::level::err, err,
            fmt::format("cannot queue message for key {}: {}", key, RdKafka::err2str(err)));
        return;
    }
    callbacks_->produced.fetch_add(1);
}

void KafkaSink::poll() {
    producer_->poll(0);
}

bool KafkaSink::flush(std::chrono::milliseconds timeout) {
    producer_->flush(static_cast<int>(timeout.count()));
    return producer_->outq_len() == 0;
}

SinkCounters KafkaSink::counters() const {
    return {callbacks_->produced.load(), callbacks_->delivered.load(), callbacks_->failed.load()};
}

}  // namespace pulse
