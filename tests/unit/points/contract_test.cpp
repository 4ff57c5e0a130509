// Stats + XML → contract points: a real QEMU domain end to end, and every rule on the way.
#include "pulse/points/contract.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixtures.hpp"
#include "qemu_sample.hpp"

namespace pulse {
namespace {

using namespace std::chrono;

const Timestamp kTime = pulse::testing::kSampleTime;
const std::string& kHost = pulse::testing::kSampleHost;
using pulse::testing::sample_devices;
using pulse::testing::sample_stats;

const FieldValue& field(const Point& p, const std::string& key) {
    for (const auto& [k, v] : p.fields) {
        if (k == key) {
            return v;
        }
    }
    throw std::runtime_error("no field " + key + " in " + p.measurement);
}

bool has_field(const Point& p, const std::string& key) {
    return std::any_of(p.fields.begin(), p.fields.end(),
                       [&](const auto& f) { return f.first == key; });
}

TEST(ContractPoints, PointsComeInContractOrderWithTheSameTime) {
    DomainStats s = sample_stats();
    s.nets.push_back(s.nets[0]);
    s.nets[1].name = "vnet10";
    DomainDevices d = sample_devices();
    d.nics.push_back({"vnet10", "06:f2:64:00:01:99"});
    DomainPoints out = domain_points(s, d, kHost, kTime);
    std::vector<std::string> order;
    for (const Point& p : out.points) {
        order.push_back(p.measurement);
        EXPECT_EQ(p.time, kTime);
    }
    EXPECT_EQ(order, (std::vector<std::string>{"cpuTime", "rss", "networkInterface",
                                               "networkInterface", "disk"}));
    EXPECT_EQ(out.points[3].tags[0],
              (std::pair<std::string, std::string>{"mac", "06:f2:64:00:01:99"}));
}

TEST(ContractPoints, CdromsAreNotReportedEvenWhenTheyHaveStats) {
    DomainStats s = sample_stats();
    BlockStats cdrom;
    cdrom.name = "hdc";
    cdrom.rd_reqs = 10;
    s.blocks.push_back(cdrom);
    DomainPoints out = domain_points(s, sample_devices(), kHost, kTime);
    EXPECT_EQ(std::count_if(out.points.begin(), out.points.end(),
                            [](const Point& p) { return p.measurement == "disk"; }),
              1);
    EXPECT_TRUE(out.anomalies.empty());
}

TEST(ContractPoints, ADiskWithNoSourceIsSkippedAndSaidOnce) {
    DomainStats s = sample_stats();
    DomainDevices d = sample_devices();
    d.disks[0].source.clear();
    DomainPoints out = domain_points(s, d, kHost, kTime);
    EXPECT_EQ(out.points.size(), 3u);
    ASSERT_EQ(out.anomalies.size(), 1u);
    EXPECT_THAT(out.anomalies[0].message, ::testing::HasSubstr("i-2-1-VM"));
    EXPECT_THAT(out.anomalies[0].message, ::testing::HasSubstr("vda"));
}

TEST(ContractPoints, DevicesMissingFromTheXmlAreFlaggedAsStale) {
    DomainStats s = sample_stats();
    DomainDevices d;  // an XML that knows no devices
    DomainPoints out = domain_points(s, d, kHost, kTime);
    EXPECT_EQ(out.points.size(), 2u) << "cpuTime and rss need no XML";
    EXPECT_EQ(out.unknown_devices, (std::vector<std::string>{"vnet9", "vda"}));
    EXPECT_EQ(out.anomalies.size(), 2u);
}

TEST(ContractPoints, SizesAreWholeGibRoundedDown) {
    DomainStats s = sample_stats();
    s.blocks[0].capacity_bytes = 21474836480ULL;              // 20 GiB
    s.blocks[0].block_info_allocation_bytes = 2147483647ULL;  // 1 byte short of 2 GiB
    s.blocks[0].physical_bytes = 1073741824ULL * 3 + 5;       // just over 3 GiB
    DomainPoints out = domain_points(s, sample_devices(), kHost, kTime);
    const Point& disk = out.points.back();
    EXPECT_EQ(std::get<std::int64_t>(field(disk, "totalSpace")), 20);
    EXPECT_EQ(std::get<std::int64_t>(field(disk, "allocatedSpace")), 1);
    EXPECT_EQ(std::get<std::int64_t>(field(disk, "onDiskSpace")), 3);
}

TEST(ContractPoints, IoErrorsAreMinusOneUnlessTheDriverCountsThem) {
    DomainStats s = sample_stats();
    EXPECT_EQ(std::get<std::int64_t>(field(
                  domain_points(s, sample_devices(), kHost, kTime).points.back(), "ioErrors")),
              -1);
    s.blocks[0].errors = 4;
    EXPECT_EQ(std::get<std::int64_t>(field(
                  domain_points(s, sample_devices(), kHost, kTime).points.back(), "ioErrors")),
              4);
}

TEST(ContractPoints, CpuTimeIsAFloatInSeconds) {
    DomainStats s = sample_stats();
    s.cpu_time_ns = 1070750000000ULL;
    DomainPoints out = domain_points(s, sample_devices(), kHost, kTime);
    EXPECT_DOUBLE_EQ(std::get<double>(field(out.points[0], "cpuTime")), 1070.75);
}

TEST(ContractPoints, UnreportedValuesAreLeftOutNotZeroed) {
    DomainStats s = sample_stats();
    s.rss_kib.reset();
    s.nets[0].rx_drop.reset();
    DomainPoints out = domain_points(s, sample_devices(), kHost, kTime);
    EXPECT_FALSE(has_field(out.points[1], "rss"));
    EXPECT_TRUE(has_field(out.points[1], "mem"));
    EXPECT_FALSE(has_field(out.points[2], "readDrops"));
}

TEST(ContractPoints, CountersBeyondInt64AreClampedNotWrappedNegative) {
    DomainStats s = sample_stats();
    s.nets[0].rx_bytes = UINT64_MAX;
    DomainPoints out = domain_points(s, sample_devices(), kHost, kTime);
    EXPECT_EQ(std::get<std::int64_t>(field(out.points[2], "readBytes")), INT64_MAX);
}

}  // namespace
}  // namespace pulse
