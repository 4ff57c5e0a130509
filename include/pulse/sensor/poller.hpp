// One hypervisor: keeps its libvirt connection, polls it, and hands the points to the outputs.
//
// The connection is opened once and kept; when libvirt reports it closed or a call fails with a
// connection error, it is dropped and reopened on a later tick with exponential backoff, so an
// unreachable hypervisor costs one connection attempt per backoff step, not one per poll.
// No libvirt error ever escapes poll(): it is logged once per condition and counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "pulse/base/log_once.hpp"
#include "pulse/config/config.hpp"
#include "pulse/libvirt/collector.hpp"
#include "pulse/libvirt/handles.hpp"
#include "pulse/ops/poll_report.hpp"
#include "pulse/ops/self_metrics.hpp"
#include "pulse/output/point_sink.hpp"
#include "pulse/points/point.hpp"
#include "pulse/points/rates.hpp"
#include "pulse/sensor/volume_ids.hpp"

namespace pulse {

struct PollerOptions {
    // The URI, GATHER_HOST_STATS, RATES, and PAUSE: the rates' expected interval and the cap on
    // the reconnect backoff, so a hypervisor that comes back is polled again at the next tick.
    HostConfig host;
    HostMetrics* metrics = nullptr;  // where each poll and reconnect is recorded, if anywhere
    // CS_ENDPOINT: disk and diskRate points get the volume id as `image` where it is known.
    VolumeIds* volumes = nullptr;
};

class Poller {
  public:
    Poller(PollerOptions options, PointSink& out);
    ~Poller();

    // One poll stamped `time`. Connects first if needed and the backoff allows it.
    PollReport poll(Timestamp time);

    // The vmHost tag: the URI as configured, without a password (only the connect call has it).
    const std::string& vm_host() const { return vm_host_; }

  private:
    bool ensure_connected();
    void disconnect(const std::string& why);
    void publish_host(Timestamp time, PollReport& report);
    void publish_domains(DomainCollection& collection, Timestamp time, MonotonicTime collected_at,
                         PollReport& report);

    PollerOptions options_;
    std::string vm_host_;
    PointSink& out_;
    ConditionLog log_;
    std::unique_ptr<libvirt::Connection> connection_;
    std::unique_ptr<Collector> collector_;
    std::chrono::seconds backoff_{0};
    std::optional<std::chrono::steady_clock::time_point> retry_at_;
    std::uint64_t missed_polls_ = 0;  // since the connection was lost
    std::minstd_rand jitter_{std::random_device{}()};
    std::optional<RateTracker> rates_;
};

}  // namespace pulse
