// pulse_bench_floor: the least any sensor can do for one poll, to compare pulse-sensor with.
//
// bulk (default): only virConnectGetAllDomainStats with the groups and flags src/collector.cpp
// uses, repeated; the records are freed and nothing else is done with them.
// per-domain: for drivers without bulk statistics (the test driver), the calls the collector's
// fallback makes per poll (list, then per domain info, memory stats, one per NIC, two per
// disk), with device names read from the XML once before the first poll, as the sensor's cache
// does.
//
// Prints one line of key=value figures; bench/run reads it.
#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <CLI/CLI.hpp>

#include <array>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "bench_util.hpp"
#include "pulse/disk_source.hpp"
#include "pulse/domain_xml.hpp"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* doing) {
    const virError* e = virGetLastError();
    fmt::print(stderr, "pulse_bench_floor: {}: {}\n", doing, e != nullptr ? e->message : "?");
    std::exit(1);
}

int bulk_poll(virConnectPtr conn) {
    const int n = pulse::bench::bulk_call(conn);
    if (n < 0) {
        fail("virConnectGetAllDomainStats");
    }
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
    int polls = 10;
    int interval_ms = 0;
    int libvirtd_pid = 0;
    int test_domains = 0;
    CLI::App app{"The libvirt floor: only the statistics calls pulse-sensor makes, repeated."};
    app.add_option("--uri", uri, "libvirt URI");
    app.add_option("--mode", mode, "bulk | per-domain")
        ->check(CLI::IsMember({"bulk", "per-domain"}));
    app.add_option("--polls", polls, "polls to time")->check(CLI::PositiveNumber);
    app.add_option("--interval-ms", interval_ms, "pause between poll starts");
    app.add_option("--libvirtd-pid", libvirtd_pid, "also time this libvirtd's CPU per poll");
    app.add_option("--test-domains", test_domains,
                   "generate a test:/// host with this many domains (4 disks, 2 NICs each)");
    CLI11_PARSE(app, argc, argv);

    std::string node_file;
    if (test_domains > 0) {
        node_file = pulse::bench::write_test_node(test_domains, 4, 2);
        uri = "test://" + node_file;
    }
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
    virConnectPtr conn = virConnectOpenReadOnly(uri.c_str());
    if (conn == nullptr) {
        fail("opening the connection");
    }
    std::vector<KnownDomain> known;
    if (mode == "per-domain") {
        known = read_devices(conn);
    }

    std::vector<double> wall_ms, cpu_ms, libvirtd_ms;
    int domains = 0;
    auto next = Clock::now();
    for (int i = 0; i < polls; ++i) {
        std::this_thread::sleep_until(next);
        next += std::chrono::milliseconds(interval_ms);
        const std::uint64_t cpu0 = pulse::bench::self_cpu_ns();
        const std::uint64_t lv0 = libvirtd_pid > 0 ? pulse::bench::process_cpu_ns(libvirtd_pid) : 0;
        const auto t0 = Clock::now();
        domains = mode == "bulk" ? bulk_poll(conn) : per_domain_poll(conn, known);
        const auto t1 = Clock::now();
        const std::uint64_t lv1 = libvirtd_pid > 0 ? pulse::bench::process_cpu_ns(libvirtd_pid) : 0;
        const std::uint64_t cpu1 = pulse::bench::self_cpu_ns();
        wall_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        cpu_ms.push_back(static_cast<double>(cpu1 - cpu0) / 1e6);
        libvirtd_ms.push_back(static_cast<double>(lv1 - lv0) / 1e6);
    }
    virConnectClose(conn);
    if (!node_file.empty()) {
        std::remove(node_file.c_str());
    }
    fmt::print(
        "floor mode={} domains={} polls={} wall_ms={:.3f} cpu_ms={:.3f} libvirtd_ms={:.3f} "
        "peak_rss_kib={}\n",
        mode, domains, polls, pulse::bench::median(wall_ms), pulse::bench::median(cpu_ms),
        pulse::bench::median(libvirtd_ms), pulse::bench::peak_rss_kib());
    return 0;
}
