// Fixed-rate scheduling and synchronous signal handling; see scheduler.hpp.
#include "pulse/scheduler.hpp"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace pulse {

void FixedRateSchedule::advance(SteadyTime now) {
    next_ += period_;
    if (next_ <= now) {
        auto behind = (now - next_) / period_ + 1;
        missed_ += static_cast<std::uint64_t>(behind);
        next_ += behind * period_;
    }
}

SteadyTime FixedRateSchedule::due(SteadyTime now) {
    if (now - next_ >= period_) {
        auto behind = (now - next_) / period_;
        missed_ += static_cast<std::uint64_t>(behind);
        next_ += behind * period_;
    }
    return next_;
}

Timestamp PollClock::stamp(SteadyTime tick, std::chrono::system_clock::time_point wall_now) {
    const Timestamp wall = std::chrono::floor<std::chrono::seconds>(wall_now);
    if (!anchored_) {
        anchored_ = true;
        anchor_tick_ = tick;
        anchor_stamp_ = last_ = wall;
        return wall;
    }
    const Timestamp on_grid =
        anchor_stamp_ + std::chrono::round<std::chrono::seconds>(tick - anchor_tick_);
    const auto drift = wall - on_grid;
    if (drift > tolerance_ || drift < -tolerance_ || on_grid <= last_) {
        // The wall clock was stepped: a grid through the new stamp from here on.
        anchor_tick_ = tick;
        anchor_stamp_ = std::max(wall, last_ + std::chrono::seconds(1));
        last_ = anchor_stamp_;
        return last_;
    }
    last_ = on_grid;
    return on_grid;
}

StopSignals::StopSignals() {
    sigemptyset(&stop_set_);
    sigaddset(&stop_set_, SIGTERM);
    sigaddset(&stop_set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set_, &previous_);
}

StopSignals::~StopSignals() {
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

bool StopSignals::wait_until(SteadyTime deadline) {
    while (signal_ == 0) {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::nanoseconds::zero()) {
            return stop_requested();
        }
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
        timespec timeout{static_cast<time_t>(secs.count()),
                         static_cast<long>((left - secs) / std::chrono::nanoseconds(1))};
        int sig = sigtimedwait(&stop_set_, nullptr, &timeout);
        if (sig > 0) {
            signal_ = sig;
        }
        // EAGAIN (timed out) and EINTR (another signal) both just re-check the deadline.
    }
    return true;
}

bool StopSignals::stop_requested() {
    if (signal_ == 0) {
        timespec zero{0, 0};
        int sig = sigtimedwait(&stop_set_, nullptr, &zero);
        if (sig > 0) {
            signal_ = sig;
        }
    }
    return signal_ != 0;
}

Timestamp poll_timestamp() {
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace pulse
