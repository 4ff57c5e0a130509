// Kafka delivery through librdkafka's C++ producer, fed from the spool; see sink.hpp.
//
// Problems are logged at most once a minute per error code with a count, because a broker
// outage produces the same error for every message and every reconnect attempt.
#include "pulse/kafka/sink.hpp"

#include "pulse/base/secrets.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace pulse {
namespace {

using Clock = std::chrono::steady_clock;

// Defaults chosen for a metrics stream: no loss and no duplicates within a producer session
// (idempotence, which implies acks=all), and a short linger so one poll's messages leave in a
// few batches. No compression, as the old sensor: the old importer (kafka-python without its
// optional codec packages) refuses lz4, snappy and zstd batches; compression.type overrides it.
const std::map<std::string, std::string> kDefaults = {
    {"enable.idempotence", "true"}, {"acks", "all"},
    {"compression.type", "none"},   {"linger.ms", "100"},
    {"client.id", "pulse-sensor"},
};

// Spooled messages carry their record number (+1, so that 0 means "not spooled").
void* opaque_of(std::uint64_t seq) {
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(seq + 1));
}

}  // namespace

RefusalAction classify_refusal(RdKafka::ErrorCode err) {
    switch (err) {
        // The record itself is at fault: sending it again gives the same answer.
        case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
        case RdKafka::ERR_INVALID_MSG:
        case RdKafka::ERR_INVALID_MSG_SIZE:
        case RdKafka::ERR_INVALID_RECORD:
            return RefusalAction::drop;
        // Everything else, notably topic and cluster authorization, SASL authentication and
        // an unknown topic or partition, is the broker's or the operator's to fix; an error
        // not known here is kept too, since keeping costs disk and dropping costs data.
        default:
            return RefusalAction::retry;
    }
}

void set_kafka_property(RdKafka::Conf& conf, const std::string& key, const std::string& value) {
    std::string error;
    if (conf.set(key, value, error) != RdKafka::Conf::CONF_OK) {
        throw std::invalid_argument(
            fmt::format("Kafka property '{}': {}", key, mask_values(error, {{key, value}})));
    }
}

std::unique_ptr<RdKafka::Conf> make_kafka_conf(const KafkaSettings& settings, bool spooled) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    auto set = [&](const std::string& key, const std::string& value) {
        set_kafka_property(*conf, key, value);
    };
    set("bootstrap.servers", settings.bootstrap_servers);
    for (const auto& [key, value] : kDefaults) {
        set(key, value);
    }
    if (spooled) {
        // The spool, not a timer, decides when a message is given up on: retry for ever.
        set("message.timeout.ms", "0");
    }
    for (const auto& [key, value] : settings.properties) {
        set(key, value);
    }
    return conf;
}

