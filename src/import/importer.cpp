// The importer's edges: librdkafka's high-level consumer and the retry loop around InfluxDB.
//
// Offsets are never stored or committed automatically; the only commit is commitSync() with the
// offsets of a batch InfluxDB accepted. While InfluxDB is unavailable the same batch is retried
// with a capped backoff and nothing more is consumed, so memory stays bounded by one batch. On a
// rebalance, eager or cooperative, the batch is written once more before partitions are revoked
// if it can be; otherwise it is dropped uncommitted and the partitions' next owner reads those
// messages again from the last commit.
#include "pulse/import/importer.hpp"

#include <fmt/format.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>

#include "pulse/base/log_once.hpp"
#include "pulse/base/secrets.hpp"
#include "pulse/import/batch.hpp"
#include "pulse/import/influx_client.hpp"
#include "pulse/kafka/sink.hpp"

namespace pulse {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kFirstBackoff{500};
constexpr std::chrono::milliseconds kMaxBackoff{30000};
constexpr const char* kUnavailable = "influxdb unavailable";

std::unique_ptr<RdKafka::Conf> consumer_conf(const ImportConfig& config,
                                             RdKafka::RebalanceCb* rebalance) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string error;
    auto set = [&](const std::string& key, const std::string& value) {
        set_kafka_property(*conf, key, value);
    };
    set("bootstrap.servers", fmt::format("{}", fmt::join(config.kafka_bootstrap, ",")));
    set("group.id", config.kafka_group);
    set("client.id", "pulse-sensor-import");
    // A group without commits yet starts at the beginning: nothing the sensor wrote is skipped.
    set("auto.offset.reset", "earliest");
    for (const auto& [key, value] : config.kafka_properties) {
        set(key, value);
    }
    // After the operator's properties: these two carry the at-least-once promise.
    set("enable.auto.commit", "false");
    set("enable.auto.offset.store", "false");
    if (conf->set("rebalance_cb", rebalance, error) != RdKafka::Conf::CONF_OK) {
        throw std::invalid_argument(fmt::format("Kafka rebalance callback: {}", error));
    }
    return conf;
}

class Importer : public RdKafka::RebalanceCb {
  public:
    Importer(const ImportConfig& config, StopSignals& signals)
        : config_(config),
          signals_(signals),
          batch_(config.batch_lines),
          influx_({config.influxdb_url, config.influxdb_db, config.influxdb_user,
                   config.influxdb_password}) {}

    int run() {
        std::string error;
        auto conf = consumer_conf(config_, this);
        consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
        if (!consumer_) {
            spdlog::critical("cannot create the Kafka consumer: {}", error);
            return 1;
        }
        if (auto err = consumer_->subscribe({config_.kafka_topic}); err) {
            spdlog::critical("cannot subscribe to {}: {}", config_.kafka_topic,
                             RdKafka::err2str(err));
            return 1;
        }
        spdlog::info(
            "pulse-sensor import {}: Kafka {} topic {} group {} into {} database {}{}",
            PULSE_VERSION, fmt::join(config_.kafka_bootstrap, ","), config_.kafka_topic,
            config_.kafka_group, config_.influxdb_url, config_.influxdb_db,
            config_.influxdb_user.empty() ? "" : fmt::format(" as {}", config_.influxdb_user));
        if (!config_.kafka_properties.empty()) {
            spdlog::info("Kafka properties: {}", describe_properties(config_.kafka_properties));
        }
        while (!signals_.stop_requested()) {
            consume_one();
            if (!batch_.empty() &&
                (batch_.full() || Clock::now() - batch_started_ >= config_.batch_wait)) {
                write_with_retry();
            }
        }
        spdlog::info("stopping on {}", signals_.last_signal() == SIGINT ? "SIGINT" : "SIGTERM");
        if (!batch_.empty() && !write_once()) {
            spdlog::warn("{} message(s) not written: they are read again at the next start",
                         batch_.messages());
            batch_.clear();
        }
        consumer_->close();  // leaves the group, so its partitions move on at once
        spdlog::info(
            "{} message(s) read, {} line(s) sent to InfluxDB, {} message(s) refused, {} "
            "malformed",
            imported_ + malformed_, lines_, refused_, malformed_);
        return 0;
    }

