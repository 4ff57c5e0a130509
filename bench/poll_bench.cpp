// pulse_bench_poll: pulse-sensor's poll loop, instrumented.
//
// Drives the same objects main.cpp wires together (Poller → Collector → measurements →
// Outputs → KafkaSink, or a sink that only counts bytes) at a fixed interval and prints, as one
// line of key=value figures: wall time per poll (the Poller's own measure), CPU of this process
// per poll (user+sys over the steady window, all threads, librdkafka's included), libvirtd's CPU
// per poll, allocations per poll, and peak RSS. The first poll reads every domain's XML and is
// reported on its own; the medians are over the polls after it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "bench_util.hpp"
#include "pulse/kafka/sink.hpp"
#include "pulse/kafka/spool.hpp"
#include "pulse/libvirt/handles.hpp"
#include "pulse/output/outputs.hpp"
#include "pulse/sensor/poller.hpp"
#include "pulse/sensor/schedule.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Counts what a sink would send, so the run measures the sensor and not a terminal.
class CountingSink : public pulse::ByteSink {
  public:
    void publish(std::string_view, std::string_view payload) override {
        ++counters_.produced;
        ++counters_.delivered;
        bytes_ += payload.size();
    }
    bool flush(std::chrono::milliseconds) override { return true; }
    pulse::SinkCounters counters() const override { return counters_; }
    std::string name() const override { return "count"; }

