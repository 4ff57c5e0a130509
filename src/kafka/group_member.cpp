// Fleet membership through a Kafka consumer group; see group_member.hpp.
#include "pulse/kafka/group_member.hpp"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <utility>

#include "pulse/base/c_handle.hpp"
#include "pulse/base/secrets.hpp"
#include "pulse/kafka/sink.hpp"

namespace pulse {
namespace {

using QueuePtr = CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using EventPtr = CHandle<rd_kafka_event_t, rd_kafka_event_destroy>;
using NewTopicPtr = CHandle<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>;
using OptionsPtr = CHandle<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;

std::vector<std::int32_t> numbers(const std::vector<RdKafka::TopicPartition*>& partitions) {
    std::vector<std::int32_t> out;
    for (const RdKafka::TopicPartition* p : partitions) {
        out.push_back(p->partition());
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

int kafka_partition_of(std::string_view key, int partitions) {
    // librdkafka's murmur2 partitioner is Kafka's; it looks at neither the topic nor opaques.
    return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), partitions, nullptr,
                                            nullptr);
}

class GroupMember::Callbacks : public RdKafka::RebalanceCb, public RdKafka::EventCb {
  public:
    Callbacks(Listener listener, std::map<std::string, std::string> properties)
        : listener_(std::move(listener)), properties_(std::move(properties)) {}

    void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                      std::vector<RdKafka::TopicPartition*>& partitions) override {
        if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
            std::unique_ptr<RdKafka::Error> error(consumer->incremental_assign(partitions));
            if (error) {
                record(fmt::format("taking partitions: {}", error->str()));
            }
            // Never fetched from: the partitions are the work, their messages are not.
            consumer->pause(partitions);
            listener_({GroupChange::Kind::assigned, numbers(partitions)});
            return;
        }
        if (err != RdKafka::ERR__REVOKE_PARTITIONS) {
            // A failed rebalance: librdkafka wants the assignment cleared, then rejoins.
            record(fmt::format("rebalance failed: {}", RdKafka::err2str(err)));
            std::vector<RdKafka::TopicPartition*> held;
            consumer->assignment(held);
            listener_({GroupChange::Kind::lost, numbers(held)});
            RdKafka::TopicPartition::destroy(held);
            consumer->unassign();
            return;
        }
        // The listener stops the work (or, when lost, decides what to do) before the
        // partitions are let go.
        const bool lost = consumer->assignment_lost();
        listener_(
            {lost ? GroupChange::Kind::lost : GroupChange::Kind::revoked, numbers(partitions)});
        std::unique_ptr<RdKafka::Error> error(consumer->incremental_unassign(partitions));
        if (error) {
            record(fmt::format("giving up partitions: {}", error->str()));
        }
    }

    void event_cb(RdKafka::Event& event) override {
        if (event.type() == RdKafka::Event::EVENT_ERROR) {
            note(event.err());
            record(mask_secrets(event.str(), properties_));
        } else if (event.type() == RdKafka::Event::EVENT_LOG) {
            spdlog::debug("librdkafka fleet {}: {}", event.fac(),
                          mask_secrets(event.str(), properties_));
        }
    }

    // Errors no retry can cure, which the member's owner must hear of.
    void note(RdKafka::ErrorCode err) {
        if (err == RdKafka::ERR_INVALID_SESSION_TIMEOUT) {
            session_timeout_refused = true;
        }
    }
    std::atomic<bool> session_timeout_refused{false};

    std::string take_error() {
        std::lock_guard lock(mutex_);
        return std::exchange(error_, {});
    }

  private:
    void record(std::string message) {
        std::lock_guard lock(mutex_);
        error_ = std::move(message);
    }

    Listener listener_;
    std::map<std::string, std::string> properties_;
    std::mutex mutex_;  // librdkafka may report errors from its own threads
    std::string error_;
};

GroupMember::GroupMember(const GroupSettings& settings, Listener listener)
    : settings_(settings),
      callbacks_(std::make_unique<Callbacks>(std::move(listener), settings.properties)) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    auto set = [&](const std::string& key, const std::string& value) {
        set_kafka_property(*conf, key, value);
    };
    set("bootstrap.servers", settings.bootstrap_servers);
    // Heartbeats often enough that a rebalance is noticed within a second or so; the operator's
    // properties may change that, not what makes the fleet a fleet.
    set("heartbeat.interval.ms",
        std::to_string(std::clamp<long>(settings.session_timeout.count() / 5, 100, 1000)));
    // librdkafka refuses a session timeout longer than this (5 minutes by default); poll()
    // comes every fraction of a second in fleet mode, so it never runs out either way.
    set("max.poll.interval.ms",
        std::to_string(std::max<long>(300000, settings.session_timeout.count())));
    for (const auto& [key, value] : settings.properties) {
        set(key, value);
    }
    set("group.id", settings.group);
    set("client.id", settings.client_id);
    set("partition.assignment.strategy", "cooperative-sticky");
    set("session.timeout.ms", std::to_string(settings.session_timeout.count()));
    // Nothing is read or committed: the partitions are the work, not their messages.
    set("enable.auto.commit", "false");
    set("enable.auto.offset.store", "false");
    set("auto.offset.reset", "latest");
    // A topic created after the subscription (by another member) is seen soon.
    set("topic.metadata.refresh.interval.ms", "10000");
    std::string error;
    if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(callbacks_.get()), error) !=
            RdKafka::Conf::CONF_OK ||
        conf->set("event_cb", static_cast<RdKafka::EventCb*>(callbacks_.get()), error) !=
            RdKafka::Conf::CONF_OK) {
        throw std::invalid_argument("Kafka callbacks: " + error);
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
    if (!consumer_) {
        throw std::invalid_argument("creating the fleet's Kafka consumer: " +
                                    mask_secrets(error, settings.properties));
    }
}

