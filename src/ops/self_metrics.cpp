// The metrics registry, its text exposition and the health decision; see self_metrics.hpp.
//
// Families are written in a fixed order, each with its HELP and TYPE lines followed by all its
// samples, as the format requires (a family's samples must not be interleaved with another's).
#include "pulse/ops/self_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "pulse/base/uri.hpp"
#include "pulse/ops/poll_report.hpp"

namespace pulse {
namespace {

using HostSnapshot = HostMetrics::Snapshot;

// HELP text escapes only backslash and newline (the format's rule, unlike label values).
std::string escape_help(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

// The shortest text that reads back as the same double ("0.005", "45.093", "10").
std::string format_value(double value) {
    return fmt::format("{}", value);
}

class Writer {
  public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, type);
    }
    void sample(std::string_view name, std::string_view labels, std::string_view value) {
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            out_ += labels;
            out_ += '}';
        }
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }
    void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
        sample(name, labels, std::to_string(value));
    }
    std::string take() { return std::move(out_); }

  private:
    std::string out_;
};

std::string label(std::string_view name, std::string_view value) {
    return fmt::format("{}=\"{}\"", name, escape_label_value(value));
}

void render_volume_ids(Writer& w, const VolumeIdsSnapshot& v) {
    w.family("pulse_cloudstack_volumes", "gauge",
             "Volume paths the CloudStack volume-id map knows (CS_ENDPOINT).");
    w.sample("pulse_cloudstack_volumes", "", v.volumes);
    w.family("pulse_cloudstack_refreshes_total", "counter",
             "Refreshes of the volume-id map from listVolumes, failed ones included.");
    w.sample("pulse_cloudstack_refreshes_total", "", v.refreshes);
    w.family("pulse_cloudstack_refresh_failures_total", "counter",
             "Refreshes of the volume-id map that failed (no answer, an HTTP error, a refused "
             "signature); the previous map stays in use.");
    w.sample("pulse_cloudstack_refresh_failures_total", "", v.failures);
    w.family("pulse_cloudstack_last_refresh_success_timestamp_seconds", "gauge",
             "Unix time of the last successful refresh of the volume-id map; absent until one "
             "succeeded.");
    if (v.last_success != Timestamp{}) {
        w.sample("pulse_cloudstack_last_refresh_success_timestamp_seconds", "",
                 static_cast<std::uint64_t>(v.last_success.time_since_epoch().count()));
    }
}

void render_fleet(Writer& w, const FleetSnapshot& f) {
    const std::string group = label("group", f.group);
    w.family("pulse_fleet_member", "gauge",
             "1 while this sensor is a member of its fleet's group (FLEET_GROUP) with an "
             "assignment, else 0; member_id is its id in the group.");
    w.sample(
        "pulse_fleet_member",
        fmt::format("{},{},{}", group, label("topic", f.topic), label("member_id", f.member_id)),
        f.member ? 1U : 0U);
    w.family("pulse_fleet_partitions", "gauge",
             "Partitions of the coordination topic: a hypervisor belongs to partition "
             "murmur2(URI) % this.");
    w.sample("pulse_fleet_partitions", group, static_cast<std::uint64_t>(f.partitions));
    w.family("pulse_fleet_partitions_held", "gauge",
             "Partitions of the coordination topic this sensor holds.");
    w.sample("pulse_fleet_partitions_held", group, f.held.size());
    w.family("pulse_fleet_partition_held", "gauge", "1 for each partition this sensor holds.");
    for (int p : f.held) {
        w.sample("pulse_fleet_partition_held", fmt::format("{},partition=\"{}\"", group, p), 1);
    }
    w.family("pulse_fleet_assignment_changes_total", "counter",
             "Changes of this sensor's assignment: partitions given, revoked or lost.");
    w.sample("pulse_fleet_assignment_changes_total", group, f.changes);
    w.family("pulse_fleet_host_polled", "gauge",
             "Per configured hypervisor, with its partition: 1 when this sensor polls it now. "
             "Summed over the fleet, each hypervisor's is 1.");
    for (const FleetSnapshot::Host& h : f.hosts) {
        w.sample("pulse_fleet_host_polled",
                 fmt::format("{},partition=\"{}\"", label("host", h.label), h.partition),
                 h.polled ? 1U : 0U);
    }
}

