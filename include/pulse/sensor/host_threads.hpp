// Many hypervisors in one process: one thread per hypervisor, each with its own Poller
// (connection, backoff) and its own fixed-rate schedule.
//
// A libvirt call can block for as long as the other end likes: an ssh login to a host that
// accepts TCP and never answers, a libvirtd that stopped reading. On its own thread such a host
// only delays itself; the others keep their ticks. The main thread keeps the stop signals and the
// outputs' delivery callbacks, asks report_stalls() now and then so that a host stuck in a call
// is logged once (its own thread cannot say so: it is the one stuck), and on a stop wakes every
// thread from its sleep at once through a condition variable.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pulse/config/config.hpp"
#include "pulse/ops/self_metrics.hpp"
#include "pulse/output/point_sink.hpp"
#include "pulse/sensor/poller.hpp"

namespace pulse {

struct HostHooks {
    // After each poll, on the host's thread.
    std::function<void(const Poller&, const PollReport&)> polled;
    // A poll took longer than the host's PAUSE and `skipped` ticks were dropped.
    std::function<void(const HostConfig&, std::uint64_t skipped, std::chrono::milliseconds took)>
        overrun;
};

// What --once got: one report per host, in order (a default one, not connected, for a host
// given up on), and the hosts whose poll had not returned when the wait ended.
struct OnceOutcome {
    struct Unfinished {
        std::string host;  // the URI without its password
        std::chrono::seconds limit;
    };
    std::vector<PollReport> reports;
    std::vector<Unfinished> unfinished;
    bool interrupted = false;  // the wait ended on a stop signal
};

class HostThreads {
  public:
    // With `metrics`, each host records its polls, reconnects and overruns there. With
    // `volumes` (CS_ENDPOINT), disk points carry CloudStack volume ids; it must outlive this.
    HostThreads(const std::vector<HostConfig>& hosts, PointSink& out, HostHooks hooks,
                Metrics* metrics = nullptr, VolumeIds* volumes = nullptr);
    // Stops and joins the threads still running; a thread stop() gave up on is detached.
    ~HostThreads();
    HostThreads(const HostThreads&) = delete;
    HostThreads& operator=(const HostThreads&) = delete;

    // Starts one thread per host, polling on its schedule until stop().
    void start();

    // What run_only() changed, by URI without password.
    struct Change {
        std::vector<std::string> started;
        std::vector<std::string> stopped;
        std::vector<std::string> stuck;  // stopped, but still inside a libvirt call
    };
    // Polls exactly the hosts whose URI is in `uris` (fleet mode): starts a thread for each one
    // not running, and stops the others, waiting up to `grace` for a poll in progress, so that
    // a stopped host is polled no more when this returns (one stuck in libvirt is left to its
    // thread, whose late points may still come). A stopped host's connection is closed; it
    // starts afresh, with a new connection and no rates yet, when it is given back. Thread-safe.
    Change run_only(const std::set<std::string>& uris, std::chrono::milliseconds grace);

    // Polls every host once, all at the same time (--once), and waits for them: each host for
    // at most its PAUSE plus `grace`, and all of them only until `sleep_until` (called to sleep
    // until a time point; true when a stop was requested) says stop. A host still in its poll
    // then is left to its thread, detached, as stop() leaves a stuck one.
    OnceOutcome poll_once(
        std::chrono::milliseconds grace,
        const std::function<bool(std::chrono::steady_clock::time_point)>& sleep_until);

    // Logs, once per occurrence, each host whose current poll or connection attempt has run
    // longer than its PAUSE, and logs when it is back. Call from one thread only (main).
    void report_stalls();

    // Tells every thread to finish, waking it from its sleep, and waits up to `grace` for those
    // in the middle of a poll. Returns the URIs (without passwords) of the hosts whose thread is
    // still inside a libvirt call at the deadline; those threads are left to the process's exit.
    std::vector<std::string> stop(std::chrono::milliseconds grace);

    std::size_t size() const { return configs_.size(); }

  private:
    struct Host;
    struct Shared {
        std::mutex mutex;
        std::condition_variable wake;  // stop requested, or a thread finished
        bool stop = false;
    };

    static void run(std::shared_ptr<Shared> shared, std::shared_ptr<Host> host, HostHooks hooks);
    std::shared_ptr<Host> make_host(std::size_t i) const;
    // Asks the threads of `which` to finish and waits up to `grace`; joins those that did and
    // replaces every one of them with a fresh, idle Host. Returns the labels of those stuck.
    std::vector<std::string> retire(const std::vector<std::size_t>& which,
                                    std::chrono::milliseconds grace);

    std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
    HostHooks hooks_;
    std::vector<HostConfig> configs_;
    PointSink& out_;
    std::vector<HostMetrics*> metrics_;  // per host, may be null
    VolumeIds* volumes_;
    std::mutex hosts_mutex_;  // hosts_ itself: run_only() may come from another thread
    std::vector<std::shared_ptr<Host>> hosts_;
    bool stopped_ = false;  // guarded by hosts_mutex_
};

}  // namespace pulse