    // Called from consume() on a rebalance. With the eager protocol (the default) every
    // partition is revoked, then the new assignment given; with the cooperative one
    // (partition.assignment.strategy=cooperative-sticky) only the partitions that move are,
    // and they must be changed with incremental_assign/incremental_unassign. Either way the
    // batch in hand is written and committed before partitions go, while they are still ours.
    void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                      std::vector<RdKafka::TopicPartition*>& partitions) override {
        const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
        if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
            spdlog::info("assigned {} partition(s){}: {}", partitions.size(),
                         cooperative ? " more" : "", describe(partitions));
            if (cooperative) {
                check_rebalance("incremental_assign", consumer->incremental_assign(partitions));
            } else {
                check_rebalance("assign", consumer->assign(partitions));
            }
            return;
        }
        if (err != RdKafka::ERR__REVOKE_PARTITIONS) {
            spdlog::error("rebalance failed: {}; giving up the assignment", RdKafka::err2str(err));
        } else if (consumer->assignment_lost()) {
            // Another member may own them already: a commit would be refused.
            spdlog::warn("partitions lost: {}; the batch in hand is read again by their owner",
                         describe(partitions));
            batch_.clear();
        } else {
            if (!batch_.empty() && !write_once()) {
                spdlog::warn("rebalance: {} message(s) dropped unwritten; they are read again",
                             batch_.messages());
                batch_.clear();
            }
            spdlog::info("revoked {} partition(s): {}", partitions.size(), describe(partitions));
        }
        if (cooperative) {
            check_rebalance("incremental_unassign", consumer->incremental_unassign(partitions));
        } else {
            check_rebalance("unassign", consumer->unassign());
        }
    }

  private:
    void consume_one() {
        auto wait = std::chrono::milliseconds(200);
        if (!batch_.empty()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                batch_started_ + config_.batch_wait - Clock::now());
            wait = std::clamp(left, std::chrono::milliseconds(0), wait);
        }
        std::unique_ptr<RdKafka::Message> message(
            consumer_->consume(static_cast<int>(wait.count())));
        switch (message->err()) {
            case RdKafka::ERR_NO_ERROR:
                break;
            case RdKafka::ERR__TIMED_OUT:
            case RdKafka::ERR__PARTITION_EOF:
                return;
            default:
                kafka_log_.report(fmt::format("kafka {}", static_cast<int>(message->err())),
                                  spdlog::level::warn, fmt::format("Kafka: {}", message->errstr()));
                return;
        }
        kafka_log_.end_cycle();
        if (batch_.empty()) {
            batch_started_ = Clock::now();
        }
        ConsumedMessage consumed{
            message->topic_name(), message->partition(), message->offset(),
            std::string(static_cast<const char*>(message->payload()), message->len())};
        if (auto problem = batch_.add(consumed)) {
            ++malformed_;
            spdlog::error("message {} skipped, malformed: {}", describe_message(consumed),
                          *problem);
        } else {
            ++imported_;
        }
    }

    static std::string describe(const std::vector<RdKafka::TopicPartition*>& partitions) {
        std::vector<std::string> names;
        for (const RdKafka::TopicPartition* tp : partitions) {
            names.push_back(fmt::format("{}/{}", tp->topic(), tp->partition()));
        }
        return names.empty() ? "none" : fmt::format("{}", fmt::join(names, " "));
    }

    void check_rebalance(const char* call, RdKafka::ErrorCode err) {
        if (err != RdKafka::ERR_NO_ERROR) {
            spdlog::error("rebalance: {} failed: {}", call, RdKafka::err2str(err));
        }
    }

    void check_rebalance(const char* call, RdKafka::Error* error) {
        if (error != nullptr) {
            std::unique_ptr<RdKafka::Error> owned(error);
            spdlog::error("rebalance: {} failed: {}", call, owned->str());
        }
    }

    // One attempt: true when the batch was written and its offsets committed.
    bool write_once() {
        FlushResult result = batch_.flush(influx_);
        if (!result.done) {
            condition_log_.report(kUnavailable, spdlog::level::warn,
                                  fmt::format("InfluxDB unavailable, retrying the batch of {} "
                                              "line(s) and consuming nothing meanwhile: {}",
                                              batch_.lines(), result.error));
            return false;
        }
        if (condition_log_.active(kUnavailable)) {
            condition_log_.resolve(kUnavailable, "InfluxDB accepts writes again");
        }
        for (const Refusal& refusal : result.refused) {
            ++refused_;
            spdlog::error("message {} refused by InfluxDB, skipped: {}", refusal.message,
                          refusal.error);
        }
        lines_ += batch_.lines();
        commit(result.commit);
        batch_.clear();
        return true;
    }

    void write_with_retry() {
        auto backoff = kFirstBackoff;
        while (!write_once()) {
            if (signals_.wait_until(Clock::now() + backoff)) {
                return;  // the stop path tries once more and reports what is left
            }
            backoff = std::min(backoff * 2, kMaxBackoff);
        }
    }

    void commit(const std::map<TopicPartition, std::int64_t>& offsets) {
        std::vector<RdKafka::TopicPartition*> partitions;
        for (const auto& [tp, next] : offsets) {
            partitions.push_back(RdKafka::TopicPartition::create(tp.first, tp.second, next));
        }
        RdKafka::ErrorCode err = consumer_->commitSync(partitions);
        RdKafka::TopicPartition::destroy(partitions);
        if (err) {
            // The points are stored; only the next start re-reads (and rewrites) them.
            spdlog::warn("committing offsets failed ({}): those messages will be written again",
                         RdKafka::err2str(err));
        }
    }

    const ImportConfig& config_;
    StopSignals& signals_;
    ImportBatch batch_;
    InfluxClient influx_;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
    Clock::time_point batch_started_{};
    ConditionLog condition_log_;
    ConditionLog kafka_log_;
    std::uint64_t imported_ = 0, lines_ = 0, refused_ = 0, malformed_ = 0;
};

}  // namespace

int run_import(const ImportConfig& config, StopSignals& signals) {
    Importer importer(config, signals);
    return importer.run();
}

}  // namespace pulse