class KafkaSink::Callbacks : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
  public:
    Callbacks(Spool* spool, std::map<std::string, std::string> properties)
        : spool_(spool), properties_(std::move(properties)) {}

    // Runs inside producer->poll()/flush(), on the thread that calls them: ours.
    void dr_cb(RdKafka::Message& message) override {
        in_flight_bytes -= std::min(in_flight_bytes, message.len() + message.key_len());
        auto tag = reinterpret_cast<std::uintptr_t>(message.msg_opaque());
        const RdKafka::ErrorCode err = message.err();
        const bool unspooled_report = tag == 0 && !closed;
        if (unspooled_report) {
            unspooled.fetch_sub(1);
        }
        if (err == RdKafka::ERR__PURGE_QUEUE || err == RdKafka::ERR__PURGE_INFLIGHT ||
            err == RdKafka::ERR__FATAL) {
            // Purged at exit, or the producer failed for good: undelivered, a spooled record
            // stays in the spool for the next start; any other message is lost.
            if (unspooled_report) {
                unspooled_dropped.fetch_add(1);
            }
            return;
        }
        const std::string topic = message.topic_name();
        if (err == RdKafka::ERR_NO_ERROR) {
            delivered.fetch_add(1);
            refusing = false;
            accepted(topic);
        } else if (tag != 0 && spool_ != nullptr) {
            Record record{tag - 1, topic, message.key() != nullptr ? *message.key() : "",
                          std::string(static_cast<const char*>(message.payload()), message.len())};
            if (refuse(record, err, message.errstr())) {
                return;  // not acknowledged: the spool keeps it
            }
        } else {
            // Without a spool there is nowhere to keep it.
            refuse({0, topic, "", ""}, err, message.errstr(), false);
        }
        if (tag != 0 && spool_ != nullptr) {
            spool_->ack(tag - 1);
        }
    }

    // Counts and logs (once per topic and error) a spooled record librdkafka did not deliver,
    // from a delivery report or from produce() itself. Returns true when it is kept: queued
    // in `retry` for its next attempt; false when it is to be dropped (acknowledged).
    bool refuse(Record record, RdKafka::ErrorCode err, const std::string& reason,
                bool keepable = true) {
        last_error = fmt::format("topic {}: {}", record.topic, mask_secrets(reason, properties_));
        if (keepable && classify_refusal(err) == RefusalAction::retry) {
            refused.fetch_add(1);
            refusing = true;
            // One condition per topic: an unknown topic shows up as several error codes
            // (librdkafka's and the broker's), and one line says it all.
            conditions.report(
                refusal_key(record.topic), spdlog::level::err,
                fmt::format("kafka: the broker refuses messages for topic {}: {}; they stay in "
                            "the spool and are sent again with backoff until it accepts them",
                            record.topic, mask_secrets(reason, properties_)));
            retry.push_back(std::move(record));
            return true;
        }
        failed.fetch_add(1);
        // Logged once per topic and error for the whole run; the counter says how often.
        conditions.report(fmt::format("dropped {} {}", record.topic, static_cast<int>(err)),
                          spdlog::level::err,
                          fmt::format("kafka: message(s) for topic {} refused for good and "
                                      "dropped: {}",
                                      record.topic, mask_secrets(reason, properties_)));
        return false;
    }

    void event_cb(RdKafka::Event& event) override {
        switch (event.type()) {
            case RdKafka::Event::EVENT_ERROR:
                if (event.fatal()) {
                    std::lock_guard lock(fatal_mutex);
                    fatal = fmt::format("{}: {}", RdKafka::err2str(event.err()),
                                        mask_secrets(event.str(), properties_));
                }
                log(event.fatal() ? spdlog::level::critical : spdlog::level::warn, event.err(),
                    fmt::format("kafka: {}: {}", RdKafka::err2str(event.err()),
                                mask_secrets(event.str(), properties_)));
                break;
            case RdKafka::Event::EVENT_LOG:
                // librdkafka redacts its own configuration dumps; this also covers any message
                // that quotes a secret (debug=all, a broker's error text).
                spdlog::debug("librdkafka {}: {}", event.fac(),
                              mask_secrets(event.str(), properties_));
                break;
            default:
                break;
        }
    }

    std::string fatal_error() const {
        std::lock_guard lock(fatal_mutex);
        return fatal;
    }

    // At close, once the purge's reports are served: the messages outside the spool whose
    // report never came are lost with librdkafka's memory too. Logs them all once.
    void give_up_unspooled(bool spooled) {
        closed = true;
        unspooled_dropped.fetch_add(unspooled.exchange(0));
        if (const std::uint64_t lost = unspooled_dropped.load(); lost > 0) {
            spdlog::error(
                "kafka: {} message(s) {} were not delivered before exit and are dropped", lost,
                spooled ? "outside the spool (it could not take them)" : "in memory (no spool)");
        }
    }

    Spool* spool_;
    std::map<std::string, std::string> properties_;  // to mask secrets in librdkafka's text
    std::size_t in_flight_bytes = 0;
    std::atomic<std::uint64_t> produced{0};
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> refused{0};
    // Messages without a spool record (none is kept, or the spool refused them): those in
    // librdkafka's queue awaiting their report, and those lost undelivered.
    std::atomic<std::uint64_t> unspooled{0};
    std::atomic<std::uint64_t> unspooled_dropped{0};
    bool closed = false;  // their count is final: a later report changes nothing
    std::string last_error;
    // Refused records waiting for their next attempt; refusing from a refusal that may be
    // kept until the next delivery.
    std::deque<Record> retry;
    bool refusing = false;
    ConditionLog conditions;
    // librdkafka's errors and the sink's own, once a minute per error code.
    void log(spdlog::level::level_enum level, int code, const std::string& message) {
        if (auto count = errors_.due(std::to_string(code))) {
            spdlog::log(level, "{} ({} time(s) so far)", message, *count);
        }
    }
    LogLimiter errors_{std::chrono::minutes(1)};

  private:
    static std::string refusal_key(const std::string& topic) { return "refused " + topic; }

    // A message for `topic` got through: the refusal logged for it is over.
    void accepted(const std::string& topic) {
        conditions.resolve(refusal_key(topic),
                           fmt::format("kafka: topic {} accepts messages again", topic));
    }

    mutable std::mutex fatal_mutex;  // event_cb may run on librdkafka's thread for a fatal error
    std::string fatal;
};

