// The path -> volume id map and its refresh thread; see volume_ids.hpp.
#include "pulse/sensor/volume_ids.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "pulse/ops/self_metrics.hpp"

namespace pulse {
namespace {

std::string_view last_component(std::string_view path) {
    const auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

Timestamp now_utc() {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace

VolumeIds::VolumeIds(VolumeLister list, std::function<void()> abort, std::string where,
                     VolumeIdsOptions options)
    : list_(std::move(list)),
      abort_(std::move(abort)),
      where_(std::move(where)),
      options_(options) {
    if (options_.metrics != nullptr) {
        options_.metrics->enable_volume_ids();
    }
}

VolumeIds::~VolumeIds() {
    stop();
}

void VolumeIds::start() {
    first_started_ = Clock::now();
    thread_ = std::thread([this] { run(); });
}

void VolumeIds::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        if (abort_) {
            abort_();
        }
        thread_.join();
    }
}

bool VolumeIds::refresh() {
    return refresh(Clock::now());
}

bool VolumeIds::refresh(Clock::time_point started) {
    {
        std::lock_guard lock(mutex_);
        last_started_ = std::max(last_started_, started);
    }
    std::vector<CloudStackVolume> volumes;
    std::string error;
    try {
        volumes = list_();
    } catch (const std::exception& e) {
        error = e.what();
    }
    const Timestamp now = now_utc();
    std::lock_guard lock(mutex_);
    if (!error.empty()) {
        ++failures_in_a_row_;
        const std::size_t kept = map_ ? map_->size() : 0;
        if (options_.metrics != nullptr) {
            options_.metrics->record_volume_refresh(false, kept, now);
        }
        if (stopping_) {
            return false;  // the stop interrupted it: not CloudStack's fault
        }
        if (error != last_error_logged_) {
            spdlog::warn(
                "CloudStack volume ids: {}; {} (retrying in {} s)", error,
                map_ ? fmt::format("keeping the {} volumes of the last refresh", kept)
                     : std::string("disks keep their file names as image until a refresh works"),
                std::min(options_.retry_after, options_.interval).count());
            last_error_logged_ = error;
        } else {
            spdlog::debug("CloudStack volume ids: {} (again)", error);
        }
        return false;
    }
    auto map = std::make_shared<Map>();
    for (const CloudStackVolume& volume : volumes) {
        const std::string_view key = last_component(volume.path);
        if (key.empty() || volume.id.empty()) {
            continue;
        }
        // The same volume comes twice when it is listed in the account's scope and a
        // project's; two different ids for one path keep the first.
        map->emplace(std::string(key), volume.id);
    }
    if (!map_ || failures_in_a_row_ > 0) {
        spdlog::info("CloudStack volume ids: {} volumes from {}{}", map->size(), where_,
                     failures_in_a_row_ > 0
                         ? fmt::format(" (after {} failed refreshes)", failures_in_a_row_)
                         : std::string());
    } else {
        spdlog::debug("CloudStack volume ids: {} volumes from {}", map->size(), where_);
    }
    failures_in_a_row_ = 0;
    last_error_logged_.clear();
    if (options_.metrics != nullptr) {
        options_.metrics->record_volume_refresh(true, map->size(), now);
    }
    check_unknown(*map, started);
    map_ = std::move(map);
    return true;
}

void VolumeIds::check_unknown(const Map& map, Clock::time_point started) {
    for (auto it = unknown_.begin(); it != unknown_.end();) {
        if (auto found = map.find(it->first); found != map.end()) {
            // At start every disk comes here once: info would be a line per disk.
            spdlog::debug("CloudStack volume ids: disk {} is volume {}", it->first, found->second);
            it = unknown_.erase(it);
            continue;
        }
        if (!it->second.checked && it->second.first_seen <= started) {
            spdlog::info(
                "CloudStack volume ids: no volume of {} has the path {}; its disk keeps the file "
                "name as image",
                where_, it->first);
            it->second.checked = true;
        }
        ++it;
    }
}

std::optional<std::string> VolumeIds::lookup(const std::string& image) {
    std::lock_guard lock(mutex_);
    if (map_) {
        if (auto found = map_->find(image); found != map_->end()) {
            return found->second;
        }
    }
    // A new disk (a VM started, a volume attached or migrated) is worth an early refresh; one
    // that a later refresh missed too waits for the regular ones, or a VM that CloudStack does
    // not manage would have CloudStack listed every few seconds. While refreshes fail, the
    // thread is retrying on its own schedule already.
    auto entry = unknown_.try_emplace(image, Unknown{Clock::now()}).first;
    // A refresh that began after the path was first met (in progress, or done) covers it.
    if (map_ && failures_in_a_row_ == 0 && entry->second.first_seen > last_started_ &&
        !early_wanted_) {
        early_wanted_ = true;
        wake_.notify_all();
    }
    return std::nullopt;
}

void VolumeIds::apply(std::vector<Point>& points) {
    for (Point& point : points) {
        if (point.measurement != "disk" && point.measurement != "diskRate") {
            continue;
        }
        for (auto& [key, value] : point.tags) {
            if (key == "image") {
                if (auto id = lookup(value)) {
                    value = std::move(*id);
                }
                break;
            }
        }
    }
}

std::size_t VolumeIds::size() const {
    std::lock_guard lock(mutex_);
    return map_ ? map_->size() : 0;
}

bool VolumeIds::loaded() const {
    std::lock_guard lock(mutex_);
    return map_ != nullptr;
}

void VolumeIds::run() {
    for (bool first = true;; first = false) {
        const auto started = first ? first_started_ : Clock::now();
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                return;
            }
            early_wanted_ = false;
        }
        const bool ok = refresh(started);
        const auto next =
            started + (ok ? options_.interval : std::min(options_.retry_after, options_.interval));
        const auto early = started + options_.early_refresh_gap;
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            const auto deadline = early_wanted_ ? std::min(next, early) : next;
            if (Clock::now() >= deadline) {
                if (early_wanted_ && deadline < next) {
                    spdlog::debug("CloudStack volume ids: early refresh for a new disk");
                }
                break;
            }
            wake_.wait_until(lock, deadline);
        }
    }
}

}  // namespace pulse
