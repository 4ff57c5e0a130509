// Reads one hypervisor's statistics through an open libvirt connection.
//
// Steady state is one round trip for all domains: virConnectGetAllDomainStats with the
// cpu-total, balloon, interface and block groups, the cheapest set that fills the contract
// (bench/README.md has each group's cost inside libvirtd). The vCPU count comes from the cached
// domain XML instead of the vcpu group, which reads every vCPU thread's counters to report one
// number; where the driver has no domain events to say when the XML changed, the vcpu group is
// asked for again. Drivers without bulk stats (libvirt's test:/// driver) get per-domain calls
// that fill the same structs.
//
// Domain XML, needed for MACs, disk sources and the vCPU count, is fetched when a domain is
// first seen, and again when libvirt's domain events say it changed (DomainEvents), when the
// domain restarted (its ID changed), or when its stats name a device the cached XML lacks.
// allocatedSpace follows virDomainGetBlockInfo, which the bulk fields give too, except for a
// disk nothing was written to since its domain started (a block device, a raw file whose
// on-disk size equals its length): it costs one virDomainGetBlockInfo a poll until the guest
// writes to it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "pulse/domain_events.hpp"
#include "pulse/domain_xml.hpp"
#include "pulse/libvirt.hpp"
#include "pulse/stats.hpp"

namespace pulse {

// What the bulk call asks for (virConnectGetAllDomainStats): cpu.time, balloon.current,
// balloon.maximum and balloon.rss, net.*, block.*. Never 0, which would mean every group.
constexpr unsigned kBulkStatsGroups = VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON |
                                      VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
// Added when there are no domain events: vcpu.current, since the cached XML's count could
// be stale.
constexpr unsigned kBulkStatsGroupsWithoutEvents = kBulkStatsGroups | VIR_DOMAIN_STATS_VCPU;
// Every active domain, whatever its state (running, paused, blocked, shutting down,
// pmsuspended, crashed but still there), as the old sensor's listDomainsID() gave them.
// ENFORCE_STATS makes a driver that lacks a group fail loudly instead of silently returning
// the state group alone, which is how we learn to fall back.
constexpr unsigned kBulkStatsFlags =
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE | VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS;

struct DomainSample {
    DomainStats stats;
    std::shared_ptr<const DomainDevices> devices;
};

// Something the collector could not read, for the caller to log once.
struct CollectIssue {
    std::string key;
    std::string message;
};

struct DomainCollection {
    std::vector<DomainSample> domains;
    std::vector<CollectIssue> issues;
};

struct HostCollection {
    HostStats stats;
    std::vector<CollectIssue> issues;
};

class Collector {
  public:
    // `conn` must outlive the collector. Subscribes to its domain events when it can (that
    // needs libvirt::EventLoop running).
    explicit Collector(virConnectPtr conn);

    // Every active domain, in any state. Throws libvirt::LibvirtError when the connection fails;
    // a problem with one domain becomes an issue and the others are still returned.
    DomainCollection collect_domains();

    // Node CPU times and memory. Throws libvirt::LibvirtError when the CPU times cannot be read;
    // memory that cannot be read becomes an issue and the fields stay empty.
    HostCollection collect_host();

    // The stats of domain `uuid` named devices its cached XML lacks (a hot-plugged disk or NIC):
    // fetch the XML again next poll. Devices the fresh XML still lacks do not trigger another
    // fetch, so an odd device costs one extra call per domain start, not one per poll.
    void invalidate(const std::string& uuid, const std::vector<std::string>& unknown_devices);

    bool using_bulk_stats() const { return bulk_supported_; }
    // True when domain events keep the XML cache fresh; false when only polling does.
    bool using_domain_events() const { return events_.subscribed(); }
    // The groups the bulk call asks for.
    unsigned bulk_stats_groups() const {
        return events_.subscribed() ? kBulkStatsGroups : kBulkStatsGroupsWithoutEvents;
    }
    // libvirt API calls made so far that go to the driver (round trips on a remote URI).
    std::uint64_t libvirt_calls() const { return calls_; }

  private:
    struct CachedDevices {
        unsigned int domain_id = 0;  // changes when the domain restarts, and with it tap names
        std::shared_ptr<const DomainDevices> devices;
        std::uint64_t seen_in_poll = 0;
        bool refetch = false;
        std::vector<std::string> unknown_after_refetch;
    };

    bool collect_bulk(DomainCollection& out);
    // allocatedSpace as virDomainGetBlockInfo gives it, for each disk that is reported.
    void fill_block_info_allocation(virDomainPtr domain, DomainStats& stats,
                                    const DomainDevices& devices, DomainCollection& out);
    void collect_per_domain(DomainCollection& out);
    void read_domain(virDomainPtr domain, DomainCollection& out);
    std::shared_ptr<const DomainDevices> devices_for(virDomainPtr domain, const std::string& name,
                                                     const std::string& uuid,
                                                     DomainCollection& out);
    void forget_vanished();
    void take_events();

    virConnectPtr conn_;
    DomainEvents events_;
    bool bulk_supported_ = true;
    int node_cpu_params_ = 0;
    std::uint64_t calls_ = 0;
    std::uint64_t poll_number_ = 0;
    std::unordered_map<std::string, CachedDevices> device_cache_;
};

}  // namespace pulse
