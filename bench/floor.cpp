// pulse_bench_floor: the least any sensor can do for one poll, to compare pulse-sensor with.
//
// bulk (default): the collector's steady-state calls, repeated, with nothing done with their
// results: virConnectGetAllDomainStats with the flags and groups of src/libvirt/collector.cpp
// (kBulkStatsGroups), then one virDomainGetInfo per domain. With --groups, only the bulk
// call with those groups: what one statistics group costs libvirtd and QEMU.
// per-domain: for drivers without bulk statistics (the test driver), the calls the collector's
// fallback makes per poll (list, then per domain info, memory stats, one per NIC, two per
// disk), with device names read from the XML once before the first poll, as the sensor's cache
// does.
// memory-stats: one virDomainMemoryStats per active domain, the way to RSS other than the
// balloon group. xml: one virDomainGetXMLDesc per active domain, what reading the XML every
// poll instead of caching it would cost. Both list the domains once, before the first poll:
// the bulk call hands its records' domains over for free, so only the per-domain calls count.
// old-sensor: the old Python sensor's calls per poll (bwsw/cs-pulse-sensor-kafka,
// virt-hostinfo.py), replayed in C++: a new connection, the IDs of the active domains, then per
// domain lookup, XML, name, UUID, info, is-active, memory stats, one call per NIC and two per
// disk of the XML, and the connection closed again.
//
// --libvirtd-pid and --qemu-pids also time those processes: per poll (median of the deltas
// around each poll) and over the window of all polls, polls × interval from the first poll's
// start (window_*: divided by the polls, so work done between polls counts).
//
// Prints one line of key=value figures; bench/run reads it.
#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <map>
#include <sstream>
#include <thread>

#include "bench_util.hpp"
#include "pulse/libvirt/collector.hpp"
#include "pulse/libvirt/disk_source.hpp"
#include "pulse/libvirt/domain_xml.hpp"
#include "pulse/libvirt/handles.hpp"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* doing) {
    const virError* e = virGetLastError();
    fmt::print(stderr, "pulse_bench_floor: {}: {}\n", doing, e != nullptr ? e->message : "?");
    std::exit(1);
}

// `groups` 0: the sensor's own calls.
int bulk_poll(virConnectPtr conn, unsigned groups) {
    const int n =
        groups != 0 ? pulse::bench::bulk_call(conn, groups) : pulse::bench::bulk_call(conn);
    if (n < 0) {
        fail("virConnectGetAllDomainStats");
    }
    return n;
}

// "state,cpu-total,…" (virsh domstats' names; '_' for '-' is accepted too) -> VIR_DOMAIN_STATS_*.
unsigned parse_groups(const std::string& list) {
    static const std::map<std::string, unsigned> names = {
        {"state", VIR_DOMAIN_STATS_STATE},         {"cpu-total", VIR_DOMAIN_STATS_CPU_TOTAL},
        {"balloon", VIR_DOMAIN_STATS_BALLOON},     {"vcpu", VIR_DOMAIN_STATS_VCPU},
        {"interface", VIR_DOMAIN_STATS_INTERFACE}, {"block", VIR_DOMAIN_STATS_BLOCK},
        {"perf", VIR_DOMAIN_STATS_PERF},           {"iothread", VIR_DOMAIN_STATS_IOTHREAD},
        {"memory", VIR_DOMAIN_STATS_MEMORY},       {"dirtyrate", VIR_DOMAIN_STATS_DIRTYRATE},
    };
    unsigned groups = 0;
    std::istringstream in(list);
    std::string name;
    while (std::getline(in, name, ',')) {
        for (char& c : name) {
            if (c == '_')
                c = '-';
        }
        auto it = names.find(name);
        if (it == names.end()) {
            fmt::print(stderr, "pulse_bench_floor: unknown statistics group '{}'\n", name);
            std::exit(2);
        }
        groups |= it->second;
    }
    return groups;
}

