// The contract's timestamp format.
#include "pulse/points/point.hpp"

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

TEST(Point, TimeReadsBackToTheSameSecond) {
    for (Timestamp t : {Timestamp{}, Timestamp{seconds{1534498535}}, Timestamp{seconds{4102444799}},
                        Timestamp{sys_days{year{2024} / 2 / 29} + hours{23} + minutes{59}}}) {
        EXPECT_EQ(parse_time(format_time(t)), t) << format_time(t);
    }
}

TEST(Point, TimeThatIsNotExactlyTheContractsFormatIsRefused) {
    for (const char* text :
         {"", "2018-08-17T09:00:35", "2018-08-17 09:00:35Z", "2018-08-17T09:00:35.5Z",
          "2018-02-30T09:00:35Z", "2018-08-17T24:00:00Z", "2018-13-01T00:00:00Z",
          "2018-08-17T09:00:6xZ", "+018-08-17T09:00:35Z"}) {
        EXPECT_EQ(parse_time(text), std::nullopt) << text;
    }
}

}  // namespace
}  // namespace pulse
