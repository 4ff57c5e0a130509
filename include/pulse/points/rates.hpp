// Per-second rates from consecutive polls of one hypervisor (RATES=true): CPU utilisation and
// disk and NIC throughput, in measurements of their own (cpuRate, diskRate,
// networkInterfaceRate) so that the contract's points stay exactly as they are.
//
// A rate is the change of a cumulative counter between two samples of the same domain or
// device, divided by the time between the two collections on a monotonic clock, which the
// caller hands in. The points' timestamps are whole seconds and would distort it: a poll
// collected 0.4 s late after one collected on time reads as a 4 % change at PAUSE=10.
//
// No rate is ever made from samples that do not continue each other. The interval is skipped,
// and the newer sample becomes the base for the next one, when
//   - this is the first sample of the domain or device (a new domain, a hot-plugged device,
//     a device back after an unplug: a device missing from one poll loses its base; a NIC
//     with another MAC or a disk with another source counts as another device);
//   - the domain restarted: its id changed (counters start again from 0);
//   - any counter of the device went down: a reset, a wrap at 2^64, or a 32-bit counter of a
//     guest driver that wrapped. Nothing tells these apart, so none of them is guessed at;
//   - a counter rose by more than 2^63: no traffic does that in one poll, a bogus value does;
//   - the interval is under half or over one and a half PAUSE: after missed polls a rate would
//     average over a window the point's timestamp does not show, and a poll right after a
//     late one spans too little time to be worth a point.
// A counter that went up across a reset the sensor did not see can only make a rate smaller
// than the real one, never larger: the rate is never negative and never huge.
//
// Pure: no libvirt, no clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "pulse/libvirt/domain_xml.hpp"
#include "pulse/libvirt/stats.hpp"
#include "pulse/points/point.hpp"

namespace pulse {

using MonotonicTime = std::chrono::steady_clock::time_point;

struct DomainRates {
    // cpuRate, then one networkInterfaceRate per NIC and one diskRate per disk, in the order
    // of the contract's points; empty when no interval qualified.
    std::vector<Point> points;
    // Why an interval gave no rate (a restart, a counter that went down…), one line each, for
    // a debug log. The first sample of a domain or device is no news and is not listed.
    std::vector<std::string> skipped;
};

class RateTracker {
  public:
    // `period` is PAUSE: the interval the polls are meant to be apart.
    explicit RateTracker(std::chrono::nanoseconds period);

    // The rates of one domain over the interval since its previous sample; `stats` becomes
    // the base for the next call. `collected_at` is when the statistics were read. Devices the
    // domain XML lacks, CD-ROMs and empty drives get no rate, as they get no contract point.
    DomainRates update(const DomainStats& stats, const DomainDevices& devices,
                       const std::string& vm_host, Timestamp time, MonotonicTime collected_at);

    // Forgets the domains not sampled within the longest usable interval before `now`: a next
    // sample could not give a rate anyway. Call once per poll so that domains that went away
    // cost nothing.
    void forget_stale(MonotonicTime now);

    std::size_t tracked_domains() const { return domains_.size(); }

  private:
    struct NicBase {
        std::string name;  // host-side device or MAC, as NetStats names it
        std::string mac;
        Counter rx_bytes, rx_pkts, tx_bytes, tx_pkts;
    };
    struct DiskBase {
        std::string name;  // target, e.g. "vda"
        std::string path;  // source: counters of another image do not continue these
        Counter rd_reqs, rd_bytes, wr_reqs, wr_bytes;
    };
    struct DomainBase {
        unsigned int id = 0;
        MonotonicTime at;
        Counter cpu_time_ns;
        std::vector<NicBase> nics;
        std::vector<DiskBase> disks;
    };

    // The parts of `stats` a later sample is compared with.
    static DomainBase sample(const DomainStats& stats, const DomainDevices& devices,
                             MonotonicTime at);
    // The rate points of one qualifying interval from `base` to `stats`, into `out`.
    static void cpu_rate(const DomainBase& base, const DomainStats& stats,
                         const std::string& vm_host, Timestamp time, double seconds,
                         DomainRates& out);
    static void nic_rates(const DomainBase& base, const DomainStats& stats,
                          const DomainDevices& devices, const std::string& vm_host, Timestamp time,
                          double seconds, DomainRates& out);
    static void disk_rates(const DomainBase& base, const DomainStats& stats,
                           const DomainDevices& devices, const std::string& vm_host, Timestamp time,
                           double seconds, DomainRates& out);

    std::chrono::nanoseconds min_interval_;
    std::chrono::nanoseconds max_interval_;
    std::unordered_map<std::string, DomainBase> domains_;  // by UUID
};

}  // namespace pulse
