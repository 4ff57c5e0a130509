// Rates from synthetic counter sequences: steady counters, every kind of reset and wrap, the
// interval bounds, devices coming and going, and the state kept for domains that went away.
#include "pulse/points/rates.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "pulse/points/contract.hpp"

namespace pulse {
namespace {

using namespace std::chrono;
using ::testing::HasSubstr;

const std::string kHost = "qemu+ssh://root@10.252.1.33/system";
const std::string kUuid = "5e4b0c3a-9d1f-4b7e-8a2c-3f6d1e0b9a87";
const std::string kMac = "06:f2:64:00:01:42";
const std::string kImagePath =
    "/mnt/b13cb3c0-c84d-334c-9fc3-4826ae58d984/cc8121ef-2029-4f4f-826e-000000000017";
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// Polls 10 s apart on the wall clock; the monotonic clock starts anywhere.
const Timestamp kT0 = sys_days{year{2026} / 11 / 25} + hours{10};
const MonotonicTime kM0 = MonotonicTime{} + hours{1000};

Timestamp wall(int poll) {
    return kT0 + seconds(10 * poll);
}
MonotonicTime mono(double seconds_since_start) {
    return kM0 + duration_cast<nanoseconds>(duration<double>(seconds_since_start));
}

DomainDevices devices() {
    DomainDevices d;
    d.nics.push_back({"vnet9", kMac});
    d.disks.push_back({"vda", "disk", "file", kImagePath, "", "", "", "qcow2"});
    d.disks.push_back({"hdc", "cdrom", "file", "/iso/systemvm.iso", "", "", "", "raw"});
    return d;
}

// A domain whose counters all advance from the same base: CPU time by `cpu_ns`, NIC and disk
// counters by the amounts given per poll.
struct Domain {
    DomainStats s;

    Domain() {
        s.name = "i-2-17-VM";
        s.uuid = kUuid;
        s.id = 7;
        s.state = VIR_DOMAIN_RUNNING;
        s.cpu_time_ns = 1'000'000'000'000ULL;
        s.vcpus = 2;
        NetStats n;
        n.name = "vnet9";
        n.rx_bytes = 1'000'000;
        n.rx_pkts = 1'000;
        n.tx_bytes = 2'000'000;
        n.tx_pkts = 2'000;
        n.rx_errs = n.rx_drop = n.tx_errs = n.tx_drop = 0;
        s.nets.push_back(n);
        BlockStats b;
        b.name = "vda";
        b.path = kImagePath;
        b.rd_reqs = 100;
        b.rd_bytes = 409'600;
        b.wr_reqs = 50;
        b.wr_bytes = 204'800;
        s.blocks.push_back(b);
        BlockStats cdrom;
        cdrom.name = "hdc";
        cdrom.path = "/iso/systemvm.iso";
        cdrom.rd_reqs = 10;
        cdrom.rd_bytes = 4096;
        s.blocks.push_back(cdrom);
    }

