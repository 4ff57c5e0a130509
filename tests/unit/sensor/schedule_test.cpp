// Fixed-rate ticks that skip what an overrun missed, each poll's stamp on a clock that wakes
// late or is stepped.
#include "pulse/sensor/schedule.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace pulse {
namespace {

using namespace std::chrono_literals;

TEST(FixedRateSchedule, TicksStayOnTheGridWhenPollsAreShort) {
    SteadyTime start{};
    FixedRateSchedule s(10s, start);
    s.advance(start + 3s);
    EXPECT_EQ(s.next_tick(), start + 10s);
    s.advance(start + 12s);
    EXPECT_EQ(s.next_tick(), start + 20s) << "fixed rate: not 10 s after the poll ended";
    EXPECT_EQ(s.missed_ticks(), 0u);
}

TEST(FirstTickOnWallClock, IsTheNextMultipleOfThePeriodOnTheWallClock) {
    const SteadyTime steady{1000s};
    using Wall = std::chrono::system_clock::time_point;
    // 1,700,000,001.25 s: the next multiple of 10 s is 8.75 s away, plus the millisecond that
    // keeps the stamp's second on the boundary.
    const Wall wall{std::chrono::duration_cast<Wall::duration>(1'700'000'001'250ms)};
    EXPECT_EQ(first_tick_on_wall_clock(10s, steady, wall), steady + 8751ms);
    // Two sensors started at different times land on the same wall-clock tick.
    const Wall later{std::chrono::duration_cast<Wall::duration>(1'700'000'007'500ms)};
    EXPECT_EQ(first_tick_on_wall_clock(10s, steady + 6250ms, later), steady + 8751ms);
    // On the boundary itself: now.
    const Wall on{std::chrono::duration_cast<Wall::duration>(1'700'000'010'000ms)};
    EXPECT_EQ(first_tick_on_wall_clock(10s, steady, on), steady);
}

TEST(FixedRateSchedule, AnOverrunSkipsTheMissedTicksInsteadOfBunchingThem) {
    SteadyTime start{};
    FixedRateSchedule s(10s, start);
    s.advance(start + 35s);  // the poll at 0 ran until 35
    EXPECT_EQ(s.next_tick(), start + 40s);
    EXPECT_EQ(s.missed_ticks(), 3u);  // 10, 20 and 30 never ran
}

TEST(FixedRateSchedule, APollEndingExactlyOnATickSkipsThatTick) {
    SteadyTime start{};
    FixedRateSchedule s(10s, start);
    s.advance(start + 10s);
    EXPECT_EQ(s.next_tick(), start + 20s);
    EXPECT_EQ(s.missed_ticks(), 1u);
}

TEST(FixedRateSchedule, AWakeUpLaterThanAPeriodPollsForTheLastTickPassed) {
    SteadyTime start{};
    FixedRateSchedule s(1s, start);
    EXPECT_EQ(s.due(start + 300ms), start) << "late by less than a period: the tick itself";
    s.advance(start + 400ms);
    EXPECT_EQ(s.due(start + 3500ms), start + 3s);
    EXPECT_EQ(s.missed_ticks(), 2u);  // 1 and 2 passed while the thread was not running
}

// The wall clock as PollClock reads it: seconds since the epoch, with fractions.
std::chrono::system_clock::time_point wall(double seconds) {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::duration<double>(seconds)));
}

std::int64_t secs(Timestamp t) {
    return t.time_since_epoch().count();
}

TEST(PollClock, WakeUpsLateAcrossASecondBoundaryKeepConsecutiveSeconds) {
    // PAUSE=1 on a grid that sits at .998 of each wall second: a wake-up 5 ms late reads the
    // next second, the one after it on time reads its own, and floor(now) gave both the same.
    PollClock clock(1s);
    SteadyTime t0{};
    EXPECT_EQ(secs(clock.stamp(t0, wall(1000.998))), 1000);
    EXPECT_EQ(secs(clock.stamp(t0 + 1s, wall(1002.003))), 1001) << "late: still its tick's second";
    EXPECT_EQ(secs(clock.stamp(t0 + 2s, wall(1002.999))), 1002) << "on time: no duplicate";
    EXPECT_EQ(secs(clock.stamp(t0 + 3s, wall(1004.900))), 1003) << "0.9 s late: no skip";
    EXPECT_EQ(secs(clock.stamp(t0 + 4s, wall(1004.998))), 1004);
}

TEST(PollClock, SkippedTicksLeaveTheirSecondsUnusedAndNothingElse) {
    PollClock clock(10s);
    SteadyTime t0{};
    EXPECT_EQ(secs(clock.stamp(t0, wall(500.2))), 500);
    EXPECT_EQ(secs(clock.stamp(t0 + 30s, wall(530.9))), 530);  // 10 and 20 overran
    EXPECT_EQ(secs(clock.stamp(t0 + 40s, wall(541.1))), 540);
}

TEST(PollClock, ABackwardStepNeverRepeatsOrReversesAStampAndCatchesUp) {
    PollClock clock(10s);
    SteadyTime t0{};
    EXPECT_EQ(secs(clock.stamp(t0, wall(2000.5))), 2000);
    EXPECT_EQ(secs(clock.stamp(t0 + 10s, wall(2010.5))), 2010);
    // The wall clock is set back 25 s between two ticks.
    std::vector<std::int64_t> stamps;
    for (int tick = 2; tick <= 6; ++tick) {
        stamps.push_back(secs(clock.stamp(t0 + tick * 10s, wall(2000.5 + tick * 10 - 25))));
    }
    EXPECT_EQ(stamps, (std::vector<std::int64_t>{2011, 2012, 2022, 2032, 2042}))
        << "one second further per poll until the wall clock is within PAUSE + 1 s, then the grid";
}

TEST(PollClock, ABackwardStepWithPauseOneKeepsConsecutiveSeconds) {
    PollClock clock(1s);
    SteadyTime t0{};
    EXPECT_EQ(secs(clock.stamp(t0, wall(3000.5))), 3000);
    EXPECT_EQ(secs(clock.stamp(t0 + 1s, wall(3001.5))), 3001);
    EXPECT_EQ(secs(clock.stamp(t0 + 2s, wall(2992.5))), 3002);  // set back 10 s
    EXPECT_EQ(secs(clock.stamp(t0 + 3s, wall(2993.5))), 3003);
}

TEST(PollClock, AForwardStepIsFollowedAndTheGridMovesWithIt) {
    PollClock clock(10s);
    SteadyTime t0{};
    EXPECT_EQ(secs(clock.stamp(t0, wall(4000.2))), 4000);
    EXPECT_EQ(secs(clock.stamp(t0 + 10s, wall(4070.4))), 4070) << "set forward 60 s";
    EXPECT_EQ(secs(clock.stamp(t0 + 20s, wall(4080.3))), 4080);
    EXPECT_EQ(secs(clock.stamp(t0 + 30s, wall(4091.0))), 4090) << "late again: on the new grid";
}

TEST(PollClock, AStepWithinAPauseKeepsTheGrid) {
    PollClock clock(10s);
    SteadyTime t0{};
    EXPECT_EQ(secs(clock.stamp(t0, wall(5000.5))), 5000);
    EXPECT_EQ(secs(clock.stamp(t0 + 10s, wall(5007.5))), 5010);  // 3 s back: still ahead of 5000
    EXPECT_EQ(secs(clock.stamp(t0 + 20s, wall(5017.5))), 5020);
}

}  // namespace
}  // namespace pulse
