// Reading bulk-stats records: every key the sensor uses, from a real QEMU domain's domstats.
#include "pulse/libvirt/stats.hpp"

#include <gtest/gtest.h>

#include "fixtures.hpp"
#include "typed_params.hpp"

namespace pulse {
namespace {

using pulse::testing::read_fixture;
using pulse::testing::TypedParams;

TEST(Stats, ReadsARealQemuDomstatsRecord) {
    auto params = TypedParams::from_domstats(read_fixture("domstats-qemu-sample.txt"));
    DomainStats s = parse_stats_params("i-2-1-VM", "uuid-1", params.span());
    EXPECT_EQ(s.name, "i-2-1-VM");
    EXPECT_EQ(s.uuid, "uuid-1");
    EXPECT_EQ(s.state, VIR_DOMAIN_RUNNING);
    EXPECT_EQ(s.cpu_time_ns, 28510000000u);
    EXPECT_EQ(s.vcpus, 1u);
    EXPECT_EQ(s.balloon_current_kib, 65536u);
    EXPECT_EQ(s.balloon_maximum_kib, 65536u);
    EXPECT_EQ(s.rss_kib, 42732u);

    ASSERT_EQ(s.nets.size(), 1u);
    const NetStats& n = s.nets[0];
    EXPECT_EQ(n.name, "vnet9");
    EXPECT_EQ(n.rx_bytes, 90u);
    EXPECT_EQ(n.rx_pkts, 1u);
    EXPECT_EQ(n.rx_errs, 0u);
    EXPECT_EQ(n.rx_drop, 0u);
    EXPECT_EQ(n.tx_bytes, 0u);
    EXPECT_EQ(n.tx_pkts, 0u);

    ASSERT_EQ(s.blocks.size(), 1u);
    const BlockStats& b = s.blocks[0];
    EXPECT_EQ(b.name, "vda");
    EXPECT_EQ(b.path,
              "/mnt/b13cb3c0-c84d-334c-9fc3-4826ae58d984/cc8121ef-2029-4f4f-826e-000000000001");
    EXPECT_EQ(b.rd_reqs, 1u);
    EXPECT_EQ(b.rd_bytes, 512u);
    EXPECT_EQ(b.wr_reqs, 0u);
    EXPECT_EQ(b.wr_bytes, 0u);
    EXPECT_FALSE(b.errors) << "QEMU has no error counter";
    EXPECT_EQ(b.capacity_bytes, 1073741824u);
    EXPECT_EQ(b.allocation_bytes, 0u);
    EXPECT_EQ(b.physical_bytes, 200704u);
}

TEST(Stats, DevicesKeepTheirIndexOrderWhateverOrderKeysArriveIn) {
    TypedParams p;
    p.add_string("block.1.name", "vdb");
    p.add_ullong("block.1.rd.reqs", 7);
    p.add_string("block.0.name", "vda");
    p.add_uint("block.count", 2);
    DomainStats s = parse_stats_params("d", "u", p.span());
    ASSERT_EQ(s.blocks.size(), 2u);
    EXPECT_EQ(s.blocks[0].name, "vda");
    EXPECT_EQ(s.blocks[1].name, "vdb");
    EXPECT_EQ(s.blocks[1].rd_reqs, 7u);
}

TEST(Stats, AnyIntegerTypeIsAcceptedAndNegativesAreNotCounters) {
    TypedParams p;
    p.add_uint("cpu.time", 5);
    p.add_llong("balloon.rss", -1);
    p.add_llong("block.0.errors", 3);
    p.add_string("block.0.name", "vda");
    DomainStats s = parse_stats_params("d", "u", p.span());
    EXPECT_EQ(s.cpu_time_ns, 5u);
    EXPECT_FALSE(s.rss_kib);
    EXPECT_EQ(s.blocks.at(0).errors, 3);
}

TEST(Stats, MissingGroupsLeaveValuesEmptyNotZero) {
    TypedParams p;
    p.add_ullong("state.state", 3);
    DomainStats s = parse_stats_params("d", "u", p.span());
    EXPECT_EQ(s.state, VIR_DOMAIN_PAUSED);
    EXPECT_FALSE(s.cpu_time_ns);
    EXPECT_FALSE(s.rss_kib);
    EXPECT_TRUE(s.blocks.empty());
    EXPECT_TRUE(s.nets.empty());
}

TEST(Stats, MalformedDeviceKeysAreIgnoredNotTrusted) {
    TypedParams p;
    p.add_string("block.x.name", "bad");
    p.add_string("block.99999999.name", "huge index");
    p.add_string("net..name", "empty index");
    p.add_ullong("net.0.rx.bytes", 10);  // no name: names no device
    p.add_string("block.2.name", "vdc");
    DomainStats s = parse_stats_params("d", "u", p.span());
    ASSERT_EQ(s.blocks.size(), 1u);
    EXPECT_EQ(s.blocks[0].name, "vdc");
    EXPECT_TRUE(s.nets.empty());
}

// allocatedSpace is the allocation virDomainGetBlockInfo gives (the old sensor's source), not the
// bulk block.N.allocation (QEMU's highest written offset). Rows marked "lab" are real disks:
// their bulk fields, and what `virsh domblkinfo` said (libvirt 9.0, QEMU 7.2, Debian 12).
struct BlockInfoCase {
    const char* what;
    const char* type;
    const char* format;
    Counter allocation, physical, capacity;
    Counter expected;  // empty: the bulk fields cannot tell, virDomainGetBlockInfo is asked
};

const BlockInfoCase kBlockInfoCases[] = {
    // A qcow2 file takes QEMU's actual-size (the file's blocks), written to or not.
    {"lab: qcow2 file, running", "file", "qcow2", 332288, 335872, 1610612736, 335872},
    {"lab: qcow2 file, preallocated, fresh", "file", "qcow2", 0, 1153839104, 1153433600,
     1153839104},
    {"the contract's domstats sample (qcow2 file)", "file", "qcow2", 0, 200704, 1073741824, 200704},
    {"qcow2 file, no offset reported", "file", "qcow2", std::nullopt, 335872, 1073741824, 335872},
    // Other disks take the highest written offset, while there is one.
    {"lab: raw file, preallocated, written", "file", "raw", 4608, 1258299392, 1258291200, 4608},
    {"lab: LV, written", "block", "raw", 4608, 1153433600, 1153433600, 4608},
    {"qcow2 on an LV, written", "block", "qcow2", 1 << 20, 1153433600, 4294967296, 1 << 20},
    {"RBD, written", "network", "raw", 8192, 10737418240, 10737418240, 8192},
    {"raw volume, written", "volume", "raw", 4608, 335872, 1073741824, 4608},
    // Nothing written since the start: actual-size, where physical surely holds it.
    {"lab: raw file, preallocated, fresh", "file", "raw", 0, 1153441792, 1153433600, 1153441792},
    {"lab: raw file, sparse, fresh", "file", "raw", 0, 4096, 1153433600, 4096},
    // Where physical may be the stand-in for an actual-size of 0, only virDomainGetBlockInfo
    // knows (lab: it said 0 for the fresh LV).
    {"lab: LV, fresh", "block", "raw", 0, 1153433600, 1153433600, std::nullopt},
    {"qcow2 on an LV, fresh", "block", "qcow2", 0, 1153433600, 4294967296, std::nullopt},
    {"raw file, fresh, physical equal to its length", "file", "raw", 0, 1153433600, 1153433600,
     std::nullopt},
    {"raw file, fresh, no offset", "file", "raw", std::nullopt, 1153433600, 1153433600,
     std::nullopt},
    {"RBD, fresh", "network", "raw", 0, 10737418240, 10737418240, std::nullopt},
    // A volume's qcow2 may be a file (actual-size) or a host device (the offset).
    {"qcow2 volume, written", "volume", "qcow2", 4608, 335872, 1073741824, std::nullopt},
    {"no physical", "file", "qcow2", 4608, std::nullopt, 1073741824, std::nullopt},
};

TEST(Stats, AllocatedSpaceFollowsVirDomainGetBlockInfosRuleOnTheBulkFields) {
    for (const BlockInfoCase& c : kBlockInfoCases) {
        BlockStats b;
        b.name = "vda";
        b.allocation_bytes = c.allocation;
        b.physical_bytes = c.physical;
        b.capacity_bytes = c.capacity;
        DiskDevice disk;
        disk.target = "vda";
        disk.type = c.type;
        disk.format = c.format;
        EXPECT_EQ(block_info_allocation(b, disk), c.expected) << c.what;
    }
}

}  // namespace
}  // namespace pulse
