// Fleet mode (FLEET_GROUP): sensors started with the same group and the same hypervisor list
// share the hypervisors out through a Kafka consumer group, and a dead sensor's hypervisors move
// to the others. Kafka does the membership, failure detection and rebalancing; this box only
// maps partitions to hypervisors and starts and stops their polling.
//
// A hypervisor belongs to partition murmur2(URI without password) % N of the coordination
// topic, N its partition count: the partitioner Kafka's clients use for keys, so any Kafka
// client can tell which partition, and thus which member, has a hypervisor. A sensor polls the
// hypervisors of the partitions it holds.
//
// Handover: with the cooperative-sticky assignor a partition moves only after its old holder
// gave it up, and this sensor stops polling a hypervisor (its poll in progress finished) before
// it gives its partition up. Every sensor of a fleet ticks on the wall clock's multiples of PAUSE
// (HostConfig::wall_clock_ticks), so the new holder's first poll is the first tick of the common
// grid after it got the partition. A planned handover (a sensor stops, or one joins) thus never
// duplicates a poll; it skips at most the one tick that falls within the rebalance.
// A sensor that loses the group (its heartbeats did not reach the coordinator within the
// session timeout) keeps polling what it had until it rejoins: during a broker outage that
// keeps every hypervisor polled, at the price of duplicates if the others took over.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pulse/config/config.hpp"
#include "pulse/kafka/group_member.hpp"
#include "pulse/ops/self_metrics.hpp"

namespace pulse {

// The partition of the coordination topic a hypervisor belongs to.
int fleet_partition_of(const std::string& uri, int partitions);

// The URIs of `hosts` that belong to the partitions `held` of `partitions`.
std::set<std::string> fleet_hosts_of(const std::vector<HostConfig>& hosts,
                                     const std::set<int>& held, int partitions);

// Partitions as an operator reads them, "0-2,7,9-10", or "none".
std::string spell_partitions(const std::set<int>& partitions);

// The URIs without their passwords, joined with ", ", or "none".
std::string spell_hosts(const std::set<std::string>& uris);

// The group member settings fleet mode uses for `config`.
GroupSettings fleet_group_settings(const Config& config);

class Fleet {
  public:
    // Called with the URIs to poll whenever they change, on the fleet's thread; it must stop
    // polling the others before it returns.
    using RunOnly = std::function<void(const std::set<std::string>& uris)>;

    Fleet(const Config& config, Metrics& metrics, RunOnly run_only);
    ~Fleet();
    Fleet(const Fleet&) = delete;
    Fleet& operator=(const Fleet&) = delete;

    // Joins the group on a thread of its own: prepares the topic (retrying while Kafka cannot
    // be reached), subscribes, and serves rebalances until stop().
    void start();
    // Leaves the group after stopping every poll, so that the others take over at once.
    void stop();
    // Why the fleet cannot go on (a setting the broker refuses), empty while it can. The
    // thread has ended then, polling nothing.
    std::string fatal_error();

  private:
    void run();
    void changed(const GroupChange& change);
    void publish();  // the state into the metrics registry; under mutex_
    bool sleep_for(std::chrono::milliseconds duration);  // true when stop() was called

    const std::vector<HostConfig> hosts_;
    const FleetConfig config_;
    Metrics& metrics_;
    RunOnly run_only_;
    std::unique_ptr<GroupMember> member_;

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    int partitions_ = 0;
    std::set<int> held_;
    std::set<std::string> polled_;
    bool member_now_ = false;
    std::uint64_t changes_ = 0;
    std::string fatal_;
    std::thread thread_;
};

}  // namespace pulse
