// Stop signals taken between polls.
#include "pulse/base/signals.hpp"

#include <gtest/gtest.h>

namespace pulse {
namespace {

using namespace std::chrono_literals;

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
