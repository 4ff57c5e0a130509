// The stop signals. SIGTERM and SIGINT are blocked in every thread and taken synchronously
// with sigtimedwait() by the main thread while the hosts' threads poll, so a signal never
// interrupts a poll half way.
#pragma once

#include <chrono>
#include <csignal>

namespace pulse {

using SteadyTime = std::chrono::steady_clock::time_point;

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

}  // namespace pulse
