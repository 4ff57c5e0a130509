// A recurring problem is logged when it starts and when it ends, not on every poll.
#include "pulse/base/log_once.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

namespace pulse {
namespace {

using ::testing::HasSubstr;

class ConditionLogTest : public ::testing::Test {
  protected:
    std::ostringstream text;
    std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_st>(text));
    ConditionLog log{logger};

    int lines() const {
        std::string s = text.str();
        return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
    }
};

TEST_F(ConditionLogTest, AProblemSeenEveryPollIsLoggedOnce) {
    for (int poll = 0; poll < 5; ++poll) {
        log.report("disk/vda", spdlog::level::warn, "domain i-2-17-VM: disk vda has no source");
        log.end_cycle();
    }
    EXPECT_EQ(lines(), 1);
    EXPECT_THAT(text.str(), HasSubstr("disk vda has no source"));
    EXPECT_TRUE(log.active("disk/vda"));
}

TEST_F(ConditionLogTest, AProblemThatGoesAwayIsSaidToHaveGoneWithItsCount) {
    log.report("k", spdlog::level::warn, "broken");
    log.end_cycle();
    log.report("k", spdlog::level::warn, "broken");
    log.end_cycle();
    log.end_cycle();
    EXPECT_EQ(lines(), 2);
    EXPECT_THAT(text.str(), HasSubstr("no longer seen after 2 poll(s): broken"));
    EXPECT_FALSE(log.active("k"));
}

TEST_F(ConditionLogTest, AProblemThatComesBackIsLoggedAgain) {
    log.report("k", spdlog::level::warn, "broken");
    log.end_cycle();
    log.end_cycle();
    log.report("k", spdlog::level::warn, "broken");
    EXPECT_EQ(lines(), 3);
}

TEST_F(ConditionLogTest, ResolveEndsAConditionAtOnce) {
    log.report("connection", spdlog::level::err, "cannot connect");
    log.resolve("connection", "reconnected");
    log.resolve("connection", "reconnected");  // a second resolve says nothing
    EXPECT_EQ(lines(), 2);
    EXPECT_EQ(log.active_count(), 0u);
}

TEST(LogLimiter, TheFirstOccurrenceIsDueThenOncePerInterval) {
    LogLimiter limiter(std::chrono::minutes(1));
    const LogLimiter::Clock::time_point t0{};
    EXPECT_EQ(limiter.due("refused", t0), 1U);
    EXPECT_EQ(limiter.due("refused", t0 + std::chrono::seconds(30)), std::nullopt);
    EXPECT_EQ(limiter.due("other", t0 + std::chrono::seconds(30)), 1U) << "each key on its own";
    EXPECT_EQ(limiter.due("refused", t0 + std::chrono::seconds(59)), std::nullopt);
    EXPECT_EQ(limiter.due("refused", t0 + std::chrono::seconds(60)), 4U) << "counts them all";
    EXPECT_EQ(limiter.due("refused", t0 + std::chrono::seconds(90)), std::nullopt);
}

TEST(LogLimiter, OnceMeansOnceEver) {
    LogLimiter limiter(LogLimiter::kOnce);
    const LogLimiter::Clock::time_point t0{};
    EXPECT_EQ(limiter.due("nan", t0), 1U);
    EXPECT_EQ(limiter.due("nan", t0 + std::chrono::hours(24 * 365)), std::nullopt);
}

}  // namespace
}  // namespace pulse
