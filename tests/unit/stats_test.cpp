// Reading bulk-stats records: every key the sensor uses, from a real QEMU domain's domstats.
#include "pulse/stats.hpp"

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

}  // namespace
}  // namespace pulse
