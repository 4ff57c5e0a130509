// What libvirt tells us about a domain and the host, in libvirt's own units.
//
// These structs sit between the collector (which fills them from the bulk stats call or from
// per-domain calls) and the point builder (which turns them into contract points), so both
// collection paths produce the same points. A value libvirt did not report stays empty rather
// than becoming a made-up zero.
#pragma once

#include <libvirt/libvirt.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pulse/libvirt/domain_xml.hpp"

namespace pulse {

using Counter = std::optional<std::uint64_t>;

struct BlockStats {
    std::string name;  // target device, e.g. "vda"
    std::string path;  // source as libvirt reports it (empty for network disks)
    Counter rd_reqs, rd_bytes, wr_reqs, wr_bytes;
    std::optional<std::int64_t> errors;  // QEMU never reports one
    Counter capacity_bytes, allocation_bytes, physical_bytes;
    // The allocation virDomainGetBlockInfo reports (the contract's allocatedSpace), which is not
    // the bulk allocation above; the collector fills it (see block_info_allocation).
    Counter block_info_allocation_bytes;
};

struct NetStats {
    std::string name;  // host-side device (e.g. "vnet9"), or the MAC where there is none
    Counter rx_bytes, rx_pkts, rx_errs, rx_drop;
    Counter tx_bytes, tx_pkts, tx_errs, tx_drop;
};

struct DomainStats {
    std::string name;
    std::string uuid;
    unsigned int id = 0;  // virDomainGetID: a new one each time the domain starts
    int state = 0;        // virDomainState
    Counter cpu_time_ns;
    Counter vcpus;
    Counter balloon_current_kib, balloon_maximum_kib, rss_kib;
    std::vector<BlockStats> blocks;
    std::vector<NetStats> nets;
};

struct HostStats {
    Counter cpu_user_ns, cpu_kernel_ns, cpu_idle_ns, cpu_iowait_ns;
    Counter memory_total_kib;
    Counter memory_free_bytes;
};

// The allocation virDomainGetBlockInfo would report for `disk` of an active QEMU domain, worked
// out from its bulk fields the way libvirt's qemuDomainGetBlockInfo does it (libvirt 3.x to
// 11.x): QEMU's highest written offset (bulk block.N.allocation), except that a qcow2 file, a
// disk QEMU reports no offset for, and an offset of 0 (nothing written since the domain
// started) take QEMU's "actual-size" instead: the bytes a file occupies on disk; 0 for a host
// block device (QEMU 7.2). The bulk block.N.physical is that actual-size unless it is 0; then
// libvirt puts the file's length or the device's size there, and the bulk fields no longer say
// what the allocation is. Empty then, for a volume disk whose answer depends on what the volume
// is, and when physical is missing: ask virDomainGetBlockInfo. So only a disk nothing was
// written to since its domain started (and that is not an image file) costs that call.
Counter block_info_allocation(const BlockStats& block, const DiskDevice& disk);

// Reads one record of virConnectGetAllDomainStats ("cpu.time", "balloon.rss", "block.0.rd.reqs"
// and so on). Unknown keys are ignored; any integer parameter type is accepted for a counter.
DomainStats parse_stats_params(std::string name, std::string uuid,
                               std::span<const virTypedParameter> params);

}  // namespace pulse
