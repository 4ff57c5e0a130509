// pulse-sensor's entry point: configuration, logging, outputs and the poll loop, wired together.
// Everything with behaviour of its own lives in pulse_core.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>

#include "pulse/check.hpp"
#include "pulse/config.hpp"
#include "pulse/import_command.hpp"
#include "pulse/kafka_sink.hpp"
#include "pulse/libvirt.hpp"
#include "pulse/poller.hpp"
#include "pulse/scheduler.hpp"
#include "pulse/sink.hpp"
#include "pulse/spool.hpp"

namespace {

using namespace pulse;

void setup_logging(bool debug) {
    auto logger = spdlog::stderr_color_mt("pulse-sensor");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ [%l] %v", spdlog::pattern_time_type::utc);
    logger->set_level(debug ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

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

Fanout make_outputs(const Config& config) {
    Fanout out;
    const Format format =
        config.format == MessageFormat::influx ? Format::line_protocol : Format::json;
    if (config.use_kafka()) {
        out.add(format,
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
        out.add(config.debug ? Format::json_pretty : format, std::make_unique<StreamSink>(stdout));
    }
    return out;
}

void log_poll(const Poller& poller, const PollReport& r) {
    spdlog::debug("poll {}: {} domains, {} messages, {} points, {} libvirt calls, {:.1f} ms",
                  poller.vm_host(), r.domains, r.messages, r.points, r.libvirt_calls,
                  static_cast<double>(r.duration.count()) / 1000.0);
}

bool flush_outputs(Fanout& out, std::chrono::seconds timeout) {
    bool delivered = out.flush(timeout);
    for (const auto& sink : out.sinks()) {
        SinkCounters c = sink->counters();
        spdlog::info(
            "{}: {} messages produced, {} delivered, {} failed, {} dropped (spool full), "
            "{} left in the spool",
            sink->name(), c.produced, c.delivered, c.failed, c.dropped, c.pending);
    }
    if (!delivered) {
        spdlog::warn("not everything was delivered within SHUTDOWN_TIMEOUT ({} s)",
                     timeout.count());
    }
    return delivered;
}

}  // namespace

int main(int argc, char** argv) {
    ParseResult parsed;
    try {
        parsed = parse_config({argv + 1, argv + argc}, process_env());
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "pulse-sensor: %s\n", e.what());
        return 2;
    }
    if (parsed.outcome == ParseOutcome::exit_ok) {
        std::fputs(parsed.message.c_str(), stdout);
        return 0;
    }
    if (parsed.outcome == ParseOutcome::import) {
        return import_main(parsed.rest);
    }
    const Config& config = parsed.config;
    setup_logging(config.debug);
    libvirt::silence_default_error_handler();
    // Before the stop signals are blocked: Ctrl-C ends a check that waits for a broker.
    if (config.check) {
        try {
            return run_checks(config, stdout);
        } catch (const std::invalid_argument& e) {
            spdlog::critical("{}", e.what());
            return 2;
        }
    }
    // Before any thread starts (libvirt's event loop, librdkafka's), so all inherit the mask.
    StopSignals signals;
    std::signal(SIGPIPE, SIG_IGN);

    Fanout out;
    try {
        out = make_outputs(config);
    } catch (const ConfigError& e) {
        spdlog::critical("{}", e.what());
        return 2;
    } catch (const std::invalid_argument& e) {
        spdlog::critical("{}", e.what());
        return 2;
    }
    libvirt::EventLoop events;
    // Backoff never waits longer than one PAUSE, so a hypervisor that comes back is polled again
    // at the next tick; below that it spares a dead host one attempt per tick only when PAUSE is
    // long, which is when an attempt (an ssh login) costs most relative to the poll.
    Poller poller({config.kvm_host, config.gather_host_stats, config.pause}, out);
    spdlog::info("pulse-sensor {} watching {} every {} s; output: {}", PULSE_VERSION,
                 config.kvm_host, config.pause.count(),
                 config.use_kafka() ? fmt::format("Kafka {} topic {}", config.bootstrap_servers(),
                                                  config.kafka_topic)
                                    : std::string("stdout"));
    if (!config.kafka_properties.empty()) {
        spdlog::info("Kafka properties{}: {}", config.use_kafka() ? "" : " (unused: no Kafka)",
                     describe_properties(config.kafka_properties));
    }

    if (config.once) {
        PollReport report = poller.poll(poll_timestamp());
        log_poll(poller, report);
        bool delivered = flush_outputs(out, config.shutdown_timeout);
        return report.connected && delivered ? 0 : 1;
    }

    int signal = run_fixed_rate(
        config.pause, signals,
        {.tick =
             [&](Timestamp time) {
                 log_poll(poller, poller.poll(time));
                 out.poll();  // hand the poll to Kafka and make it durable in the spool now
             },
         .idle = [&] { out.poll(); },
         .overrun =
             [&](std::uint64_t skipped, std::chrono::milliseconds took) {
                 spdlog::warn("a poll took {} ms, longer than PAUSE ({} s): skipped {} tick(s)",
                              took.count(), config.pause.count(), skipped);
             }});
    spdlog::info("stopping on {}", signal == SIGINT ? "SIGINT" : "SIGTERM");
    flush_outputs(out, config.shutdown_timeout);
    return 0;
}