// One per-host family: a sample per host from `value`.
void host_family(Writer& w, const std::vector<HostSnapshot>& hosts, std::string_view name,
                 std::string_view type, std::string_view help,
                 const std::function<std::uint64_t(const HostSnapshot&)>& value) {
    w.family(name, type, help);
    for (const HostSnapshot& h : hosts) {
        w.sample(name, label("host", h.label), value(h));
    }
}

void duration_histogram(Writer& w, const std::vector<HostSnapshot>& hosts) {
    const std::string_view name = "pulse_poll_duration_seconds";
    w.family(name, "histogram", "Time one poll took, connecting included, per hypervisor.");
    for (const HostSnapshot& h : hosts) {
        const std::string host = label("host", h.label);
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < kPollDurationBuckets.size(); ++i) {
            cumulative += h.buckets[i];
            w.sample("pulse_poll_duration_seconds_bucket",
                     fmt::format("{},le=\"{}\"", host, format_value(kPollDurationBuckets[i])),
                     cumulative);
        }
        w.sample("pulse_poll_duration_seconds_bucket", host + ",le=\"+Inf\"", h.duration_count);
        w.sample("pulse_poll_duration_seconds_sum", host, format_value(h.duration_sum_s));
        w.sample("pulse_poll_duration_seconds_count", host, h.duration_count);
    }
}

template <typename Sinks>
void sink_family(Writer& w, const Sinks& sinks, std::string_view name, std::string_view type,
                 std::string_view help, const std::function<bool(const SinkCounters&)>& shown,
                 const std::function<std::uint64_t(const SinkCounters&)>& value) {
    w.family(name, type, help);
    for (const auto& [sink, state] : sinks) {
        if (shown(state.counters)) {
            w.sample(name, label("sink", sink), value(state.counters));
        }
    }
}

