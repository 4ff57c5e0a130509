// Collection through libvirt's own test driver: which domains, which devices, how many calls.
#include "pulse/libvirt/collector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "fixtures.hpp"

namespace pulse {
namespace {

using pulse::testing::test_uri;

std::set<std::string> names(const DomainCollection& c) {
    std::set<std::string> out;
    for (const auto& d : c.domains) {
        out.insert(d.stats.name);
    }
    return out;
}

const DomainSample& find(const DomainCollection& c, const std::string& name) {
    for (const auto& d : c.domains) {
        if (d.stats.name == name) {
            return d;
        }
    }
    throw std::runtime_error("no domain " + name);
}

class CollectorOnFixture : public ::testing::Test {
  protected:
    void SetUp() override { libvirt::silence_default_error_handler(); }
    libvirt::Connection conn{test_uri("cloudstack-node.xml")};
    Collector collector{conn.get()};
};

TEST_F(CollectorOnFixture, ReportsRunningAndPausedDomainsButNotShutOffOnes) {
    DomainCollection c = collector.collect_domains();
    EXPECT_EQ(names(c), (std::set<std::string>{"i-2-17-VM", "i-2-18-VM"}));
    EXPECT_TRUE(c.issues.empty());
    EXPECT_EQ(find(c, "i-2-18-VM").stats.state, VIR_DOMAIN_PAUSED);
}

// The old sensor reported every domain listDomainsID() gave: every active one, in any state.
const std::set<std::string> kActiveStates = {"state-running", "state-blocked",
                                             "state-paused",  "state-shutdown",
                                             "state-crashed", "state-pmsuspended"};

TEST(Collector, ReportsEveryActiveDomainWhateverItsStateButNotShutOffOnes) {
    libvirt::silence_default_error_handler();
    libvirt::Connection conn{test_uri("states-node.xml")};
    Collector collector{conn.get()};
    DomainCollection c = collector.collect_domains();
    EXPECT_EQ(names(c), kActiveStates);
    EXPECT_TRUE(c.issues.empty());
    EXPECT_EQ(find(c, "state-pmsuspended").stats.state, VIR_DOMAIN_PMSUSPENDED);
    EXPECT_EQ(find(c, "state-crashed").stats.state, VIR_DOMAIN_CRASHED);
}

// The test driver has no bulk stats for the groups the sensor wants, but it has the state
// group and applies the flags' domain selection as QEMU's driver does.
TEST(Collector, TheBulkCallSelectsEveryActiveDomainWhateverItsState) {
    libvirt::silence_default_error_handler();
    libvirt::Connection conn{test_uri("states-node.xml")};
    virDomainStatsRecordPtr* raw = nullptr;
    const int n = virConnectGetAllDomainStats(
        conn.get(), VIR_DOMAIN_STATS_STATE, &raw,
        kBulkStatsFlags & ~unsigned{VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS});
    ASSERT_GE(n, 0);
    libvirt::StatsRecords records(raw, n);
    std::set<std::string> selected;
    for (virDomainStatsRecordPtr record : records.records()) {
        selected.insert(virDomainGetName(record->dom));
    }
    EXPECT_EQ(selected, kActiveStates);
}

TEST_F(CollectorOnFixture, FallsBackToPerDomainCallsWhenTheDriverHasNoBulkStats) {
    collector.collect_domains();
    EXPECT_FALSE(collector.using_bulk_stats());
}

TEST_F(CollectorOnFixture, ReadsCpuMemoryAndEveryReportableDevice) {
    DomainCollection c = collector.collect_domains();
    const DomainSample& vm = find(c, "i-2-17-VM");
    EXPECT_EQ(vm.stats.uuid, "12805898-0fda-4fa6-9f18-fac64f673679");
    EXPECT_EQ(vm.stats.vcpus, 4u);
    EXPECT_EQ(vm.stats.balloon_maximum_kib, 4194304u);
    EXPECT_EQ(vm.stats.balloon_current_kib, 2097152u);
    EXPECT_TRUE(vm.stats.rss_kib.has_value());
    EXPECT_TRUE(vm.stats.cpu_time_ns.has_value());
    ASSERT_EQ(vm.stats.nets.size(), 2u);
    ASSERT_EQ(vm.devices->nics.size(), 2u);
    EXPECT_EQ(vm.devices->nics[0].mac, "06:f2:64:00:01:54");
    EXPECT_FALSE(vm.devices->nics[0].target.empty()) << "a running domain's NIC has a host device";
    EXPECT_EQ(vm.stats.nets[0].name, vm.devices->nics[0].target);
    ASSERT_EQ(vm.stats.blocks.size(), 2u) << "the CD-ROM is not read";
    EXPECT_EQ(vm.stats.blocks[0].name, "vda");
    EXPECT_EQ(vm.stats.blocks[1].name, "vdb");
    EXPECT_TRUE(vm.stats.blocks[0].capacity_bytes.has_value());
    ASSERT_EQ(vm.devices->disks.size(), 3u);
    EXPECT_EQ(vm.devices->disks[2].device, "cdrom");
}

TEST_F(CollectorOnFixture, FetchesEachDomainsXmlOnceAndCountsEveryCall) {
    // First poll: the failed bulk attempt, the listing, and per domain: info, memory, one call
    // per NIC, two per disk, plus the XML. i-2-17-VM has 2 NICs and 2 disks, i-2-18-VM 1 and 2.
    const std::uint64_t per_poll = 1 + (2 + 2 + 2 * 2) + (2 + 1 + 2 * 2);
    collector.collect_domains();
    EXPECT_EQ(collector.libvirt_calls(), 1 + per_poll + 2);
    collector.collect_domains();
    EXPECT_EQ(collector.libvirt_calls(), 1 + per_poll + 2 + per_poll) << "no XML the second time";
}

TEST(Collector, EachDomainsXmlIsReadAgainBetweenHalfAndAllOfItsMaximumAge) {
    libvirt::silence_default_error_handler();
    libvirt::Connection conn{test_uri("cloudstack-node.xml")};
    auto now = std::chrono::steady_clock::time_point{};
    Collector collector(conn.get(),
                        {.xml_max_age = std::chrono::seconds(60), .now = [&now] { return now; }});
    const std::uint64_t per_poll = 1 + (2 + 2 + 2 * 2) + (2 + 1 + 2 * 2);  // as above
    const std::uint64_t xml = 2;                                           // two domains
    auto calls = [&] {
        auto before = collector.libvirt_calls();
        collector.collect_domains();
        return collector.libvirt_calls() - before;
    };
    EXPECT_EQ(calls(), 1 + per_poll + xml);
    now += std::chrono::seconds(29);
    EXPECT_EQ(calls(), per_poll) << "not before half the age";
    now += std::chrono::seconds(31);
    EXPECT_EQ(calls(), per_poll + xml) << "at the latest after the whole age";
    EXPECT_EQ(calls(), per_poll);
}

TEST_F(CollectorOnFixture, StaleDevicesRefetchTheXmlOnceNotEveryPoll) {
    collector.collect_domains();
    const auto uuid = std::string("12805898-0fda-4fa6-9f18-fac64f673679");
    auto before = collector.libvirt_calls();
    collector.invalidate(uuid, {"vnet42"});
    collector.collect_domains();
    auto with_refetch = collector.libvirt_calls() - before;
    before = collector.libvirt_calls();
    collector.invalidate(uuid, {"vnet42"});  // the fresh XML still lacks it
    collector.collect_domains();
    EXPECT_EQ(collector.libvirt_calls() - before, with_refetch - 1);
}

TEST_F(CollectorOnFixture, HostStatsHaveCpuTimesAndWhatMemoryTheDriverKnows) {
    HostCollection h = collector.collect_host();
    EXPECT_TRUE(h.stats.cpu_user_ns.has_value());
    EXPECT_TRUE(h.stats.cpu_kernel_ns.has_value());
    EXPECT_TRUE(h.stats.cpu_idle_ns.has_value());
    EXPECT_EQ(h.stats.memory_total_kib, 67108864u);
    // This fixture has no NUMA cells, so the test driver cannot say what is free: the field is
    // left empty and the problem named, instead of failing the whole nodeInfo point.
    EXPECT_FALSE(h.stats.memory_free_bytes.has_value());
    ASSERT_EQ(h.issues.size(), 1u);
    EXPECT_THAT(h.issues[0].message, ::testing::HasSubstr("free memory"));
}

TEST(Collector, HostStatsOnTheDefaultTestHostAreComplete) {
    libvirt::Connection conn("test:///default");
    Collector collector(conn.get());
    HostCollection h = collector.collect_host();
    EXPECT_TRUE(h.issues.empty());
    EXPECT_TRUE(h.stats.memory_free_bytes.has_value());
    EXPECT_TRUE(h.stats.cpu_iowait_ns.has_value());
}

// test:///default shares one in-process state between connections, so a writable connection
// can start and destroy domains while the collector watches through its read-only one.
class DefaultTestHost : public ::testing::Test {
  protected:
    void SetUp() override {
        admin.reset(virConnectOpen("test:///default"));
        ASSERT_TRUE(admin);
    }
    libvirt::DomainPtr start(const std::string& name) {
        std::string xml =
            "<domain type='test'><name>" + name +
            "</name><memory>65536</memory><os><type>hvm</type></os><devices>"
            "<interface type='ethernet'><mac address='52:54:00:00:00:01'/></interface>"
            "</devices></domain>";
        libvirt::DomainPtr d(virDomainCreateXML(admin.get(), xml.c_str(), 0));
        EXPECT_TRUE(d) << libvirt::last_error("create").what();
        return d;
    }
    libvirt::ConnectPtr admin;
    libvirt::Connection conn{"test:///default"};
    Collector collector{conn.get()};
};

TEST_F(DefaultTestHost, ADomainStartedBetweenPollsAppearsAndOneDestroyedDisappears) {
    EXPECT_EQ(names(collector.collect_domains()), (std::set<std::string>{"test"}));
    auto vm = start("i-9-99-VM");
    DomainCollection c = collector.collect_domains();
    EXPECT_EQ(names(c), (std::set<std::string>{"test", "i-9-99-VM"}));
    EXPECT_EQ(find(c, "i-9-99-VM").stats.nets.size(), 1u);
    ASSERT_EQ(virDomainDestroy(vm.get()), 0);
    c = collector.collect_domains();
    EXPECT_EQ(names(c), (std::set<std::string>{"test"}));
    EXPECT_TRUE(c.issues.empty());
}

TEST(Collector, AnUnknownUriIsAConnectionErrorWithLibvirtsMessage) {
    libvirt::silence_default_error_handler();
    try {
        libvirt::Connection conn("test:///no/such/node.xml");
        FAIL() << "connected";
    } catch (const libvirt::LibvirtError& e) {
        EXPECT_THAT(e.what(), ::testing::HasSubstr("test:///no/such/node.xml"));
    }
}

}  // namespace
}  // namespace pulse
