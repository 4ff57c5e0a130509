// Fixed-rate ticks.
//
// A poll starts every PAUSE seconds on a grid fixed at start-up, however long the previous poll
// took; a poll that overruns skips the ticks it missed instead of running them late in a burst.
// PollClock stamps each poll with the second of its tick on that grid.
#pragma once

#include <chrono>
#include <cstdint>

#include "pulse/base/signals.hpp"
#include "pulse/points/point.hpp"

namespace pulse {

class FixedRateSchedule {
  public:
    FixedRateSchedule(std::chrono::nanoseconds period, SteadyTime first_tick)
        : period_(period), next_(first_tick) {}

    SteadyTime next_tick() const { return next_; }
    // Moves to the first tick after `now`, counting the ticks skipped on the way.
    void advance(SteadyTime now);
    // The tick a poll starting at `now` is for: the next tick, or, after a wake-up later than a
    // whole period (a stopped process, a loaded host), the last tick at or before `now`, the
    // ones passed over counted as skipped.
    SteadyTime due(SteadyTime now);
    std::uint64_t missed_ticks() const { return missed_; }

  private:
    std::chrono::nanoseconds period_;
    SteadyTime next_;
    std::uint64_t missed_ = 0;
};

// The first tick at or after `steady_now` that falls on a multiple of `period` of the wall
// clock (read as `wall_now` at the same moment): sensors whose clocks agree (NTP) then tick
// together, whenever each started.
SteadyTime first_tick_on_wall_clock(std::chrono::seconds period, SteadyTime steady_now,
                                    std::chrono::system_clock::time_point wall_now);

// The time one hypervisor's polls are stamped with: whole seconds, strictly increasing, and on
// the fixed-rate grid.
//
// A stamp is not the wall clock read at wake-up: a thread that wakes a few milliseconds late
// across a second boundary, then on time for the next tick, would stamp two polls with the same
// second (and InfluxDB keeps one point per series and second), or skip one. Instead the first
// poll is stamped with the wall clock truncated to the second, and each later one with that
// stamp plus the steady time between their ticks, so with PAUSE=1 consecutive ticks get
// consecutive seconds however late each wake-up is. "Never skipping" is relative to that grid:
// a tick that was not polled (an overrun, a stopped process) leaves its stamp unused, and so
// does a forward step of the wall clock, whose seconds never happened.
//
// The wall clock is still followed: when it disagrees with the grid by more than PAUSE + 1 s,
// which late wake-ups alone never cause (due() keeps them under one PAUSE), it was stepped, and
// the grid moves to it. Forward: the stamp jumps with it. Backward: stamps never go back, so
// the next ones advance by one second per poll until the wall clock is within PAUSE + 1 s of
// them, and keep the grid from there (with PAUSE=1 that is the grid itself: they stay ahead
// by the step).
class PollClock {
  public:
    explicit PollClock(std::chrono::seconds pause) : tolerance_(pause + std::chrono::seconds(1)) {}

    // The stamp for the poll of the tick at `tick`, started when the wall clock read `wall_now`.
    Timestamp stamp(SteadyTime tick, std::chrono::system_clock::time_point wall_now);

  private:
    std::chrono::seconds tolerance_;
    bool anchored_ = false;  // before the first poll
    SteadyTime anchor_tick_{};
    Timestamp anchor_stamp_{};
    Timestamp last_{};
};

// Now, truncated to whole seconds: a one-off stamp (the benchmark's) with no grid to keep.
Timestamp poll_timestamp();

}  // namespace pulse