    // One poll's worth of activity over `seconds`: 25 % of each vCPU, 1 000 B/s and 10 p/s in,
    // 2 000 B/s and 20 p/s out, 4 read and 2 write requests of 4 KiB per second.
    Domain& advance(double seconds) {
        auto by = [seconds](Counter& c, double per_second) {
            if (c) {  // a counter libvirt did not report stays unreported
                *c += static_cast<std::uint64_t>(per_second * seconds);
            }
        };
        by(s.cpu_time_ns, 0.25 * 2 * 1e9);
        for (NetStats& n : s.nets) {
            by(n.rx_bytes, 1000);
            by(n.rx_pkts, 10);
            by(n.tx_bytes, 2000);
            by(n.tx_pkts, 20);
        }
        BlockStats& vda = s.blocks[0];
        by(vda.rd_reqs, 4);
        by(vda.rd_bytes, 4 * 4096);
        by(vda.wr_reqs, 2);
        by(vda.wr_bytes, 2 * 4096);
        return *this;
    }
};

const Point* find(const DomainRates& r, const std::string& measurement) {
    auto it = std::find_if(r.points.begin(), r.points.end(),
                           [&](const Point& p) { return p.measurement == measurement; });
    return it == r.points.end() ? nullptr : &*it;
}

double field(const Point& p, const std::string& key) {
    for (const auto& [k, v] : p.fields) {
        if (k == key) {
            return std::get<double>(v);  // throws if a rate were not a float
        }
    }
    throw std::runtime_error("no field " + key + " in " + p.measurement);
}

std::vector<std::string> measurements(const DomainRates& r) {
    std::vector<std::string> out;
    for (const Point& p : r.points) {
        out.push_back(p.measurement);
    }
    return out;
}

struct Tracker {
    RateTracker rates{seconds(10)};
    DomainDevices dev = devices();
    DomainRates poll(const Domain& d, int n, double at) {
        return rates.update(d.s, dev, kHost, wall(n), mono(at));
    }
};

TEST(RateTracker, TheFirstSampleOfADomainGivesNoRate) {
    Tracker t;
    DomainRates r = t.poll(Domain(), 0, 0);
    EXPECT_TRUE(r.points.empty());
    EXPECT_TRUE(r.skipped.empty()) << "a first sample is no news";
    EXPECT_EQ(t.rates.tracked_domains(), 1u);
}

TEST(RateTracker, SteadyCountersGiveTheirPerSecondRatesEveryPoll) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    for (int n = 1; n <= 5; ++n) {
        DomainRates r = t.poll(d.advance(10), n, 10.0 * n);
        EXPECT_TRUE(r.skipped.empty());
        ASSERT_EQ(measurements(r),
                  (std::vector<std::string>{"cpuRate", "networkInterfaceRate", "diskRate"}))
            << "the CD-ROM gets no rate, as it gets no disk point";
        const Point& cpu = *find(r, "cpuRate");
        EXPECT_DOUBLE_EQ(field(cpu, "cpuPercent"), 25.0);
        EXPECT_DOUBLE_EQ(field(cpu, "interval"), 10.0);
        const Point& nic = *find(r, "networkInterfaceRate");
        EXPECT_DOUBLE_EQ(field(nic, "readBytesPerSecond"), 1000.0);
        EXPECT_DOUBLE_EQ(field(nic, "readPacketsPerSecond"), 10.0);
        EXPECT_DOUBLE_EQ(field(nic, "writeBytesPerSecond"), 2000.0);
        EXPECT_DOUBLE_EQ(field(nic, "writePacketsPerSecond"), 20.0);
        const Point& disk = *find(r, "diskRate");
        EXPECT_DOUBLE_EQ(field(disk, "readBytesPerSecond"), 16384.0);
        EXPECT_DOUBLE_EQ(field(disk, "readRequestsPerSecond"), 4.0);
        EXPECT_DOUBLE_EQ(field(disk, "writeBytesPerSecond"), 8192.0);
        EXPECT_DOUBLE_EQ(field(disk, "writeRequestsPerSecond"), 2.0);
        for (const Point& p : r.points) {
            EXPECT_EQ(p.time, wall(n));
        }
    }
}

TEST(RateTracker, RatePointsCarryTheTagsOfTheContractPointsTheyJoin) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    DomainRates r = t.poll(d.advance(10), 1, 10);
    DomainPoints contract = domain_points(d.s, t.dev, kHost, wall(1));
    auto tags_of = [](const std::vector<Point>& points, const std::string& measurement) {
        for (const Point& p : points) {
            if (p.measurement == measurement) {
                return p.tags;
            }
        }
        throw std::runtime_error("no " + measurement);
    };
    EXPECT_EQ(tags_of(r.points, "cpuRate"), tags_of(contract.points, "cpuTime"));
    EXPECT_EQ(tags_of(r.points, "networkInterfaceRate"),
              tags_of(contract.points, "networkInterface"));
    EXPECT_EQ(tags_of(r.points, "diskRate"), tags_of(contract.points, "disk"));
}

TEST(RateTracker, FieldsAreInAlphabeticalOrderAndAllFloats) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    for (const Point& p : t.poll(d, 1, 10).points) {  // nothing moved: every rate is 0
        EXPECT_TRUE(std::is_sorted(p.fields.begin(), p.fields.end(),
                                   [](const auto& a, const auto& b) { return a.first < b.first; }))
            << p.measurement;
        for (const auto& [key, value] : p.fields) {
            EXPECT_TRUE(std::holds_alternative<double>(value)) << p.measurement << " " << key;
        }
    }
}

