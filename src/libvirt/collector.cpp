// Statistics collection; see collector.hpp for the two paths and the XML cache.
//
// Calls that only read the local virDomainPtr object (name, UUID, ID) are not round trips and
// are not counted; everything else is, so tests can hold the bulk path to its calls per poll.
#include "pulse/libvirt/collector.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "pulse/base/c_handle.hpp"
#include "pulse/libvirt/disk_source.hpp"

namespace pulse {
namespace {

using libvirt::LibvirtError;

std::string name_of(virDomainPtr domain) {
    const char* name = virDomainGetName(domain);
    return name != nullptr ? name : "";
}

// Per-domain calls report "not available" as -1.
Counter counter(long long value) {
    return value < 0 ? std::nullopt : Counter(static_cast<std::uint64_t>(value));
}

}  // namespace

Collector::Collector(virConnectPtr conn, CollectorOptions options)
    : conn_(conn), options_(std::move(options)), events_(conn) {
    if (!events_.subscribed()) {
        spdlog::debug(
            "no domain events ({}): domain XML is read again on restarts, unknown "
            "devices and once a minute",
            events_.why_not());
    }
}

void Collector::take_events() {
    for (const std::string& uuid : events_.take_stale()) {
        if (auto it = device_cache_.find(uuid); it != device_cache_.end()) {
            it->second.refetch = true;
            it->second.unknown_after_refetch.clear();
        }
    }
}

DomainCollection Collector::collect_domains() {
    ++poll_number_;
    take_events();
    DomainCollection out;
    if (!bulk_supported_ || !collect_bulk(out)) {
        collect_per_domain(out);
    }
    forget_vanished();
    return out;
}

bool Collector::collect_bulk(DomainCollection& out) {
    virDomainStatsRecordPtr* raw = nullptr;
    ++calls_;
    int n = virConnectGetAllDomainStats(conn_, kBulkStatsGroups, &raw, kBulkStatsFlags);
    if (n < 0) {
        LibvirtError error = libvirt::last_error("reading domain statistics");
        if (error.unsupported()) {
            bulk_supported_ = false;
            spdlog::info("the driver has no bulk domain statistics ({}); using per-domain calls",
                         error.what());
            return false;
        }
        throw error;
    }
    libvirt::StatsRecords records(raw, n);
    out.domains.reserve(static_cast<std::size_t>(n));
    for (virDomainStatsRecordPtr record : records.records()) {
        std::string uuid = libvirt::uuid_of(record->dom);
        std::string name = name_of(record->dom);
        auto devices = devices_for(record->dom, name, uuid, out);
        if (!devices) {
            continue;
        }
        DomainStats stats =
            parse_stats_params(std::move(name), std::move(uuid),
                               {record->params, static_cast<std::size_t>(record->nparams)});
        if (read_info(record->dom, stats, out) == InfoRead::domain_gone) {
            continue;  // stopped since the bulk call: not active any more
        }
        stats.id = virDomainGetID(record->dom);
        fill_block_info_allocation(record->dom, stats, *devices, out);
        out.domains.push_back({std::move(stats), std::move(devices)});
    }
    return true;
}

Collector::InfoRead Collector::read_info(virDomainPtr domain, DomainStats& stats,
                                         DomainCollection& out) {
    virDomainInfo info{};
    ++calls_;
    if (virDomainGetInfo(domain, &info) < 0) {
        LibvirtError e = libvirt::last_error("reading domain info");
        if (e.connection_lost()) {
            throw e;
        }
        if (e.no_domain()) {
            return InfoRead::domain_gone;
        }
        out.issues.push_back({fmt::format("domain-info/{}", stats.uuid),
                              fmt::format("domain {}: {}", stats.name, e.what())});
        return InfoRead::failed;
    }
    stats.cpu_time_ns = info.cpuTime;
    stats.vcpus = info.nrVirtCpu;
    return InfoRead::ok;
}

void Collector::fill_block_info_allocation(virDomainPtr domain, DomainStats& stats,
                                           const DomainDevices& devices, DomainCollection& out) {
    for (BlockStats& b : stats.blocks) {
        const auto disk = std::find_if(devices.disks.begin(), devices.disks.end(),
                                       [&](const DiskDevice& d) { return d.target == b.name; });
        if (disk == devices.disks.end() || disk->device != "disk" || !disk_names(*disk)) {
            continue;  // not reported
        }
        b.block_info_allocation_bytes = block_info_allocation(b, *disk);
        if (b.block_info_allocation_bytes) {
            continue;
        }
        // A disk nothing was written to since the domain started: one call for what the bulk
        // fields cannot tell.
        virDomainBlockInfo info{};
        ++calls_;
        if (virDomainGetBlockInfo(domain, b.name.c_str(), &info, 0) < 0) {
            LibvirtError e = libvirt::last_error(fmt::format("reading disk {} size", b.name));
            if (e.connection_lost()) {
                throw e;
            }
            if (!e.no_domain()) {
                out.issues.push_back({fmt::format("disk-info/{}/{}", stats.uuid, b.name),
                                      fmt::format("domain {}: {}", stats.name, e.what())});
            }
            continue;
        }
        b.block_info_allocation_bytes = info.allocation;
    }
}

void Collector::collect_per_domain(DomainCollection& out) {
    ++calls_;
    auto domains = libvirt::list_active_domains(conn_);
    out.domains.reserve(domains.size());
    for (const auto& domain : domains) {
        try {
            read_domain(domain.get(), out);
        } catch (const LibvirtError& e) {
            if (e.connection_lost()) {
                throw;
            }
            if (!e.no_domain()) {  // gone since the listing: nothing to report, nothing wrong
                out.issues.push_back(
                    {fmt::format("domain-read/{}", libvirt::uuid_of(domain.get())),
                     fmt::format("domain {}: {}", name_of(domain.get()), e.what())});
            }
        }
    }
}

void Collector::read_domain(virDomainPtr domain, DomainCollection& out) {
    DomainStats s;
    s.name = name_of(domain);
    s.uuid = libvirt::uuid_of(domain);
    s.id = virDomainGetID(domain);

    virDomainInfo info{};
    ++calls_;
    if (virDomainGetInfo(domain, &info) < 0) {
        throw libvirt::last_error("reading domain info");
    }
    s.state = info.state;
    s.cpu_time_ns = info.cpuTime;
    s.vcpus = info.nrVirtCpu;
    s.balloon_current_kib = info.memory;
    s.balloon_maximum_kib = info.maxMem;

    std::array<virDomainMemoryStatStruct, VIR_DOMAIN_MEMORY_STAT_NR> memory{};
    ++calls_;
    int n = virDomainMemoryStats(domain, memory.data(), memory.size(), 0);
    if (n < 0) {
        LibvirtError e = libvirt::last_error("reading memory statistics");
        if (!e.unsupported()) {
            throw e;
        }
    }
    for (int i = 0; i < n; ++i) {
        if (memory[i].tag == VIR_DOMAIN_MEMORY_STAT_RSS) {
            s.rss_kib = memory[i].val;
        }
    }

    auto devices = devices_for(domain, s.name, s.uuid, out);
    if (!devices) {
        return;
    }
    for (const NicDevice& nic : devices->nics) {
        // Without a host-side device (the test driver) libvirt also accepts the MAC.
        const std::string& dev = nic.target.empty() ? nic.mac : nic.target;
        virDomainInterfaceStatsStruct st{};
        ++calls_;
        if (virDomainInterfaceStats(domain, dev.c_str(), &st, sizeof st) < 0) {
            LibvirtError e = libvirt::last_error(fmt::format("reading interface {}", dev));
            if (e.connection_lost() || e.no_domain()) {
                throw e;
            }
            out.issues.push_back({fmt::format("nic-read/{}/{}", s.uuid, dev),
                                  fmt::format("domain {}: {}", s.name, e.what())});
            continue;
        }
        s.nets.push_back({dev, counter(st.rx_bytes), counter(st.rx_packets), counter(st.rx_errs),
                          counter(st.rx_drop), counter(st.tx_bytes), counter(st.tx_packets),
                          counter(st.tx_errs), counter(st.tx_drop)});
    }
    for (const DiskDevice& disk : devices->disks) {
        if (disk.device != "disk" || !disk_names(disk)) {
            continue;  // not reported anyway: spare the round trips
        }
        virDomainBlockStatsStruct st{};
        virDomainBlockInfo bi{};
        calls_ += 2;
        if (virDomainBlockStats(domain, disk.target.c_str(), &st, sizeof st) < 0 ||
            virDomainGetBlockInfo(domain, disk.target.c_str(), &bi, 0) < 0) {
            LibvirtError e = libvirt::last_error(fmt::format("reading disk {}", disk.target));
            if (e.connection_lost() || e.no_domain()) {
                throw e;
            }
            out.issues.push_back({fmt::format("disk-read/{}/{}", s.uuid, disk.target),
                                  fmt::format("domain {}: {}", s.name, e.what())});
            continue;
        }
        BlockStats b;
        b.name = disk.target;
        b.path = disk.source;
        b.rd_reqs = counter(st.rd_req);
        b.rd_bytes = counter(st.rd_bytes);
        b.wr_reqs = counter(st.wr_req);
        b.wr_bytes = counter(st.wr_bytes);
        if (st.errs >= 0) {
            b.errors = st.errs;
        }
        b.capacity_bytes = bi.capacity;
        b.allocation_bytes = bi.allocation;
        b.block_info_allocation_bytes = bi.allocation;
        b.physical_bytes = bi.physical;
        s.blocks.push_back(std::move(b));
    }
    out.domains.push_back({std::move(s), std::move(devices)});
}

std::shared_ptr<const DomainDevices> Collector::devices_for(virDomainPtr domain,
                                                            const std::string& name,
                                                            const std::string& uuid,
                                                            DomainCollection& out) {
    const unsigned int id = virDomainGetID(domain);
    const auto now = options_.now();
    auto [it, inserted] = device_cache_.try_emplace(uuid);
    CachedDevices& cached = it->second;
    cached.seen_in_poll = poll_number_;
    if (!inserted && cached.domain_id == id && !cached.refetch && cached.devices &&
        now < cached.refresh_at) {
        return cached.devices;
    }
    if (cached.domain_id != id) {
        cached.unknown_after_refetch.clear();
    }

    ++calls_;
    CHandle<char, ::free> xml(virDomainGetXMLDesc(domain, 0));
    if (!xml) {
        LibvirtError e = libvirt::last_error("reading the domain XML");
        device_cache_.erase(it);
        if (e.connection_lost()) {
            throw e;
        }
        if (!e.no_domain()) {
            out.issues.push_back(
                {fmt::format("xml-read/{}", uuid), fmt::format("domain {}: {}", name, e.what())});
        }
        return nullptr;
    }
    try {
        cached.devices = std::make_shared<const DomainDevices>(parse_domain_xml(xml.get()));
    } catch (const DomainXmlError& e) {
        // cpuTime and rss need no XML: report them, and the devices once the XML makes sense.
        out.issues.push_back(
            {fmt::format("xml-parse/{}", uuid), fmt::format("domain {}: {}", name, e.what())});
        cached.devices = std::make_shared<const DomainDevices>();
    }
    cached.domain_id = id;
    cached.refetch = false;
    std::uniform_int_distribution<std::chrono::steady_clock::rep> spread(
        options_.xml_max_age.count() / 2, options_.xml_max_age.count());
    cached.refresh_at = now + std::chrono::steady_clock::duration(spread(jitter_));
    return cached.devices;
}

void Collector::invalidate(const std::string& uuid, const std::vector<std::string>& unknown) {
    auto it = device_cache_.find(uuid);
    if (it == device_cache_.end()) {
        return;
    }
    CachedDevices& cached = it->second;
    bool news = std::any_of(unknown.begin(), unknown.end(), [&](const std::string& dev) {
        return std::find(cached.unknown_after_refetch.begin(), cached.unknown_after_refetch.end(),
                         dev) == cached.unknown_after_refetch.end();
    });
    if (news) {
        cached.refetch = true;
        cached.unknown_after_refetch = unknown;
    }
}

void Collector::forget_vanished() {
    std::erase_if(device_cache_,
                  [this](const auto& entry) { return entry.second.seen_in_poll != poll_number_; });
}

HostCollection Collector::collect_host() {
    HostCollection out;
    HostStats& h = out.stats;
    if (node_cpu_params_ == 0) {
        ++calls_;
        if (virNodeGetCPUStats(conn_, VIR_NODE_CPU_STATS_ALL_CPUS, nullptr, &node_cpu_params_, 0) <
            0) {
            throw libvirt::last_error("reading host CPU statistics");
        }
    }
    std::vector<virNodeCPUStats> cpu(static_cast<std::size_t>(node_cpu_params_));
    int n = node_cpu_params_;
    ++calls_;
    if (n > 0 && virNodeGetCPUStats(conn_, VIR_NODE_CPU_STATS_ALL_CPUS, cpu.data(), &n, 0) < 0) {
        throw libvirt::last_error("reading host CPU statistics");
    }
    for (int i = 0; i < n; ++i) {
        std::string_view field(cpu[i].field);
        if (field == VIR_NODE_CPU_STATS_USER)
            h.cpu_user_ns = cpu[i].value;
        else if (field == VIR_NODE_CPU_STATS_KERNEL)
            h.cpu_kernel_ns = cpu[i].value;
        else if (field == VIR_NODE_CPU_STATS_IDLE)
            h.cpu_idle_ns = cpu[i].value;
        else if (field == VIR_NODE_CPU_STATS_IOWAIT)
            h.cpu_iowait_ns = cpu[i].value;
    }

    auto memory_issue = [&](const char* key, const char* doing) {
        LibvirtError e = libvirt::last_error(doing);
        if (e.connection_lost()) {
            throw e;
        }
        out.issues.push_back({key, e.what()});
    };
    virNodeInfo info{};
    ++calls_;
    if (virNodeGetInfo(conn_, &info) < 0) {
        memory_issue("host-info", "reading host info");
    } else {
        h.memory_total_kib = info.memory;
    }
    ++calls_;
    // libvirt reports failure as 0 bytes free, with an error set.
    unsigned long long free_bytes = virNodeGetFreeMemory(conn_);
    if (free_bytes == 0 && virGetLastError() != nullptr) {
        memory_issue("host-free-memory", "reading host free memory");
    } else {
        h.memory_free_bytes = free_bytes;
    }
    return out;
}

}  // namespace pulse