// One call per listed domain; the listing was done before the first poll.
int memory_stats_poll(const std::vector<pulse::libvirt::DomainPtr>& domains) {
    for (const auto& dom : domains) {
        std::array<virDomainMemoryStatStruct, VIR_DOMAIN_MEMORY_STAT_NR> memory{};
        if (virDomainMemoryStats(dom.get(), memory.data(), memory.size(), 0) < 0) {
            fail("virDomainMemoryStats");
        }
    }
    return static_cast<int>(domains.size());
}

int xml_poll(const std::vector<pulse::libvirt::DomainPtr>& domains) {
    for (const auto& dom : domains) {
        char* xml = virDomainGetXMLDesc(dom.get(), 0);
        if (xml == nullptr) {
            fail("virDomainGetXMLDesc");
        }
        std::free(xml);
    }
    return static_cast<int>(domains.size());
}

// The old sensor's poll (virt-hostinfo.py): libvirt.open(uri) each time, listDomainsID(), and
// per ID lookupByID, XMLDesc, name, UUIDString, info, isActive, memoryStats, interfaceStats per
// <interface><target dev>, blockStats and blockInfo per <disk device='disk'><target dev>.
int old_sensor_poll(const std::string& uri) {
    virConnectPtr conn = virConnectOpen(uri.c_str());
    if (conn == nullptr) {
        fail("virConnectOpen");
    }
    const int count = virConnectNumOfDomains(conn);
    std::vector<int> ids(static_cast<std::size_t>(std::max(count, 0)));
    const int n = count > 0 ? virConnectListDomains(conn, ids.data(), count) : count;
    if (n < 0) {
        fail("virConnectListDomains");
    }
    for (int i = 0; i < n; ++i) {
        pulse::libvirt::DomainPtr dom(virDomainLookupByID(conn, ids[static_cast<std::size_t>(i)]));
        if (!dom) {
            continue;  // gone since the listing
        }
        char* raw = virDomainGetXMLDesc(dom.get(), 0);
        if (raw == nullptr) {
            continue;
        }
        const pulse::DomainDevices devices = pulse::parse_domain_xml(raw);
        std::free(raw);
        virDomainGetName(dom.get());
        std::array<char, VIR_UUID_STRING_BUFLEN> uuid{};
        virDomainGetUUIDString(dom.get(), uuid.data());
        virDomainInfo info{};
        virDomainGetInfo(dom.get(), &info);
        virDomainIsActive(dom.get());
        std::array<virDomainMemoryStatStruct, VIR_DOMAIN_MEMORY_STAT_NR> memory{};
        virDomainMemoryStats(dom.get(), memory.data(), memory.size(), 0);
        for (const pulse::NicDevice& nic : devices.nics) {
            virDomainInterfaceStatsStruct st{};
            virDomainInterfaceStats(dom.get(), nic.target.c_str(), &st, sizeof st);
        }
        for (const pulse::DiskDevice& disk : devices.disks) {
            if (disk.device != "disk")
                continue;
            virDomainBlockStatsStruct st{};
            virDomainBlockInfo bi{};
            virDomainBlockStats(dom.get(), disk.target.c_str(), &st, sizeof st);
            virDomainGetBlockInfo(dom.get(), disk.target.c_str(), &bi, 0);
        }
    }
    virConnectClose(conn);
    return n;
}

struct KnownDomain {
    std::string uuid;
    pulse::DomainDevices devices;
};

