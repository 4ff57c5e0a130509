// CloudStack volume ids for the disk points' `image` tag (CS_ENDPOINT).
//
// The CloudStack pulse server and UI ask for a disk by its volume id. A volume's file is named
// after its id when it is created, but not after a storage migration or a restore, so the file
// name alone leaves those disks' charts empty. This keeps a map from a volume's path (as
// listVolumes reports it) to its id, loaded by a thread of its own every
// VOLUMES_UPDATE_INTERVAL, and rewrites `image` on the poll's points from that map.
//
// Matching, as the old sensor did: the disk's `image` tag (the last component of its source:
// the file name, the LV name, the RBD image name) is compared with the last '/'-component of
// each volume's `path` (which for CloudStack's KVM volumes is that same name).
//
// A poll never waits for CloudStack: a path the map lacks keeps its file name. Such a path asks
// the thread for an early refresh (at most one every early_refresh_gap) until a refresh that
// began after the path was first met has missed it too; from then on it waits for the regular
// refreshes, and it is logged, once. So a new disk gets its id within seconds, and a disk that
// CloudStack does not manage costs one extra listing, not one every few seconds. A failed refresh
// keeps the previous map, is logged once per distinct error, and is retried after retry_after (or
// the interval, if shorter).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "pulse/cloudstack/api.hpp"
#include "pulse/points/point.hpp"

namespace pulse {

class Metrics;

struct VolumeIdsOptions {
    std::chrono::seconds interval{600};  // VOLUMES_UPDATE_INTERVAL
    std::chrono::seconds early_refresh_gap{10};
    std::chrono::seconds retry_after{60};
    Metrics* metrics = nullptr;  // where each refresh is recorded, if anywhere
};

// Everything the account sees; throws (CloudStackError or any std::exception) on failure.
using VolumeLister = std::function<std::vector<CloudStackVolume>()>;

class VolumeIds {
  public:
    // `where` names the source in logs ("http://cs:8080/client/api"); `abort` (may be empty)
    // interrupts a listing in progress from another thread.
    VolumeIds(VolumeLister list, std::function<void()> abort, std::string where,
              VolumeIdsOptions options);
    ~VolumeIds();
    VolumeIds(const VolumeIds&) = delete;
    VolumeIds& operator=(const VolumeIds&) = delete;

    // Starts the refresh thread; its first refresh begins at once.
    void start();
    // Stops and joins it, interrupting a listing in progress.
    void stop();

    // One refresh on the caller's thread (--once, tests). Returns whether it succeeded.
    bool refresh();

    // The volume id for a disk whose `image` tag is `image`; std::nullopt when the map lacks it.
    // Never blocks on CloudStack.
    std::optional<std::string> lookup(const std::string& image);

    // Sets `image` on every disk and diskRate point whose image the map knows.
    void apply(std::vector<Point>& points);

    std::size_t size() const;
    // Whether a refresh has succeeded yet.
    bool loaded() const;

  private:
    using Map = std::unordered_map<std::string, std::string>;
    using Clock = std::chrono::steady_clock;

    // A path a poll met that the map lacked.
    struct Unknown {
        Clock::time_point first_seen;
        // A refresh that began after first_seen did not list it either, and that was logged.
        bool checked = false;
    };

    void run();
    // One refresh whose listing began at `started`.
    bool refresh(Clock::time_point started);
    // After a successful refresh: paths met in polls that the new map still lacks.
    void check_unknown(const Map& map, Clock::time_point started);

    VolumeLister list_;
    std::function<void()> abort_;
    std::string where_;
    VolumeIdsOptions options_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::shared_ptr<const Map> map_;  // null until the first refresh succeeded
    std::unordered_map<std::string, Unknown> unknown_;
    bool early_wanted_ = false;
    bool stopping_ = false;
    std::string last_error_logged_;
    std::uint64_t failures_in_a_row_ = 0;
    // When the thread's first refresh counts as begun: start(), before any poll can run.
    Clock::time_point first_started_;
    Clock::time_point last_started_{};  // when the latest refresh began
    std::thread thread_;
};

}  // namespace pulse
