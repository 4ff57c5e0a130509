// pulse-sensor's entry point: configuration, logging, outputs and the poll loop, wired together.
// Everything with behaviour of its own lives in pulse_core.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>

#include "pulse/config.hpp"
#include "pulse/kafka_sink.hpp"
#include "pulse/libvirt.hpp"
#include "pulse/poller.hpp"
#include "pulse/scheduler.hpp"
#include "pulse/sink.hpp"

namespace {

using namespace pulse;

// How long a stop waits for Kafka to acknowledge what is queued: inside the 10 s that
// `docker stop` and systemd give before SIGKILL, with room for the poll in progress.
constexpr std::chrono::seconds kShutdownFlush{7};

void setup_logging(bool debug) {
    auto logger = spdlog::stderr_color_mt("pulse-sensor");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ [%l] %v", spdlog::pattern_time_type::utc);
    logger->set_level(debug ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

Fanout make_outputs(const Config& config) {
    Fanout out;
    if (config.use_kafka()) {
        out.add(Format::json, std::make_unique<KafkaSink>(KafkaSettings{
                                  config.bootstrap_servers(), config.kafka_topic, {}}));
    }
    // DEBUG shows every message indented, even when it also goes to Kafka.
    if (!config.use_kafka() || config.debug) {
        out.add(config.debug ? Format::json_pretty : Format::json,
                std::make_unique<StreamSink>(stdout));
    }
    return out;
}

void log_poll(const Poller& poller, const PollReport& r) {
    spdlog::debug("poll {}: {} domains, {} messages, {} points, {} libvirt calls, {:.1f} ms",
                  poller.vm_host(), r.domains, r.messages, r.points, r.libvirt_calls,
                  static_cast<double>(r.duration.count()) / 1000.0);
}

bool flush_outputs(Fanout& out) {
    bool delivered = out.flush(kShutdownFlush);
    for (const auto& sink : out.sinks()) {
        SinkCounters c = sink->counters();
        spdlog::info("{}: {} messages produced, {} delivered, {} failed, {} undelivered at exit",
                     sink->name(), c.produced, c.delivered, c.failed,
                     c.produced - std::min(c.produced, c.delivered + c.failed));
    }
    if (!delivered) {
        spdlog::error("some messages were not delivered within {} s", kShutdownFlush.count());
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
    const Config& config = parsed.config;
    setup_logging(config.debug);
    libvirt::silence_default_error_handler();
    // Before any thread starts (libvirt's event loop, librdkafka's), so all inherit the mask.
    StopSignals signals;
    std::signal(SIGPIPE, SIG_IGN);

    Fanout out;
    try {
        out = make_outputs(config);
    } catch (const std::invalid_argument& e) {
        spdlog::critical("{}", e.what());
        return 2;
    }
    libvirt::EventLoop events;
    Poller poller({config.kvm_host, config.gather_host_stats}, out);
    spdlog::info("pulse-sensor {} watching {} every {} s; output: {}", PULSE_VERSION,
                 config.kvm_host, config.pause.count(),
                 config.use_kafka() ? fmt::format("Kafka {} topic {}", config.bootstrap_servers(),
                                                  config.kafka_topic)
                                    : std::string("stdout"));

    if (config.once) {
        PollReport report = poller.poll(poll_timestamp());
        log_poll(poller, report);
        bool delivered = flush_outputs(out);
        return report.connected && delivered ? 0 : 1;
    }

    int signal = run_fixed_rate(
        config.pause, signals,
        {.tick = [&](Timestamp time) { log_poll(poller, poller.poll(time)); },
         .idle = [&] { out.poll(); },
         .overrun =
             [&](std::uint64_t skipped, std::chrono::milliseconds took) {
                 spdlog::warn("a poll took {} ms, longer than PAUSE ({} s): skipped {} tick(s)",
                              took.count(), config.pause.count(), skipped);
             }});
    spdlog::info("stopping on {}", signal == SIGINT ? "SIGINT" : "SIGTERM");
    flush_outputs(out);
    return 0;
}
