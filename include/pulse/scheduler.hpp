// Fixed-rate ticks and the stop signals.
//
// A poll starts every PAUSE seconds on a grid fixed at start-up, however long the previous poll
// took; a poll that overruns skips the ticks it missed instead of running them late in a burst.
// SIGTERM and SIGINT are blocked in every thread and taken synchronously with sigtimedwait()
// by the main thread while the hosts' threads poll, so a signal never interrupts a poll half way.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>

#include "pulse/point.hpp"

namespace pulse {

using SteadyTime = std::chrono::steady_clock::time_point;

class FixedRateSchedule {
  public:
    FixedRateSchedule(std::chrono::nanoseconds period, SteadyTime first_tick)
        : period_(period), next_(first_tick) {}

    SteadyTime next_tick() const { return next_; }
    // Moves to the first tick after `now`, counting the ticks skipped on the way.
    void advance(SteadyTime now);
    std::uint64_t missed_ticks() const { return missed_; }

  private:
    std::chrono::nanoseconds period_;
    SteadyTime next_;
    std::uint64_t missed_ = 0;
};

class StopSignals {
  public:
    // Blocks SIGTERM and SIGINT in the calling thread; construct before starting any thread so
    // that every thread inherits the mask and none of them takes the signal.
    StopSignals();
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    // Sleeps until `deadline` or a stop signal. Returns true when a stop was requested.
    bool wait_until(SteadyTime deadline);
    // True when a stop signal is pending or was taken; does not sleep.
    bool stop_requested();
    int last_signal() const { return signal_; }

  private:
    sigset_t stop_set_{};
    sigset_t previous_{};
    int signal_ = 0;
};

// Now, truncated to whole seconds, as the contract stamps points.
Timestamp poll_timestamp();

}  // namespace pulse