TEST(RateTracker, TheIntervalIsTheMonotonicTimeBetweenCollectionsNotTheTimestamps) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0.9);  // a poll that started on time but read its statistics late
    d.advance(9.6);
    DomainRates r = t.poll(d, 1, 10.5);  // the timestamps say 10 s; 9.6 s went by
    const Point& nic = *find(r, "networkInterfaceRate");
    EXPECT_DOUBLE_EQ(field(nic, "interval"), 9.6);
    EXPECT_NEAR(field(nic, "readBytesPerSecond"), 1000.0, 1e-9);
    EXPECT_NEAR(field(*find(r, "cpuRate"), "cpuPercent"), 25.0, 1e-9);
}

TEST(RateTracker, CpuPercentIsOfAllAllocatedVcpus) {
    Tracker t;
    Domain d;
    d.s.vcpus = 4;
    t.poll(d, 0, 0);
    *d.s.cpu_time_ns += 30'000'000'000ULL;  // 3 vCPU-seconds per second over 10 s
    DomainRates r = t.poll(d, 1, 10);
    EXPECT_DOUBLE_EQ(field(*find(r, "cpuRate"), "cpuPercent"), 75.0);
}

TEST(RateTracker, APausedDomainShowsZeroCpu) {
    Tracker t;
    Domain d;
    d.s.state = VIR_DOMAIN_PAUSED;
    t.poll(d, 0, 0);
    DomainRates r = t.poll(d, 1, 10);
    ASSERT_NE(find(r, "cpuRate"), nullptr);
    EXPECT_EQ(field(*find(r, "cpuRate"), "cpuPercent"), 0.0);
    EXPECT_EQ(field(*find(r, "diskRate"), "readBytesPerSecond"), 0.0);
}

TEST(RateTracker, WithoutAVcpuCountThereIsNoCpuRate) {
    Tracker t;
    Domain d;
    d.s.vcpus.reset();
    t.poll(d, 0, 0);
    DomainRates r = t.poll(d.advance(10), 1, 10);
    EXPECT_EQ(find(r, "cpuRate"), nullptr);
    EXPECT_NE(find(r, "diskRate"), nullptr);
}

TEST(RateTracker, ARestartedDomainGivesNoRateThenStartsFromItsNewCounters) {
    Tracker t;
    Domain before;
    for (int i = 0; i < 100; ++i) {
        before.advance(10);  // it ran a while: big counters
    }
    t.poll(before, 0, 0);
    Domain after;  // restarted: a new id and counters from a fresh start
    after.s.id = 8;
    DomainRates r = t.poll(after, 1, 10);
    EXPECT_TRUE(r.points.empty());
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_THAT(r.skipped[0], HasSubstr("restarted"));
    r = t.poll(after.advance(10), 2, 20);
    EXPECT_EQ(r.points.size(), 3u);
    EXPECT_DOUBLE_EQ(field(*find(r, "diskRate"), "readRequestsPerSecond"), 4.0);
}

TEST(RateTracker, ARestartWhoseCountersOvertookTheOldOnesStillGivesNoRate) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    d.s.id = 8;
    for (int i = 0; i < 3; ++i) {
        d.advance(10);  // every counter is higher than before: only the id tells
    }
    EXPECT_TRUE(t.poll(d, 1, 10).points.empty());
}

TEST(RateTracker, ACounterThatWentDownSkipsThatDeviceAndBecomesItsBase) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    d.advance(10);
    *d.s.blocks[0].rd_bytes = 4096;  // reset (QEMU's block stats after a drive reopen)
    DomainRates r = t.poll(d, 1, 10);
    EXPECT_EQ(measurements(r), (std::vector<std::string>{"cpuRate", "networkInterfaceRate"}));
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_THAT(r.skipped[0], HasSubstr("disk vda: rd.bytes went down"));
    r = t.poll(d.advance(10), 2, 20);
    EXPECT_DOUBLE_EQ(field(*find(r, "diskRate"), "readBytesPerSecond"), 16384.0);
}

TEST(RateTracker, ACounterThatWrappedAt2To64GivesNoRate) {
    Tracker t;
    Domain d;
    d.s.nets[0].rx_bytes = kMax - 5000;
    t.poll(d, 0, 0);
    d.advance(10);  // 10 000 bytes later: 4 999 past the wrap
    ASSERT_EQ(*d.s.nets[0].rx_bytes, 4999u);
    DomainRates r = t.poll(d, 1, 10);
    EXPECT_EQ(find(r, "networkInterfaceRate"), nullptr);
    EXPECT_NE(find(r, "cpuRate"), nullptr);
    EXPECT_NE(find(r, "diskRate"), nullptr);
    r = t.poll(d.advance(10), 2, 20);
    EXPECT_DOUBLE_EQ(field(*find(r, "networkInterfaceRate"), "readBytesPerSecond"), 1000.0);
}

