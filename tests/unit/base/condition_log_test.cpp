// A recurring problem is logged when it starts and when it ends, not on every poll.
#include "pulse/base/condition_log.hpp"

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

}  // namespace
}  // namespace pulse
