// Fuzz target for the domain XML path: parse_domain_xml → disk_names → domain_points →
// serialize_json.
//
// Input: the bytes of a domain description. parse_domain_xml may only throw DomainXmlError.
// Every parsed disk and NIC then gets statistics under the name the collector would match it
// by, so each one reaches the points (or is skipped as a CD-ROM or empty drive), and the message
// built from them must be valid JSON (see check_message.hpp).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "check_message.hpp"
#include "pulse/libvirt/disk_source.hpp"
#include "pulse/libvirt/domain_xml.hpp"
#include "pulse/points/contract.hpp"

namespace {

using pulse::Counter;

// Counters that cover the unit conversions' edges: zero, one GiB, past INT64_MAX.
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

pulse::DomainStats stats_for(const pulse::DomainDevices& devices) {
    pulse::DomainStats s;
    s.name = "i-2-1-VM";
    s.uuid = "5e4b0c3a-9d1f-4b7e-8a2c-3f6d1e0b9a87";
    s.state = 1;
    s.cpu_time_ns = kMax;
    s.vcpus = 4;
    s.balloon_current_kib = 65536;
    s.balloon_maximum_kib = kMax;
    s.rss_kib = 0;
    for (const pulse::DiskDevice& disk : devices.disks) {
        pulse::BlockStats b;
        b.name = disk.target;
        b.path = disk.source;
        b.rd_reqs = 1;
        b.rd_bytes = kMax;
        b.wr_reqs = 0;
        b.capacity_bytes = 1ULL << 30;
        b.allocation_bytes = kMax;
        s.blocks.push_back(std::move(b));
    }
    for (const pulse::NicDevice& nic : devices.nics) {
        pulse::NetStats n;
        // Bulk stats name a NIC by its host-side device, or by MAC when it has none.
        n.name = nic.target.empty() ? nic.mac : nic.target;
        n.rx_bytes = kMax;
        n.tx_pkts = 7;
        s.nets.push_back(std::move(n));
    }
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view xml(reinterpret_cast<const char*>(data), size);
    pulse::DomainDevices devices;
    try {
        devices = pulse::parse_domain_xml(xml);
    } catch (const pulse::DomainXmlError&) {
        return 0;
    }
    // domain_points names only real, matched disks; CD-ROMs and floppies must not trip it either.
    for (const pulse::DiskDevice& disk : devices.disks) {
        (void)pulse::disk_names(disk);
    }
    const pulse::Timestamp time{std::chrono::seconds{1795600800}};  // 2026-11-25T10:00:00Z
    pulse::DomainPoints out =
        pulse::domain_points(stats_for(devices), devices, "qemu+ssh://root@10.0.0.1/system", time);
    pulse::fuzz::check(out.points.size() >= 2, "cpuTime and rss points missing");
    pulse::fuzz::check_message(out.points);
    return 0;
}
