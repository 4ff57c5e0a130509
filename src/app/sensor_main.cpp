// The sensor: its outputs, self-metrics, CloudStack map and hypervisor threads, wired together
// from a parsed Config, and the poll loop. Everything with behaviour of its own lives in the
// boxes under src/; this file only connects them.
#include "sensor_main.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "logging.hpp"
#include "pulse/base/secrets.hpp"
#include "pulse/base/uri.hpp"
#include "pulse/cloudstack/api.hpp"
#include "pulse/config/config.hpp"
#include "pulse/fleet/fleet.hpp"
#include "pulse/fleet/fleet_check.hpp"
#include "pulse/kafka/sink.hpp"
#include "pulse/kafka/spool.hpp"
#include "pulse/libvirt/handles.hpp"
#include "pulse/ops/connection_check.hpp"
#include "pulse/ops/healthcheck.hpp"
#include "pulse/ops/metrics_server.hpp"
#include "pulse/ops/self_metrics.hpp"
#include "pulse/output/outputs.hpp"
#include "pulse/sensor/host_threads.hpp"
#include "pulse/sensor/poller.hpp"
#include "pulse/sensor/schedule.hpp"
#include "pulse/sensor/volume_ids.hpp"

namespace pulse {
namespace {

// The spool for Kafka. A directory the operator named must work (exit 2 otherwise); the
// default one may be out of reach of an unprivileged user, which is said loudly, once.
std::unique_ptr<Spool> make_spool(const Config& config) {
    if (config.spool_dir.empty()) {
        spdlog::warn(
            "SPOOL_DIR=off: messages wait for Kafka in memory only and are lost if the "
            "broker stays away longer than librdkafka's message timeout or the sensor "
            "stops");
        return nullptr;
    }
    try {
        return std::make_unique<Spool>(SpoolOptions{config.spool_dir, config.spool_max_bytes, 0});
    } catch (const SpoolError& e) {
        if (config.spool_dir_explicit) {
            throw ConfigError(fmt::format("invalid SPOOL_DIR (--spool-dir) '{}': {}",
                                          config.spool_dir, e.what()));
        }
        spdlog::warn(
            "no spool ({}); messages wait for Kafka in memory only: set SPOOL_DIR to a "
            "writable directory",
            e.what());
        return nullptr;
    }
}

Outputs make_outputs(const Config& config) {
    Outputs out;
    if (config.use_kafka()) {
        out.add(config.format,
                std::make_unique<KafkaSink>(
                    KafkaSettings{config.bootstrap_servers(), config.kafka_topic,
                                  config.kafka_properties,
                                  // At most a quarter of the spool in flight, so
                                  // a full spool rarely drops what is in flight.
                                  std::min<std::size_t>(16U << 20, config.spool_max_bytes / 4)},
                    make_spool(config)));
    }
    // DEBUG shows every message indented, even when it also goes to Kafka.
    if (!config.use_kafka() || config.debug) {
        out.add(config.debug ? Encoding::json_pretty : config.format,
                std::make_unique<StreamSink>(stdout));
    }
    return out;
}

void log_poll(const Poller& poller, const PollReport& r) {
    spdlog::debug("poll {}: {} domains, {} messages, {} points, {} libvirt calls, {:.1f} ms",
                  poller.vm_host(), r.domains, r.messages, r.points, r.libvirt_calls,
                  static_cast<double>(r.duration.count()) / 1000.0);
}

// One URI: "qemu:///system every 10 s", as ever. Several: how many, and the URIs by PAUSE.
// Passwords in a URI's userinfo are left out.
std::string describe_hosts(const Config& config) {
    if (config.hosts.size() == 1) {
        return fmt::format("{} every {} s", uri_without_password(config.hosts[0].uri),
                           config.hosts[0].pause.count());
    }
    std::map<std::int64_t, std::vector<std::string>> by_pause;
    for (const HostConfig& host : config.hosts) {
        by_pause[host.pause.count()].push_back(uri_without_password(host.uri));
    }
    std::vector<std::string> groups;
    for (const auto& [pause, uris] : by_pause) {
        groups.push_back(fmt::format("every {} s: {}", pause, fmt::join(uris, ", ")));
    }
    return fmt::format("{} hypervisors ({})", config.hosts.size(), fmt::join(groups, "; "));
}

// The sinks' counters into the registry, read under the outputs' lock. Returns the first
// sink's fatal error, empty while every sink can still deliver.
std::string record_outputs(Metrics& metrics, Outputs& out) {
    const auto now = SteadyClock::now();
    std::string fatal;
    for (const auto& [name, counters] : out.counters()) {
        metrics.update_sink(name, counters, now);
        if (fatal.empty() && !counters.fatal_error.empty()) {
            fatal = fmt::format("{}: {}", name, counters.fatal_error);
        }
    }
    return fatal;
}

std::unique_ptr<MetricsServer> start_metrics_server(const Config& config, Metrics& metrics) {
    if (config.metrics_addr.empty()) {
        return nullptr;
    }
    try {
        auto server =
            std::make_unique<MetricsServer>(metrics, *parse_listen_address(config.metrics_addr));
        spdlog::info("serving /metrics and /healthz on {}", config.metrics_addr);
        return server;
    } catch (const MetricsServerError& e) {
        throw ConfigError(fmt::format("invalid METRICS_ADDR (--metrics-addr) '{}': {}",
                                      config.metrics_addr, e.what()));
    }
}

// Under the outputs' lock: a host thread that a stop gave up on may still be delivering.
// Closes them, so that the counts include what is given up.
bool flush_outputs(Outputs& out, std::chrono::seconds timeout) {
    bool delivered = out.flush(timeout);
    out.close();
    for (const auto& [name, c] : out.counters()) {
        spdlog::info(
            "{}: {} messages produced, {} delivered, {} failed, {} dropped (spool full), "
            "{} left in the spool",
            name, c.produced, c.delivered, c.failed, c.dropped,
            c.spool ? c.spool->records : c.pending);
    }
    if (!delivered) {
        spdlog::warn("not everything was delivered within SHUTDOWN_TIMEOUT ({} s)",
                     timeout.count());
    }
    return delivered;
}

// CS_ENDPOINT's client and map, or nulls without it.
struct CloudStack {
    std::unique_ptr<CloudStackClient> client;
    std::unique_ptr<VolumeIds> volumes;
};

CloudStack make_cloudstack(const Config& config, Metrics& metrics) {
    CloudStack cs;
    if (!config.use_cloudstack()) {
        return cs;
    }
    cs.client = std::make_unique<CloudStackClient>(CloudStackSettings{
        *parse_cloudstack_endpoint(config.cs_endpoint), config.cs_api_key, config.cs_secret_key});
    CloudStackClient* client = cs.client.get();
    cs.volumes = std::make_unique<VolumeIds>(
        [client] { return client->list_volumes(); }, [client] { client->stop(); }, client->where(),
        VolumeIdsOptions{.interval = config.volumes_update_interval, .metrics = &metrics});
    spdlog::info("CloudStack volume ids from {}, refreshed every {} s", client->where(),
                 config.volumes_update_interval.count());
    return cs;
}

// --once: every hypervisor's poll, each bounded by its PAUSE plus SHUTDOWN_TIMEOUT (one tick,
// then as long as a stop waits for a stuck poll), and cut short by SIGINT or SIGTERM.
int run_once(HostThreads& hosts, Outputs& out, StopSignals& signals,
             std::chrono::seconds shutdown_timeout) {
    OnceOutcome once = hosts.poll_once(
        shutdown_timeout, [&signals](SteadyTime until) { return signals.wait_until(until); });
    for (const OnceOutcome::Unfinished& host : once.unfinished) {
        if (once.interrupted) {
            spdlog::error("{}: poll not finished: stopped by {}", host.host,
                          signals.last_signal() == SIGINT ? "SIGINT" : "SIGTERM");
        } else {
            spdlog::error("{}: no answer within {} s (PAUSE + SHUTDOWN_TIMEOUT): giving up",
                          host.host, host.limit.count());
        }
    }
    const bool delivered = flush_outputs(out, shutdown_timeout);
    const bool connected = std::all_of(once.reports.begin(), once.reports.end(),
                                       [](const PollReport& r) { return r.connected; });
    if (!once.unfinished.empty()) {
        // Their threads still hold the outputs and their libvirt connections, as at a stop.
        spdlog::shutdown();
        std::fflush(nullptr);
        std::_Exit(1);
    }
    return connected && delivered ? 0 : 1;
}

}  // namespace

int sensor_main(const Config& config) {
    // A write to a peer that went away (an ssh transport whose ssh already exited, a closed
    // socket) must fail with EPIPE, not kill the process: --check and --healthcheck too.
    std::signal(SIGPIPE, SIG_IGN);
    if (config.healthcheck) {
        return run_healthcheck(config, stdout);
    }
    setup_logging("pulse-sensor", config.debug);
    // Before --check's or the hosts' threads open connections side by side.
    try {
        libvirt::initialize();
    } catch (const libvirt::LibvirtError& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
    libvirt::silence_default_error_handler();
    // Before the stop signals are blocked: Ctrl-C ends a check that waits for a broker.
    if (config.check) {
        try {
            int status = run_checks(config, stdout);
            if (config.fleet.enabled()) {
                for (const CheckResult& result : check_fleet(config, std::chrono::seconds(10))) {
                    std::fprintf(stdout, "%s\n", format_check(result).c_str());
                    status = result.ok ? status : 1;
                }
                std::fflush(stdout);
            }
            return status;
        } catch (const std::invalid_argument& e) {
            spdlog::critical("{}", e.what());
            return 2;
        }
    }
    // Before any thread starts (libvirt's event loop, librdkafka's), so all inherit the mask.
    StopSignals signals;

    Outputs out;
    Metrics metrics(config.health_delivery_timeout);
    std::unique_ptr<MetricsServer> metrics_server;
    try {
        out = make_outputs(config);
        metrics_server = start_metrics_server(config, metrics);
    } catch (const ConfigError& e) {
        spdlog::critical("{}", e.what());
        return 2;
    } catch (const std::invalid_argument& e) {
        spdlog::critical("{}", e.what());
        return 2;
    }
    CloudStack cloudstack = make_cloudstack(config, metrics);
    libvirt::EventLoop events;
    const bool several = config.hosts.size() > 1;
    HostThreads hosts(
        config.hosts, out,
        {.polled =
             [&](const Poller& poller, const PollReport& report) {
                 log_poll(poller, report);
                 out.poll();  // hand the poll to Kafka and make it durable in the spool now
             },
         .overrun =
             [&](const HostConfig& host, std::uint64_t skipped, std::chrono::milliseconds took) {
                 spdlog::warn("{}a poll took {} ms, longer than PAUSE ({} s): skipped {} tick(s)",
                              several ? uri_without_password(host.uri) + ": " : "", took.count(),
                              host.pause.count(), skipped);
             }},
        &metrics, cloudstack.volumes.get());
    spdlog::info(
        "pulse-sensor {} watching {}{}; output: {}", PULSE_VERSION, describe_hosts(config),
        config.fleet.enabled()
            ? fmt::format(" (fleet {}: only those of the partitions it holds)", config.fleet.group)
            : std::string(),
        config.use_kafka()
            ? fmt::format("Kafka {} topic {}", config.bootstrap_servers(), config.kafka_topic)
            : std::string("stdout"));
    if (!config.kafka_properties.empty()) {
        spdlog::info("Kafka properties{}: {}", config.use_kafka() ? "" : " (unused: no Kafka)",
                     describe_properties(config.kafka_properties));
    }

    if (config.once) {
        // A single poll has no later one to carry the ids: ask CloudStack first (bounded by the
        // client's timeouts); a failure is logged and the poll goes on with file names.
        if (cloudstack.volumes) {
            cloudstack.volumes->refresh();
        }
        return run_once(hosts, out, signals, config.shutdown_timeout);
    }

    if (cloudstack.volumes) {
        cloudstack.volumes->start();
    }
    // A stop waits this long for a poll in progress; so does a hypervisor handed over.
    const auto poll_grace =
        std::max<std::chrono::milliseconds>(config.shutdown_timeout, std::chrono::seconds(1));
    std::unique_ptr<Fleet> fleet;
    if (config.fleet.enabled()) {
        try {
            fleet =
                std::make_unique<Fleet>(config, metrics, [&](const std::set<std::string>& uris) {
                    HostThreads::Change change = hosts.run_only(uris, poll_grace);
                    if (!change.stuck.empty()) {
                        spdlog::warn(
                            "fleet: {} handed over while still in a libvirt call: a poll "
                            "of it may still be delivered",
                            fmt::join(change.stuck, ", "));
                    }
                });
        } catch (const std::invalid_argument& e) {
            spdlog::critical("{}", e.what());
            return 2;
        }
        fleet->start();
    } else {
        hosts.start();
    }
    // The main thread serves the outputs' delivery callbacks and watches for hosts stuck in a
    // libvirt call while the host threads poll.
    constexpr auto kIdleEvery = std::chrono::milliseconds(200);
    std::string fatal;
    int setting_refused = 0;
    while (!signals.wait_until(std::chrono::steady_clock::now() + kIdleEvery)) {
        out.poll();
        fatal = record_outputs(metrics, out);
        if (!fatal.empty()) {
            break;
        }
        if (fleet && !(fatal = fleet->fatal_error()).empty()) {
            setting_refused = 2;  // as for any invalid setting
            break;
        }
        hosts.report_stalls();
    }
    // A fatal producer error (the idempotent producer lost its guarantees) cannot be undone
    // in this process: exit non-zero for the supervisor to restart the sensor, whose new
    // producer then sends what the spool kept.
    const int status = fatal.empty() ? 0 : std::max(setting_refused, 1);
    if (fatal.empty()) {
        spdlog::info("stopping on {}", signals.last_signal() == SIGINT ? "SIGINT" : "SIGTERM");
    } else if (setting_refused != 0) {
        spdlog::critical("{}", fatal);
    } else {
        spdlog::critical(
            "{}; stopping with exit status 1 so that the service is restarted (the "
            "spool keeps every message not yet acknowledged)",
            fatal);
    }
    // Hands this sensor's hypervisors to the rest of the fleet, their polls stopped first.
    if (fleet) {
        fleet->stop();
    }
    // A poll in progress normally ends in milliseconds; one stuck in libvirt gets as long as
    // Kafka does, and at least a second.
    std::vector<std::string> stuck = hosts.stop(poll_grace);
    if (cloudstack.volumes && stuck.empty()) {
        cloudstack.volumes->stop();  // interrupts a listing in progress
    }
    flush_outputs(out, fatal.empty() ? config.shutdown_timeout : std::chrono::seconds(0));
    if (!stuck.empty()) {
        // Their threads still hold the outputs and their libvirt connections: returning would
        // run destructors under their feet. Everything delivered has been flushed above.
        spdlog::warn("stopped without waiting for {}: still in a libvirt call",
                     fmt::join(stuck, ", "));
        spdlog::shutdown();
        std::fflush(nullptr);
        std::_Exit(status);
    }
    return status;
}

}  // namespace pulse
