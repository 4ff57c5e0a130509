// The contract's timestamp format.
#include "pulse/point.hpp"

#include <gtest/gtest.h>

namespace pulse {
namespace {

using namespace std::chrono;

TEST(Point, TimeIsUtcWholeSecondsWithAZ) {
    Timestamp t = sys_days{year{2018} / 8 / 17} + hours{9} + minutes{0} + seconds{35};
    EXPECT_EQ(format_time(t), "2018-08-17T09:00:35Z");
}

TEST(Point, TimeIsZeroPadded) {
    Timestamp t = sys_days{year{2026} / 1 / 2} + hours{3} + minutes{4} + seconds{5};
    EXPECT_EQ(format_time(t), "2026-01-02T03:04:05Z");
}

TEST(Point, TimeOfTheEpochAndOfALeapDay) {
    EXPECT_EQ(format_time(Timestamp{}), "1970-01-01T00:00:00Z");
    Timestamp t = sys_days{year{2024} / 2 / 29} + hours{23} + minutes{59} + seconds{59};
    EXPECT_EQ(format_time(t), "2024-02-29T23:59:59Z");
}

}  // namespace
}  // namespace pulse
