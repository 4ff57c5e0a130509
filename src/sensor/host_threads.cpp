// One thread per hypervisor; see host_threads.hpp.
//
// A thread holds shared ownership of its host and of the stop state, so that one left stuck in
// libvirt at exit never touches freed memory of those.
#include "pulse/sensor/host_threads.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "pulse/base/uri.hpp"
#include "pulse/sensor/schedule.hpp"

namespace pulse {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ticks(Clock::time_point t) {
    return t.time_since_epoch().count();
}

}  // namespace

struct HostThreads::Host {
    Host(const HostConfig& c, PointSink& out, HostMetrics* metrics_, VolumeIds* volumes)
        : config(c), metrics(metrics_), poller({c, metrics_, volumes}, out) {}

    HostConfig config;
    std::string label = uri_without_password(config.uri);  // for messages: no password
    HostMetrics* metrics;                                  // may be null
    Poller poller;
    PollClock clock{config.pause};  // the host's thread only
    // When the running poll started (steady clock ticks), 0 between polls: written by the
    // host's thread, read by report_stalls().
    std::atomic<std::int64_t> busy_since{0};
    std::int64_t stall_reported{0};  // the busy_since reported as stuck; main thread only
    bool stop = false;               // this host only (run_only); guarded by Shared::mutex
    bool finished = false;           // guarded by Shared::mutex
    std::thread thread;

    // The poll of the tick at `tick`.
    PollReport poll_now(Clock::time_point tick) {
        busy_since = ticks(Clock::now());
        PollReport report = poller.poll(clock.stamp(tick, std::chrono::system_clock::now()));
        busy_since = 0;
        return report;
    }
};

HostThreads::HostThreads(const std::vector<HostConfig>& hosts, PointSink& out, HostHooks hooks,
                         Metrics* metrics, VolumeIds* volumes)
    : hooks_(std::move(hooks)), configs_(hosts), out_(out), volumes_(volumes) {
    for (std::size_t i = 0; i < configs_.size(); ++i) {
        metrics_.push_back(metrics ? &metrics->add_host(configs_[i].uri) : nullptr);
        hosts_.push_back(make_host(i));
    }
}

std::shared_ptr<HostThreads::Host> HostThreads::make_host(std::size_t i) const {
    return std::make_shared<Host>(configs_[i], out_, metrics_[i], volumes_);
}

HostThreads::~HostThreads() {
    stop(std::chrono::hours(24 * 365));
}

void HostThreads::run(std::shared_ptr<Shared> shared, std::shared_ptr<Host> host, HostHooks hooks) {
    const auto now = Clock::now();
    FixedRateSchedule schedule(
        host->config.pause,
        host->config.wall_clock_ticks
            ? first_tick_on_wall_clock(host->config.pause, now, std::chrono::system_clock::now())
            : now);
    std::unique_lock lock(shared->mutex);
    while (!shared->stop && !host->stop) {
        if (Clock::now() < schedule.next_tick()) {
            // The first tick on the wall clock's grid is still ahead.
            shared->wake.wait_until(lock, schedule.next_tick(),
                                    [&] { return shared->stop || host->stop; });
            continue;
        }
        lock.unlock();
        const auto started = Clock::now();
        const auto skipped_before = schedule.missed_ticks();
        PollReport report = host->poll_now(schedule.due(started));
        if (hooks.polled) {
            hooks.polled(host->poller, report);
        }
        schedule.advance(Clock::now());
        if (schedule.missed_ticks() != skipped_before && host->metrics) {
            host->metrics->record_overrun(schedule.missed_ticks() - skipped_before);
        }
        if (schedule.missed_ticks() != skipped_before && hooks.overrun) {
            hooks.overrun(
                host->config, schedule.missed_ticks() - skipped_before,
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started));
        }
        lock.lock();
        shared->wake.wait_until(lock, schedule.next_tick(),
                                [&] { return shared->stop || host->stop; });
    }
    host->finished = true;
    shared->wake.notify_all();
}

void HostThreads::start() {
    std::lock_guard guard(hosts_mutex_);
    for (auto& host : hosts_) {
        host->thread = std::thread(run, shared_, host, hooks_);
    }
}

std::vector<std::string> HostThreads::retire(const std::vector<std::size_t>& which,
                                             std::chrono::milliseconds grace) {
    if (which.empty()) {
        return {};
    }
    std::unique_lock lock(shared_->mutex);
    for (std::size_t i : which) {
        hosts_[i]->stop = true;
    }
    shared_->wake.notify_all();
    shared_->wake.wait_until(lock, Clock::now() + grace, [&] {
        return std::all_of(which.begin(), which.end(),
                           [&](std::size_t i) { return hosts_[i]->finished; });
    });
    std::vector<std::size_t> finished;
    std::vector<std::string> stuck;
    for (std::size_t i : which) {
        if (hosts_[i]->finished) {
            finished.push_back(i);
        } else {
            stuck.push_back(hosts_[i]->label);
        }
    }
    lock.unlock();
    for (std::size_t i : which) {
        std::shared_ptr<Host> old = std::exchange(hosts_[i], make_host(i));
        if (std::find(finished.begin(), finished.end(), i) != finished.end()) {
            old->thread.join();
        } else {
            old->thread.detach();  // it holds its own reference to the Host
        }
    }
    return stuck;
}

