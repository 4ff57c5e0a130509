// Stats → contract points. Units: libvirt gives CPU time in ns, memory in KiB, disk sizes in
// bytes; the contract wants float seconds, KiB, and whole GiB (rounded down).
#include "pulse/points/contract.hpp"

#include <fmt/format.h>

#include <limits>

#include "pulse/libvirt/disk_source.hpp"

namespace pulse {
namespace {

constexpr std::uint64_t kGiB = 1024ULL * 1024 * 1024;
constexpr std::uint64_t kMiB = 1024ULL * 1024;
constexpr std::uint64_t kNsPerSecond = 1'000'000'000ULL;

std::int64_t clamp64(std::uint64_t value) {
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    return static_cast<std::int64_t>(value > kMax ? kMax : value);
}

// A field libvirt did not report is left out, never written as a made-up 0.
void add(Point& p, const char* key, const Counter& value) {
    if (value) {
        p.field(key, clamp64(*value));
    }
}

void add_scaled(Point& p, const char* key, const Counter& value, std::uint64_t unit) {
    if (value) {
        p.field(key, clamp64(*value / unit));
    }
}

// Room for every tag and field up front: growing the vectors one push at a time would cost
// four allocations each for a disk's eight fields and five tags.
Point domain_point(const char* measurement, Timestamp time, std::size_t tags, std::size_t fields) {
    Point p;
    p.measurement = measurement;
    p.time = time;
    p.tags.reserve(tags);
    p.fields.reserve(fields);
    return p;
}

void add_domain_tags(Point& p, const DomainStats& s, const std::string& vm_host) {
    p.tag("vmHost", vm_host).tag("vmId", s.name).tag("vmUuid", s.uuid);
}

Point nic_point(const NetStats& n, const NicDevice& nic, const DomainStats& s,
                const std::string& vm_host, Timestamp time) {
    Point p = domain_point("networkInterface", time, 4, 8);
    add(p, "readBytes", n.rx_bytes);
    add(p, "readDrops", n.rx_drop);
    add(p, "readErrors", n.rx_errs);
    add(p, "readPackets", n.rx_pkts);
    add(p, "writeBytes", n.tx_bytes);
    add(p, "writeDrops", n.tx_drop);
    add(p, "writeErrors", n.tx_errs);
    add(p, "writePackets", n.tx_pkts);
    p.tag("mac", nic.mac);
    add_domain_tags(p, s, vm_host);
    return p;
}

Point disk_point(const BlockStats& b, const DiskNames& names, const DomainStats& s,
                 const std::string& vm_host, Timestamp time) {
    Point p = domain_point("disk", time, 5, 9);
    add_scaled(p, "allocatedSpace", b.block_info_allocation_bytes, kGiB);
    // -1 is the contract's "the driver does not count IO errors" (QEMU never does).
    p.field("ioErrors", b.errors.value_or(-1));
    add_scaled(p, "onDiskSpace", b.physical_bytes, kGiB);
    add(p, "readBytes", b.rd_bytes);
    add(p, "readIOPS", b.rd_reqs);
    add_scaled(p, "totalSpace", b.capacity_bytes, kGiB);
    add(p, "writeBytes", b.wr_bytes);
    add(p, "writeIOPS", b.wr_reqs);
    p.tag("image", names.image).tag("pool", names.pool);
    add_domain_tags(p, s, vm_host);
    return p;
}

}  // namespace

const NicDevice* find_nic(const DomainDevices& devices, const std::string& name) {
    for (const NicDevice& nic : devices.nics) {
        if ((!nic.target.empty() && nic.target == name) || nic.mac == name) {
            return &nic;
        }
    }
    return nullptr;
}

const DiskDevice* find_disk(const DomainDevices& devices, const std::string& name) {
    for (const DiskDevice& disk : devices.disks) {
        if (disk.target == name) {
            return &disk;
        }
    }
    return nullptr;
}

DomainPoints domain_points(const DomainStats& s, const DomainDevices& devices,
                           const std::string& vm_host, Timestamp time) {
    DomainPoints out;
    out.points.reserve(2 + s.nets.size() + s.blocks.size());

    Point cpu = domain_point("cpuTime", time, 3, 2);
    if (s.cpu_time_ns) {
        cpu.field("cpuTime",
                  static_cast<double>(*s.cpu_time_ns) / static_cast<double>(kNsPerSecond));
    }
    add(cpu, "cpus", s.vcpus);
    add_domain_tags(cpu, s, vm_host);
    out.points.push_back(std::move(cpu));

    Point rss = domain_point("rss", time, 3, 3);
    add(rss, "maxmem", s.balloon_maximum_kib);
    add(rss, "mem", s.balloon_current_kib);
    add(rss, "rss", s.rss_kib);
    add_domain_tags(rss, s, vm_host);
    out.points.push_back(std::move(rss));

    for (const NetStats& n : s.nets) {
        const NicDevice* nic = find_nic(devices, n.name);
        if (nic == nullptr) {
            out.unknown_devices.push_back(n.name);
            out.anomalies.push_back(
                {fmt::format("nic-unknown/{}/{}", s.uuid, n.name),
                 fmt::format("domain {}: interface {} is not in the domain XML; "
                             "not reported",
                             s.name, n.name)});
            continue;
        }
        out.points.push_back(nic_point(n, *nic, s, vm_host, time));
    }

    for (const BlockStats& b : s.blocks) {
        const DiskDevice* disk = find_disk(devices, b.name);
        if (disk == nullptr) {
            out.unknown_devices.push_back(b.name);
            out.anomalies.push_back({fmt::format("disk-unknown/{}/{}", s.uuid, b.name),
                                     fmt::format("domain {}: block device {} is not in the domain "
                                                 "XML; not reported",
                                                 s.name, b.name)});
            continue;
        }
        if (disk->device != "disk") {
            continue;  // CD-ROMs and floppies are not the tenant's storage
        }
        auto names = disk_names(*disk);
        if (!names) {
            out.anomalies.push_back({fmt::format("disk-nosource/{}/{}", s.uuid, b.name),
                                     fmt::format("domain {}: disk {} has no source (empty drive); "
                                                 "not reported",
                                                 s.name, b.name)});
            continue;
        }
        out.points.push_back(disk_point(b, *names, s, vm_host, time));
    }
    return out;
}

Point host_point(const HostStats& h, const std::string& vm_host, Timestamp time) {
    Point p = domain_point("nodeInfo", time, 1, 6);
    add_scaled(p, "freeMem", h.memory_free_bytes, kMiB);
    add_scaled(p, "idle", h.cpu_idle_ns, kNsPerSecond);
    add_scaled(p, "iowait", h.cpu_iowait_ns, kNsPerSecond);
    add_scaled(p, "kernel", h.cpu_kernel_ns, kNsPerSecond);
    add_scaled(p, "totalMem", h.memory_total_kib, 1024);
    add_scaled(p, "user", h.cpu_user_ns, kNsPerSecond);
    p.tag("vmHost", vm_host);
    return p;
}

}  // namespace pulse
