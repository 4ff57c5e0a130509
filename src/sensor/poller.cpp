// One hypervisor's poll cycle and connection lifecycle; see poller.hpp.
#include "pulse/sensor/poller.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iterator>

#include "pulse/base/uri.hpp"
#include "pulse/points/contract.hpp"

namespace pulse {
namespace {

using Clock = std::chrono::steady_clock;
using libvirt::LibvirtError;

}  // namespace

Poller::Poller(PollerOptions options, PointSink& out)
    : options_(std::move(options)), vm_host_(uri_without_password(options_.host.uri)), out_(out) {
    if (options_.host.rates) {
        rates_.emplace(options_.host.pause);
    }
}

Poller::~Poller() = default;

PollReport Poller::poll(Timestamp time) {
    const auto started = Clock::now();
    PollReport report;
    if (!ensure_connected()) {
        ++missed_polls_;
    } else {
        const std::uint64_t calls_before = collector_->libvirt_calls();
        try {
            if (options_.host.gather_host_stats) {
                publish_host(time, report);
            }
            const auto before = Clock::now();
            DomainCollection collection = collector_->collect_domains();
            // The middle of the statistics call stands for the moment they were read.
            const auto collected_at = before + (Clock::now() - before) / 2;
            publish_domains(collection, time, collected_at, report);
            report.connected = true;
        } catch (const LibvirtError& e) {
            if (e.connection_lost() || !connection_->alive()) {
                disconnect(e.what());
            } else {
                log_.report("poll", spdlog::level::err, fmt::format("{}: {}", vm_host(), e.what()));
            }
        }
        if (collector_) {
            report.libvirt_calls = collector_->libvirt_calls() - calls_before;
        }
    }
    log_.end_cycle();
    report.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
    if (options_.metrics != nullptr) {
        options_.metrics->record_poll(report, time);
    }
    return report;
}

void Poller::publish_host(Timestamp time, PollReport& report) {
    try {
        HostCollection host = collector_->collect_host();
        for (const CollectIssue& issue : host.issues) {
            log_.report(issue.key, spdlog::level::warn,
                        fmt::format("{}: {}", vm_host(), issue.message));
        }
        const Point point = host_point(host.stats, vm_host(), time);
        out_.deliver(vm_host(), {&point, 1});
        ++report.messages;
        ++report.points;
    } catch (const LibvirtError& e) {
        if (e.connection_lost()) {
            throw;
        }
        // Host stats failing must not cost the domains' points.
        log_.report("host", spdlog::level::warn, fmt::format("{}: {}", vm_host(), e.what()));
    }
}

void Poller::publish_domains(DomainCollection& collection, Timestamp time,
                             MonotonicTime collected_at, PollReport& report) {
    for (const CollectIssue& issue : collection.issues) {
        log_.report(issue.key, spdlog::level::warn, issue.message);
    }
    for (const DomainSample& sample : collection.domains) {
        DomainPoints built = domain_points(sample.stats, *sample.devices, vm_host(), time);
        for (const Anomaly& anomaly : built.anomalies) {
            log_.report(anomaly.key, spdlog::level::warn, anomaly.message);
        }
        if (!built.unknown_devices.empty()) {
            collector_->invalidate(sample.stats.uuid, built.unknown_devices);
        }
        if (rates_) {
            DomainRates rates =
                rates_->update(sample.stats, *sample.devices, vm_host(), time, collected_at);
            for (const std::string& why : rates.skipped) {
                spdlog::debug("{}: {}", vm_host(), why);
            }
            std::move(rates.points.begin(), rates.points.end(), std::back_inserter(built.points));
        }
        if (options_.volumes != nullptr) {
            options_.volumes->apply(built.points);
        }
        // Keyed by UUID so one domain's messages stay in one partition, in order.
        out_.deliver(sample.stats.uuid, built.points);
        ++report.messages;
        report.points += built.points.size();
    }
    report.domains = collection.domains.size();
    if (rates_) {
        rates_->forget_stale(collected_at);
    }
}

bool Poller::ensure_connected() {
    const std::string key = "connection";
    if (connection_ && connection_->alive()) {
        return true;
    }
    if (connection_) {
        disconnect("libvirt closed the connection");
    }
    const auto now = Clock::now();
    if (retry_at_ && now < *retry_at_) {
        log_.report(key, spdlog::level::err, "");  // still down: keep the condition open, quietly
        return false;
    }
    try {
        connection_ = std::make_unique<libvirt::Connection>(options_.host.uri);
        collector_ = std::make_unique<Collector>(connection_->get());
    } catch (const LibvirtError& e) {
        connection_.reset();
        // Backoff never waits longer than one PAUSE, so a hypervisor that comes back is polled
        // again at the next tick; below that it spares a dead host one attempt per tick only
        // when PAUSE is long, which is when an attempt (an ssh login) costs most relative to
        // the poll.
        backoff_ = backoff_ == std::chrono::seconds::zero()
                       ? std::chrono::seconds(1)
                       : std::min(backoff_ * 2, options_.host.pause);
        // Jitter spreads the reconnects of many sensors after a shared outage.
        // Kept under 1 so that a wait at the cap (one PAUSE) still ends before the next tick.
        std::uniform_real_distribution<double> spread(0.7, 0.95);
        auto wait = std::chrono::duration_cast<Clock::duration>(backoff_ * spread(jitter_));
        retry_at_ = now + wait;
        log_.report(key, spdlog::level::err,
                    fmt::format("{} (retrying with backoff up to {} s)", e.what(),
                                options_.host.pause.count()));
        spdlog::debug("{}: next connection attempt in {} ms", vm_host(),
                      std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
        return false;
    }
    backoff_ = std::chrono::seconds::zero();
    retry_at_.reset();
    if (log_.active(key)) {
        if (options_.metrics != nullptr) {
            options_.metrics->record_reconnect();
        }
        log_.resolve(key, fmt::format("reconnected to {} after {} missed poll(s)", vm_host(),
                                      missed_polls_));
        missed_polls_ = 0;
    } else {
        spdlog::info("connected to {}", vm_host());
    }
    return true;
}

void Poller::disconnect(const std::string& why) {
    collector_.reset();
    connection_.reset();
    log_.report("connection", spdlog::level::err,
                fmt::format("lost the connection to {}: {}", vm_host(), why));
}

}  // namespace pulse