std::string seconds_text(SteadyClock::duration d) {
    return fmt::format("{}", std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

HostMetrics::HostMetrics(std::string uri) {
    s_.label = uri_without_password(uri);
}

void HostMetrics::record_poll(const PollReport& report, Timestamp time) {
    const double seconds = std::chrono::duration<double>(report.duration).count();
    std::lock_guard lock(mutex_);
    ++s_.polls;
    s_.up = report.connected;
    if (report.connected) {
        s_.last_success = time;
        s_.domains = report.domains;
        s_.messages += report.messages;
        s_.points += report.points;
    } else {
        ++s_.missed_libvirt;
    }
    auto bucket =
        std::lower_bound(kPollDurationBuckets.begin(), kPollDurationBuckets.end(), seconds);
    if (bucket != kPollDurationBuckets.end()) {
        ++s_.buckets[static_cast<std::size_t>(bucket - kPollDurationBuckets.begin())];
    }
    ++s_.duration_count;
    s_.duration_sum_s += seconds;
}

void HostMetrics::record_reconnect() {
    std::lock_guard lock(mutex_);
    ++s_.reconnects;
}

void HostMetrics::record_overrun(std::uint64_t skipped_ticks) {
    std::lock_guard lock(mutex_);
    s_.missed_overrun += skipped_ticks;
}

HostMetrics::Snapshot HostMetrics::snapshot() const {
    std::lock_guard lock(mutex_);
    return s_;
}

Metrics::Metrics(std::chrono::seconds delivery_timeout) : delivery_timeout_(delivery_timeout) {}

HostMetrics& Metrics::add_host(const std::string& uri) {
    std::lock_guard lock(mutex_);
    return hosts_.emplace_back(uri);
}

void Metrics::update_sink(const std::string& name, const SinkCounters& counters,
                          SteadyClock::time_point now) {
    std::lock_guard lock(mutex_);
    auto [it, added] = sinks_.try_emplace(name);
    SinkState& state = it->second;
    // Outstanding messages start the clock when they appear, not when the last ones went.
    if (added || counters.delivered > state.counters.delivered || counters.pending == 0 ||
        state.counters.pending == 0) {
        state.last_progress = now;
    }
    if (added || counters.delivered > state.counters.delivered) {
        state.last_delivery = now;
    }
    // A refused message may leave nothing outstanding (dropped for good): only this clock
    // sees an output that takes messages and delivers none.
    if (counters.failed + counters.refused >
        (added ? 0 : state.counters.failed + state.counters.refused)) {
        state.last_refusal = now;
    }
    state.counters = counters;
}

std::string Metrics::render() const {
    std::vector<HostSnapshot> hosts;
    std::map<std::string, SinkState> sinks;
    VolumeIdsSnapshot volume_ids;
    FleetSnapshot fleet;
    {
        std::lock_guard lock(mutex_);
        for (const HostMetrics& h : hosts_) {
            hosts.push_back(h.snapshot());
        }
        sinks = sinks_;
        volume_ids = volume_ids_;
        fleet = fleet_;
    }
    Writer w;
    w.family("pulse_build_info", "gauge", "Always 1; the version label says which sensor runs.");
    w.sample("pulse_build_info", label("version", PULSE_VERSION), 1);

    host_family(w, hosts, "pulse_polls_total", "counter", "Polls started, per hypervisor.",
                [](const HostSnapshot& h) { return h.polls; });
    w.family("pulse_missed_polls_total", "counter",
             "Polls that produced nothing: reason=\"libvirt\" when the hypervisor was unreachable "
             "or a libvirt call failed, reason=\"overrun\" for ticks skipped because a poll "
             "took longer than PAUSE.");
    for (const HostSnapshot& h : hosts) {
        const std::string host = label("host", h.label);
        w.sample("pulse_missed_polls_total", host + ",reason=\"libvirt\"", h.missed_libvirt);
        w.sample("pulse_missed_polls_total", host + ",reason=\"overrun\"", h.missed_overrun);
    }
    duration_histogram(w, hosts);
    host_family(w, hosts, "pulse_libvirt_reconnects_total", "counter",
                "Connections to the hypervisor reopened after one was lost or failed.",
                [](const HostSnapshot& h) { return h.reconnects; });
    host_family(w, hosts, "pulse_domains", "gauge",
                "Active domains in the last poll that reached the hypervisor.",
                [](const HostSnapshot& h) { return h.domains; });
    host_family(w, hosts, "pulse_messages_total", "counter",
                "Messages the polls produced (one per domain, one per host with "
                "GATHER_HOST_STATS), per hypervisor.",
                [](const HostSnapshot& h) { return h.messages; });
    host_family(w, hosts, "pulse_points_total", "counter",
                "Points the polls produced, per hypervisor.",
                [](const HostSnapshot& h) { return h.points; });
    host_family(w, hosts, "pulse_host_up", "gauge",
                "1 when the last poll of the hypervisor got its data, else 0.",
                [](const HostSnapshot& h) { return h.up ? 1U : 0U; });
    w.family("pulse_last_successful_poll_timestamp_seconds", "gauge",
             "Unix time of the last poll that got the hypervisor's data; absent until one did.");
    for (const HostSnapshot& h : hosts) {
        if (h.last_success != Timestamp{}) {
            w.sample("pulse_last_successful_poll_timestamp_seconds", label("host", h.label),
                     static_cast<std::uint64_t>(h.last_success.time_since_epoch().count()));
        }
    }

    auto always = [](const SinkCounters&) { return true; };
    auto spooled = [](const SinkCounters& c) { return c.spool.has_value(); };
    sink_family(w, sinks, "pulse_sink_messages_produced_total", "counter",
                "Messages handed to the output.", always,
                [](const SinkCounters& c) { return c.produced; });
    sink_family(w, sinks, "pulse_sink_messages_delivered_total", "counter",
                "Messages the output confirmed (Kafka: acknowledged by the broker).", always,
                [](const SinkCounters& c) { return c.delivered; });
    sink_family(w, sinks, "pulse_sink_messages_failed_total", "counter",
                "Messages refused for good (Kafka: an error no retry can fix).", always,
                [](const SinkCounters& c) { return c.failed; });
    sink_family(w, sinks, "pulse_sink_messages_refused_total", "counter",
                "Delivery attempts refused for a reason an operator can fix (authorization, "
                "authentication, unknown topic); the message stays in the spool and is sent "
                "again.",
                always, [](const SinkCounters& c) { return c.refused; });
    sink_family(w, sinks, "pulse_sink_messages_dropped_total", "counter",
                "Messages discarded unsent: the spool was full, or a message kept only in "
                "memory (the spool could not take it, or there is none) was still undelivered "
                "at exit.",
                always, [](const SinkCounters& c) { return c.dropped; });
    sink_family(w, sinks, "pulse_sink_messages_pending", "gauge",
                "Messages produced and not yet delivered (in the spool, or in memory without "
                "one), earlier runs' included.",
                always, [](const SinkCounters& c) { return c.pending; });
    sink_family(w, sinks, "pulse_sink_queue_messages", "gauge",
                "Messages in the output's memory queue (librdkafka's out queue for Kafka).", always,
                [](const SinkCounters& c) { return c.queued; });
    sink_family(w, sinks, "pulse_spool_records", "gauge",
                "Records in the spool not yet acknowledged: what a restart would replay.", spooled,
                [](const SinkCounters& c) { return c.spool->records; });
    sink_family(w, sinks, "pulse_spool_bytes", "gauge",
                "Size of the spool's segment files on disk.", spooled,
                [](const SinkCounters& c) { return c.spool->bytes; });
    sink_family(w, sinks, "pulse_spool_failed_rolls_total", "counter",
                "New spool segments that could not be started (a full disk, no descriptor); "
                "records go on into the current one and the next append tries again.",
                spooled, [](const SinkCounters& c) { return c.spool->failed_rolls; });
    if (volume_ids.enabled) {
        render_volume_ids(w, volume_ids);
    }
    if (fleet.enabled) {
        render_fleet(w, fleet);
    }
    return w.take();
}

void Metrics::update_fleet(FleetSnapshot fleet) {
    std::lock_guard lock(mutex_);
    fleet_ = std::move(fleet);
}

void Metrics::enable_volume_ids() {
    std::lock_guard lock(mutex_);
    volume_ids_.enabled = true;
}

void Metrics::record_volume_refresh(bool ok, std::size_t volumes, Timestamp time) {
    std::lock_guard lock(mutex_);
    volume_ids_.enabled = true;
    ++volume_ids_.refreshes;
    volume_ids_.volumes = volumes;
    if (ok) {
        volume_ids_.last_success = time;
    } else {
        ++volume_ids_.failures;
    }
}

Health Metrics::health(SteadyClock::time_point now) const {
    std::lock_guard lock(mutex_);
    std::size_t polled = 0;
    std::size_t up = 0;
    std::string down;
    for (const HostMetrics& h : hosts_) {
        HostSnapshot s = h.snapshot();
        if (s.polls == 0) {
            continue;  // starting: not yet known to be down
        }
        if (fleet_.enabled && std::none_of(fleet_.hosts.begin(), fleet_.hosts.end(),
                                           [&](const FleetSnapshot::Host& f) {
                                               return f.polled && f.label == s.label;
                                           })) {
            continue;  // another sensor of the fleet polls it now
        }
        ++polled;
        if (s.up) {
            ++up;
        } else if (down.empty()) {
            down = s.label;
        }
    }
    if (polled > 0 && up == 0) {
        return {false, polled == 1 ? fmt::format("hypervisor unreachable: {}", down)
                                   : fmt::format("all {} hypervisors unreachable", polled)};
    }
    for (const auto& [name, state] : sinks_) {
        const auto silent = now - state.last_delivery;
        if (state.last_refusal != SteadyClock::time_point{} &&
            state.last_refusal > state.last_delivery && silent > delivery_timeout_ &&
            now - state.last_refusal <= delivery_timeout_) {
            const SinkCounters& c = state.counters;
            return {false, fmt::format("{}: nothing delivered for {} s while messages are refused "
                                       "({} kept to retry, {} dropped; last: {}) "
                                       "(HEALTH_DELIVERY_TIMEOUT {} s)",
                                       name, seconds_text(silent), c.refused, c.failed,
                                       c.last_error.empty() ? "-" : c.last_error,
                                       delivery_timeout_.count())};
        }
    }
    for (const auto& [name, state] : sinks_) {
        const auto stalled = now - state.last_progress;
        if (state.counters.pending > 0 && stalled > delivery_timeout_) {
            return {false,
                    fmt::format("{}: nothing delivered for {} s with {} message(s) outstanding "
                                "(HEALTH_DELIVERY_TIMEOUT {} s)",
                                name, seconds_text(stalled), state.counters.pending,
                                delivery_timeout_.count())};
        }
    }
    return {true, ""};
}

}  // namespace pulse