// Device names per domain UUID, read once (the sensor's XML cache).
std::vector<KnownDomain> read_devices(virConnectPtr conn) {
    std::vector<KnownDomain> known;
    virDomainPtr* domains = nullptr;
    int n = virConnectListAllDomains(conn, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    for (int i = 0; i < n; ++i) {
        std::array<char, VIR_UUID_STRING_BUFLEN> uuid{};
        virDomainGetUUIDString(domains[i], uuid.data());
        char* xml = virDomainGetXMLDesc(domains[i], 0);
        known.push_back({uuid.data(), pulse::parse_domain_xml(xml)});
        std::free(xml);
        virDomainFree(domains[i]);
    }
    std::free(domains);
    return known;
}

const pulse::DomainDevices* devices_of(const std::vector<KnownDomain>& known, const char* uuid) {
    for (const KnownDomain& k : known) {
        if (k.uuid == uuid)
            return &k.devices;
    }
    return nullptr;
}

int per_domain_poll(virConnectPtr conn, const std::vector<KnownDomain>& known) {
    virDomainPtr* domains = nullptr;
    int n = virConnectListAllDomains(conn, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
        fail("virConnectListAllDomains");
    }
    // Linear lookups would make the floor quadratic; index by position, as listed at start.
    for (int i = 0; i < n; ++i) {
        virDomainPtr dom = domains[i];
        std::array<char, VIR_UUID_STRING_BUFLEN> uuid{};
        virDomainGetUUIDString(dom, uuid.data());
        const pulse::DomainDevices* devices =
            static_cast<std::size_t>(i) < known.size() && known[i].uuid == uuid.data()
                ? &known[i].devices
                : devices_of(known, uuid.data());
        virDomainInfo info{};
        virDomainGetInfo(dom, &info);
        std::array<virDomainMemoryStatStruct, VIR_DOMAIN_MEMORY_STAT_NR> memory{};
        virDomainMemoryStats(dom, memory.data(), memory.size(), 0);
        if (devices != nullptr) {
            for (const pulse::NicDevice& nic : devices->nics) {
                virDomainInterfaceStatsStruct st{};
                const std::string& dev = nic.target.empty() ? nic.mac : nic.target;
                virDomainInterfaceStats(dom, dev.c_str(), &st, sizeof st);
            }
            for (const pulse::DiskDevice& disk : devices->disks) {
                if (disk.device != "disk" || !pulse::disk_names(disk))
                    continue;
                virDomainBlockStatsStruct st{};
                virDomainBlockInfo bi{};
                virDomainBlockStats(dom, disk.target.c_str(), &st, sizeof st);
                virDomainGetBlockInfo(dom, disk.target.c_str(), &bi, 0);
            }
        }
        virDomainFree(dom);
    }
    std::free(domains);
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    std::string uri = "qemu:///system";
    std::string mode = "bulk";
    std::string groups_list;
    std::string qemu_pids_list;
    int polls = 10;
    int interval_ms = 0;
    int libvirtd_pid = 0;
    int test_domains = 0;
    CLI::App app{"The libvirt floor: only the statistics calls pulse-sensor makes, repeated."};
    app.add_option("--uri", uri, "libvirt URI");
    app.add_option("--mode", mode, "bulk | per-domain | memory-stats | xml | old-sensor")
        ->check(CLI::IsMember({"bulk", "per-domain", "memory-stats", "xml", "old-sensor"}));
    app.add_option("--groups", groups_list,
                   "bulk mode: statistics groups, e.g. state,cpu-total,balloon (default: the "
                   "sensor's own)");
    app.add_option("--polls", polls, "polls to time")->check(CLI::PositiveNumber);
    app.add_option("--interval-ms", interval_ms, "pause between poll starts");
    app.add_option("--libvirtd-pid", libvirtd_pid, "also time this libvirtd's CPU per poll");
    app.add_option("--qemu-pids", qemu_pids_list,
                   "comma-separated QEMU pids: also time their CPU (all threads), summed");
    app.add_option("--test-domains", test_domains,
                   "generate a test:/// host with this many domains (4 disks, 2 NICs each)");
    CLI11_PARSE(app, argc, argv);
    const unsigned groups = groups_list.empty() ? 0 : parse_groups(groups_list);
    const std::vector<int> qemu_pids = pulse::bench::parse_pids(qemu_pids_list);

    std::string node_file;
    if (test_domains > 0) {
        node_file = pulse::bench::write_test_node(test_domains, 4, 2);
        uri = "test://" + node_file;
    }
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
    // old-sensor opens its own connection every poll; this one only lists the domains.
    virConnectPtr conn = virConnectOpenReadOnly(uri.c_str());
    if (conn == nullptr) {
        fail("opening the connection");
    }
    std::vector<KnownDomain> known;
    if (mode == "per-domain") {
        known = read_devices(conn);
    }
    std::vector<pulse::libvirt::DomainPtr> listed;
    if (mode == "memory-stats" || mode == "xml") {
        listed = pulse::libvirt::list_active_domains(conn);
    }

    auto poll = [&]() -> int {
        if (mode == "bulk")
            return bulk_poll(conn, groups);
        if (mode == "per-domain")
            return per_domain_poll(conn, known);
        if (mode == "memory-stats")
            return memory_stats_poll(listed);
        if (mode == "xml")
            return xml_poll(listed);
        return old_sensor_poll(uri);
    };
    std::vector<int> watched = qemu_pids;  // libvirtd's threads and the QEMUs', one snapshot
    const std::vector<int> lv_pid =
        libvirtd_pid > 0 ? std::vector<int>{libvirtd_pid} : std::vector<int>{};
    // Reading hundreds of /proc files is not the poll's work: keep it out of this process's CPU.
    std::uint64_t overhead_ns = 0;
    auto snapshot = [&](const std::vector<int>& pids) {
        const std::uint64_t c0 = pulse::bench::self_cpu_ns();
        pulse::bench::ThreadTimes t = pulse::bench::thread_times(pids);
        overhead_ns += pulse::bench::self_cpu_ns() - c0;
        return t;
    };

    std::vector<double> wall_ms, cpu_ms, libvirtd_ms, qemu_ms;
    int domains = 0;
    auto next = Clock::now();
    pulse::bench::ThreadTimes window_lv0, window_qemu0;
    std::uint64_t window_cpu0 = 0;
    for (int i = 0; i < polls; ++i) {
        std::this_thread::sleep_until(next);
        next += std::chrono::milliseconds(interval_ms);
        const pulse::bench::ThreadTimes lv0 = snapshot(lv_pid);
        const pulse::bench::ThreadTimes q0 = snapshot(watched);
        const std::uint64_t cpu0 = pulse::bench::self_cpu_ns();
        if (i == 0) {
            window_lv0 = lv0;
            window_qemu0 = q0;
            window_cpu0 = cpu0;
            overhead_ns = 0;
        }
        const auto t0 = Clock::now();
        domains = poll();
        const auto t1 = Clock::now();
        const std::uint64_t cpu1 = pulse::bench::self_cpu_ns();
        const pulse::bench::ThreadTimes q1 = snapshot(watched);
        const pulse::bench::ThreadTimes lv1 = snapshot(lv_pid);
        wall_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        cpu_ms.push_back(static_cast<double>(cpu1 - cpu0) / 1e6);
        libvirtd_ms.push_back(static_cast<double>(pulse::bench::cpu_between(lv0, lv1)) / 1e6);
        qemu_ms.push_back(static_cast<double>(pulse::bench::cpu_between(q0, q1)) / 1e6);
    }
    // The window is polls × interval, like the idle baseline's that bench/run subtracts.
    std::this_thread::sleep_until(next);
    const std::uint64_t window_cpu1 = pulse::bench::self_cpu_ns();
    const double window_qemu_ms =
        static_cast<double>(pulse::bench::cpu_between(window_qemu0, snapshot(watched))) / 1e6 /
        polls;
    const double window_lv_ms =
        static_cast<double>(pulse::bench::cpu_between(window_lv0, snapshot(lv_pid))) / 1e6 / polls;
    const double window_cpu_ms =
        (static_cast<double>(window_cpu1 - window_cpu0) - static_cast<double>(overhead_ns)) / 1e6 /
        polls;
    virConnectClose(conn);
    if (!node_file.empty()) {
        std::remove(node_file.c_str());
    }
    fmt::print(
        "floor mode={} groups={:#x} domains={} polls={} wall_ms={:.3f} cpu_ms={:.3f} "
        "libvirtd_ms={:.3f} qemu_ms={:.3f} window_cpu_ms={:.3f} window_libvirtd_ms={:.3f} "
        "window_qemu_ms={:.3f} peak_rss_kib={}\n",
        mode, groups != 0 ? groups : pulse::kBulkStatsGroups, domains, polls,
        pulse::bench::median(wall_ms), pulse::bench::median(cpu_ms),
        pulse::bench::median(libvirtd_ms), pulse::bench::median(qemu_ms), window_cpu_ms,
        window_lv_ms, window_qemu_ms, pulse::bench::peak_rss_kib());
    return 0;
}