GroupMember::~GroupMember() {
    close();
}

int GroupMember::partition_count(std::chrono::milliseconds timeout) {
    std::string error;
    std::unique_ptr<RdKafka::Topic> topic(
        RdKafka::Topic::create(consumer_.get(), settings_.topic, nullptr, error));
    RdKafka::Metadata* raw = nullptr;
    if (!topic || consumer_->metadata(false, topic.get(), &raw,
                                      static_cast<int>(timeout.count())) != RdKafka::ERR_NO_ERROR) {
        return -1;
    }
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
        if (t->topic() == settings_.topic && t->err() == RdKafka::ERR_NO_ERROR &&
            !t->partitions()->empty()) {
            return static_cast<int>(t->partitions()->size());
        }
    }
    return 0;
}

int GroupMember::prepare_topic(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left = [&] {
        return std::max(std::chrono::milliseconds(100),
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now()));
    };
    int count = partition_count(left());
    if (count > 0) {
        return count;
    }
    if (count < 0) {
        std::string error = callbacks_->take_error();
        throw GroupError(fmt::format("cannot read the metadata of topic {} from {}: {}",
                                     settings_.topic, settings_.bootstrap_servers,
                                     error.empty() ? "timed out" : error));
    }
    // Missing: create it, as a member may (a broker that forbids it says so).
    rd_kafka_t* rk = consumer_->c_ptr();
    char errstr[512] = "";
    NewTopicPtr topic(rd_kafka_NewTopic_new(settings_.topic.c_str(), settings_.create_partitions,
                                            -1, errstr, sizeof errstr));
    if (!topic) {
        throw GroupError(fmt::format("topic {}: {}", settings_.topic, errstr));
    }
    OptionsPtr options(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
    rd_kafka_AdminOptions_set_request_timeout(options.get(), static_cast<int>(left().count()),
                                              errstr, sizeof errstr);
    QueuePtr queue(rd_kafka_queue_new(rk));
    rd_kafka_NewTopic_t* topics[] = {topic.get()};
    rd_kafka_CreateTopics(rk, topics, 1, options.get(), queue.get());
    EventPtr event(rd_kafka_queue_poll(queue.get(), static_cast<int>(left().count()) + 1000));
    std::string failure = "no answer";
    if (event) {
        failure.clear();
        if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            failure = rd_kafka_event_error_string(event.get());
        } else if (const auto* result = rd_kafka_event_CreateTopics_result(event.get())) {
            size_t n = 0;
            const rd_kafka_topic_result_t** results =
                rd_kafka_CreateTopics_result_topics(result, &n);
            for (size_t i = 0; i < n; ++i) {
                const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
                if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                    err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                    const char* why = rd_kafka_topic_result_error_string(results[i]);
                    failure = fmt::format("{}: {}", rd_kafka_err2name(err),
                                          why ? why : rd_kafka_err2str(err));
                }
            }
        }
    }
    if (!failure.empty()) {
        throw GroupError(
            fmt::format("topic {} does not exist and could not be created ({}): create it with {} "
                        "partitions, or let the sensor's principal create topics",
                        settings_.topic, failure, settings_.create_partitions));
    }
    spdlog::info("fleet: created topic {} with {} partitions", settings_.topic,
                 settings_.create_partitions);
    // A new topic's metadata reaches every broker a moment after its creation.
    while ((count = partition_count(left())) <= 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (count <= 0) {
        throw GroupError(
            fmt::format("topic {} was created but its metadata did not follow", settings_.topic));
    }
    return count;
}

void GroupMember::subscribe() {
    const RdKafka::ErrorCode err = consumer_->subscribe({settings_.topic});
    if (err != RdKafka::ERR_NO_ERROR) {
        throw GroupError(fmt::format("joining group {} on topic {}: {}", settings_.group,
                                     settings_.topic, RdKafka::err2str(err)));
    }
}

std::string GroupMember::poll(std::chrono::milliseconds timeout) {
    std::unique_ptr<RdKafka::Message> message(
        consumer_->consume(static_cast<int>(timeout.count())));
    if (message && message->err() != RdKafka::ERR_NO_ERROR &&
        message->err() != RdKafka::ERR__TIMED_OUT &&
        message->err() != RdKafka::ERR__PARTITION_EOF) {
        callbacks_->note(message->err());
        return mask_secrets(message->errstr(), settings_.properties);
    }
    return callbacks_->take_error();
}

void GroupMember::close() {
    if (closed_) {
        return;
    }
    closed_ = true;
    consumer_->close();
}

bool GroupMember::session_timeout_refused() const {
    return callbacks_->session_timeout_refused;
}

std::string GroupMember::member_id() const {
    return consumer_->memberid();
}

}  // namespace pulse
