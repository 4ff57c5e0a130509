// Fleet mode; see fleet.hpp.
#include "pulse/fleet/fleet.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include "pulse/base/log_once.hpp"
#include "pulse/base/uri.hpp"
#include "pulse/config/settings.hpp"

namespace pulse {
namespace {

constexpr auto kPollEvery = std::chrono::milliseconds(200);
constexpr auto kRetryEvery = std::chrono::seconds(5);
constexpr auto kMetadataTimeout = std::chrono::seconds(5);

std::string spell(const std::vector<std::int32_t>& partitions) {
    return spell_partitions(std::set<int>(partitions.begin(), partitions.end()));
}

std::string this_host() {
    char name[HOST_NAME_MAX + 1] = "";
    if (gethostname(name, sizeof name) != 0) {
        return "unknown";
    }
    name[HOST_NAME_MAX] = '\0';
    return name;
}

}  // namespace

std::string spell_partitions(const std::set<int>& partitions) {
    std::vector<std::string> runs;
    for (auto it = partitions.begin(); it != partitions.end();) {
        const int first = *it;
        int last = first;
        while (++it != partitions.end() && *it == last + 1) {
            last = *it;
        }
        runs.push_back(first == last ? std::to_string(first) : fmt::format("{}-{}", first, last));
    }
    return runs.empty() ? "none" : fmt::format("{}", fmt::join(runs, ","));
}

std::string spell_hosts(const std::set<std::string>& uris) {
    std::vector<std::string> out;
    for (const std::string& uri : uris) {
        out.push_back(uri_without_password(uri));
    }
    return out.empty() ? "none" : fmt::format("{}", fmt::join(out, ", "));
}

int fleet_partition_of(const std::string& uri, int partitions) {
    return kafka_partition_of(uri_without_password(uri), partitions);
}

std::set<std::string> fleet_hosts_of(const std::vector<HostConfig>& hosts,
                                     const std::set<int>& held, int partitions) {
    std::set<std::string> uris;
    if (partitions <= 0) {
        return uris;
    }
    for (const HostConfig& host : hosts) {
        if (held.contains(fleet_partition_of(host.uri, partitions))) {
            uris.insert(host.uri);
        }
    }
    return uris;
}

GroupSettings fleet_group_settings(const Config& config) {
    return GroupSettings{
        .bootstrap_servers = config.bootstrap_servers(),
        .properties = config.kafka_properties,
        .group = config.fleet.group,
        .topic = config.fleet.topic,
        .create_partitions = config.fleet.partitions,
        .session_timeout = config.fleet.session_timeout,
        .client_id = fmt::format("pulse-sensor@{}:{}", this_host(), getpid()),
    };
}

Fleet::Fleet(const Config& config, Metrics& metrics, RunOnly run_only)
    : hosts_(config.hosts),
      config_(config.fleet),
      metrics_(metrics),
      run_only_(std::move(run_only)),
      member_(std::make_unique<GroupMember>(fleet_group_settings(config),
                                            [this](const GroupChange& c) { changed(c); })) {
    std::lock_guard lock(mutex_);
    publish();
}

Fleet::~Fleet() {
    stop();
}

void Fleet::start() {
    thread_ = std::thread([this] { run(); });
}

void Fleet::stop() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

std::string Fleet::fatal_error() {
    std::lock_guard lock(mutex_);
    return fatal_;
}

bool Fleet::sleep_for(std::chrono::milliseconds duration) {
    std::unique_lock lock(mutex_);
    return wake_.wait_for(lock, duration, [this] { return stop_; });
}

void Fleet::run() {
    LogLimiter limiter(std::chrono::minutes(1));
    int partitions = 0;
    while (partitions == 0) {
        try {
            partitions = member_->prepare_topic(kMetadataTimeout);
        } catch (const GroupError& e) {
            if (auto count = limiter.due("topic")) {
                spdlog::warn(
                    "fleet: {} (attempt {}, again every {} s); polling no hypervisor "
                    "until then",
                    e.what(), *count, kRetryEvery.count());
            }
            if (sleep_for(kRetryEvery)) {
                return;
            }
        }
    }
    if (partitions != config_.partitions) {
        spdlog::info(
            "fleet: topic {} has {} partitions (FLEET_PARTITIONS {} applies only to a "
            "topic the sensor creates)",
            config_.topic, partitions, config_.partitions);
    }
    {
        std::lock_guard lock(mutex_);
        partitions_ = partitions;
        publish();
    }
    spdlog::info("fleet: joining group {} on topic {} ({} partitions), session timeout {} s",
                 config_.group, config_.topic, partitions, config_.session_timeout.count());
    member_->subscribe();
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (stop_) {
                break;
            }
        }
        std::string error = member_->poll(kPollEvery);
        if (member_->session_timeout_refused()) {
            std::lock_guard lock(mutex_);
            fatal_ = fmt::format(
                "invalid {} '{}': the broker refuses it (outside its group.min.session.timeout.ms "
                "and group.max.session.timeout.ms, 6 and 1800 s by default)",
                setting_name(sensor_setting("FLEET_SESSION_TIMEOUT")),
                config_.session_timeout.count());
            break;
        }
        if (!error.empty()) {
            if (auto count = limiter.due("group")) {
                spdlog::warn("fleet: group {}: {} ({} so far)", config_.group, error, *count);
            }
        }
    }
    // Revokes everything held (the listener stops the polls) and leaves the group, so that
    // the others take over at once rather than after the session timeout.
    member_->close();
    {
        std::lock_guard lock(mutex_);
        member_now_ = false;
        publish();
    }
}