HostThreads::Change HostThreads::run_only(const std::set<std::string>& uris,
                                          std::chrono::milliseconds grace) {
    std::lock_guard guard(hosts_mutex_);
    Change change;
    if (stopped_) {
        return change;
    }
    std::vector<std::size_t> leaving;
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
        if (!uris.contains(configs_[i].uri) && hosts_[i]->thread.joinable()) {
            leaving.push_back(i);
            change.stopped.push_back(hosts_[i]->label);
        }
    }
    change.stuck = retire(leaving, grace);
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
        if (uris.contains(configs_[i].uri) && !hosts_[i]->thread.joinable()) {
            hosts_[i]->thread = std::thread(run, shared_, hosts_[i], hooks_);
            change.started.push_back(hosts_[i]->label);
        }
    }
    return change;
}

OnceOutcome HostThreads::poll_once(std::chrono::milliseconds grace,
                                   const std::function<bool(Clock::time_point)>& sleep_until) {
    // Shared with the threads, which may outlive this call when a poll never returns.
    struct State {
        std::mutex mutex;
        std::vector<std::optional<PollReport>> reports;
    };
    auto state = std::make_shared<State>();
    state->reports.resize(hosts_.size());
    const auto started = Clock::now();
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
        threads.emplace_back([state, host = hosts_[i], hooks = hooks_, i, started] {
            PollReport report = host->poll_now(started);
            if (hooks.polled) {
                hooks.polled(host->poller, report);
            }
            std::lock_guard lock(state->mutex);
            state->reports[i] = report;
        });
    }
    auto deadline = [&](std::size_t i) { return started + hosts_[i]->config.pause + grace; };
    OnceOutcome outcome;
    for (;;) {
        // The earliest deadline of a poll still running; none left: all done or given up on.
        std::optional<Clock::time_point> wake;
        {
            std::lock_guard lock(state->mutex);
            const auto now = Clock::now();
            for (std::size_t i = 0; i < hosts_.size(); ++i) {
                if (!state->reports[i] && now < deadline(i)) {
                    wake = std::min(wake.value_or(deadline(i)), deadline(i));
                }
            }
        }
        if (!wake) {
            break;
        }
        // Threads have no way to interrupt the wait for signals: look at them every 50 ms.
        if (sleep_until(std::min(*wake, Clock::now() + std::chrono::milliseconds(50)))) {
            outcome.interrupted = true;
            break;
        }
    }
    std::lock_guard lock(state->mutex);
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
        if (state->reports[i]) {
            outcome.reports.push_back(*state->reports[i]);
            threads[i].join();
        } else {
            outcome.reports.emplace_back();
            outcome.unfinished.push_back(
                {hosts_[i]->label, std::chrono::duration_cast<std::chrono::seconds>(
                                       hosts_[i]->config.pause + grace)});
            threads[i].detach();
        }
    }
    return outcome;
}

void HostThreads::report_stalls() {
    // Busy means a run_only() waiting for a handed-over host's poll: the main thread, which
    // also serves the outputs, does not wait for it; the next call looks again.
    std::unique_lock guard(hosts_mutex_, std::try_to_lock);
    if (!guard) {
        return;
    }
    const auto now = Clock::now();
    for (auto& host : hosts_) {
        const std::int64_t since = host->busy_since;
        if (host->stall_reported != 0 && since != host->stall_reported) {
            const auto stuck = now - Clock::time_point(Clock::duration(host->stall_reported));
            spdlog::info("{}: the stuck poll returned after about {} s", host->label,
                         std::chrono::duration_cast<std::chrono::seconds>(stuck).count());
            host->stall_reported = 0;
        }
        if (since == 0 || since == host->stall_reported) {
            continue;
        }
        const auto running = now - Clock::time_point(Clock::duration(since));
        if (running > host->config.pause) {
            spdlog::warn(
                "{}: no answer for {} s (a poll or connection attempt is still running); its "
                "ticks are skipped until it returns, the other hypervisors are polled as usual",
                host->label, std::chrono::duration_cast<std::chrono::seconds>(running).count());
            host->stall_reported = since;
        }
    }
}

std::vector<std::string> HostThreads::stop(std::chrono::milliseconds grace) {
    std::lock_guard guard(hosts_mutex_);
    stopped_ = true;
    std::unique_lock lock(shared_->mutex);
    shared_->stop = true;
    shared_->wake.notify_all();
    const auto deadline = Clock::now() + grace;
    auto all_finished = [&] {
        for (const auto& host : hosts_) {
            if (host->thread.joinable() && !host->finished) {
                return false;
            }
        }
        return true;
    };
    shared_->wake.wait_until(lock, deadline, all_finished);
    std::vector<std::string> stuck;
    for (auto& host : hosts_) {
        if (!host->thread.joinable()) {
            continue;
        }
        if (host->finished) {
            host->thread.join();
        } else {
            stuck.push_back(host->label);
            host->thread.detach();
        }
    }
    return stuck;
}

}  // namespace pulse
