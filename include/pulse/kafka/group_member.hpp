// One member of a Kafka consumer group that shares out the partitions of a topic and never
// reads a message from it: the partitions it is given are work to do (fleet mode).
//
// The group uses the cooperative-sticky assignor, so a rebalance moves only the partitions that
// must move, and a partition is given to its new member only after its old one let it go. The
// listener runs inside librdkafka's rebalance callback, on the thread that calls poll() or
// close(): partitions are handed over when it returns, so a listener that stops work on
// `revoked` before returning never overlaps with the member that takes the work next.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pulse {

// The partition Kafka's default partitioner gives `key` among `partitions`: murmur2 of its
// bytes, sign bit cleared, modulo the count (Java's Utils.toPositive(Utils.murmur2(key)) % n).
int kafka_partition_of(std::string_view key, int partitions);

struct GroupSettings {
    std::string bootstrap_servers;
    // The operator's librdkafka properties (security, timeouts), applied before the group's own.
    std::map<std::string, std::string> properties;
    std::string group;
    std::string topic;
    int create_partitions = 64;  // for a topic that does not exist yet
    std::chrono::milliseconds session_timeout{10000};
    std::string client_id;  // how the member shows in the group's description
};

struct GroupChange {
    enum class Kind {
        assigned,  // newly given to this member (the rebalance completed; may be empty)
        revoked,   // to be given up: the member still holds them until the listener returns
        lost,      // taken away without a handover: the group went on without this member
    };
    Kind kind;
    std::vector<std::int32_t> partitions;
};

class GroupError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

class GroupMember {
  public:
    using Listener = std::function<void(const GroupChange&)>;

    // Throws std::invalid_argument naming a property librdkafka rejects (never its value).
    GroupMember(const GroupSettings& settings, Listener listener);
    // Closes the member unless close() did.
    ~GroupMember();
    GroupMember(const GroupMember&) = delete;
    GroupMember& operator=(const GroupMember&) = delete;

    // The topic's partition count, creating it with create_partitions first when it does not
    // exist. Throws GroupError, one line, when neither is possible within `timeout`.
    int prepare_topic(std::chrono::milliseconds timeout);
    // The topic's partition count as the cluster has it now, or -1 when it cannot be read.
    int partition_count(std::chrono::milliseconds timeout);

    // Joins the group. Rebalances happen in poll().
    void subscribe();
    // Serves the group's callbacks for up to `timeout`; messages, if any, are skipped.
    // Returns the last error librdkafka reported, empty when none since the previous call.
    std::string poll(std::chrono::milliseconds timeout);
    // Leaves the group: the listener gets `revoked` for everything held, and the group
    // rebalances at once instead of after the session timeout.
    void close();

    std::string member_id() const;  // empty until the first join completed
    // The broker refused to join the member with its session timeout (outside its
    // group.min/max.session.timeout.ms): no retry can succeed.
    bool session_timeout_refused() const;
    const GroupSettings& settings() const { return settings_; }

  private:
    class Callbacks;

    GroupSettings settings_;
    std::unique_ptr<Callbacks> callbacks_;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
    bool closed_ = false;
};

}  // namespace pulse
