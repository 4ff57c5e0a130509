// The CloudStack volume-id map: matching, failed refreshes, early refreshes for new disks, and a
// lookup that never waits for a listing in progress.
#include "pulse/sensor/volume_ids.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "pulse/ops/self_metrics.hpp"

namespace pulse {
namespace {

using namespace std::chrono;
using ::testing::HasSubstr;

// A CloudStack stand-in whose answer the test sets, counting the listings.
struct FakeCloud {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<CloudStackVolume> volumes;
    bool fail = false;
    int listings = 0;

    VolumeLister lister() {
        return [this] {
            std::lock_guard lock(mutex);
            ++listings;
            changed.notify_all();
            if (fail) {
                throw CloudStackError("listVolumes at http://cs/client/api: HTTP 401: denied");
            }
            return volumes;
        };
    }
    // Waits (at most 10 s) until at least `n` listings happened.
    bool wait_for(int n) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, seconds(10), [&] { return listings >= n; });
    }
};

Point disk(std::string measurement, std::string image) {
    Point p;
    p.measurement = std::move(measurement);
    p.tag("image", std::move(image)).tag("pool", "pool-1").tag("vmId", "i-2-17-VM");
    return p;
}

std::string image_of(const Point& p) {
    for (const auto& [key, value] : p.tags) {
        if (key == "image") {
            return value;
        }
    }
    return {};
}

TEST(VolumeIds, BeforeAnyRefreshEveryDiskKeepsItsFileName) {
    FakeCloud cloud;
    VolumeIds ids(cloud.lister(), {}, "http://cs/client/api", {});
    EXPECT_FALSE(ids.lookup("file-1"));
    std::vector<Point> points{disk("disk", "file-1")};
    ids.apply(points);
    EXPECT_EQ(image_of(points[0]), "file-1");
}

TEST(VolumeIds, DiskAndDiskRatePointsGetTheVolumeIdOfTheirPath) {
    FakeCloud cloud;
    cloud.volumes = {{"vol-1", "file-1"}, {"vol-2", "file-2"}};
    VolumeIds ids(cloud.lister(), {}, "http://cs/client/api", {});
    ASSERT_TRUE(ids.refresh());
    EXPECT_EQ(ids.size(), 2U);
    Point cpu;
    cpu.measurement = "cpuTime";
    cpu.tag("image", "file-1");  // not a disk point: left alone
    std::vector<Point> points{disk("disk", "file-1"), disk("diskRate", "file-2"),
                              disk("disk", "file-3"), cpu};
    ids.apply(points);
    EXPECT_EQ(image_of(points[0]), "vol-1");
    EXPECT_EQ(image_of(points[1]), "vol-2");
    EXPECT_EQ(image_of(points[2]), "file-3") << "unknown paths keep the file name";
    EXPECT_EQ(image_of(points[3]), "file-1");
}

TEST(VolumeIds, AVolumePathIsMatchedByItsLastComponent) {
    FakeCloud cloud;
    cloud.volumes = {{"vol-1", "/mnt/pool/file-1"}, {"vol-2", "file-2"}, {"", "file-3"}};
    VolumeIds ids(cloud.lister(), {}, "cs", {});
    ASSERT_TRUE(ids.refresh());
    EXPECT_EQ(ids.lookup("file-1"), "vol-1");
    EXPECT_EQ(ids.lookup("file-2"), "vol-2");
    EXPECT_FALSE(ids.lookup("file-3")) << "a volume without an id maps nothing";
}

TEST(VolumeIds, AFailedRefreshKeepsThePreviousMapAndCountsInTheMetrics) {
    FakeCloud cloud;
    cloud.volumes = {{"vol-1", "file-1"}};
    Metrics metrics;
    VolumeIds ids(cloud.lister(), {}, "cs", {.metrics = &metrics});
    ASSERT_TRUE(ids.refresh());
    cloud.fail = true;
    EXPECT_FALSE(ids.refresh());
    EXPECT_EQ(ids.lookup("file-1"), "vol-1");
    const std::string text = metrics.render();
    EXPECT_THAT(text, HasSubstr("pulse_cloudstack_volumes 1\n"));
    EXPECT_THAT(text, HasSubstr("pulse_cloudstack_refreshes_total 2\n"));
    EXPECT_THAT(text, HasSubstr("pulse_cloudstack_refresh_failures_total 1\n"));
    EXPECT_THAT(text, HasSubstr("pulse_cloudstack_last_refresh_success_timestamp_seconds "));
}