TEST(RateTracker, AThirtyTwoBitGuestCounterThatWrappedGivesNoRate) {
    Tracker t;
    Domain d;
    d.s.nets[0].tx_pkts = 4'294'967'200ULL;  // 96 below 2^32
    t.poll(d, 0, 0);
    d.advance(10);  // +200: the guest's 32-bit counter shows 104
    *d.s.nets[0].tx_pkts -= 1ULL << 32;
    DomainRates r = t.poll(d, 1, 10);
    EXPECT_EQ(find(r, "networkInterfaceRate"), nullptr) << "not 2^32 packets per second";
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_THAT(r.skipped[0], HasSubstr("tx.pkts went down from 4294967200 to 104"));
}

TEST(RateTracker, ACounterJumpingByMoreThanHalfTheRangeGivesNoRate) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    d.advance(10);
    d.s.blocks[0].wr_bytes = kMax;  // -1 read as unsigned
    DomainRates r = t.poll(d, 1, 10);
    EXPECT_EQ(find(r, "diskRate"), nullptr);
    EXPECT_THAT(r.skipped.at(0), HasSubstr("wr.bytes jumped"));
}

TEST(RateTracker, NoRateIsEverNegativeOrHugeWhateverTheCounters) {
    // Pairs of counter values around every edge; each rate is either skipped or in range.
    const std::uint64_t values[] = {
        0, 1, 4096, (1ULL << 32) - 1, 1ULL << 32, 1ULL << 62, (1ULL << 63) + 1, kMax - 1, kMax};
    for (std::uint64_t a : values) {
        for (std::uint64_t b : values) {
            Tracker t;
            Domain d;
            d.s.nets[0].rx_bytes = a;
            t.poll(d, 0, 0);
            d.s.nets[0].rx_bytes = b;
            DomainRates r = t.poll(d, 1, 10);
            if (const Point* nic = find(r, "networkInterfaceRate")) {
                double rate = field(*nic, "readBytesPerSecond");
                EXPECT_GE(rate, 0.0) << a << " -> " << b;
                EXPECT_LE(rate, static_cast<double>(1ULL << 63) / 10.0) << a << " -> " << b;
                EXPECT_GE(b, a);
            }
        }
    }
}

TEST(RateTracker, AnUnpluggedAndReplugedNicStartsFromItsNewCounters) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    Domain unplugged = d;
    unplugged.advance(10);
    unplugged.s.nets.clear();
    DomainRates r = t.poll(unplugged, 1, 10);
    EXPECT_EQ(find(r, "networkInterfaceRate"), nullptr);
    EXPECT_NE(find(r, "cpuRate"), nullptr);

    Domain replugged = unplugged.advance(10);
    NetStats fresh;  // same name, same MAC, counters from 0: fewer than before the unplug
    fresh.name = "vnet9";
    fresh.rx_bytes = fresh.rx_pkts = fresh.tx_bytes = fresh.tx_pkts = 0;
    replugged.s.nets.push_back(fresh);
    r = t.poll(replugged, 2, 20);
    EXPECT_EQ(find(r, "networkInterfaceRate"), nullptr) << "its base went with the unplug";
    EXPECT_TRUE(r.skipped.empty()) << "a device seen anew is a first sample, not a reset";

    r = t.poll(replugged.advance(10), 3, 30);
    EXPECT_DOUBLE_EQ(field(*find(r, "networkInterfaceRate"), "writePacketsPerSecond"), 20.0);
}

TEST(RateTracker, ANicReplugedWithAnotherMacIsANewDevice) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    t.dev.nics[0].mac = "06:f2:64:00:01:43";
    DomainRates r = t.poll(d.advance(10), 1, 10);
    EXPECT_EQ(find(r, "networkInterfaceRate"), nullptr);
    r = t.poll(d.advance(10), 2, 20);
    ASSERT_NE(find(r, "networkInterfaceRate"), nullptr);
    EXPECT_EQ(find(r, "networkInterfaceRate")->tags[0].second, "06:f2:64:00:01:43");
}

