// Fixed-rate scheduling; see schedule.hpp.
#include "pulse/sensor/schedule.hpp"

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

SteadyTime first_tick_on_wall_clock(std::chrono::seconds period, SteadyTime steady_now,
                                    std::chrono::system_clock::time_point wall_now) {
    const auto since = wall_now.time_since_epoch() % period;
    if (since == since.zero()) {
        return steady_now;
    }
    // A millisecond past the boundary, so that the stamp's second is the boundary's even when
    // the steady and the wall clocks tick a hair apart.
    return steady_now + (period - since) + std::chrono::milliseconds(1);
}

Timestamp poll_timestamp() {
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace pulse