KafkaSink::KafkaSink(const KafkaSettings& settings, std::unique_ptr<Spool> spool)
    : topic_(settings.topic),
      window_bytes_(settings.window_bytes),
      spool_(std::move(spool)),
      callbacks_(std::make_unique<Callbacks>(spool_.get(), settings.properties)) {
    std::unique_ptr<RdKafka::Conf> conf = make_kafka_conf(settings, spool_ != nullptr);
    std::string error;
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(callbacks_.get()), error) !=
            RdKafka::Conf::CONF_OK ||
        conf->set("event_cb", static_cast<RdKafka::EventCb*>(callbacks_.get()), error) !=
            RdKafka::Conf::CONF_OK) {
        throw std::invalid_argument("Kafka callbacks: " + error);
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), error));
    if (!producer_) {
        throw std::invalid_argument("creating the Kafka producer: " +
                                    mask_secrets(error, settings.properties));
    }
}

KafkaSink::~KafkaSink() {
    close();
}

void KafkaSink::close() {
    if (closed_) {
        return;
    }
    closed_ = true;
    // Drop librdkafka's copies instead of letting it wait for a broker that may not come back
    // before we must exit: a spooled record stays in the spool for the next start, any other
    // message is lost and counted. Non-blocking, so that a broker thread busy connecting does
    // not hold up the exit; a message whose report this misses is counted all the same.
    producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT |
                     RdKafka::Producer::PURGE_NON_BLOCKING);
    producer_->poll(0);
    callbacks_->give_up_unspooled(spool_ != nullptr);
}

RdKafka::ErrorCode KafkaSink::produce(const std::string& topic, std::string_view key,
                                      std::string_view payload, void* opaque) {
    RdKafka::ErrorCode err = producer_->produce(
        topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(payload.data()), payload.size(), key.data(), key.size(), 0, opaque);
    if (err == RdKafka::ERR_NO_ERROR) {
        callbacks_->in_flight_bytes += payload.size() + key.size();
        if (opaque == nullptr) {
            callbacks_->unspooled.fetch_add(1);  // until its delivery report
        }
    }
    return err;
}

bool KafkaSink::is_taken_back(RdKafka::ErrorCode err) {
    return err == RdKafka::ERR__QUEUE_FULL || err == RdKafka::ERR__FATAL;
}

void KafkaSink::settle_unqueued(Record record, RdKafka::ErrorCode err) {
    // Refused before it left (too large, or a topic the metadata says does not exist): the
    // same treatment as a refusal from the broker.
    const std::uint64_t seq = record.seq;
    if (!callbacks_->refuse(std::move(record), err, RdKafka::err2str(err))) {
        spool_->ack(seq);
    }
}

void KafkaSink::resend_refused() {
    auto& retry = callbacks_->retry;
    if (retry.empty()) {
        return;
    }
    const auto now = Clock::now();
    if (retry_at_ == Clock::time_point{}) {
        // The first refusal of a round: wait, and longer after each round the broker refuses.
        retry_at_ = now + retry_backoff_;
        retry_backoff_ = std::min(retry_backoff_ * 2, kMaxRetry);
    }
    if (now < retry_at_) {
        return;
    }
    // In spool order, so that one key's messages go out in the order they were written.
    std::sort(retry.begin(), retry.end(),
              [](const auto& a, const auto& b) { return a.seq < b.seq; });
    std::deque<Record> due;
    due.swap(retry);
    retry_at_ = {};
    while (!due.empty()) {
        Record& record = due.front();
        const RdKafka::ErrorCode err =
            produce(record.topic, record.key, record.payload, opaque_of(record.seq));
        if (is_taken_back(err)) {
            break;  // librdkafka's queue is full: the rest goes at the next poll
        }
        if (err != RdKafka::ERR_NO_ERROR) {
            settle_unqueued(std::move(record), err);
        }
        due.pop_front();
    }
    // What produce() refused again is back in `retry`; keep it in spool order after the rest.
    for (auto& record : retry) {
        due.push_back(std::move(record));
    }
    retry.swap(due);
}