TEST(RateTracker, ADiskWithANewSourceIsANewDevice) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    const std::string moved = "/mnt/7e7a1b52-3c2f-4a51-9d40-2f6a0c1d0b02/cc8121ef-moved";
    d.s.blocks[0].path = moved;
    t.dev.disks[0].source = moved;
    EXPECT_EQ(find(t.poll(d.advance(10), 1, 10), "diskRate"), nullptr);
    EXPECT_NE(find(t.poll(d.advance(10), 2, 20), "diskRate"), nullptr);
}

TEST(RateTracker, AMissedPollGivesNoRateForTheLongInterval) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    d.advance(20);
    DomainRates r = t.poll(d, 2, 20);  // poll 1 did not happen
    EXPECT_TRUE(r.points.empty());
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_THAT(r.skipped[0], HasSubstr("20.000 s since its previous sample, outside "
                                        "5.000-15.000 s"));
    r = t.poll(d.advance(10), 3, 30);
    EXPECT_EQ(r.points.size(), 3u);
}

TEST(RateTracker, IntervalsWithinHalfAPauseEitherWayGiveRates) {
    Tracker t;
    Domain d;
    t.poll(d, 0, 0);
    EXPECT_EQ(t.poll(d.advance(5), 1, 5).points.size(), 3u);
    EXPECT_EQ(t.poll(d.advance(15), 2, 20).points.size(), 3u);
    EXPECT_TRUE(t.poll(d.advance(4.9), 3, 24.9).points.empty());
    EXPECT_TRUE(t.poll(d.advance(15.1), 4, 40).points.empty());
}

TEST(RateTracker, CountersMissingFromASampleAreLeftOut) {
    Tracker t;
    Domain d;
    d.s.blocks[0].wr_reqs.reset();
    t.poll(d, 0, 0);
    d.advance(10);
    d.s.nets[0] = NetStats{"vnet9", {}, {}, {}, {}, {}, {}, {}, {}};
    DomainRates r = t.poll(d, 1, 10);
    EXPECT_EQ(find(r, "networkInterfaceRate"), nullptr) << "a point of `interval` alone";
    const Point& disk = *find(r, "diskRate");
    std::vector<std::string> keys;
    for (const auto& f : disk.fields) {
        keys.push_back(f.first);
    }
    EXPECT_EQ(keys, (std::vector<std::string>{"interval", "readBytesPerSecond",
                                              "readRequestsPerSecond", "writeBytesPerSecond"}));
}

TEST(RateTracker, DevicesTheXmlLacksGetNoRate) {
    Tracker t;
    Domain d;
    d.s.nets.push_back(d.s.nets[0]);
    d.s.nets[1].name = "vnet10";  // hot-plugged, not in the cached XML yet
    t.poll(d, 0, 0);
    DomainRates r = t.poll(d.advance(10), 1, 10);
    EXPECT_EQ(std::count_if(r.points.begin(), r.points.end(),
                            [](const Point& p) { return p.measurement == "networkInterfaceRate"; }),
              1);
}

TEST(RateTracker, DomainsNotSeenForLongerThanTheLongestIntervalAreForgotten) {
    Tracker t;
    Domain staying, leaving;
    leaving.s.uuid = "0f0e6a40-5b7d-4c55-8d39-7d2a4a0e1f21";
    leaving.s.name = "i-2-18-VM";
    t.poll(staying, 0, 0);
    t.poll(leaving, 0, 0);
    t.rates.forget_stale(mono(0));
    EXPECT_EQ(t.rates.tracked_domains(), 2u);
    t.poll(staying.advance(10), 1, 10);
    t.rates.forget_stale(mono(10));
    EXPECT_EQ(t.rates.tracked_domains(), 2u) << "gone for one poll: could still come back";
    t.poll(staying.advance(10), 2, 20);
    t.rates.forget_stale(mono(20));
    EXPECT_EQ(t.rates.tracked_domains(), 1u);
    EXPECT_TRUE(t.poll(leaving, 3, 30).points.empty()) << "back after a while: a first sample";
}

TEST(RateTracker, ManyDomainsComingAndGoingLeaveNoState) {
    Tracker t;
    for (int n = 0; n < 1000; ++n) {
        Domain d;
        d.s.uuid = "uuid-" + std::to_string(n);
        t.poll(d, n, 10.0 * n);
        t.rates.forget_stale(mono(10.0 * n));
    }
    EXPECT_LE(t.rates.tracked_domains(), 2u);
}

}  // namespace
}  // namespace pulse
