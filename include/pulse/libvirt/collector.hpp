// Reads one hypervisor's statistics through an open libvirt connection.
//
// Steady state is one virConnectGetAllDomainStats call for all domains with the balloon,
// interface and block groups, plus one virDomainGetInfo per domain for its CPU time and online
// vCPUs: the cheapest way found to fill the contract (bench/README.md has what each costs inside
// libvirtd and QEMU). On QEMU with KVM the cpu-total and vcpu groups also query QEMU's monitor
// (halt-polling and per-vCPU counters), a monitor round trip per domain each; virDomainGetInfo
// reads the domain's object and one /proc file, and is what the old sensor read these two
// fields from. Drivers without bulk stats (libvirt's test:/// driver) get per-domain calls that
// fill the same structs.
//
// Domain XML (MACs, disk sources) is fetched when a domain is first seen, and again when
// libvirt's domain events say it changed (DomainEvents), when the domain restarted (its ID
// changed), when its stats name a device the cached XML lacks, and at least once a minute, for
// a driver without events and for changes libvirt sends none for. The minute's deadline is
// drawn at random between half and all of it, so that domains first seen together are not read
// again together.
// allocatedSpace follows virDomainGetBlockInfo, which the bulk fields give too, except for a
// disk nothing was written to since its domain started (a block device, a raw file whose
// on-disk size equals its length): it costs one virDomainGetBlockInfo a poll until the guest
// writes to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "pulse/libvirt/domain_events.hpp"
#include "pulse/libvirt/domain_xml.hpp"
#include "pulse/libvirt/handles.hpp"
#include "pulse/libvirt/stats.hpp"

namespace pulse {

// What the bulk call asks for (virConnectGetAllDomainStats): balloon.current, balloon.maximum
// and balloon.rss, net.*, block.*. Never 0, which would mean every group.
constexpr unsigned kBulkStatsGroups =
    VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
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

struct CollectorOptions {
    // A cached domain XML is read again after between half of this and all of it.
    std::chrono::steady_clock::duration xml_max_age = std::chrono::seconds(60);
    std::function<std::chrono::steady_clock::time_point()> now = std::chrono::steady_clock::now;
};

class Collector {
  public:
    // `conn` must outlive the collector. Subscribes to its domain events when it can (that
    // needs libvirt::EventLoop running).
    explicit Collector(virConnectPtr conn, CollectorOptions options = {});

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
    // libvirt API calls made so far that go to the driver (round trips on a remote URI).
    std::uint64_t libvirt_calls() const { return calls_; }

  private:
    struct CachedDevices {
        unsigned int domain_id = 0;  // changes when the domain restarts, and with it tap names
        std::shared_ptr<const DomainDevices> devices;
        std::uint64_t seen_in_poll = 0;
        bool refetch = false;
        std::chrono::steady_clock::time_point refresh_at;
        std::vector<std::string> unknown_after_refetch;
    };

    bool collect_bulk(DomainCollection& out);
    enum class InfoRead { ok, domain_gone, failed };
    // CPU time and online vCPUs from virDomainGetInfo, which reads neither QEMU's monitor nor
    // anything per vCPU.
    InfoRead read_info(virDomainPtr domain, DomainStats& stats, DomainCollection& out);
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
    CollectorOptions options_;
    DomainEvents events_;
    std::minstd_rand jitter_{std::random_device{}()};
    bool bulk_supported_ = true;
    int node_cpu_params_ = 0;
    std::uint64_t calls_ = 0;
    std::uint64_t poll_number_ = 0;
    std::unordered_map<std::string, CachedDevices> device_cache_;
};

}  // namespace pulse
