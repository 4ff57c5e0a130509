// A real QEMU domain's statistics and XML (tests/fixtures), as the collector hands them to the
// contract's point builder: for the tests of the points and of their serialized messages.
#pragma once

#include <chrono>
#include <string>

#include "fixtures.hpp"
#include "pulse/libvirt/domain_xml.hpp"
#include "pulse/libvirt/stats.hpp"
#include "pulse/points/point.hpp"
#include "typed_params.hpp"

namespace pulse::testing {

inline const Timestamp kSampleTime =
    std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + std::chrono::hours{10};
inline const std::string kSampleHost = "qemu+ssh://root@10.252.1.33/system";
inline const std::string kSampleUuid = "5e4b0c3a-9d1f-4b7e-8a2c-3f6d1e0b9a87";

inline DomainDevices sample_devices() {
    return parse_domain_xml(read_fixture("domain-i-2-1-VM.xml"));
}

// With allocatedSpace's source filled in, as the collector does.
inline DomainStats sample_stats() {
    auto params = TypedParams::from_domstats(read_fixture("domstats-qemu-sample.txt"));
    DomainStats s = parse_stats_params("i-2-1-VM", kSampleUuid, params.span());
    s.blocks[0].block_info_allocation_bytes =
        block_info_allocation(s.blocks[0], sample_devices().disks[0]);
    return s;
}

}  // namespace pulse::testing
