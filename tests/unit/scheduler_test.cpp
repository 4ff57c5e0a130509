// Fixed-rate ticks that skip what an overrun missed, and stop signals taken between polls.
#include "pulse/scheduler.hpp"

#include <gtest/gtest.h>

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

TEST(StopSignals, ASignalRaisedDuringAPollStopsTheNextWait) {
    StopSignals signals;
    EXPECT_FALSE(signals.stop_requested());
    raise(SIGTERM);  // blocked, so it waits for us instead of killing the test
    EXPECT_TRUE(signals.wait_until(std::chrono::steady_clock::now() + 10s));
    EXPECT_EQ(signals.last_signal(), SIGTERM);
    EXPECT_TRUE(signals.stop_requested());
}

TEST(StopSignals, WaitingWithoutASignalReturnsAtTheDeadline) {
    StopSignals signals;
    auto deadline = std::chrono::steady_clock::now() + 30ms;
    EXPECT_FALSE(signals.wait_until(deadline));
    EXPECT_GE(std::chrono::steady_clock::now(), deadline);
}

}  // namespace
}  // namespace pulse
