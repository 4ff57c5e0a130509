// pulse_bench_hosts: many hypervisors in one process, through the sensor's own threads.
//
// Starts HostThreads (one thread, connection and schedule per hypervisor, as main.cpp does) on
// N test:/// hosts, each its own copy of a generated node file: libvirt's test driver gives
// every connection to a file a private copy of its state, and distinct paths give distinct URIs
// and vmHost tags, as N real hypervisors would. After every host's first poll (which reads the
// XML) it measures this process's CPU over a window of whole ticks and prints, as one line of
// key=value figures: CPU per host per poll, polls made and ticks missed in the window, the
// median poll wall time, threads and RSS. Flat CPU per host per poll from 1 to 50 hosts means
// the threads add no per-host overhead of their own.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "pulse/libvirt/handles.hpp"
#include "pulse/output/outputs.hpp"
#include "pulse/sensor/host_threads.hpp"

namespace {

using Clock = std::chrono::steady_clock;

class CountingSink : public pulse::ByteSink {
  public:
    void publish(std::string_view, std::string_view) override { ++counters_.produced; }
    bool flush(std::chrono::milliseconds) override { return true; }
    pulse::SinkCounters counters() const override { return counters_; }
    std::string name() const override { return "count"; }

  private:
    pulse::SinkCounters counters_;
};

long threads_of_self() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("Threads:", 0) == 0) {
            return std::stol(line.substr(8));
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int hosts = 10;
    int domains = 10;
    int polls = 10;
    int interval_s = 1;
    CLI::App app{"Many hypervisors in one process: CPU per host per poll, threads and RSS."};
    app.add_option("--hosts", hosts, "test:/// hypervisors, one thread each")
        ->check(CLI::PositiveNumber);
    app.add_option("--domains", domains, "domains per hypervisor (4 disks, 2 NICs each)");
    app.add_option("--polls", polls, "ticks in the measured window")->check(CLI::PositiveNumber);
    app.add_option("--interval", interval_s, "PAUSE, in seconds")->check(CLI::Range(1, 60));
    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::warn);
    pulse::libvirt::silence_default_error_handler();

    std::vector<std::string> files;
    std::vector<pulse::HostConfig> configs;
    for (int i = 0; i < hosts; ++i) {
        files.push_back(pulse::bench::write_test_node(domains, 4, 2));
        configs.push_back({"test://" + files.back(), std::chrono::seconds(interval_s), false});
    }
    const std::chrono::milliseconds interval = std::chrono::seconds(interval_s);

    pulse::Outputs out;
    out.add(pulse::Encoding::json, std::make_unique<CountingSink>());
    pulse::libvirt::EventLoop events;
    std::mutex mutex;
    std::vector<double> wall_ms;
    std::atomic<std::uint64_t> done_polls{0}, missed{0}, failed{0};
    pulse::HostThreads threads(
        configs, out,
        {.polled =
             [&](const pulse::Poller&, const pulse::PollReport& r) {
                 if (!r.connected) {
                     ++failed;
                 }
                 {
                     std::lock_guard lock(mutex);
                     wall_ms.push_back(static_cast<double>(r.duration.count()) / 1000.0);
                 }
                 out.poll();
                 ++done_polls;
             },
         .overrun = [&](const pulse::HostConfig&, std::uint64_t skipped,
                        std::chrono::milliseconds) { missed += skipped; }});
    const long rss_before_kib = pulse::bench::current_rss_kib();
    const auto started = Clock::now();
    threads.start();
    // The first poll of every host reads its XML; the window starts after them, at a tick.
    while (done_polls < static_cast<std::uint64_t>(hosts)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const auto first_done = Clock::now();
    auto tick = started + interval;
    while (tick <= first_done) {
        tick += interval;
    }
    std::this_thread::sleep_until(tick - interval / 2);
    const std::uint64_t polls0 = done_polls, missed0 = missed;
    const std::uint64_t cpu0 = pulse::bench::self_cpu_ns();
    {
        std::lock_guard lock(mutex);
        wall_ms.clear();
    }
    std::this_thread::sleep_until(tick - interval / 2 + polls * interval);
    const std::uint64_t cpu1 = pulse::bench::self_cpu_ns();
    const std::uint64_t window_polls = done_polls - polls0;
    const long threads_running = threads_of_self();
    const long rss_kib = pulse::bench::current_rss_kib();
    std::vector<std::string> stuck = threads.stop(std::chrono::seconds(30));
    for (const std::string& file : files) {
        std::remove(file.c_str());
    }
    double wall_median = 0;
    {
        std::lock_guard lock(mutex);
        wall_median = pulse::bench::median(wall_ms);
    }
    const double cpu_ms = static_cast<double>(cpu1 - cpu0) / 1e6;
    fmt::print(
        "hosts hosts={} domains={} polls={} expected_polls={} missed_ticks={} failed_polls={} "
        "first_round_ms={:.1f} window_cpu_ms={:.3f} cpu_ms_per_host_poll={:.3f} "
        "cpu_ms_per_tick={:.3f} wall_ms={:.3f} threads={} rss_before_kib={} rss_kib={} "
        "peak_rss_kib={}\n",
        hosts, domains, window_polls, hosts * polls, missed - missed0, failed.load(),
        std::chrono::duration<double, std::milli>(first_done - started).count(), cpu_ms,
        window_polls ? cpu_ms / static_cast<double>(window_polls) : 0.0, cpu_ms / polls,
        wall_median, threads_running, rss_before_kib, rss_kib, pulse::bench::peak_rss_kib());
    return stuck.empty() && failed == 0 ? 0 : 1;
}
