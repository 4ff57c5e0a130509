// The sensor's own metrics and health, kept apart from how they are served.
//
// Pollers record into their host's HostMetrics (one per hypervisor, each possibly on a thread
// of its own); the thread that owns the sinks copies their counters in with update_sink(),
// because a sink is not thread-safe and the HTTP thread must never touch one. render() writes
// the Prometheus text exposition format 0.0.4 and health() decides what /healthz answers; both
// take a consistent snapshot under the registry's locks and do no I/O, so they are tested
// without a network or a clock (time is always passed in).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/ops/poll_report.hpp"
#include "pulse/output/byte_sink.hpp"
#include "pulse/points/point.hpp"

namespace pulse {

using SteadyClock = std::chrono::steady_clock;

// Upper bounds (seconds) of the poll duration histogram: a local libvirtd answers in
// milliseconds, a hypervisor over ssh in tens to hundreds of them, and a poll near PAUSE (10 s
// by default) is one about to overrun.
inline constexpr std::array<double, 12> kPollDurationBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0};

// One hypervisor's counters. Thread-safe: a poller writes while the HTTP thread reads.
class HostMetrics {
  public:
    // `uri` as configured; its label drops any password (uri_without_password).
    explicit HostMetrics(std::string uri);

    // The end of one poll stamped `time`: a poll that got no data from libvirt (connection
    // down, or a call failed) counts as missed and marks the host down.
    void record_poll(const PollReport& report, Timestamp time);
    // The connection came back after it was lost or an attempt failed.
    void record_reconnect();
    // Ticks skipped because a poll took longer than PAUSE.
    void record_overrun(std::uint64_t skipped_ticks);

    struct Snapshot {
        std::string label;  // the URI without a password
        std::uint64_t polls = 0;
        std::uint64_t missed_libvirt = 0;
        std::uint64_t missed_overrun = 0;
        std::uint64_t reconnects = 0;
        std::uint64_t domains = 0;  // in the last poll that got data
        std::uint64_t messages = 0;
        std::uint64_t points = 0;
        bool up = false;
        Timestamp last_success{};  // zero until the first successful poll
        std::array<std::uint64_t, kPollDurationBuckets.size()> buckets{};  // not cumulative
        std::uint64_t duration_count = 0;
        double duration_sum_s = 0;
    };
    Snapshot snapshot() const;

  private:
    mutable std::mutex mutex_;
    Snapshot s_;
};

// The CloudStack volume-id map (CS_ENDPOINT): rendered only once enable_volume_ids() was called.
struct VolumeIdsSnapshot {
    bool enabled = false;
    std::uint64_t volumes = 0;  // paths in the map
    std::uint64_t refreshes = 0;
    std::uint64_t failures = 0;
    Timestamp last_success{};  // zero until a refresh succeeded
};

// Fleet mode (FLEET_GROUP): this sensor's place in the group, rendered once enabled.
struct FleetSnapshot {
    bool enabled = false;
    std::string group;
    std::string topic;
    std::string member_id;      // empty while not a member
    bool member = false;        // joined, holding the assignment the group gave it
    int partitions = 0;         // the topic's partition count, 0 until known
    std::vector<int> held;      // the partitions this sensor holds
    std::uint64_t changes = 0;  // assignment changes (given, revoked, lost)
    struct Host {
        std::string label;  // the URI without a password
        int partition = -1;
        bool polled = false;  // by this sensor, now
    };
    std::vector<Host> hosts;  // every configured hypervisor
};

struct Health {
    bool ok = true;
    std::string reason;  // one line, empty when ok
};

class Metrics {
  public:
    // Delivery that made no progress for longer than this, with messages outstanding, makes
    // the sensor unhealthy.
    explicit Metrics(std::chrono::seconds delivery_timeout = std::chrono::seconds(300));

    // A host to report on; the reference stays valid for the registry's lifetime.
    HostMetrics& add_host(const std::string& uri);

    // The sink's counters as of `now`, copied by the thread that owns the sink. Also tracks
    // when it last made progress (a message delivered, or nothing outstanding), when it last
    // delivered, and when it last counted a refusal.
    void update_sink(const std::string& name, const SinkCounters& counters,
                     SteadyClock::time_point now);

    // The volume-id map is in use: its families appear in render() from now on.
    void enable_volume_ids();
    // One refresh of the map ended at `time`; `volumes` is the map's size after it.
    void record_volume_refresh(bool ok, std::size_t volumes, Timestamp time);

    // Fleet mode's state, replacing the previous one. In fleet mode, health() looks only at
    // the hypervisors this sensor polls now.
    void update_fleet(FleetSnapshot fleet);

    // Every metric in the Prometheus text format 0.0.4.
    std::string render() const;

    // Unhealthy when every host that was polled is unreachable, when a sink has delivered
    // nothing for longer than the delivery timeout while counting refusals (failed or
    // refused) within it, or when it has had messages outstanding and none delivered for
    // longer than the timeout.
    Health health(SteadyClock::time_point now) const;

  private:
    struct SinkState {
        SinkCounters counters;
        SteadyClock::time_point last_progress{};
        SteadyClock::time_point last_delivery{};  // or the first update
        SteadyClock::time_point last_refusal{};   // zero until one is counted
    };

    std::chrono::seconds delivery_timeout_;
    mutable std::mutex mutex_;
    std::deque<HostMetrics> hosts_;  // a deque: references stay valid as hosts are added
    std::map<std::string, SinkState> sinks_;
    VolumeIdsSnapshot volume_ids_;
    FleetSnapshot fleet_;
};

// A label value escaped for the text format: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

}  // namespace pulse