TEST(VolumeIds, MetricsHaveNoCloudStackFamiliesWithoutIt) {
    Metrics metrics;
    EXPECT_THAT(metrics.render(), ::testing::Not(HasSubstr("cloudstack")));
}

TEST(VolumeIds, TheThreadRefreshesAtOnceAndThenEveryInterval) {
    FakeCloud cloud;
    cloud.volumes = {{"vol-1", "file-1"}};
    VolumeIds ids(cloud.lister(), {}, "cs", {.interval = seconds(1)});
    ids.start();
    ASSERT_TRUE(cloud.wait_for(1));
    ASSERT_TRUE(cloud.wait_for(2));
    EXPECT_EQ(ids.lookup("file-1"), "vol-1");
    ids.stop();
}

TEST(VolumeIds, ANewPathAsksForAnEarlyRefreshOnceAndAKnownMissOnlyWaitsForTheInterval) {
    FakeCloud cloud;
    cloud.volumes = {{"vol-1", "file-1"}};
    VolumeIds ids(cloud.lister(), {}, "cs",
                  {.interval = seconds(600), .early_refresh_gap = seconds(0)});
    ids.start();
    ASSERT_TRUE(cloud.wait_for(1));
    for (int i = 0; i < 1000 && !ids.loaded(); ++i) {
        std::this_thread::sleep_for(milliseconds(5));
    }
    {
        std::lock_guard lock(cloud.mutex);
        cloud.volumes.push_back({"vol-2", "file-2"});
    }
    EXPECT_FALSE(ids.lookup("file-2")) << "a poll never waits for the listing";
    ASSERT_TRUE(cloud.wait_for(2)) << "a new path asks for a refresh";
    for (int i = 0; i < 1000 && !ids.lookup("file-2"); ++i) {
        std::this_thread::sleep_for(milliseconds(5));
    }
    EXPECT_EQ(ids.lookup("file-2"), "vol-2");
    // A path that the listing does not have: one early refresh, then no more.
    EXPECT_FALSE(ids.lookup("not-in-cloudstack"));
    ASSERT_TRUE(cloud.wait_for(3));
    std::this_thread::sleep_for(milliseconds(300));
    EXPECT_FALSE(ids.lookup("not-in-cloudstack"));
    std::this_thread::sleep_for(milliseconds(300));
    std::lock_guard lock(cloud.mutex);
    EXPECT_EQ(cloud.listings, 3);
    ids.stop();
}

TEST(VolumeIds, EarlyRefreshesWaitForTheGapSinceTheLastOne) {
    FakeCloud cloud;
    VolumeIds ids(cloud.lister(), {}, "cs",
                  {.interval = seconds(600), .early_refresh_gap = seconds(2)});
    ids.start();
    ASSERT_TRUE(cloud.wait_for(1));
    for (int i = 0; i < 1000 && !ids.loaded(); ++i) {
        std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_TRUE(ids.loaded());
    const auto asked = steady_clock::now();
    ids.lookup("new-path");
    ASSERT_TRUE(cloud.wait_for(2));
    EXPECT_GE(steady_clock::now() - asked, milliseconds(1500));
    ids.stop();
}

TEST(VolumeIds, ALookupNeverWaitsForAListingInProgressAndStopInterruptsIt) {
    std::mutex mutex;
    std::condition_variable cv;
    bool listing = false;
    bool aborted = false;
    VolumeIds ids(
        [&]() -> std::vector<CloudStackVolume> {
            std::unique_lock lock(mutex);
            listing = true;
            cv.notify_all();
            cv.wait_for(lock, seconds(30), [&] { return aborted; });
            throw CloudStackError("aborted");
        },
        [&] {
            std::lock_guard lock(mutex);
            aborted = true;
            cv.notify_all();
        },
        "cs", {});
    ids.start();
    {
        std::unique_lock lock(mutex);
        ASSERT_TRUE(cv.wait_for(lock, seconds(10), [&] { return listing; }));
    }
    const auto before = steady_clock::now();
    EXPECT_FALSE(ids.lookup("file-1"));
    EXPECT_LT(steady_clock::now() - before, milliseconds(100));
    ids.stop();
    EXPECT_LT(steady_clock::now() - before, seconds(5));
}

}  // namespace
}  // namespace pulse