void KafkaSink::feed_from_spool() {
    if (!callbacks_->fatal_error().empty()) {
        return;  // the producer takes nothing more; the spool keeps it for the next start
    }
    resend_refused();
    if (callbacks_->refusing) {
        // Until the broker accepts a message again only the refused ones are offered: new
        // records wait on disk instead of queueing up behind the same refusal.
        return;
    }
    retry_backoff_ = kFirstRetry;
    while (callbacks_->in_flight_bytes < window_bytes_) {
        const auto& record = spool_->peek();
        if (!record) {
            return;
        }
        const RdKafka::ErrorCode err =
            produce(record->topic, record->key, record->payload, opaque_of(record->seq));
        if (is_taken_back(err)) {
            return;  // librdkafka's queue is full: the record stays on disk for the next round
        }
        if (err == RdKafka::ERR_NO_ERROR) {
            spool_->take();
            continue;
        }
        Record copy{record->seq, record->topic, record->key, record->payload};
        spool_->take();  // first: the spool acknowledges only what it handed out
        settle_unqueued(std::move(copy), err);
        if (callbacks_->refusing) {
            return;
        }
    }
}

void KafkaSink::publish(std::string_view key, std::string_view payload) {
    callbacks_->produced.fetch_add(1);
    if (spool_) {
        try {
            spool_->append(topic_, key, payload);
            feed_from_spool();
            return;
        } catch (const SpoolError& e) {
            // A full or failing disk must not cost the message: hand it to librdkafka directly,
            // which keeps it (and flush() waits for it) until delivered or given up at close().
            callbacks_->log(
                spdlog::level::err, -1,
                fmt::format("spool {}: {}; sending without it", spool_->dir().string(), e.what()));
        }
    }
    RdKafka::ErrorCode err = produce(topic_, key, payload, nullptr);
    if (err == RdKafka::ERR__QUEUE_FULL) {
        // Serve delivery reports to make room, briefly; the poll loop must not stall on Kafka.
        producer_->poll(100);
        err = produce(topic_, key, payload, nullptr);
    }
    if (err != RdKafka::ERR_NO_ERROR) {
        callbacks_->failed.fetch_add(1);
        callbacks_->log(
            spdlog::level::err, err,
            fmt::format("kafka: cannot queue message for key {}: {}", key, RdKafka::err2str(err)));
    }
}

void KafkaSink::report_drops() {
    const std::uint64_t dropped = spool_->counters().dropped;
    if (dropped == dropped_reported_ || !drops_log_.due("spool full")) {
        return;
    }
    spdlog::warn(
        "spool full: {} reached SPOOL_MAX_BYTES ({} bytes); dropped the {} oldest "
        "message(s) so far",
        spool_->dir().string(), spool_->max_bytes(), dropped);
    dropped_reported_ = dropped;
}

void KafkaSink::poll() {
    producer_->poll(0);
    if (spool_) {
        report_drops();
        feed_from_spool();
        try {
            spool_->sync();
        } catch (const SpoolError& e) {
            callbacks_->log(spdlog::level::err, -2,
                            fmt::format("spool {}: {}", spool_->dir().string(), e.what()));
        }
    }
}

bool KafkaSink::drained() {
    // The out queue also holds the messages the spool could not take, and a full spool's
    // dropped records that librdkafka still has.
    return (!spool_ || spool_->pending() == 0) && producer_->outq_len() == 0;
}

bool KafkaSink::flush(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    // Keep feeding the window until everything is delivered or time is up.
    while (true) {
        if (spool_) {
            feed_from_spool();
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (drained() || left <= std::chrono::milliseconds::zero() ||
            !callbacks_->fatal_error().empty()) {
            break;
        }
        producer_->flush(static_cast<int>(std::min<std::int64_t>(left.count(), 100)));
    }
    poll();  // serve the last reports, and persist what was acknowledged
    return drained();
}

SinkCounters KafkaSink::counters() const {
    SinkCounters c;
    c.produced = callbacks_->produced.load();
    c.delivered = callbacks_->delivered.load();
    c.failed = callbacks_->failed.load();
    c.refused = callbacks_->refused.load();
    c.last_error = callbacks_->last_error;
    c.fatal_error = callbacks_->fatal_error();
    c.queued = static_cast<std::uint64_t>(producer_->outq_len());
    c.dropped = callbacks_->unspooled_dropped.load();
    if (spool_) {
        c.dropped += spool_->counters().dropped;
        c.pending = spool_->pending() + callbacks_->unspooled.load();
        c.spool = SinkCounters::Spool{spool_->pending(), spool_->disk_bytes(),
                                      spool_->counters().failed_rolls};
    } else {
        c.pending = static_cast<std::uint64_t>(producer_->outq_len());
    }
    return c;
}

}  // namespace pulse