void Fleet::changed(const GroupChange& change) {
    std::set<std::string> poll;
    std::set<int> held;
    int partitions = 0;
    {
        std::lock_guard lock(mutex_);
        if (change.kind == GroupChange::Kind::assigned) {
            held_.insert(change.partitions.begin(), change.partitions.end());
        } else {
            for (std::int32_t p : change.partitions) {
                held_.erase(p);
            }
        }
        partitions = partitions_;
        held = held_;
    }
    if (change.kind == GroupChange::Kind::assigned) {
        // Every member reads the count again at each rebalance: partitions added to the topic
        // trigger one, and all must map hypervisors alike afterwards.
        if (int now = member_->partition_count(kMetadataTimeout); now > 0 && now != partitions) {
            spdlog::warn(
                "fleet: topic {} now has {} partitions (was {}): hypervisors are "
                "mapped anew",
                config_.topic, now, partitions);
            partitions = now;
        }
    }
    if (change.kind == GroupChange::Kind::lost) {
        std::lock_guard lock(mutex_);
        ++changes_;
        member_now_ = false;
        spdlog::warn(
            "fleet: lost partitions {} of group {}: no heartbeat answered within "
            "FLEET_SESSION_TIMEOUT ({} s), the group may have given them to another "
            "sensor; polling {} on until the group answers again",
            spell(change.partitions), config_.group, config_.session_timeout.count(),
            spell_hosts(polled_));
        publish();
        return;
    }
    poll = fleet_hosts_of(hosts_, held, partitions);
    run_only_(poll);
    std::lock_guard lock(mutex_);
    std::vector<std::string> started;
    std::vector<std::string> stopped;
    for (const std::string& uri : poll) {
        if (!polled_.contains(uri)) {
            started.push_back(uri_without_password(uri));
        }
    }
    for (const std::string& uri : polled_) {
        if (!poll.contains(uri)) {
            stopped.push_back(uri_without_password(uri));
        }
    }
    const bool assigned = change.kind == GroupChange::Kind::assigned;
    // A rebalance that gave this sensor nothing new is worth a line only when debugging.
    const auto level = change.partitions.empty() && started.empty() && stopped.empty()
                           ? spdlog::level::debug
                           : spdlog::level::info;
    spdlog::log(level,
                "fleet: {} partitions {}, holding {} of {}; polling {} of {} hypervisors{}{}",
                assigned ? "given" : "gave up", spell(change.partitions), spell_partitions(held),
                partitions, poll.size(), hosts_.size(),
                started.empty() ? "" : fmt::format(", started {}", fmt::join(started, ", ")),
                stopped.empty() ? "" : fmt::format(", stopped {}", fmt::join(stopped, ", ")));
    spdlog::debug("fleet: member {} of group {} polls {}", member_->member_id(), config_.group,
                  spell_hosts(poll));
    polled_ = std::move(poll);
    partitions_ = partitions;
    if (assigned) {
        member_now_ = true;
    }
    ++changes_;
    publish();
}

void Fleet::publish() {
    FleetSnapshot s;
    s.enabled = true;
    s.group = config_.group;
    s.topic = config_.topic;
    s.member_id = member_now_ ? member_->member_id() : std::string();
    s.member = member_now_;
    s.partitions = partitions_;
    s.held.assign(held_.begin(), held_.end());
    s.changes = changes_;
    for (const HostConfig& host : hosts_) {
        s.hosts.push_back({uri_without_password(host.uri),
                           partitions_ > 0 ? fleet_partition_of(host.uri, partitions_) : -1,
                           polled_.contains(host.uri)});
    }
    metrics_.update_fleet(std::move(s));
}

}  // namespace pulse