  private:
    pulse::SinkCounters counters_;
    std::uint64_t bytes_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    std::string uri = "qemu:///system";
    std::string kafka;
    std::string topic = "pulse-bench";
    int polls = 10;
    int interval_ms = 0;
    int libvirtd_pid = 0;
    std::string qemu_pids_list;
    int test_domains = 0;
    bool host_stats = false;
    bool paired_floor = false;
    CLI::App app{"pulse-sensor's poll loop with CPU, wall time, allocations and RSS measured."};
    app.add_option("--uri", uri, "libvirt URI");
    app.add_option("--polls", polls, "polls after the first (which reads the XML)")
        ->check(CLI::PositiveNumber);
    app.add_option("--interval-ms", interval_ms, "pause between poll starts");
    app.add_option("--kafka", kafka, "bootstrap servers; unset: count bytes only");
    app.add_option("--topic", topic, "Kafka topic");
    app.add_option("--libvirtd-pid", libvirtd_pid, "also time this libvirtd's CPU per poll");
    app.add_option("--qemu-pids", qemu_pids_list,
                   "comma-separated QEMU pids: also time their CPU over the window, summed");
    app.add_option("--test-domains", test_domains,
                   "generate a test:/// host with this many domains (4 disks, 2 NICs each)");
    app.add_flag("--host-stats", host_stats, "also read and send nodeInfo");
    app.add_flag("--paired-floor", paired_floor,
                 "before each poll, time the bare bulk call on a second connection and report "
                 "the median of the per-pair wall-time ratios");
    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::warn);
    pulse::libvirt::silence_default_error_handler();

    std::string node_file;
    if (test_domains > 0) {
        node_file = pulse::bench::write_test_node(test_domains, 4, 2);
        uri = "test://" + node_file;
    }
    // Declared before the sink that owns the spool, so it is removed after the spool closed.
    struct RemoveDir {
        std::filesystem::path path;
        ~RemoveDir() {
            if (!path.empty()) {
                std::filesystem::remove_all(path);
            }
        }
    } spool_dir;
    pulse::Outputs out;
    if (!kafka.empty()) {
        // The sensor's default delivery path: through the on-disk spool.
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "pulse-bench-spool-XXXXXX").string();
        spool_dir.path = mkdtemp(tmpl.data());
        out.add(pulse::Encoding::json,
                std::make_unique<pulse::KafkaSink>(
                    pulse::KafkaSettings{kafka, topic, {}},
                    std::make_unique<pulse::Spool>(pulse::SpoolOptions{spool_dir.path})));
    } else {
        out.add(pulse::Encoding::json, std::make_unique<CountingSink>());
    }
    pulse::libvirt::EventLoop events;
    pulse::Poller poller({{.uri = uri, .gather_host_stats = host_stats}}, out);
    const long rss_before_kib = pulse::bench::current_rss_kib();

    auto lv = [&] { return libvirtd_pid > 0 ? pulse::bench::process_cpu_ns(libvirtd_pid) : 0; };
    const std::vector<int> qemu_pids = pulse::bench::parse_pids(qemu_pids_list);
    const std::vector<int> lv_pid =
        libvirtd_pid > 0 ? std::vector<int>{libvirtd_pid} : std::vector<int>{};
    const auto first_t0 = Clock::now();
    const std::uint64_t first_cpu0 = pulse::bench::self_cpu_ns();
    const pulse::PollReport first = poller.poll(pulse::poll_timestamp());
    const double first_cpu_ms = static_cast<double>(pulse::bench::self_cpu_ns() - first_cpu0) / 1e6;
    if (!first.connected) {
        fmt::print(stderr, "pulse_bench_poll: could not poll {}\n", uri);
        return 1;
    }
    out.poll();

    pulse::libvirt::ConnectPtr floor_conn;
    if (paired_floor) {
        floor_conn.reset(virConnectOpenReadOnly(uri.c_str()));
        if (!floor_conn) {
            fmt::print(stderr, "pulse_bench_poll: cannot open a second connection to {}\n", uri);
            return 1;
        }
    }
    std::vector<double> wall_ms, cpu_ms, libvirtd_ms, allocs, floor_ms, ratios;
    std::uint64_t calls = 0, points = 0, domains = 0;
    auto next = first_t0 + std::chrono::milliseconds(interval_ms);
    std::this_thread::sleep_until(next);
    // Snapshots of other processes outside this process's window: reading /proc is not a poll.
    const pulse::bench::ThreadTimes window_qemu0 = pulse::bench::thread_times(qemu_pids);
    const pulse::bench::ThreadTimes window_lv0 = pulse::bench::thread_times(lv_pid);
    const std::uint64_t window_cpu0 = pulse::bench::self_cpu_ns();
    for (int i = 0; i < polls; ++i) {
        std::this_thread::sleep_until(next);
        next += std::chrono::milliseconds(interval_ms);
        if (floor_conn) {
            floor_ms.push_back(pulse::bench::time_bulk_call_ms(floor_conn.get()));
        }
        const std::uint64_t a0 = pulse::bench::allocations();
        const std::uint64_t cpu0 = pulse::bench::self_cpu_ns();
        const std::uint64_t lv0 = lv();
        const pulse::PollReport r = poller.poll(pulse::poll_timestamp());
        const std::uint64_t lv1 = lv();
        const std::uint64_t cpu1 = pulse::bench::self_cpu_ns();
        allocs.push_back(static_cast<double>(pulse::bench::allocations() - a0));
        out.poll();
        wall_ms.push_back(static_cast<double>(r.duration.count()) / 1000.0);
        cpu_ms.push_back(static_cast<double>(cpu1 - cpu0) / 1e6);
        libvirtd_ms.push_back(static_cast<double>(lv1 - lv0) / 1e6);
        if (floor_conn) {
            ratios.push_back(wall_ms.back() / floor_ms.back());
        }
        calls = r.libvirt_calls;
        points = r.points;
        domains = r.domains;
    }
    // The window is polls × interval (as bench/run's idle baseline) plus what delivery still
    // needs: the broker's acknowledgements are part of the cost.
    std::this_thread::sleep_until(next);
    const auto flush_t0 = Clock::now();
    const bool delivered = out.flush(std::chrono::seconds(30));
    const double flush_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - flush_t0).count();
    const double window_cpu_ms =
        static_cast<double>(pulse::bench::self_cpu_ns() - window_cpu0) / 1e6 / polls;
    const double window_lv_ms = static_cast<double>(pulse::bench::cpu_between(
                                    window_lv0, pulse::bench::thread_times(lv_pid))) /
                                1e6 / polls;
    const double window_qemu_ms = static_cast<double>(pulse::bench::cpu_between(
                                      window_qemu0, pulse::bench::thread_times(qemu_pids))) /
                                  1e6 / polls;
    const auto [sink_name, c] = out.counters().front();
    if (!node_file.empty()) {
        std::remove(node_file.c_str());
    }
    fmt::print(
        "sensor sink={} domains={} points={} calls={} polls={} first_wall_ms={:.3f} "
        "first_cpu_ms={:.3f} first_calls={} wall_ms={:.3f} cpu_ms={:.3f} window_cpu_ms={:.3f} "
        "libvirtd_ms={:.3f} window_libvirtd_ms={:.3f} window_qemu_ms={:.3f} allocs_per_poll={:.0f} "
        "allocs_per_point={:.2f} flush_ms={:.1f} delivered={} failed={} rss_before_kib={} "
        "peak_rss_kib={} floor_wall_ms={:.3f} paired_ratio={:.3f}\n",
        sink_name, domains, points, calls, polls,
        static_cast<double>(first.duration.count()) / 1000.0, first_cpu_ms, first.libvirt_calls,
        pulse::bench::median(wall_ms), pulse::bench::median(cpu_ms), window_cpu_ms,
        pulse::bench::median(libvirtd_ms), window_lv_ms, window_qemu_ms,
        pulse::bench::median(allocs),
        points > 0 ? pulse::bench::median(allocs) / static_cast<double>(points) : 0.0, flush_ms,
        c.delivered, c.failed, rss_before_kib, pulse::bench::peak_rss_kib(),
        pulse::bench::median(floor_ms), pulse::bench::median(ratios));
    return delivered ? 0 : 1;
}
